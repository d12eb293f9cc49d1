//! `tracing` events for the life of workers (feature `tracing`, target `zeroproc`), so a
//! service sees in its own logs why a job failed: a worker started, exited, crashed,
//! was respawned, killed for a job's time-out, or its slot retired; and why queued jobs
//! moved to another worker. Emitted by the supervisor thread, or for moves by the thread
//! that balanced the pool (off every job's path). Without the feature these are empty
//! functions.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `worker started` | DEBUG | `worker`, `pid` |
//! | `worker respawned` | INFO | `worker`, `pid`, `respawns` |
//! | `worker exited` | DEBUG (asked to stop) / INFO (`max_jobs_per_worker`: retired and replaced) | `worker`, `pid`, `reason` |
//! | `worker crashed` | WARN | `worker`, `pid`, `signal`, `exit_code`, `job` (0: none running) |
//! | `spill block of a dead worker reclaimed` | INFO | `worker`, `pid` |
//! | `job timed out` | WARN | `worker`, `pid`, `job`, `timeout_ms` |
//! | `worker slot retired` | ERROR | `worker`, `reason` (corrupt ring, repeated start failures) |
//! | `jobs moved` | DEBUG | `from`, `to`, `jobs`, `reason` (the worker was in one job for 1 ms or more; stopped, dead or starting; or its queue was shared with an idle worker: `pool/balance.rs`) |

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

/// A worker process was started (pool start).
pub(crate) fn started(worker: usize, pid: u32) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "zeroproc", worker, pid, "worker started");
}

/// A replacement worker process was started.
pub(crate) fn respawned(worker: usize, pid: u32, respawns: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "zeroproc", worker, pid, respawns, "worker respawned");
}

/// A worker exited with status 0: asked to stop, or retired after its job quota.
pub(crate) fn exited(worker: usize, pid: u32, asked: bool) {
    #[cfg(feature = "tracing")]
    if asked {
        tracing::debug!(target: "zeroproc", worker, pid, reason = "stopped", "worker exited");
    } else {
        tracing::info!(
            target: "zeroproc",
            worker,
            pid,
            reason = "max_jobs_per_worker reached: retired and replaced",
            "worker exited"
        );
    }
}

/// A worker died (signal or non-zero exit), with the job it was running (0: none).
pub(crate) fn crashed(
    worker: usize,
    pid: u32,
    signal: Option<i32>,
    exit_code: Option<i32>,
    job: u64,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "zeroproc", worker, pid, signal, exit_code, job, "worker crashed");
}

/// A dead worker's result block, written and never referenced, was freed.
pub(crate) fn reclaimed(worker: usize, pid: u32) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "zeroproc", worker, pid, "spill block of a dead worker reclaimed");
}

/// A job ran past its time-out: its worker is being killed.
pub(crate) fn timed_out(worker: usize, pid: u32, job: u64, timeout_ns: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "zeroproc",
        worker,
        pid,
        job,
        timeout_ms = timeout_ns / 1_000_000,
        "job timed out"
    );
}

/// A worker slot will not be served again.
pub(crate) fn retired(worker: usize, reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "zeroproc", worker, reason, "worker slot retired");
}

/// Queued jobs of worker `from` moved to the end of worker `to`'s ring.
pub(crate) fn moved(from: usize, to: usize, jobs: u64, reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "zeroproc", from, to, jobs, reason, "jobs moved");
}
