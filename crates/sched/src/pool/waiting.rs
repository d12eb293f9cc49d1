//! A shutdown that waits long says what it waits for.
//!
//! `shutdown()` (and `Drop`, and the shutdown of live pools at exit) waits for every
//! running job however long it runs, as Python's does. When a worker holding a job is
//! *stopped* (SIGSTOP, a debugger, a cgroup freezer) that wait has no end of its own, and
//! a program that does not exit is the worst way to learn it. After [`NOTE_AFTER`] the
//! wait writes one note on standard error naming each worker that still holds jobs, its
//! pid and scheduler state, and the two ways out; then it goes on waiting (the job is
//! the user's: a stopped worker resumes on SIGCONT, and its job finishes).

use super::core::Shared;
use super::{probe, stats};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a shutdown waits before it says what it waits for.
pub(crate) const NOTE_AFTER: Duration = Duration::from_secs(5);

/// How often the wait looks whether the supervisor has ended.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Waits up to [`NOTE_AFTER`] for `supervisor` to end, then, if it still runs, writes the
/// note. The caller joins it afterwards.
pub(crate) fn note_if_long(shared: &Shared, supervisor: &JoinHandle<()>) {
    let end = Instant::now() + NOTE_AFTER;
    while !supervisor.is_finished() && Instant::now() < end {
        std::thread::sleep(LOOK_EVERY);
    }
    if !supervisor.is_finished() {
        eprintln!("{}", note(shared));
    }
}

/// The note: which workers still hold jobs and what state they are in.
#[cold]
fn note(shared: &Shared) -> String {
    let busy: Vec<String> = stats::collect(shared)
        .workers
        .iter()
        .filter(|w| w.queued > 0 && w.pid != 0)
        .map(|w| {
            let state = probe::sample(w.pid).map_or(b'?', |s| s.state);
            format!(
                "worker {} (pid {}, {} job{}, {})",
                w.index,
                w.pid,
                w.queued,
                if w.queued == 1 { "" } else { "s" },
                describe(state)
            )
        })
        .collect();
    let whom = if busy.is_empty() { "its workers to exit".to_string() } else { busy.join(", ") };
    format!(
        "zeroproc: pool shutdown has waited {} s for {whom}: it waits for running jobs \
         however long they run, as Python's does (`pool.terminate()` stops them; \
         `pool.shutdown_with(Shutdown::new().timeout(d))` bounds the wait)",
        NOTE_AFTER.as_secs()
    )
}

/// A scheduler state letter of `/proc/PID/stat`, in words.
fn describe(state: u8) -> &'static str {
    match state {
        b'T' => "stopped: SIGSTOP or a job-control stop; it resumes on SIGCONT",
        b't' => "stopped by a debugger",
        b'D' => "in uninterruptible sleep",
        b'Z' | b'X' => "exited",
        b'R' => "running",
        b'S' => "sleeping",
        _ => "state unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn a_stop_names_the_way_out() {
        assert!(describe(b'T').contains("SIGCONT"));
        assert_eq!(describe(b'R'), "running");
    }
}
