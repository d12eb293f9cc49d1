//! Python's worker-pool idiom `Process(target=worker, args=(q,), daemon=True).start()`
//! keeps no handle: the child runs until the program exits. Ported as written — a
//! temporary `Process::new(worker, q.handle()).daemon(true).start()` — the daemon dies
//! with its handle at the end of that statement, before its body ran, and the program's
//! `JoinableQueue::join()` then waited for ever, with nothing said (newuser36, a port of
//! the chapter's JoinableQueue worker pool). Such a drop now says so on standard error,
//! naming the fix; a daemon dropped once its body runs (a deliberate stop) says nothing.
//!
//! The cases run this binary again on one hidden test and read its standard error.

use std::io::Write;
use std::time::Duration;
use zeroproc_sched::Process;

zeroproc_sched::test_worker!();

/// Set in the binary run again (absent in the ordinary run).
const INNER_ENV: &str = "ZP_DAEMON_DROPPED_INNER";

fn park(_: ()) {
    loop {
        std::thread::park();
    }
}

/// Writes its file, then waits to be killed.
fn mark_then_park(path: String) {
    std::fs::write(path, "started").unwrap();
    park(());
}

#[test]
fn inner_drops_a_daemon_as_a_temporary() {
    if std::env::var_os(INNER_ENV).is_none() {
        return;
    }
    // The Python idiom, written as a Rust temporary.
    Process::new(park, ()).daemon(true).start().unwrap();
    let _ = writeln!(std::io::stderr(), "inner: started and dropped");
}

#[test]
fn inner_drops_a_running_daemon() {
    if std::env::var_os(INNER_ENV).is_none() {
        return;
    }
    let path = std::env::temp_dir().join(format!("zp-daemon-drop-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut p = Process::new(mark_then_park, path.to_str().unwrap().to_owned()).daemon(true);
    p.start().unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(std::time::Instant::now() < until, "the daemon's body never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_file(&path);
    drop(p); // a deliberate stop: its body was running
    let _ = writeln!(std::io::stderr(), "inner: stopped a running daemon");
}

/// The note is for a drop before the child reached its body; a parent thread descheduled
/// for the child's start (a few ms) between `start` and the drop misses it (measured: 1
/// run in 40 on a loaded 2-vCPU host), so up to 5 runs are given; before the note, none
/// of 40 said anything.
#[test]
fn a_daemon_dropped_before_its_body_ran_says_why_it_died() {
    let mut err = String::new();
    for _ in 0..5 {
        let out = zeroproc_testkit::rerun_test("inner_drops_a_daemon_as_a_temporary", INNER_ENV);
        err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "the inner test passes: {err}");
        if err.contains("dropped before") {
            break;
        }
    }
    let note = err
        .lines()
        .find(|l| l.contains("daemon") && l.contains("dropped"))
        .unwrap_or_else(|| panic!("no note in {err}"));
    assert!(note.contains("before its body ran"), "{note}");
    assert!(note.contains("keep the `Process`"), "names the fix: {note}");
    assert!(note.contains("Python"), "names the difference: {note}");
}

#[test]
fn a_daemon_dropped_while_its_body_runs_says_nothing() {
    let out = zeroproc_testkit::rerun_test("inner_drops_a_running_daemon", INNER_ENV);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the inner test passes: {err}");
    assert!(err.contains("inner: stopped a running daemon"), "{err}");
    assert!(!err.contains("dropped before its body ran"), "a deliberate stop is quiet: {err}");
}
