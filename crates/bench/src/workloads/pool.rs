//! The executor's workloads (issue #3): W1 tiny-job round trip, W2 tiny-job throughput,
//! W4 Mandelbrot scaling against rayon, and pool start-up. W3 (large array hand-off) is
//! in `pool_array.rs`. Every figure is measured in the same run as its peer.
//!
//! The process running these must call `zeroproc_sched::init()` first in `main`.

use crate::report::{histogram, Row, Value};
use std::time::{Duration, Instant};
use zeroproc_sched::{Pool, WaitStrategy};

fn pool(workers: usize, s: WaitStrategy) -> Result<Pool, String> {
    Pool::builder()
        .workers(workers)
        .wait_strategy(s)
        .ring_capacity(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

fn strategy_name(s: WaitStrategy) -> &'static str {
    match s {
        WaitStrategy::Spin => "spin",
        WaitStrategy::Sleep => "sleep",
        WaitStrategy::SpinThenSleep { .. } => "spin 50 µs, then sleep",
    }
}

/// W1: `submit(f, x).result()` round trips, one worker, per wait strategy.
pub fn w1(samples: usize) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for s in [WaitStrategy::Spin, WaitStrategy::default(), WaitStrategy::Sleep] {
        let p = pool(1, s)?;
        let n = if matches!(s, WaitStrategy::Sleep) { samples / 10 } else { samples };
        for i in 0..1000u64 {
            p.submit(|x: u64| x.wrapping_mul(3), i).result().map_err(|e| e.to_string())?;
        }
        let mut h = histogram();
        for i in 0..n as u64 {
            let t = Instant::now();
            let r = p.submit(|x: u64| x.wrapping_mul(3), i).result();
            let ns = t.elapsed().as_nanos() as u64;
            if r != Ok(i.wrapping_mul(3)) {
                return Err(format!("W1 wrong result {r:?}"));
            }
            h.record(ns.max(1)).expect("in range");
        }
        rows.push(Row::latency("W1 submit(f, x).result()", strategy_name(s), &h));
    }
    Ok(rows)
}

/// W2: x → 2x over `items` items, 2 workers: unbatched, chunked, and rayon in this run.
pub fn w2(items: u64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let p = pool(2, WaitStrategy::default())?;
    let expect: u64 = (0..items).map(|x| 2 * x).sum();
    for chunk in [1usize, 1000, 10_000] {
        let t = Instant::now();
        let mut sum = 0u64;
        for r in p.map(|x: u64| 2 * x, 0..items).chunk_size(chunk) {
            sum += r.map_err(|e| e.to_string())?;
        }
        let secs = t.elapsed().as_secs_f64();
        if sum != expect {
            return Err(format!("W2 wrong sum {sum} != {expect}"));
        }
        let mode = if chunk == 1 {
            "2 workers, unbatched (1 job per item)".to_string()
        } else {
            format!("2 workers, chunk_size {chunk}")
        };
        rows.push(Row::Throughput {
            name: "W2 pool.map(x → 2x)".into(),
            mode,
            per_s: items as f64 / secs,
            bytes_per_s: 0.0,
        });
    }
    drop(p);
    use rayon::prelude::*;
    let rp = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let v: Vec<u64> = rp.install(|| (0..items).into_par_iter().map(|x| 2 * x).collect());
    let secs = t.elapsed().as_secs_f64();
    if v.iter().sum::<u64>() != expect {
        return Err("rayon W2 wrong".into());
    }
    rows.push(Row::Throughput {
        name: "W2 rayon (0..n).into_par_iter().map(x → 2x).collect()".into(),
        mode: "2 threads".into(),
        per_s: items as f64 / secs,
        bytes_per_s: 0.0,
    });
    Ok(rows)
}

/// Mandelbrot parameters of W4.
pub const MANDEL_SIZE: usize = 2048;
/// Iterations per pixel.
pub const MANDEL_ITERS: u32 = 256;
/// Row bands (jobs).
pub const MANDEL_BANDS: usize = 64;

/// One band of the W4 image: iteration counts (u8, saturating) of its rows.
pub fn mandel_band(band: u32) -> Vec<u8> {
    let rows = MANDEL_SIZE / MANDEL_BANDS;
    let mut out = Vec::with_capacity(rows * MANDEL_SIZE);
    for y in band as usize * rows..(band as usize + 1) * rows {
        let ci = y as f64 / MANDEL_SIZE as f64 * 3.0 - 1.5;
        for x in 0..MANDEL_SIZE {
            let cr = x as f64 / MANDEL_SIZE as f64 * 3.5 - 2.5;
            let (mut zr, mut zi, mut i) = (0.0f64, 0.0f64, 0u32);
            while i < MANDEL_ITERS && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                i += 1;
            }
            out.push(i.min(255) as u8);
        }
    }
    out
}

fn checksum(bands: &[Vec<u8>]) -> u64 {
    bands.iter().flatten().map(|&b| b as u64).sum()
}

/// W4: Mandelbrot on 1 and 2 workers and on rayon (1 and 2 threads), passes interleaved;
/// rows give the median time of each and the median of the paired 2-worker / rayon ratios.
pub fn w4(rounds: usize) -> Result<Vec<Value>, String> {
    use rayon::prelude::*;
    let p1 = pool(1, WaitStrategy::default())?;
    let p2 = pool(2, WaitStrategy::default())?;
    let r1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
    let r2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    let serial = checksum(&(0..MANDEL_BANDS as u32).map(mandel_band).collect::<Vec<_>>());
    let run_pool = |p: &Pool| -> Result<f64, String> {
        let t = Instant::now();
        let v: Result<Vec<Vec<u8>>, _> = p.map(mandel_band, 0..MANDEL_BANDS as u32).collect();
        let s = t.elapsed().as_secs_f64();
        let v = v.map_err(|e| e.to_string())?;
        if checksum(&v) != serial {
            return Err("W4 pool image differs".into());
        }
        Ok(s)
    };
    let run_rayon = |r: &rayon::ThreadPool| -> Result<f64, String> {
        let t = Instant::now();
        let v: Vec<Vec<u8>> =
            r.install(|| (0..MANDEL_BANDS as u32).into_par_iter().map(mandel_band).collect());
        let s = t.elapsed().as_secs_f64();
        if checksum(&v) != serial {
            return Err("W4 rayon image differs".into());
        }
        Ok(s)
    };
    let (mut a, mut b, mut c, mut d, mut ratio) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        a.push(run_pool(&p1)?);
        let x2 = run_pool(&p2)?;
        b.push(x2);
        c.push(run_rayon(&r1)?);
        let y2 = run_rayon(&r2)?;
        d.push(y2);
        ratio.push(x2 / y2);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mode = format!("median of {rounds} interleaved passes");
    let v = |name: &str, value: f64, unit: &str| Value {
        name: name.into(),
        mode: mode.clone(),
        value,
        unit: unit.into(),
    };
    Ok(vec![
        v("W4 Mandelbrot, pool 1 worker", med(&mut a), "s"),
        v("W4 Mandelbrot, pool 2 workers", med(&mut b), "s"),
        v("W4 Mandelbrot, rayon 1 thread", med(&mut c), "s"),
        v("W4 Mandelbrot, rayon 2 threads", med(&mut d), "s"),
        v("W4 pool 2 workers ÷ rayon 2 threads (paired)", med(&mut ratio), "×"),
    ])
}

/// Pool start to first result, 2 workers: `build()` + `submit(f, x).result()`.
pub fn start(samples: usize) -> Result<Vec<Row>, String> {
    let mut h = histogram();
    for i in 0..samples as u64 {
        let t = Instant::now();
        let p = pool(2, WaitStrategy::default())?;
        let r = p.submit(|x: u64| x + 1, i).result();
        let ns = t.elapsed().as_nanos() as u64;
        if r != Ok(i + 1) {
            return Err("start: wrong result".into());
        }
        h.record(ns).expect("in range");
        drop(p);
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(vec![Row::latency(
        "pool start → first result (2 workers)",
        "build() + submit().result()",
        &h,
    )])
}
