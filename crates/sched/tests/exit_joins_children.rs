//! A test binary (libtest's own `main`, no `#[zeroproc::main]`) whose test dropped the
//! handle of a `Process` still running: the binary waits for that child when it exits, as
//! Python joins non-daemon children at exit — whether the tests passed (libtest returns
//! from `main`) or failed (it calls `exit(101)`). Before (harnessuser round), the binary
//! exited at once: the child ran on alone after the test run (a leftover process; nextest
//! reported a leak), or, not attached yet, exited without running its body.
//!
//! Each case runs this binary again on one hidden test, with a file for the child to write.

use std::process::{Command, Stdio};
use std::time::Duration;
use zeroproc_sched::Process;

zeroproc_sched::test_worker!();

/// Where the child writes, in the binary run again (absent in the ordinary run).
const FILE_ENV: &str = "ZP_EXIT_JOIN_FILE";

fn write_late(path: String) {
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(path, "done").unwrap();
}

#[test]
fn inner_drops_a_running_child_and_passes() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        drop(Process::spawn(write_late, path.to_string_lossy().into_owned()).unwrap());
    }
}

#[test]
fn inner_drops_a_running_child_and_fails() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        let _p = Process::spawn(write_late, path.to_string_lossy().into_owned()).unwrap();
        panic!("the test fails with its child running");
    }
}

/// Handles kept alive past the end of the test (never dropped), as a program keeps its
/// workers in a global registry.
static KEPT: std::sync::Mutex<Vec<Process>> = std::sync::Mutex::new(Vec::new());

#[test]
fn inner_keeps_a_running_child_in_a_static() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        let p = Process::spawn(write_late, path.to_string_lossy().into_owned()).unwrap();
        KEPT.lock().unwrap().push(p);
    }
}

#[test]
fn inner_exits_with_a_running_child_in_a_local() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        let _p = Process::spawn(write_late, path.to_string_lossy().into_owned()).unwrap();
        // Python's `sys.exit(3)` in `main`: its atexit joins the children all the same.
        std::process::exit(3);
    }
}

#[test]
fn inner_joins_its_child_then_exits() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        let mut p = Process::spawn(write_late, path.to_string_lossy().into_owned()).unwrap();
        p.join().unwrap();
        std::fs::write(&path, "joined").unwrap();
        // The handle is alive; its child was reaped: nothing is waited for at exit.
        std::process::exit(4);
    }
}

/// A daemon that sends on a pipe for ever.
fn tick_for_ever(tx: zeroproc_mp::pipe::SenderHandle<u8>) {
    let mut tx = tx.attach().unwrap();
    loop {
        let _ = tx.send(1);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the daemon's ticks until its end is gone (it died), then writes the file.
fn read_until_the_daemon_dies((rx, path): (zeroproc_mp::pipe::ReceiverHandle<u8>, String)) {
    let mut rx = rx.attach().unwrap();
    while rx.recv().is_ok() {}
    std::fs::write(path, "done").unwrap();
}

static KEPT_DAEMON: std::sync::Mutex<Vec<Process>> = std::sync::Mutex::new(Vec::new());

#[test]
fn inner_keeps_a_daemon_and_a_child_that_waits_for_its_death() {
    if let Some(path) = std::env::var_os(FILE_ENV) {
        let (tx, rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
        let mut d = Process::new(tick_for_ever, tx.handle()).daemon(true);
        d.start().unwrap();
        let c = Process::spawn(
            read_until_the_daemon_dies,
            (rx.handle(), path.to_string_lossy().into_owned()),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        KEPT_DAEMON.lock().unwrap().push(d);
        KEPT.lock().unwrap().push(c);
    }
}

/// Runs test `name` of this binary alone; its exit code, and what the child wrote by then.
fn run_inner(name: &str) -> (Option<i32>, Option<String>) {
    let path = std::env::temp_dir().join(format!("zp-exit-join-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "-q", "--test-threads=1"])
        .env(FILE_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A binary that does not end is a failure, not a hung test run. (Its children are
    // daemons or die with it; the binary itself is our child.)
    let status = zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(20), name);
    let wrote = std::fs::read_to_string(&path).ok();
    let _ = std::fs::remove_file(&path);
    (status.code(), wrote)
}

#[test]
fn a_passing_test_binary_waits_at_exit_for_a_dropped_running_child() {
    let (code, wrote) = run_inner("inner_drops_a_running_child_and_passes");
    assert_eq!(code, Some(0));
    assert_eq!(wrote.as_deref(), Some("done"), "the child had not finished when the binary exited");
}

#[test]
fn a_failing_test_binary_waits_at_exit_for_a_dropped_running_child() {
    let (code, wrote) = run_inner("inner_drops_a_running_child_and_fails");
    assert_eq!(code, Some(101), "libtest's exit code for a failed test");
    assert_eq!(wrote.as_deref(), Some("done"), "the child had not finished when the binary exited");
}

/// Python's exit joins every non-daemon child still running (`multiprocessing`'s
/// `_exit_function` over `active_children()`), whether or not the program still holds its
/// `Process` object. Before (user27), only children whose handle had been dropped were
/// waited for: one whose handle sat in a static registry ran on alone after the binary
/// exited (measured: the program ended in 9 ms, its child wrote 0.7 s later; CPython 3.11
/// waited for it).
#[test]
fn a_test_binary_waits_at_exit_for_a_running_child_whose_handle_it_still_holds() {
    let (code, wrote) = run_inner("inner_keeps_a_running_child_in_a_static");
    assert_eq!(code, Some(0));
    assert_eq!(wrote.as_deref(), Some("done"), "the child had not finished when the binary exited");
}

/// `std::process::exit` (Python's `sys.exit`) skips the drop of the handles in locals:
/// their children are waited for all the same, and the exit code is kept.
#[test]
fn exit_waits_for_a_running_child_whose_handle_is_in_a_local() {
    let (code, wrote) = run_inner("inner_exits_with_a_running_child_in_a_local");
    assert_eq!(code, Some(3));
    assert_eq!(wrote.as_deref(), Some("done"), "the child had not finished when the binary exited");
}

/// A child already joined is not waited for again (its pid may belong to another process).
#[test]
fn exit_after_a_join_does_not_wait_again() {
    let (code, wrote) = run_inner("inner_joins_its_child_then_exits");
    assert_eq!(code, Some(4));
    assert_eq!(wrote.as_deref(), Some("joined"));
}

/// Python's exit terminates the daemonic children first, then joins the others: a child
/// that waits for a daemon's end (here: reads its pipe until `Disconnected`) then ends.
/// Before (user27), the daemon lived until the program itself had ended, after joining
/// the non-daemon children, and such a program never exited.
#[test]
fn exit_ends_the_held_daemons_before_joining_the_other_children() {
    let (code, wrote) = run_inner("inner_keeps_a_daemon_and_a_child_that_waits_for_its_death");
    assert_eq!(code, Some(0));
    assert_eq!(wrote.as_deref(), Some("done"), "the child did not see the daemon end");
}
