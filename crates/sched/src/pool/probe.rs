//! Is a worker that makes no progress and runs no job *stopped* (SIGSTOP, a debugger, a
//! cgroup freezer), blocked or dead — or merely between jobs (waking up, or waiting for a
//! CPU: three spinning processes on two cores take turns all the time)? Read from
//! `/proc/<pid>/stat` (the state letter).
//!
//! (Why not CPU time, to tell a long job from a preempted one: `schedstat`'s run time of
//! a running task is only brought up to date at scheduler ticks, so over sub-millisecond
//! intervals a running worker looks idle and then jumps — measured here. A job that runs
//! long is recognised by its `current` word instead, `balance.rs`.)
//!
//! Only `balance.rs` asks, at most every [`PROBE_EVERY`] per worker (~5 µs a read).

use std::time::{Duration, Instant};

/// Shortest interval between two probes of one worker.
pub(crate) const PROBE_EVERY: Duration = Duration::from_micros(250);

/// One probe of a process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// Scheduler state letter (`R`, `S`, `D`, `T`, `t`, `Z`, …).
    pub state: u8,
}

/// Probes process `pid` (`None` if it is gone or `/proc` cannot be read).
pub(crate) fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold anything, the state follows the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let state = *stat.get(close + 2)?;
    Some(Sample { at: Instant::now(), state })
}

impl Sample {
    /// Stopped, traced, in uninterruptible sleep, or dead: it will not take jobs.
    pub(crate) fn halted(&self) -> bool {
        matches!(self.state, b'T' | b't' | b'D' | b'Z' | b'X')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_child_is_halted_a_sleeping_one_is_not() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!sample(child.id()).unwrap().halted());
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_millis(50));
        assert!(sample(child.id()).unwrap().halted());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(sample(child.id()).is_none(), "reaped: gone");
    }
}
