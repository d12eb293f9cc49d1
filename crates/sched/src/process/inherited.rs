//! A [`Process`](super::Process) handle copied into a forked child (`libc::fork` while the
//! handle was held): the process it names is its parent's child, not this process's.
//!
//! `waitpid` answers `ECHILD` for it, which `reap.rs` takes for a child whose status was
//! lost: the copy said the running child had exited (`is_alive` false, `join` at once
//! with `Exit::Code(-1)`), and its lock may be held by a parent thread that does not
//! exist here. Python's copy refuses (`join`/`is_alive`: "can only join/test a child
//! process"). Here `join` is refused too ([`ProcessError::Inherited`]), while `is_alive`
//! and `exit_code` answer from what this process can see (the pid runs; the outcome the
//! child recorded in its segment), `terminate`/`kill` signal the pid while it runs (as
//! Python's copy does, through `os.kill`), and dropping the copy does nothing.
//!
//! [`ProcessError::Inherited`]: super::ProcessError::Inherited

/// Whether the handle made by process `parent` (0: never started) is a forked copy here.
#[inline]
pub(super) fn is_copy(parent: u32) -> bool {
    parent != 0 && parent != zeroproc_shm::process::current_pid()
}

/// Whether the parent's child `pid` still runs (a zombie, ended but not yet reaped by the
/// parent, counts as ended).
pub(super) fn runs(pid: u32) -> bool {
    zeroproc_shm::process::is_alive(pid)
}

/// Sends `sig` to the parent's child `pid` if it still runs. As with Python's copy, a pid
/// reused after the parent reaped its child would be hit: the parent's reaping is not
/// visible here.
pub(super) fn signal(pid: u32, sig: i32) {
    if runs(pid) {
        // SAFETY: kill(2) has no memory preconditions; see above for the pid.
        unsafe { libc::kill(pid as i32, sig) };
    }
}
