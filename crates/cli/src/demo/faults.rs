//! Part 3: faults a Python process pool does not survive. In `ProcessPoolExecutor` a
//! worker killed by a signal raises `BrokenProcessPool` for every pending future and the
//! executor is unusable; here the dead worker fails only its own job, is respawned, and
//! the pool keeps serving.

use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool};

/// A job that SIGKILLs its own worker process.
fn kill_self(_: u64) -> u64 {
    // SAFETY: kill(2) on our own pid with a valid signal number; it does not return.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL is not caught")
}

/// A job that never ends.
fn spin_forever(_: u64) -> u64 {
    loop {
        std::hint::spin_loop();
    }
}

/// Runs the fault scenarios on `pool` and prints what happened.
pub fn run(pool: &Pool) -> Result<(), String> {
    let before: u64 = pool.stats().workers.iter().map(|w| w.respawns).sum();

    let t = Instant::now();
    match pool.submit(kill_self, 0).result() {
        Err(JobError::WorkerDied { signal, .. }) => println!(
            "   a job that SIGKILLs its own worker   → JobError::WorkerDied {{ signal: {} }} \
             after {:.0} ms",
            signal.map_or("-".to_owned(), |s| s.to_string()),
            t.elapsed().as_secs_f64() * 1e3
        ),
        other => return Err(format!("killed worker: expected WorkerDied, got {other:?}")),
    }

    let t = Instant::now();
    match pool.submit_with_time_limit(spin_forever, 0, Duration::from_millis(300)).result() {
        Err(JobError::TimeLimit) => println!(
            "   a job stuck in a loop, 300 ms limit  → JobError::TimeLimit after {:.0} ms \
             (its worker was killed)",
            t.elapsed().as_secs_f64() * 1e3
        ),
        other => return Err(format!("stuck job: expected TimeLimit, got {other:?}")),
    }

    let n = 1000u64;
    let sum: u64 = pool
        .map(|x: u64| x * 2, 0..n)
        .map(|r| r.map_err(|e| format!("job after the faults: {e}")))
        .sum::<Result<u64, String>>()?;
    if sum != n * (n - 1) {
        return Err(format!("jobs after the faults: sum {sum}, expected {}", n * (n - 1)));
    }
    let respawns: u64 = pool.stats().workers.iter().map(|w| w.respawns).sum::<u64>() - before;
    println!(
        "   then a map of {n} items, same pool   → all correct; {respawns} workers respawned, \
         no broken pool"
    );
    Ok(())
}
