//! A shutdown that waits for a job on a *stopped* worker (SIGSTOP, a debugger, a freezer)
//! has no end of its own. After 5 s it says so on standard error, naming the worker, its
//! pid and state and the ways out, and goes on waiting: here the worker is resumed
//! (SIGCONT) a little later, its job finishes, and the shutdown returns. Before, the
//! program just did not end, silently (found with a user program: `drop(pool)`, and
//! `std::process::exit` under `#[zeroproc::main]`, with a worker stopped mid-job).
//!
//! The case runs this binary again on one hidden test and reads its standard error.

use std::io::Write;
use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// Set in the binary run again (absent in the ordinary run).
const INNER_ENV: &str = "ZP_SHUTDOWN_NOTE_INNER";

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn inner_shutdown_waits_for_a_stopped_worker() {
    if std::env::var_os(INNER_ENV).is_none() {
        return;
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    // Running until well after the stop below lands (with 300 ms, a thread that lost its
    // CPU for that long stopped a worker that had finished: no wait, no note).
    let f = pool.submit(nap, 3000);
    while !f.running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = pool.stats().workers[0].pid as i32;
    // SAFETY: plain kill(2) of this pool's worker.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(6500));
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    });
    pool.shutdown();
    assert_eq!(f.result(), Ok(3000), "the job finishes once its worker resumes");
    // Not `eprintln!`: it panics when standard error is a broken pipe (the test below).
    let _ = writeln!(std::io::stderr(), "inner: worker pid {pid}");
}

#[test]
fn a_shutdown_waiting_for_a_stopped_worker_says_so() {
    let out = zeroproc_testkit::rerun_test("inner_shutdown_waits_for_a_stopped_worker", INNER_ENV);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the inner test passes: {err}");
    let pid = err
        .lines()
        .find_map(|l| l.strip_prefix("inner: worker pid "))
        .unwrap_or_else(|| panic!("no pid line in {err}"));
    let note = err
        .lines()
        .find(|l| l.contains("pool shutdown has waited"))
        .unwrap_or_else(|| panic!("no note in {err}"));
    assert!(note.contains(&format!("worker 0 (pid {pid}, 1 job, stopped")), "{note}");
    assert!(note.contains("SIGCONT") && note.contains("terminate()"), "{note}");
}

/// The same with standard error a broken pipe (`prog 2>&1 | head`, `head` gone): the
/// note's write fails, and the shutdown must go on waiting and return. Before (found by
/// review32), `eprintln!` panicked there: `shutdown()` (or the pool's drop, perhaps during
/// an unwind: an abort) panicked out after 5 s — the inner test exited 101. The notes of
/// the supervisor and callback threads and of the cluster's progress thread go through
/// the same `note!` (a panic there killed the thread).
#[test]
fn a_shutdown_note_into_a_broken_pipe_does_not_stop_the_pool() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_shutdown_waits_for_a_stopped_worker", "-q", "--nocapture"])
        .env(INNER_ENV, "1")
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    let what = "the program whose shutdown note met a broken pipe";
    let status = zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(60), what);
    assert_eq!(status.code(), Some(0), "the inner test passes: {status:?}");
}
