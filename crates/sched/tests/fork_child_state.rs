//! A child forked by `libc::fork` from a process that started a daemon `Process` from a
//! thread other than its main one (daemons are started by a `zeroproc-spawner` thread,
//! `process/spawner.rs`) starts daemons of its own from a thread. Before the spawner's
//! inbox was per fork generation, the child's request went to its copy of the parent's
//! inbox, which no thread reads in the child: it waited for ever.

use std::time::Duration;
use zeroproc_sched::{Exit, Process};

zeroproc_sched::test_worker!();

fn add_one(x: u32) -> u32 {
    x + 1
}

/// Starts a daemon child running `add_one` and joins it.
fn daemon_round_trip() -> bool {
    let mut p = Process::new(add_one, 41).daemon(true);
    p.start().is_ok() && matches!(p.join(), Ok(Exit::Code(0)))
}

#[test]
fn a_forked_child_starts_daemons_from_a_thread() {
    // libtest runs this on a thread other than the main one: the spawner thread starts.
    assert!(daemon_round_trip());
    // SAFETY: the child starts a thread and a process, then ends with `_exit`; its alarm
    // ends it if it hangs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: alarm has no preconditions.
        unsafe { libc::alarm(20) };
        // The child's only thread is its main thread: start the daemon from another.
        let ok = std::thread::spawn(daemon_round_trip).join().unwrap_or(false);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: our own child; a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung starting a daemon");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x} (14 = SIGALRM: it hung)"
    );
}
