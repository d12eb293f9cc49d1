//! A child forked by `libc::fork` from a process that started a daemon `Process` from a
//! thread other than its main one (daemons are started by a `zeroproc-spawner` thread,
//! `process/spawner.rs`) starts daemons of its own from a thread. Before the spawner's
//! inbox was per fork generation, the child's request went to its copy of the parent's
//! inbox, which no thread reads in the child: it waited for ever.

use std::time::Duration;
use zeroproc_sched::{Exit, Process, ProcessError};

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

fn park_for_ever(_: ()) {
    loop {
        std::thread::park();
    }
}

/// A child forked while its parent holds a running `Process`: its copy of the handle names
/// its parent's child. Before, `waitpid`'s `ECHILD` made it look ended (`is_alive` false,
/// `join` returned `Exit::Code(-1)` at once) while it ran. Now `join` is refused naming the
/// parent (Python: "can only join a child process"), `is_alive` and `exit_code` tell the
/// truth, dropping the copy leaves the child alone, and `terminate` signals it (as
/// Python's copy does).
#[test]
fn a_forked_childs_copy_of_a_process_handle_names_its_parents_child() {
    let mut p = Process::new(park_for_ever, ()).daemon(true);
    p.start().unwrap();
    let parent = std::process::id();
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(10) };
        let alive = p.is_alive();
        let code = p.exit_code();
        let joined = p.join();
        let refused = matches!(joined, Err(ProcessError::Inherited { parent: q }) if q == parent);
        // SAFETY: the child's bitwise copy of the handle, dropped once here (a daemon's
        // handle kills its child on drop: the copy must not).
        drop(unsafe { std::ptr::read(&p) });
        let code = i32::from(!alive) | i32::from(code.is_some()) << 1 | i32::from(!refused) << 2;
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    });
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "1: the copy said not alive, 2: it had an exit code, 4: its join was not refused"
    );
    assert!(p.is_alive(), "the copy's drop killed the parent's daemon");
    let status = zeroproc_testkit::fork_run(|| p.terminate());
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    assert_eq!(p.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Signal(libc::SIGTERM)));
}
