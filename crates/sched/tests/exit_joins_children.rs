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

/// Runs test `name` of this binary alone; its exit code, and what the child wrote by then.
fn run_inner(name: &str) -> (Option<i32>, Option<String>) {
    let path = std::env::temp_dir().join(format!("zp-exit-join-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "-q", "--test-threads=1"])
        .env(FILE_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
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
