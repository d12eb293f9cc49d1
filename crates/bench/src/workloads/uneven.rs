//! W5, uneven jobs: `n` CPU spins of seeded heavy-tailed durations (log-normal, median
//! 0.2 ms, clamped to [5 µs, 50 ms]: ~1 ms mean, ~2 s of CPU for 2,000 jobs). The
//! makespan (submit all → all results) of zeroproc `submit` + `wait`, zeroproc `map`
//! (default settings) and rayon `par_iter`, 2 workers / 2 threads each, passes
//! interleaved. Every system runs the same iteration counts (calibrated once here).

use super::pool::median;
use super::spin::{self, SplitMix64};
use crate::report::Value;
use std::time::Instant;
use zeroproc_sched::{wait, Pool, ReturnWhen};

/// The seed of W5's durations.
pub const SEED: u64 = 0x5735_2026;
/// Median job duration, ns.
pub const MEDIAN_NS: f64 = 200_000.0;
/// σ of the duration's logarithm.
pub const SIGMA: f64 = 1.8;
/// Shortest and longest job, ns.
pub const CLAMP_NS: (f64, f64) = (5_000.0, 50_000_000.0);

/// W5's target durations in ns, `n` of them, from [`SEED`].
pub fn durations_ns(n: usize) -> Vec<f64> {
    let mut g = SplitMix64::new(SEED);
    (0..n).map(|_| g.log_normal(MEDIAN_NS, SIGMA, CLAMP_NS.0, CLAMP_NS.1)).collect()
}

/// The job of every system: one spin, its checksum returned.
pub fn job(iters: u64) -> u64 {
    spin::spin(iters)
}

fn checksum(results: &[u64]) -> u64 {
    results.iter().fold(0u64, |a, &r| a.wrapping_add(r))
}

/// zeroproc: all futures submitted, then `wait(.., AllCompleted)`, then the results.
fn run_submit(p: &Pool, iters: &[u64]) -> Result<(f64, u64), String> {
    let t = Instant::now();
    let futs: Vec<_> = iters.iter().map(|&n| p.submit(job, n)).collect();
    let (done, _) = wait(futs, ReturnWhen::AllCompleted, None);
    let r: Result<Vec<u64>, _> = done.into_iter().map(|f| f.result()).collect();
    let s = t.elapsed().as_secs_f64();
    Ok((s, checksum(&r.map_err(|e| format!("W5 submit: {e}"))?)))
}

/// zeroproc: `pool.map(job, iters)` with default settings.
fn run_map(p: &Pool, iters: &[u64]) -> Result<(f64, u64), String> {
    let t = Instant::now();
    let r: Result<Vec<u64>, _> = p.map(job, iters.iter().copied()).collect();
    let s = t.elapsed().as_secs_f64();
    Ok((s, checksum(&r.map_err(|e| format!("W5 map: {e}"))?)))
}

/// rayon: `iters.par_iter().map(job).collect()`.
fn run_rayon(r: &rayon::ThreadPool, iters: &[u64]) -> (f64, u64) {
    use rayon::prelude::*;
    let t = Instant::now();
    let v: Vec<u64> = r.install(|| iters.par_iter().map(|&n| job(n)).collect());
    (t.elapsed().as_secs_f64(), checksum(&v))
}

/// Medians of W5's interleaved passes (see [`w5_times`]).
#[derive(Debug, Clone, Copy)]
pub struct W5Times {
    /// zeroproc submit all + wait, makespan in s.
    pub submit: f64,
    /// zeroproc `map`, makespan in s.
    pub map: f64,
    /// rayon, makespan in s.
    pub rayon: f64,
    /// Median of the paired ratios submit ÷ rayon.
    pub submit_ratio: f64,
    /// Median of the paired ratios map ÷ rayon.
    pub map_ratio: f64,
    /// Total CPU work of one pass (sum of the target durations), s.
    pub work_s: f64,
    /// Nanoseconds per spin iteration (the calibration).
    pub ns_per_iter: f64,
}

/// W5 with `n` jobs, `rounds` interleaved passes of the three systems on a 2-worker pool
/// and a 2-thread rayon pool; every pass's checksum is checked against the others'.
pub fn w5_times(n: usize, rounds: usize) -> Result<W5Times, String> {
    let ns_per_iter = spin::calibrate_ns_per_iter();
    let durations = durations_ns(n);
    let iters: Vec<u64> = durations.iter().map(|&d| spin::iters_for(d, ns_per_iter)).collect();
    let p = Pool::builder().workers(2).build().map_err(|e| e.to_string())?;
    let r = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    p.map(job, 0..64u64).for_each(drop); // workers up
    let (mut s, mut m, mut y, mut sr, mut mr) = (vec![], vec![], vec![], vec![], vec![]);
    let mut sums = Vec::new();
    for _ in 0..rounds.max(1) {
        let (ts, cs) = run_submit(&p, &iters)?;
        let (tm, cm) = run_map(&p, &iters)?;
        let (ty, cy) = run_rayon(&r, &iters);
        sums.extend([cs, cm, cy]);
        s.push(ts);
        m.push(tm);
        y.push(ty);
        sr.push(ts / ty);
        mr.push(tm / ty);
    }
    if sums.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("W5 checksums differ between systems: {sums:?}"));
    }
    Ok(W5Times {
        submit: median(&mut s),
        map: median(&mut m),
        rayon: median(&mut y),
        submit_ratio: median(&mut sr),
        map_ratio: median(&mut mr),
        work_s: durations.iter().sum::<f64>() / 1e9,
        ns_per_iter,
    })
}

/// W5 as `cargo bench` rows: the three makespans and the paired ratios.
pub fn w5(n: usize, rounds: usize) -> Result<Vec<Value>, String> {
    let t = w5_times(n, rounds)?;
    let mode = format!("{n} jobs, {:.2} s CPU, median of {rounds} interleaved passes", t.work_s);
    let v = |name: &str, value: f64, unit: &str| Value::new(name, &mode, value, unit);
    Ok(vec![
        v("W5 uneven jobs, zeroproc submit all + wait, 2 workers", t.submit, "s"),
        v("W5 uneven jobs, zeroproc map (defaults), 2 workers", t.map, "s"),
        v("W5 uneven jobs, rayon par_iter, 2 threads", t.rayon, "s"),
        v("W5 zeroproc submit ÷ rayon (paired)", t.submit_ratio, "×"),
        v("W5 zeroproc map ÷ rayon (paired)", t.map_ratio, "×"),
    ])
}
