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

/// Whether process `pid` has exited (including exited-but-unreaped zombies, see
/// [`process::is_alive`]). Never true for the calling process.
#[cold]
pub(super) fn is_gone(pid: u32) -> bool {
    pid != my_pid() && !process::is_alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn self_is_never_gone_and_tid_is_stable() {
        assert!(!is_gone(my_pid()));
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
        while !is_gone(pid) {
            assert!(Instant::now() < end, "child never exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Not reaped yet: kill(pid, 0) still finds the zombie, the pidfd says it exited.
        assert!(!process::is_alive(pid));
        c.wait().unwrap();
        assert!(is_gone(pid));
    }

    #[test]
    fn a_running_child_is_not_gone() {
        let mut c = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!is_gone(c.id()));
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
