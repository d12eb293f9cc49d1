//! Scenario 2: pool churn. Pools built and dropped with jobs in flight, or shut down with
//! `wait(false)` and `cancel_futures(true)` first, from several threads at once.

use crate::tally::Tally;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc::{JobError, JobFuture, Pool, Shutdown};

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// One pool's life; `how` picks the ending.
fn one(t: &Tally, how: u64) {
    t.add("pool");
    let pool = match Pool::new() {
        Ok(p) => p,
        Err(e) => return t.anomaly("build", e),
    };
    let futs: Vec<JobFuture<u64>> = (0..8).map(|i| pool.submit(nap, i % 3)).collect();
    match how % 3 {
        0 => {
            // Dropped with jobs in flight: Python's `with` block, they all finish.
            drop(pool);
            for (i, f) in futs.into_iter().enumerate() {
                match f.result_timeout(Duration::from_secs(30)) {
                    Ok(Ok(v)) if v == i as u64 % 3 => t.add("drop: ok"),
                    Ok(r) => t.anomaly("drop", format!("job {i}: {r:?}")),
                    Err(_) => t.anomaly("HANG", "job of a dropped pool not done in 30 s"),
                }
            }
        }
        1 => {
            pool.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
            for f in futs {
                match f.result_timeout(Duration::from_secs(30)) {
                    Ok(Ok(_)) => t.add("cancel_futures: ran"),
                    Ok(Err(JobError::Cancelled)) => t.add("cancel_futures: cancelled"),
                    Ok(r) => t.anomaly("cancel_futures", format!("{r:?}")),
                    Err(_) => t.anomaly("HANG", "job after shutdown(wait=false) not done in 30 s"),
                }
            }
            match pool.submit(nap, 0).result() {
                Err(JobError::Shutdown) => t.add("submit after shutdown: Shutdown"),
                r => t.anomaly("submit after shutdown", format!("{r:?}")),
            }
        }
        _ => {
            // Dropped at once, futures dropped too, never waited for.
            drop(futs);
            drop(pool);
            t.add("dropped unwaited");
        }
    }
}

pub fn run(secs: u64, pools: u64, threads: u64) -> Tally {
    let t = Tally::default();
    let next = AtomicU64::new(0);
    let end = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pools || Instant::now() > end {
                    break;
                }
                one(&t, i);
            });
        }
    });
    t
}
