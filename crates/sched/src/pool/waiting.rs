//! A shutdown that waits long says what it waits for.
//!
//! `shutdown()` (and `Drop`, and the shutdown of live pools at exit) waits for every
//! running job however long it runs, as Python's does. When a worker holding a job is
//! *stopped* (SIGSTOP, a debugger, a cgroup freezer) that wait has no end of its own, and
//! a program that does not exit is the worst way to learn it. Once the wait has lasted
//! [`NOTE_AFTER`] and a worker that holds jobs is seen halted (stopped or traced), it
//! writes one note on standard error naming each worker that still holds jobs, its pid
//! and scheduler state, and the two ways out; then it goes on waiting (the job is the
//! user's: a stopped worker resumes on SIGCONT, and its job finishes). A job that merely
//! runs long gets no note, as in Python.
//!
//! **At the program's end** (`shutdown_live_pools`: a pool never dropped, shut down when
//! `main` returns or at `exit`) the note is written after [`NOTE_AFTER`] whatever the
//! workers' state: the program has finished its own work, and one that does not end — a
//! test binary that printed its result, a bench that printed its figures — must say what
//! it waits for, as it does for the `Process` children it joins there.

use super::core::Shared;
use super::{probe, stats};
use std::time::{Duration, Instant};

/// How long a shutdown waits before it says what it waits for.
pub(crate) const NOTE_AFTER: Duration = Duration::from_secs(5);

/// How often the wait looks whether the supervisor has ended.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// How often, after [`NOTE_AFTER`], the wait probes the busy workers' states.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// An unbounded wait for the supervisor to end: [`look`](Self::look) sleeps a little and,
/// once [`NOTE_AFTER`] has passed, writes the note when a worker holding jobs is halted
/// (once). The caller looks at the supervisor between calls and joins it.
pub(crate) struct LongWait {
    start: Instant,
    next_probe: Instant,
    noted: bool,
    /// The program is ending (see the module docs): note any worker holding jobs.
    at_exit: bool,
}

impl LongWait {
    /// A wait starting now.
    pub(crate) fn new() -> Self {
        let start = Instant::now();
        LongWait { start, next_probe: start + NOTE_AFTER, noted: false, at_exit: false }
    }

    /// A wait starting now at the program's end (see the module docs).
    pub(crate) fn at_exit() -> Self {
        LongWait { at_exit: true, ..Self::new() }
    }

    /// One step of the wait: the note if it is due, then a sleep of [`LOOK_EVERY`].
    pub(crate) fn look(&mut self, shared: &Shared) {
        if !self.noted && Instant::now() >= self.next_probe {
            let busy = busy_workers(shared);
            if self.at_exit && !busy.is_empty() {
                crate::note!("{}", exit_note(self.start.elapsed(), &busy));
                self.noted = true;
            } else if busy.iter().any(|&(_, _, _, state)| halted(state)) {
                crate::note!("{}", note(self.start.elapsed(), &busy));
                self.noted = true;
            }
            self.next_probe = Instant::now() + PROBE_EVERY;
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// Each worker that holds jobs: index, pid, jobs held, scheduler state letter.
fn busy_workers(shared: &Shared) -> Vec<(usize, u32, usize, u8)> {
    stats::collect(shared)
        .workers
        .iter()
        .filter(|w| w.queued > 0 && w.pid != 0)
        .map(|w| (w.index, w.pid, w.queued, probe::sample(w.pid).map_or(b'?', |s| s.state)))
        .collect()
}

/// Stopped or traced: it makes no progress until someone resumes it. (Uninterruptible
/// sleep, `D`, is not counted: a job doing I/O passes through it all the time.)
fn halted(state: u8) -> bool {
    matches!(state, b'T' | b't')
}

/// Each busy worker in words: index, pid, jobs held and state.
fn whom(busy: &[(usize, u32, usize, u8)]) -> String {
    let whom: Vec<String> = busy
        .iter()
        .map(|&(index, pid, jobs, state)| {
            let s = if jobs == 1 { "" } else { "s" };
            format!("worker {index} (pid {pid}, {jobs} job{s}, {})", describe(state))
        })
        .collect();
    whom.join(", ")
}

/// The note: which workers still hold jobs and what state they are in.
#[cold]
fn note(waited: Duration, busy: &[(usize, u32, usize, u8)]) -> String {
    format!(
        "zeroproc: pool shutdown has waited {} s for {}: it waits for running jobs \
         however long they run, as Python's does (`pool.terminate()` stops them; \
         `pool.shutdown_with(Shutdown::new().timeout(d))` bounds the wait)",
        waited.as_secs(),
        whom(busy)
    )
}

/// The note at the program's end (see the module docs).
#[cold]
fn exit_note(waited: Duration, busy: &[(usize, u32, usize, u8)]) -> String {
    format!(
        "zeroproc: the program is ending and has waited {} s for the jobs of a pool never \
         dropped (a `static`, a leaked pool, or one held by a thread still running): {}. \
         Its queued and running jobs finish before the program exits, as Python waits at \
         exit for its executors' pending work; to not wait, `pool.terminate()` (or \
         `pool.shutdown_with(Shutdown::new().timeout(d))`) before the end, or give the jobs \
         a time limit (`submit_with_time_limit`)",
        waited.as_secs(),
        whom(busy)
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
    use super::{describe, exit_note, halted};

    #[test]
    fn a_stop_names_the_way_out() {
        assert!(describe(b'T').contains("SIGCONT"));
        assert_eq!(describe(b'R'), "running");
        assert!(halted(b'T') && halted(b't'));
        assert!(!halted(b'R') && !halted(b'S') && !halted(b'D'), "a long job gets no note");
    }

    #[test]
    fn the_note_at_exit_names_the_workers_and_the_ways_out() {
        let n = exit_note(std::time::Duration::from_secs(5), &[(1, 42, 3, b'R')]);
        assert!(n.contains("worker 1 (pid 42, 3 jobs, running)"), "{n}");
        assert!(n.contains("never dropped") && n.contains("terminate()"), "{n}");
    }
}
