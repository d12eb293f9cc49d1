//! The executor's workloads (issue #3): W1 tiny-job round trip, W2 tiny-job throughput,
//! W4 Mandelbrot scaling against rayon, and pool start-up. W3 (large array hand-off) is
//! in `pool_array.rs`. Every figure is measured in the same run as its peer.
//!
//! The process running these must call `zeroproc_sched::init()` first in `main`.

use crate::report::{histogram, Row, Value};
use hdrhistogram::Histogram;
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
    let h = w1_default_histogram(samples)?;
    rows.push(Row::latency("W1 submit(f, x).result()", "default pool (Pool::new())", &h));
    for s in [WaitStrategy::Spin, WaitStrategy::default(), WaitStrategy::Sleep] {
        let n = if matches!(s, WaitStrategy::Sleep) { samples / 10 } else { samples };
        let h = w1_histogram(s, n)?;
        let mode = format!("1 worker, {}", strategy_name(s));
        rows.push(Row::latency("W1 submit(f, x).result()", &mode, &h));
    }
    Ok(rows)
}

/// W1 in the configuration a new user gets: `Pool::new()` (one pinned worker per core,
/// the default wait strategy), the calling thread unpinned — 1,000 warm-up jobs, then
/// `samples` timed round trips (histogram in ns).
pub fn w1_default_histogram(samples: usize) -> Result<Histogram<u64>, String> {
    let p = Pool::new().map_err(|e| e.to_string())?;
    w1_rounds(&p, samples)
}

/// W1 with one wait strategy: 1,000 warm-up jobs, then `samples` timed round trips of
/// `submit(|x| x * 3, i).result()` on a fresh 1-worker pool (histogram in ns). The
/// calling thread is not pinned: the scheduler may put it on the worker's core.
pub fn w1_histogram(s: WaitStrategy, samples: usize) -> Result<Histogram<u64>, String> {
    w1_histogram_on(s, samples, None)
}

/// [`w1_histogram`], with the calling thread pinned to the `controller`-th allowed core
/// once the pool is built (the worker is on the first core) — as the two-process ring
/// round trips are measured. The thread stays pinned: call `affinity::unpin` afterwards.
pub fn w1_histogram_on(
    s: WaitStrategy,
    samples: usize,
    controller: Option<usize>,
) -> Result<Histogram<u64>, String> {
    let p = pool(1, s)?;
    if let Some(c) = controller {
        crate::affinity::pin_to(c);
    }
    w1_rounds(&p, samples)
}

/// 1,000 warm-up round trips on `p`, then `samples` timed ones.
fn w1_rounds(p: &Pool, samples: usize) -> Result<Histogram<u64>, String> {
    for i in 0..1000u64 {
        p.submit(|x: u64| x.wrapping_mul(3), i).result().map_err(|e| e.to_string())?;
    }
    let mut h = histogram();
    for i in 0..samples as u64 {
        let t = Instant::now();
        let r = p.submit(|x: u64| x.wrapping_mul(3), i).result();
        let ns = t.elapsed().as_nanos() as u64;
        if r != Ok(i.wrapping_mul(3)) {
            return Err(format!("W1 wrong result {r:?}"));
        }
        h.record(ns.max(1)).expect("in range");
    }
    Ok(h)
}

/// W2: x → 2x over `items` items, 2 workers: unbatched, chunked, and rayon in this run.
pub fn w2(items: u64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let p = pool(2, WaitStrategy::default())?;
    for chunk in [None, Some(1usize), Some(1000), Some(10_000)] {
        let per_s = w2_rate(&p, items, chunk)?;
        let mode = match chunk {
            None => "2 workers, default (automatic batches)".to_string(),
            Some(1) => "2 workers, unbatched (chunk_size 1: 1 job per item)".to_string(),
            Some(chunk) => format!("2 workers, chunk_size {chunk}"),
        };
        rows.push(Row::Throughput {
            name: "W2 pool.map(x → 2x)".into(),
            mode,
            per_s,
            bytes_per_s: 0.0,
        });
    }
    drop(p);
    rows.push(Row::Throughput {
        name: "W2 rayon (0..n).into_par_iter().map(x → 2x).collect()".into(),
        mode: "2 threads".into(),
        per_s: w2_rayon_rate(items)?,
        bytes_per_s: 0.0,
    });
    Ok(rows)
}

/// A pool of `workers` workers with the default wait strategy, as W2 and W4 use it.
pub fn default_pool(workers: usize) -> Result<Pool, String> {
    pool(workers, WaitStrategy::default())
}

/// W2 on pool `p`: `p.map(x → 2x, 0..items).chunk_size(chunk)` (no `chunk_size` for
/// `None`: the default, automatic batches), results summed and checked. Returns items per
/// second.
pub fn w2_rate(p: &Pool, items: u64, chunk: Option<usize>) -> Result<f64, String> {
    let expect: u64 = (0..items).map(|x| 2 * x).sum();
    let t = Instant::now();
    let mut sum = 0u64;
    let map = p.map(|x: u64| 2 * x, 0..items);
    let map = match chunk {
        Some(c) => map.chunk_size(c),
        None => map,
    };
    for r in map {
        sum += r.map_err(|e| e.to_string())?;
    }
    let secs = t.elapsed().as_secs_f64();
    if sum != expect {
        return Err(format!("W2 wrong sum {sum} != {expect}"));
    }
    Ok(items as f64 / secs)
}

/// W2 through futures: one `submit` per item, at most `window` in flight (the oldest
/// result taken before the next submission). Returns jobs per second.
pub fn w2_submit_rate(p: &Pool, items: u64, window: usize) -> Result<f64, String> {
    let expect: u64 = (0..items).map(|x| 2 * x).sum();
    let t = Instant::now();
    let mut sum = 0u64;
    let mut q = std::collections::VecDeque::with_capacity(window);
    for x in 0..items {
        if q.len() == window {
            let f: zeroproc_sched::JobFuture<u64> = q.pop_front().expect("a full window");
            sum += f.result().map_err(|e| e.to_string())?;
        }
        q.push_back(p.submit(|x: u64| 2 * x, x));
    }
    for f in q {
        sum += f.result().map_err(|e| e.to_string())?;
    }
    let secs = t.elapsed().as_secs_f64();
    if sum != expect {
        return Err(format!("W2 submit wrong sum {sum} != {expect}"));
    }
    Ok(items as f64 / secs)
}

/// W2's rayon peer: `(0..items).into_par_iter().map(x → 2x).collect()` on 2 threads
/// (rayon splits the range itself). Returns items per second.
pub fn w2_rayon_rate(items: u64) -> Result<f64, String> {
    use rayon::prelude::*;
    let expect: u64 = (0..items).map(|x| 2 * x).sum();
    let rp = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let v: Vec<u64> = rp.install(|| (0..items).into_par_iter().map(|x| 2 * x).collect());
    let secs = t.elapsed().as_secs_f64();
    if v.iter().sum::<u64>() != expect {
        return Err("rayon W2 wrong".into());
    }
    Ok(items as f64 / secs)
}

/// Mandelbrot parameters of W4.
pub const MANDEL_SIZE: usize = 2048;
/// Iterations per pixel.
pub const MANDEL_ITERS: u32 = 256;
/// Row bands (jobs).
pub const MANDEL_BANDS: usize = 64;

/// The geometry of a W4 image: `size`×`size` pixels over [-2.5, 1] × [-1.5, 1.5],
/// `iters` iterations at most per pixel, cut into `bands` row bands (one job each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mandel {
    /// Pixels per side (a multiple of `bands`).
    pub size: u32,
    /// Iteration cap per pixel.
    pub iters: u32,
    /// Row bands.
    pub bands: u32,
}

impl Mandel {
    /// W4 as specified: 2048×2048, 256 iterations, 64 bands.
    pub const FULL: Mandel =
        Mandel { size: MANDEL_SIZE as u32, iters: MANDEL_ITERS, bands: MANDEL_BANDS as u32 };

    /// The job argument for band `b` (what [`mandel_band_of`] takes).
    #[inline]
    pub fn job(self, b: u32) -> (u32, u32, u32, u32) {
        (self.size, self.iters, self.bands, b)
    }

    /// The checksum (sum of all iteration counts, each capped at 255) computed in this
    /// thread, to check every pool and peer against.
    pub fn serial_checksum(self) -> u64 {
        (0..self.bands).map(|b| checksum(&[mandel_band_of(self.job(b))])).sum()
    }
}

/// One band of the W4 image: iteration counts (u8, saturating) of its rows.
pub fn mandel_band(band: u32) -> Vec<u8> {
    mandel_band_of(Mandel::FULL.job(band))
}

/// One band of an image of any geometry: `(size, iters, bands, band)`. The operations
/// are in the same order as `bench/python/workloads.py`'s numpy kernel (no FMA), so both
/// give the same counts.
pub fn mandel_band_of((size, iters, bands, band): (u32, u32, u32, u32)) -> Vec<u8> {
    let (size, bands) = (size as usize, bands.max(1) as usize);
    let rows = size / bands;
    let mut out = Vec::with_capacity(rows * size);
    for y in band as usize * rows..(band as usize + 1) * rows {
        let ci = y as f64 / size as f64 * 3.0 - 1.5;
        for x in 0..size {
            let cr = x as f64 / size as f64 * 3.5 - 2.5;
            let (mut zr, mut zi, mut i) = (0.0f64, 0.0f64, 0u32);
            while i < iters && zr * zr + zi * zi <= 4.0 {
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

/// Medians of W4's interleaved passes, in seconds (see [`w4_times`]).
#[derive(Debug, Clone, Copy)]
pub struct W4Times {
    /// Pool, 1 worker.
    pub pool1: f64,
    /// Pool, 2 workers.
    pub pool2: f64,
    /// rayon, 1 thread.
    pub rayon1: f64,
    /// rayon, 2 threads.
    pub rayon2: f64,
    /// Median of the paired ratios pool 2 workers ÷ rayon 2 threads.
    pub ratio: f64,
    /// The image's checksum, the same for every pass (checked).
    pub checksum: u64,
}

/// W4: the image `m` on 1 and 2 workers and on rayon (1 and 2 threads), passes
/// interleaved, every image checked against a serial computation.
pub fn w4_times(m: Mandel, rounds: usize) -> Result<W4Times, String> {
    use rayon::prelude::*;
    let p1 = pool(1, WaitStrategy::default())?;
    let p2 = pool(2, WaitStrategy::default())?;
    let r1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
    let r2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    let serial = m.serial_checksum();
    let run_pool = |p: &Pool| -> Result<f64, String> {
        let t = Instant::now();
        let v: Result<Vec<Vec<u8>>, _> =
            p.map(mandel_band_of, (0..m.bands).map(|b| m.job(b))).collect();
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
            r.install(|| (0..m.bands).into_par_iter().map(|b| mandel_band_of(m.job(b))).collect());
        let s = t.elapsed().as_secs_f64();
        if checksum(&v) != serial {
            return Err("W4 rayon image differs".into());
        }
        Ok(s)
    };
    let (mut a, mut b, mut c, mut d, mut ratio) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds.max(1) {
        a.push(run_pool(&p1)?);
        let x2 = run_pool(&p2)?;
        b.push(x2);
        c.push(run_rayon(&r1)?);
        let y2 = run_rayon(&r2)?;
        d.push(y2);
        ratio.push(x2 / y2);
    }
    Ok(W4Times {
        pool1: median(&mut a),
        pool2: median(&mut b),
        rayon1: median(&mut c),
        rayon2: median(&mut d),
        ratio: median(&mut ratio),
        checksum: serial,
    })
}

/// The median of `v` (the upper one for an even count); NaN if empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// W4: Mandelbrot on 1 and 2 workers and on rayon (1 and 2 threads), passes interleaved;
/// rows give the median time of each and the median of the paired 2-worker / rayon ratios.
pub fn w4(rounds: usize) -> Result<Vec<Value>, String> {
    let t = w4_times(Mandel::FULL, rounds)?;
    let mode = format!("median of {rounds} interleaved passes");
    let v = |name: &str, value: f64, unit: &str| Value::new(name, &mode, value, unit);
    Ok(vec![
        v("W4 Mandelbrot, pool 1 worker", t.pool1, "s"),
        v("W4 Mandelbrot, pool 2 workers", t.pool2, "s"),
        v("W4 Mandelbrot, rayon 1 thread", t.rayon1, "s"),
        v("W4 Mandelbrot, rayon 2 threads", t.rayon2, "s"),
        v("W4 pool 2 workers ÷ rayon 2 threads (paired)", t.ratio, "×"),
    ])
}

/// Pool start to first result, 2 workers: `build()` + `submit(f, x).result()`.
pub fn start(samples: usize) -> Result<Vec<Row>, String> {
    let h = start_histogram(samples)?;
    Ok(vec![Row::latency(
        "pool start → first result (2 workers)",
        "build() + submit().result()",
        &h,
    )])
}

/// `samples` pool starts to first result (2 workers, default strategy), in ns, with 5 ms
/// between them.
pub fn start_histogram(samples: usize) -> Result<Histogram<u64>, String> {
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
    Ok(h)
}
