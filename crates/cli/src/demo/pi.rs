//! Workload 2: Monte Carlo π. Each job gets its own seed and a sample count, draws points
//! in the unit square with its own RNG (splitmix64) and returns how many fell inside the
//! quarter circle. Same seeds ⇒ same hits, wherever the job runs.

use super::Run;
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::time::Instant;
use zeroproc_sched::{as_completed, Pool};

/// The sampling plan: `jobs` jobs of `samples` points each.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Number of jobs.
    pub jobs: u64,
    /// Points per job.
    pub samples: u64,
}

impl Plan {
    /// The plan for work scale `size` (1.0: about two seconds of one core here).
    pub fn for_size(size: f64) -> Plan {
        let jobs = 128;
        let samples = ((4_000_000.0 * size) as u64).max(1000);
        Plan { jobs, samples }
    }

    /// Total points.
    pub fn total(&self) -> u64 {
        self.jobs * self.samples
    }

    /// The estimate from `hits` inside the quarter circle.
    pub fn estimate(&self, hits: u64) -> f64 {
        4.0 * hits as f64 / self.total() as f64
    }
}

/// The seed of job `j` (fixed, so every run draws the same points).
fn seed(j: u64) -> u64 {
    0x5eed_0000_0000_0000 ^ j.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// splitmix64: one step.
#[inline]
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The job: `n` points from `seed`; returns the hits.
pub fn hits((seed, n): (u64, u64)) -> u64 {
    let mut s = seed;
    let unit = |v: u64| (v >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let mut inside = 0;
    for _ in 0..n {
        let (x, y) = (unit(next(&mut s)), unit(next(&mut s)));
        inside += (x * x + y * y < 1.0) as u64;
    }
    inside
}

/// Runs the plan on `pool` (one future per job, collected with `as_completed`).
pub fn on_pool(pool: &Pool, plan: Plan, bar: Option<&ProgressBar>) -> Result<(Run, u64), String> {
    let t = Instant::now();
    let futures: Vec<_> =
        (0..plan.jobs).map(|j| pool.submit(hits, (seed(j), plan.samples))).collect();
    let mut total = 0;
    for f in as_completed(futures) {
        total += f.result().map_err(|e| format!("π job: {e}"))?;
        if let Some(b) = bar {
            b.inc(1);
        }
    }
    Ok((Run { secs: t.elapsed().as_secs_f64(), check: total }, total))
}

/// Runs the plan on a rayon pool.
pub fn on_rayon(rayon: &rayon::ThreadPool, plan: Plan) -> Run {
    let t = Instant::now();
    let total: u64 = rayon
        .install(|| (0..plan.jobs).into_par_iter().map(|j| hits((seed(j), plan.samples))).sum());
    Run { secs: t.elapsed().as_secs_f64(), check: total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_close_and_deterministic() {
        let plan = Plan { jobs: 4, samples: 250_000 };
        let h: u64 = (0..plan.jobs).map(|j| hits((seed(j), plan.samples))).sum();
        let again: u64 = (0..plan.jobs).map(|j| hits((seed(j), plan.samples))).sum();
        assert_eq!(h, again);
        // 10^6 points: the standard error is about 0.0016.
        assert!((plan.estimate(h) - std::f64::consts::PI).abs() < 0.01, "{}", plan.estimate(h));
    }
}
