//! Process identity and liveness, used to recover from peers that die holding something.
//!
//! Robust primitives store the owner's pid in shared memory and, when they have waited long
//! enough, ask whether that pid still exists. `kill(pid, 0)` answers without sending a
//! signal: `ESRCH` means no such process. A pid is only reused after the kernel's pid space
//! wraps (`/proc/sys/kernel/pid_max`); for a record of the pid alone a reused pid delays
//! recovery until the new process exits (and for ever if the new process is the one
//! waiting), never letting two owners in. Records that keep the holder's [`start_time`]
//! too ([`is_running`]) tell the new process apart: the `Lock` word does.
//!
//! Under `cfg(loom)` "processes" are model threads: each calls `model::set_current` with a
//! small id and `model::mark_dead` to simulate being killed.

#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(loom))]
static CACHED_PID: AtomicU32 = AtomicU32::new(0);

#[cfg(not(loom))]
extern "C" fn reset_pid_after_fork() {
    // Relaxed: runs single-threaded in the fork child before anything else reads it.
    CACHED_PID.store(0, Ordering::Relaxed);
    // Relaxed: as above.
    CACHED_START.store(0, Ordering::Relaxed);
}

/// The calling process's id, cached (glibc no longer caches `getpid`), reset after `fork`.
///
/// # Example
/// ```
/// assert_eq!(zeroproc_shm::process::current_pid(), std::process::id());
/// ```
#[cfg(not(loom))]
#[inline]
pub fn current_pid() -> u32 {
    // Relaxed: the value is the same in every thread of this process; a race only means
    // two threads both fetch it.
    let p = CACHED_PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    init_pid()
}

#[cfg(not(loom))]
#[cold]
fn init_pid() -> u32 {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a plain `extern "C"` function with no captured state; it only
        // stores to an atomic, which is async-signal-safe.
        unsafe { libc::pthread_atfork(None, None, Some(reset_pid_after_fork)) };
    });
    let p = std::process::id();
    // Relaxed: see `current_pid`.
    CACHED_PID.store(p, Ordering::Relaxed);
    p
}

/// Whether a process with this pid exists and has not terminated (a zombie — dead but not
/// yet reaped by its parent — counts as dead).
///
/// # Example
/// ```
/// use zeroproc_shm::process::{is_alive, current_pid};
/// assert!(is_alive(current_pid()));
/// ```
#[cfg(not(loom))]
#[cold]
pub fn is_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r != 0 {
        // EPERM: it exists but belongs to someone else.
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    }
    // It exists. A zombie (exited, not yet reaped by its parent) holds nothing any more:
    // a parent blocked on something its dead child held would otherwise never reap it.
    !has_exited_unreaped(pid)
}

/// When process `pid` started: field 22 of `/proc/PID/stat` (`starttime`, clock ticks since
/// boot). `None` if there is no such process (or no `/proc`). A pid and its start time
/// name one process for good: a later process that reuses the pid starts later. One file
/// read: for liveness checks after a wait, not for hot paths.
///
/// # Example
/// ```
/// use zeroproc_shm::process::{current_pid, current_start_time, start_time};
/// assert_eq!(start_time(current_pid()), Some(current_start_time()));
/// ```
#[cfg(not(loom))]
#[cold]
pub fn start_time(pid: u32) -> Option<u64> {
    if pid == 0 || pid > i32::MAX as u32 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold anything, fields follow the last ')'.
    // After it: field 3 (state) is the first, so field 22 is the 20th.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(not(loom))]
static CACHED_START: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The calling process's [`start_time`], cached (reset after `fork`, like
/// [`current_pid`]); 0 if `/proc` cannot tell (then callers fall back to the pid alone).
///
/// # Example
/// ```
/// use zeroproc_shm::process::current_start_time;
/// assert_ne!(current_start_time(), 0);
/// assert_eq!(current_start_time(), current_start_time());
/// ```
#[cfg(not(loom))]
pub fn current_start_time() -> u64 {
    // Also registers the fork handler, which resets this cache too.
    let pid = current_pid();
    // Relaxed: the same value in every thread of this process. Cached as start + 1, so
    // that an unknown start (0) is cached too and /proc is read once, not on every call.
    let s = CACHED_START.load(Ordering::Relaxed);
    if s != 0 {
        return s - 1;
    }
    let s = start_time(pid).unwrap_or(0);
    // Relaxed: see above; a race only means two threads both read /proc.
    CACHED_START.store(s + 1, Ordering::Relaxed);
    s
}

/// Whether the process that was `pid` when it recorded `start` (its [`start_time`], or
/// only its low 32 bits when `bits32`) still runs: [`is_alive`] and, if `start` is not 0,
/// the process now holding the pid started then. So a dead process whose pid was reused
/// by another (or by the caller itself) is told apart. `start` 0 means unknown: the pid
/// alone decides (a reused pid then looks alive).
///
/// # Example
/// ```
/// use zeroproc_shm::process::{current_pid, current_start_time, is_running};
/// assert!(is_running(current_pid(), current_start_time(), false));
/// assert!(!is_running(current_pid(), current_start_time() + 1, false));
/// ```
#[cfg(not(loom))]
#[cold]
pub fn is_running(pid: u32, start: u64, bits32: bool) -> bool {
    let same = |s: u64| if bits32 { s as u32 as u64 == start } else { s == start };
    if pid == current_pid() {
        let mine = current_start_time();
        return start == 0 || mine == 0 || same(mine);
    }
    if !is_alive(pid) {
        return false;
    }
    // Alive: gone only if /proc shows a different start (unreadable: assume it lives).
    start == 0 || start_time(pid).is_none_or(same)
}

/// Whether the process `pid` is halted: stopped (SIGSTOP, a job-control stop) or stopped by
/// a debugger — alive, but making no progress until someone resumes it (state `T` or `t` in
/// `/proc/PID/stat`). False for a running, sleeping or unknown process. One file read: for
/// diagnostics and for waits that have already lasted a while, not for hot paths.
///
/// # Example
/// ```
/// use zeroproc_shm::process::{is_halted, current_pid};
/// assert!(!is_halted(current_pid()));
/// ```
///
/// Only the thread-group leader's state is read (`/proc/PID/stat`, not
/// `/proc/PID/task/*/stat`), on purpose. Its callers ask about the process holding a
/// heap's merge lock (`heap/merge.rs`: give up rather than wait inside `alloc`; a
/// worker's or a channel's spill: keep waiting, or write a note), and the lock names a
/// process, not the thread that holds it. The stops that last — SIGSTOP, a job-control
/// stop, a debugger in its default all-stop mode — stop every thread of the process, the
/// leader too (checked: a SIGSTOPped process with two threads shows `T` in every
/// `task/*/stat`), so the leader's letter answers for the holder. A stop of one thread
/// only comes from a tracer that stops threads one by one (gdb's non-stop mode): then the
/// leader's letter may be wrong either way, and reading every thread's would not settle
/// it without knowing which thread holds the lock — "any thread stopped" would give up
/// on a holder that runs, and under `strace -f` every system call of every thread is a
/// brief `t`. Misjudged, a caller waits until the thread resumes (as for a job on a
/// stopped worker) or gives up one allocation early; that suits a process a developer
/// holds in a debugger, so the single read stays.
#[cfg(not(loom))]
#[cold]
pub fn is_halted(pid: u32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) state ...`: comm may hold anything, the state follows the last ')'.
    let Some(close) = stat.iter().rposition(|&b| b == b')') else { return false };
    matches!(stat.get(close + 2), Some(b'T' | b't'))
}

/// Whether `pid` is a whole thread group that has exited but was not reaped yet. A pidfd
/// polls readable only once *every* thread has exited (unlike the `Z` state in
/// `/proc/PID/stat`, which a leader thread shows while other threads run on).
#[cfg(not(loom))]
fn has_exited_unreaped(pid: u32) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0u32) };
    if fd < 0 {
        // ESRCH: gone between the two checks. ENOSYS (kernel < 5.3) and anything else:
        // we cannot tell, so assume it lives (recovery then waits for the reap).
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // SAFETY: `fd` is a fresh descriptor we own; OwnedFd closes it once.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents & libc::POLLIN != 0
}

/// The calling model thread's "pid" (set with [`model::set_current`], default 1).
#[cfg(loom)]
pub fn current_pid() -> u32 {
    model::CURRENT.with(|c| c.get())
}

/// Whether the model "process" `pid` has not been marked dead.
#[cfg(loom)]
pub fn is_alive(pid: u32) -> bool {
    !model::DEAD.lock().unwrap().contains(&pid)
}

/// Model processes have no start time.
#[cfg(loom)]
pub fn current_start_time() -> u64 {
    0
}

/// The model "process" `pid` runs unless marked dead (start times are not modelled).
#[cfg(loom)]
pub fn is_running(pid: u32, _start: u64, _bits32: bool) -> bool {
    is_alive(pid)
}

/// Model processes never stop.
#[cfg(loom)]
pub fn is_halted(_pid: u32) -> bool {
    false
}

/// Loom-only hooks that let a model thread act as a process that can die.
#[cfg(loom)]
pub mod model {
    use loom::sync::Mutex;
    use std::cell::Cell;
    loom::lazy_static! {
        pub(super) static ref DEAD: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    }
    loom::thread_local! {
        pub(super) static CURRENT: Cell<u32> = Cell::new(1);
    }
    /// Makes the calling model thread act as process `pid`.
    pub fn set_current(pid: u32) {
        CURRENT.with(|c| c.set(pid));
    }
    /// Marks model process `pid` as killed.
    pub fn mark_dead(pid: u32) {
        DEAD.lock().unwrap().push(pid);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_start_time_names_one_process() {
        let mut c = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = c.id();
        let s = start_time(pid).expect("a running child has a start time");
        assert!(s >= current_start_time());
        assert!(is_running(pid, s, false) && is_running(pid, s as u32 as u64, true));
        assert!(!is_running(pid, s + 1, false), "another start: a reused pid");
        assert!(is_running(pid, 0, false), "unknown start: the pid decides");
        c.kill().unwrap();
        c.wait().unwrap();
        assert_eq!(start_time(pid), None);
        assert!(!is_running(pid, s, false));
    }

    #[test]
    fn a_forked_child_has_its_own_start_time() {
        let parent = current_start_time();
        assert_ne!(parent, 0);
        std::thread::sleep(std::time::Duration::from_millis(30)); // a few clock ticks
        let st = zeroproc_testkit::fork_run(|| {
            let mine = current_start_time();
            let ok = mine != parent && start_time(current_pid()) == Some(mine);
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        });
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "child kept the parent's");
    }

    #[test]
    fn a_killed_unreaped_child_is_not_alive() {
        let mut c = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = c.id();
        assert!(is_alive(pid));
        c.kill().unwrap();
        // Not reaped yet: a zombie. Give the kernel a moment to finish the exit.
        let t = std::time::Instant::now();
        while is_alive(pid) && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!is_alive(pid), "zombie {pid} reported alive");
        c.wait().unwrap();
        assert!(!is_alive(pid));
    }
}
