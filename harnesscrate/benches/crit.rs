use criterion::{Criterion, criterion_group};
use std::hint::black_box;
use zeroproc::Pool;
use zeroproc_harnesscrate::square;

fn submit(c: &mut Criterion) {
    let pool = Pool::builder().workers(2).build().unwrap();
    c.bench_function("submit + result", |b| {
        b.iter(|| pool.submit(square, black_box(3)).result().unwrap())
    });
}

fn map(c: &mut Criterion) {
    let pool = Pool::new().unwrap();
    c.bench_function("map 1000", |b| {
        b.iter(|| pool.map(square, 0..1000u64).map(Result::unwrap).sum::<u64>())
    });
}

criterion_group!(benches, submit, map);
zeroproc::criterion_main!(benches);
