//! `cargo bench --bench criterion_pool`: the executor's workloads under criterion —
//! W1 `submit(f, x).result()` round trip, W2 chunked `map` (with rayon beside it), W3 a
//! 256 MiB `SharedArray` hand-off (with the local sum beside it), W4 one Mandelbrot band
//! on a worker (with the same band in this thread). `zeroproc bench` runs the same
//! workloads against Python's pools as well.
//!
//! Criterion's options follow `--`, e.g. `cargo bench --bench criterion_pool -- W1`.
//! Defaults here: 1 s warm-up, 3 s measurement per benchmark.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use zeroproc::ArrayHandle;
use zeroproc::{Pool, SharedArray, WaitStrategy};
use zeroproc_bench::workloads::pool::{mandel_band, MANDEL_BANDS};

fn pool(workers: usize) -> Pool {
    Pool::builder()
        .workers(workers)
        .wait_strategy(WaitStrategy::default())
        .ring_capacity(1 << 20)
        .build()
        .expect("pool")
}

fn w1(c: &mut Criterion) {
    let p = pool(1);
    let mut i = 0u64;
    c.bench_function("W1 submit(f, x).result(), 1 worker", |b| {
        b.iter(|| {
            i += 1;
            let r = p.submit(|x: u64| x.wrapping_mul(3), i).result().expect("job");
            assert_eq!(r, i.wrapping_mul(3));
        })
    });
}

fn w2(c: &mut Criterion) {
    const ITEMS: u64 = 1_000_000;
    let expect: u64 = (0..ITEMS).map(|x| 2 * x).sum();
    let p = pool(2);
    let rp = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("rayon");
    let mut g = c.benchmark_group("W2 x → 2x, 1M items, 2 workers");
    g.throughput(Throughput::Elements(ITEMS));
    for chunk in [1_000usize, 10_000] {
        g.bench_with_input(BenchmarkId::new("zeroproc map chunk_size", chunk), &chunk, |b, &n| {
            b.iter(|| {
                let s: u64 =
                    p.map(|x: u64| 2 * x, 0..ITEMS).chunk_size(n).map(|r| r.expect("job")).sum();
                assert_eq!(s, expect);
            })
        });
    }
    g.bench_function("rayon into_par_iter().map().collect()", |b| {
        use rayon::prelude::*;
        b.iter(|| {
            let v: Vec<u64> = rp.install(|| (0..ITEMS).into_par_iter().map(|x| 2 * x).collect());
            black_box(v)
        })
    });
    g.finish();
}

fn w3(c: &mut Criterion) {
    const MIB: usize = 256;
    let data: Vec<f64> = (0..MIB * (1 << 20) / 8).map(|i| (i % 1000) as f64).collect();
    let local: f64 = data.iter().sum();
    let arr = SharedArray::from_slice(&data).expect("shared array");
    let p = pool(1);
    let mut g = c.benchmark_group("W3 256 MiB f64 array, summed");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes((MIB << 20) as u64));
    g.bench_function("zeroproc SharedArray handle to 1 worker", |b| {
        b.iter(|| {
            let s = p
                .submit(
                    |h: ArrayHandle<f64>| h.read().expect("attach").iter().sum::<f64>(),
                    arr.handle(),
                )
                .result()
                .expect("job");
            assert_eq!(s, local);
        })
    });
    g.bench_function("local sum in this thread", |b| {
        b.iter(|| black_box(data.iter().sum::<f64>()))
    });
    g.finish();
}

fn w4(c: &mut Criterion) {
    let p = pool(1);
    let band = MANDEL_BANDS as u32 / 2; // a band through the middle of the set
    let expect = mandel_band(band);
    let mut g = c.benchmark_group("W4 one Mandelbrot band (32×2048, 256 iterations)");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("zeroproc 1 worker", |b| {
        b.iter(|| assert_eq!(p.submit(mandel_band, band).result().expect("job"), expect))
    });
    g.bench_function("this thread", |b| b.iter(|| black_box(mandel_band(black_box(band)))));
    g.finish();
}

fn main() {
    // Workers are this bench binary re-executed: they stop here.
    zeroproc::init();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    w1(&mut c);
    w2(&mut c);
    w3(&mut c);
    w4(&mut c);
    c.final_summary();
}
