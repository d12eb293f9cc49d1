//! Hostile jobs and misuse as a new user meets them (new-user round: fork in a job, ...).

use crate::harness::{ensure, Outcome};
use std::time::{Duration, Instant};
use zeroproc::Pool;

/// A job that forks, and whose child also returns from the job after a while (a user
/// forgetting `_exit` in the child). The worker answers with the child's pid.
fn fork_and_return(ms: u64) -> i64 {
    // SAFETY: fork in a single-threaded worker; the copy only sleeps and returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        std::thread::sleep(Duration::from_millis(ms));
        return -1;
    }
    pid as i64
}

fn plus_one(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(200));
    x + 1
}

/// The forked copy must not answer the job (it corrupted the completion ring: a later job
/// failed with `Decode`); every job after it is answered by the worker.
pub fn job_that_forks() -> Outcome {
    let pool = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let child = pool.submit(fork_and_return, 50).result().map_err(|e| e.to_string())?;
    ensure(child > 0, || format!("the job was answered by the forked copy ({child})"))?;
    let end = Instant::now() + Duration::from_millis(300);
    let mut i = 0u64;
    while Instant::now() < end {
        let r = pool.submit(plus_one, i).result();
        ensure(r == Ok(i + 1), || format!("job {i} after the fork: {r:?}"))?;
        i += 1;
    }
    Ok(())
}
