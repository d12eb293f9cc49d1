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

/// Whether a worker that has not attached its pool yet is running the program's `main`
/// instead (its `main` did not call `init()` first). Between exec and attaching, a worker
/// spends a few milliseconds of CPU (2–5 ms here) and always has a thread that runs or
/// waits for a CPU: so a process whose threads all sleep (`S`: waiting for input, a lock,
/// a timer; under libtest the harness's main thread sleeps while the test thread runs,
/// which is why every thread is looked at) or that has used 150 ms of CPU before
/// attaching is running user code.
pub(crate) fn runs_main(pid: u32) -> bool {
    // A worker names itself while it starts (`worker::start`): however long that takes
    // (valgrind: seconds of CPU), it is in `init`.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() == crate::worker::STARTING_NAME {
        return false;
    }
    let Some(stat) = fields(&format!("/proc/{pid}/stat")) else { return false };
    let ticks = |i: usize| stat.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf takes a plain integer and has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    // utime and stime (fields 14 and 15 of proc(5); 0 here is field 3, the state).
    if (ticks(11) + ticks(12)) * 1000 / hz >= 150 {
        return true;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    let mut any = false;
    for t in tasks.flatten() {
        let path = t.path().join("stat");
        match fields(&path.to_string_lossy()) {
            Some(f) if f.first() == Some(&"S".to_string()) => any = true,
            _ => return false,
        }
    }
    any
}

/// `PF_EXITING` of `include/linux/sched.h`: the task has begun its exit.
const PF_EXITING: u64 = 0x4;

/// Whether process `pid` is in its exit: the kernel tearing it down — which for a process
/// that mapped a large shared array (freeing or unmapping GiBs of pages) takes seconds — or
/// a zombie. Its main thread has `PF_EXITING` (in the flags of `/proc/PID/stat`), and no
/// thread is held in a kernel call it has not begun to exit from (state `D` without
/// `PF_EXITING`: a hung NFS or FUSE read, a freezer; a SIGKILL waits for the call to end):
/// such a process is stuck, not exiting, though its main thread may have exited already
/// (review30: a worker whose second thread was held was waited for 60 s, "the kernel has
/// not finished freeing its memory"). A process stuck in a system call on its main thread
/// is not exiting either, until the call returns.
pub(crate) fn exiting(pid: u32) -> bool {
    let Some(leader) = task_state(&format!("/proc/{pid}/stat")) else { return false };
    let threads: Vec<(u8, u64)> = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks
            .flatten()
            .filter_map(|t| task_state(&t.path().join("stat").to_string_lossy()))
            .collect(),
        Err(_) => Vec::new(),
    };
    in_exit(leader, &threads)
}

/// [`exiting`] from the (state letter, flags) of the main thread and of every thread.
fn in_exit(leader: (u8, u64), threads: &[(u8, u64)]) -> bool {
    let held = |&(state, flags): &(u8, u64)| state == b'D' && flags & PF_EXITING == 0;
    leader.1 & PF_EXITING != 0 && !threads.iter().any(held)
}

/// The state letter and flags of a task's `stat` file (flags: field 9 of proc(5); 0 in
/// [`fields`] is field 3, the state).
fn task_state(path: &str) -> Option<(u8, u64)> {
    let f = fields(path)?;
    let state = *f.first()?.as_bytes().first()?;
    Some((state, f.get(6)?.parse().ok()?))
}

/// The fields of a `stat` file after `pid (comm)` (comm may hold anything, so the split
/// is at the last `)`): the state letter first.
fn fields(path: &str) -> Option<Vec<String>> {
    let stat = std::fs::read(path).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = String::from_utf8_lossy(stat.get(close + 2..)?);
    Some(rest.split_ascii_whitespace().map(str::to_owned).collect())
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

    /// A stopped or sleeping process is not in its exit; an exited one not yet reaped (a
    /// zombie: its exit is over) is.
    #[test]
    fn only_an_exited_process_is_exiting() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!exiting(child.id()), "sleeping");
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!exiting(child.id()), "stopped");
        child.kill().unwrap();
        let t0 = Instant::now();
        while !exiting(child.id()) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the killed child never showed exiting"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(!exiting(child.id()), "reaped: gone");
    }

    /// A process whose main thread is in its exit while another thread sits in a kernel
    /// call it has not begun to exit from (`D` without `PF_EXITING`) is stuck, not
    /// exiting; threads in their exit, or asleep (a SIGKILL ends them at once), do not
    /// count against it.
    #[test]
    fn a_thread_held_in_the_kernel_is_not_an_exit() {
        let zombie = (b'Z', PF_EXITING | 0x400000);
        assert!(in_exit(zombie, &[zombie]));
        assert!(in_exit(zombie, &[zombie, (b'D', PF_EXITING), (b'R', PF_EXITING)]));
        assert!(in_exit(zombie, &[zombie, (b'S', 0x400040)]));
        assert!(!in_exit(zombie, &[zombie, (b'D', 0x400040)]), "a held thread");
        assert!(!in_exit((b'D', 0x400040), &[(b'D', 0x400040)]), "not exiting at all");
    }

    #[test]
    fn a_sleeping_or_busy_process_runs_main() {
        let mut sleeper = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(runs_main(sleeper.id()), "sleeping");
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let mut spinner =
            std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let t0 = Instant::now();
        while !runs_main(spinner.id()) {
            assert!(t0.elapsed() < Duration::from_secs(20), "200 ms of CPU never counted");
            std::thread::sleep(Duration::from_millis(20));
        }
        spinner.kill().unwrap();
        spinner.wait().unwrap();
    }

    /// A process that carries the name a starting worker gives itself is in `init`,
    /// however it spends its time (valgrind took a worker's start for a `main`).
    #[test]
    fn a_process_named_as_a_starting_worker_does_not_run_main() {
        let dir = std::env::temp_dir().join(format!("zp-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let named = dir.join(crate::worker::STARTING_NAME);
        let _ = std::fs::remove_file(&named);
        std::os::unix::fs::symlink("/bin/sleep", &named).unwrap();
        let mut child = std::process::Command::new(&named).arg("5").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let running_main = runs_main(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!running_main, "a sleeping process named {}", crate::worker::STARTING_NAME);
    }
}
