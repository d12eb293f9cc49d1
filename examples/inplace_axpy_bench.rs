//! y := alpha·x + y over N f64 (default 10 M) in 16 chunks, three ways interleaved:
//! `pool.in_place(&mut y).args(alpha)` (a run-time alpha, the kernel gets `&alpha`), the
//! const-kernel call `pool.for_each_chunk_mut_with` (alpha a `const`), and rayon's
//! `par_chunks_mut().zip(par_chunks())` with a captured alpha (on a `Vec`), plus the first
//! with a time limit that does not strike; 2 workers against a 2-thread rayon pool.
//!
//! `cargo run --release --example inplace_axpy_bench -- RUNS PASSES [N]` prints, per run,
//! the p50 of each way over PASSES interleaved passes (after one warm-up pass each, the
//! order rotated every pass), then the median of the runs' p50s and of the paired ratios
//! (docs/performance.md, "In-place kernels with a run-time parameter").

use std::time::{Duration, Instant};
use zeroproc::SharedArray;

const ALPHA: f64 = 0.5;

fn axpy_args(y: &mut [f64], x: &[f64], alpha: &f64) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

fn axpy_const(y: &mut [f64], x: &[f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += ALPHA * x;
    }
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

fn p50(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    zeroproc::init();
    let mut a = std::env::args().skip(1).map(|s| s.parse::<usize>().unwrap());
    let (runs, passes) = (a.next().unwrap_or(9), a.next().unwrap_or(21));
    let n = a.next().unwrap_or(10_000_000);
    let chunk = n.div_ceil(16);
    println!("{n} f64 in chunks of {chunk}");
    // Run time: the kernel cannot fold it (0.5 for any argument count).
    let alpha = 0.5 * (std::env::args().count() as f64 / std::env::args().count() as f64);
    let pool = zeroproc::Pool::builder().workers(2).build().unwrap();
    let rpool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let x0: Vec<f64> = (0..n).map(|i| (i % 1000) as f64 * 1e-3).collect();
    let x = SharedArray::from_slice(&x0).unwrap();
    let mut y = SharedArray::<f64>::zeroed(n).unwrap();
    let mut ry = vec![0.0f64; n];
    let names = ["args", "const", "rayon", "args+limit"];
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let limit = Duration::from_secs(60);
    for run in 0..runs {
        let mut t: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
        for pass in 0..=passes {
            for k in 0..names.len() {
                let v = (k + pass + run) % names.len(); // rotate the order
                let t0 = Instant::now();
                match v {
                    0 => pool
                        .in_place(&mut y)
                        .args(alpha)
                        .for_each_chunk_mut_with(&x, chunk, axpy_args)
                        .unwrap(),
                    1 => pool.for_each_chunk_mut_with(&mut y, &x, chunk, axpy_const).unwrap(),
                    2 => rpool.install(|| {
                        use rayon::prelude::*;
                        ry.par_chunks_mut(chunk)
                            .zip(x0.par_chunks(chunk))
                            .for_each(|(y, x)| axpy(alpha, x, y))
                    }),
                    _ => pool
                        .in_place(&mut y)
                        .args(alpha)
                        .time_limit(limit)
                        .for_each_chunk_mut_with(&x, chunk, axpy_args)
                        .unwrap(),
                }
                let d = t0.elapsed();
                if pass > 0 {
                    t[v].push(d); // pass 0 is the warm-up
                }
            }
        }
        let p: Vec<f64> = t.iter_mut().map(|v| p50(v)).collect();
        println!(
            "run {run}: args {:.3} ms, const {:.3} ms, rayon {:.3} ms, args+limit {:.3} ms; args/const {:.3}, args/rayon {:.3}",
            p[0], p[1], p[2], p[3], p[0] / p[1], p[0] / p[2]
        );
        for (i, v) in p.into_iter().enumerate() {
            all[i].push(v);
        }
    }
    let ratio =
        |a: usize, b: usize| median(all[a].iter().zip(&all[b]).map(|(x, y)| x / y).collect());
    let m: Vec<f64> = all.iter().map(|v| median(v.clone())).collect();
    println!(
        "median of {runs} runs' p50 ({passes} passes): args {:.3} ms, const {:.3} ms, rayon {:.3} ms, args+limit {:.3} ms",
        m[0], m[1], m[2], m[3]
    );
    println!(
        "median paired ratios: args/const {:.3}, args/rayon {:.3}, const/rayon {:.3}, limit/args {:.3}",
        ratio(0, 1), ratio(0, 2), ratio(1, 2), ratio(3, 0)
    );
    // Every way did its work: `y` got three axpy passes (args, const, args+limit) for each
    // of rayon's on `ry`, all with alpha = 0.5.
    let y = y.as_slice().unwrap();
    let off = y.iter().zip(&ry).filter(|(y, r)| (*y - 3.0 * *r).abs() > 1e-9 * r.abs()).count();
    assert_eq!(off, 0, "elements where y != 3 × rayon's result");
}
