//! A worker retiring at `max_jobs_per_worker` that does not manage to exit — a job left
//! an `atexit` handler (a native library's, or a static destructor) that never returns,
//! or waits for a thread the job left behind — is killed after a grace period and
//! replaced, as a worker asked to stop at shutdown is. Before (user29, a service with
//! `max_jobs_per_worker(3)` whose job registered such a handler): the worker sat in
//! `exit` for ever, no replacement was started, the jobs queued on its slot never ran,
//! and the pool's later jobs waited for ever.

use std::time::{Duration, Instant};
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// Registers an `atexit` handler that never returns: this process can no longer exit
/// by `exit` (only by a signal or `_exit`).
fn never_exit_cleanly(_: ()) -> u32 {
    extern "C" fn forever() {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    // SAFETY: `forever` is a valid `extern "C" fn()` for the life of the process.
    unsafe { libc::atexit(forever) };
    std::process::id()
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn a_retiring_worker_stuck_in_exit_is_replaced() {
    for workers in [1, 2] {
        let pool = Pool::builder().workers(workers).max_jobs_per_worker(3).build().unwrap();
        let pid = pool.submit(never_exit_cleanly, ()).result().unwrap();
        let t = Instant::now();
        let futs: Vec<_> = (0..60u64).map(|i| pool.submit(|x: u64| x + 1, i)).collect();
        for (i, f) in futs.into_iter().enumerate() {
            let r = f.result_timeout(Duration::from_secs(30));
            assert_eq!(r.ok(), Some(Ok(i as u64 + 1)), "{workers} workers: job {i} hung");
        }
        // The stuck process is gone (killed and reaped), not left behind: jobs of 5 ms
        // until then, so that each worker gets some and reaches its quota.
        let gone = || std::fs::metadata(format!("/proc/{pid}")).is_err();
        while !gone() && t.elapsed() < Duration::from_secs(30) {
            let futs: Vec<_> = (0..8).map(|_| pool.submit(nap, 5)).collect();
            for f in futs {
                assert_eq!(f.result_timeout(Duration::from_secs(30)).ok(), Some(Ok(5)), "hung");
            }
        }
        assert!(gone(), "{workers} workers: process {pid} still there after {:?}", t.elapsed());
        let t = Instant::now();
        drop(pool);
        assert!(t.elapsed() < Duration::from_secs(30), "drop took {:?}", t.elapsed());
    }
}
