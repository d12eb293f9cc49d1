//! `cargo bench`: a criterion bench whose benchmarks use a pool, with the one line
//! `zeroproc::criterion_main!(benches)` in place of criterion's own (workers are this
//! binary re-executed; they stop before criterion parses their arguments).
//! `.ci/run` runs it briefly: `cargo bench -- --warm-up-time 0.1 --measurement-time 0.2`.

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use zeroproc::Pool;

fn add_one(x: u64) -> u64 {
    x + 1
}

fn round_trip(c: &mut Criterion) {
    let pool = Pool::builder().workers(1).build().expect("pool");
    let mut i = 0u64;
    c.bench_function("usercrate submit(f, x).result()", |b| {
        b.iter(|| {
            i += 1;
            assert_eq!(pool.submit(add_one, black_box(i)).result(), Ok(i + 1));
        })
    });
}

fn map_chunked(c: &mut Criterion) {
    let pool = Pool::builder().build().expect("pool");
    c.bench_function("usercrate map 10k items, chunks of 1000", |b| {
        b.iter(|| {
            let n = pool.map(add_one, 0..10_000u64).chunk_size(1000).map(Result::unwrap).count();
            assert_eq!(n, 10_000);
        })
    });
}

criterion_group!(benches, round_trip, map_chunked);
zeroproc::criterion_main!(benches);
