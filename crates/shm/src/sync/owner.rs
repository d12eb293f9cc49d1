//! Who holds a robust primitive (pid, thread id) and whether that process still exists.

use crate::process;
use std::cell::Cell;

/// The bits of a lock word that hold the owner's pid. Linux pids are below
/// `PID_MAX_LIMIT` = 2^22, so 30 bits leave room for flag bits.
pub(super) const PID_MASK: u32 = 0x3FFF_FFFF;

/// This process's pid, as stored in lock words.
#[inline]
pub(super) fn my_pid() -> u32 {
    let p = process::current_pid();
    debug_assert!(p != 0 && p <= PID_MASK, "pid {p} does not fit a lock word");
    p
}

/// This process as a `Lock` word's owner: `stamp << 32 | pid`, the stamp being the low 32
/// bits of its start time (`process::current_start_time`; 0 if unknown). The pair names
/// this process and no earlier holder of its pid.
#[inline]
pub(super) fn my_owner() -> u64 {
    u64::from(process::current_start_time() as u32) << 32 | u64::from(my_pid())
}

/// Whether the owner recorded as `stamp << 32 | pid` in `word` (flag bits 30..32 are
/// ignored) has exited: its pid is free or a zombie, or now names a process that started at
/// another time (the pid was reused, possibly by the caller). A stamp of 0 (unknown) falls
/// back to the pid alone. Never true for the calling process's own owner word.
#[cold]
pub(super) fn owner_is_gone(word: u64) -> bool {
    let pid = word as u32 & PID_MASK;
    pid != 0 && !process::is_running(pid, word >> 32, true)
}

thread_local! {
    /// (pid, tid) of this thread; the pid tells a stale copy inherited across `fork` apart.
    static TID: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// This thread's kernel thread id (`gettid`), cached per thread and refreshed after `fork`.
/// Thread ids are unique among live tasks of the pid namespace.
#[inline]
pub(super) fn my_tid() -> u32 {
    let pid = process::current_pid();
    let (p, t) = TID.with(Cell::get);
    if p == pid && t != 0 {
        return t;
    }
    fetch_tid(pid)
}

#[cold]
fn fetch_tid(pid: u32) -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let t = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    TID.with(|c| c.set((pid, t)));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn an_owner_word_of_my_pid_with_another_start_is_gone() {
        assert!(!owner_is_gone(my_owner()));
        assert!(!owner_is_gone(u64::from(my_pid())), "no stamp: the pid decides");
        let other = my_owner() ^ (1 << 40);
        assert!(owner_is_gone(other), "an earlier process with my pid");
    }

    #[test]
    fn self_is_never_gone_and_tid_is_stable() {
        assert!(!owner_is_gone(my_owner()));
        assert_eq!(my_tid(), my_tid());
        let main = my_tid();
        let other = std::thread::spawn(my_tid).join().unwrap();
        assert_ne!(main, other);
    }

    #[test]
    fn zombie_and_reaped_children_are_gone() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        let end = Instant::now() + Duration::from_secs(10);
        while !owner_is_gone(pid.into()) {
            assert!(Instant::now() < end, "child never exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Not reaped yet: kill(pid, 0) still finds the zombie, the pidfd says it exited.
        assert!(!process::is_alive(pid));
        c.wait().unwrap();
        assert!(owner_is_gone(pid.into()));
    }

    #[test]
    fn a_running_child_is_not_gone() {
        let mut c = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!owner_is_gone(c.id().into()));
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
