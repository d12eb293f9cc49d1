//! Waiting for a child (a worker or a `Process`) when its exit status may be lost.
//!
//! A child the kernel reaped itself — the program ignores SIGCHLD (`SIG_IGN`, often
//! inherited from the parent process across exec) or set `SA_NOCLDWAIT` — or that another
//! `waitpid(-1)` reaped, is `ECHILD` to `waitpid(pid)`: it has exited and its status is
//! gone (Python's `subprocess` takes it as 0). Here it is a [`lost`] status. Before, such
//! a worker was never seen to die (its job and the pool's shutdown waited for ever) and
//! such a `Process` stayed alive for `is_alive` and failed `join` with "No child
//! processes".

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// Raw wait status of [`lost`]: "stopped" in wait-status encoding, whose `code()` and
/// `signal()` are both `None` (and `success()` false), the only status saying neither.
const LOST: i32 = 0x7f;

/// The status of a child that exited and whose status is lost.
pub(crate) fn lost() -> ExitStatus {
    ExitStatus::from_raw(LOST)
}

/// Whether `st` is [`lost`].
pub(crate) fn is_lost(st: ExitStatus) -> bool {
    st.into_raw() == LOST
}

fn echild(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECHILD)
}

/// `child.try_wait()`, with a child reaped elsewhere as [`lost`].
pub(crate) fn try_wait(child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
    match child.try_wait() {
        Err(e) if echild(&e) => Ok(Some(lost())),
        r => r,
    }
}

/// `child.wait()`, with a child reaped elsewhere as [`lost`].
pub(crate) fn wait(child: &mut Child) -> std::io::Result<ExitStatus> {
    match child.wait() {
        Err(e) if echild(&e) => Ok(lost()),
        r => r,
    }
}
