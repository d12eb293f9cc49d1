//! A done-callback that panics is contained (the future's outcome and its other callbacks
//! are not affected) and standard error says, after the panic hook's message, that the
//! panic was a done-callback's and was caught — as Python logs "exception calling callback
//! for <Future …>" and goes on. Before, only the panic hook's `thread '…' panicked at …`
//! was printed: nothing said it came from a callback, nor that the program went on.
//!
//! The case runs this binary again on one hidden test and reads its standard error.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_sched::{raw::CALLBACK_PANICKED, Pool};

zeroproc_sched::test_worker!();

/// Set in the binary run again (absent in the ordinary run).
const INNER_ENV: &str = "ZP_CALLBACK_PANIC_INNER";

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn inner_callbacks_panic() {
    if std::env::var_os(INNER_ENV).is_none() {
        return;
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    // Pending when its callbacks are added: they run on the pool's callback thread.
    let f = pool.submit(nap, 300);
    f.add_done_callback(|_| panic!("first callback's bug"));
    let r = ran.clone();
    f.add_done_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(f.result(), Ok(300), "the outcome is not affected");
    // Done when its callback is added: it runs at once in this thread.
    let g = pool.submit(nap, 1);
    g.wait();
    g.add_done_callback(|_| panic!("second callback's bug"));
    assert_eq!(g.result(), Ok(1));
    assert_eq!(ran.load(Ordering::SeqCst), 1, "the other callback ran");
    eprintln!("inner: done");
}

#[test]
fn a_panicking_callback_is_named_on_stderr() {
    let out = zeroproc_testkit::rerun_test("inner_callbacks_panic", INNER_ENV);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the inner test passes: {err}");
    assert!(err.contains("inner: done"), "{err}");
    for bug in ["first callback's bug", "second callback's bug"] {
        let at = err.find(bug).unwrap_or_else(|| panic!("no panic message {bug:?} in {err}"));
        assert!(
            err[at..].contains(CALLBACK_PANICKED),
            "the panic {bug:?} is not named a callback's after its message: {err}"
        );
    }
    assert_eq!(err.matches(CALLBACK_PANICKED).count(), 2, "{err}");
}

/// Set in the binary run again with its standard error a pipe nobody reads.
const DEAF_ENV: &str = "ZP_CALLBACK_PANIC_DEAF";

#[test]
fn inner_callbacks_panic_with_stderr_gone() {
    if std::env::var_os(DEAF_ENV).is_none() {
        return;
    }
    use std::io::Write;
    let pool = Pool::builder().workers(1).build().unwrap();
    // Pending: the callbacks run on the pool's callback thread.
    let f = pool.submit(nap, 200);
    f.add_done_callback(|_| panic!("first callback's bug"));
    if !f.wait_timeout(Duration::from_secs(20)) {
        // (Standard error is gone: the parent reads this.)
        println!("inner: the pending future was not done 20 s after its panicking callback");
        std::process::exit(3);
    }
    // Done: the callback runs at once in this thread, contained.
    f.add_done_callback(|_| panic!("second callback's bug"));
    assert_eq!(f.result(), Ok(200), "the outcome is not affected");
    // And the callback thread still serves the pool's next future.
    let g = pool.submit(nap, 1);
    let (tx, rx) = std::sync::mpsc::channel();
    g.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(Ok(1)), "the next callback ran");
    writeln!(std::io::stdout(), "inner: done").unwrap();
}

/// Naming the panic must not panic itself: with standard error a broken pipe (the program
/// piped into `head`, its reader gone) `eprintln!` panics ("failed printing to stderr"),
/// and that panic, outside the containment, unwound through the callback thread — the
/// future was never marked done and `result()` waited for ever — and out of an
/// `add_done_callback` on a done future into the caller.
#[test]
fn a_panicking_callback_with_stderr_gone_is_still_contained() {
    let (mut child, read_end) = {
        let mut fds = [0; 2];
        // Close-on-exec: a read end inherited by the child would keep the pipe readable.
        // SAFETY: pipe2(2) into a local array of two ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds were just created by pipe(2) and are owned here alone.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1]))
        };
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "inner_callbacks_panic_with_stderr_gone", "-q", "--nocapture"])
            .env(DEAF_ENV, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(w))
            .spawn()
            .unwrap();
        (child, r)
    };
    drop(read_end); // the child's writes to stderr now fail with EPIPE
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let what = "the child after a callback's panic with stderr gone";
    let status = zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(60), what);
    let out = reader.join().unwrap();
    assert!(out.contains("inner: done"), "the inner test did not finish ({status}): {out}");
    assert_eq!(status.code(), Some(0), "{out}");
}

/// Under a test harness that captures output (`cargo test` without `--nocapture`), the
/// line naming the panic is captured with the test's output, as the panic hook's message
/// is (both shown only if the test fails): written past the capture, it interleaved with
/// the harness's report of passing tests.
#[test]
fn the_line_naming_the_panic_is_captured_with_the_test_output() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_callbacks_panic", "-q"])
        .env(INNER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the inner test passes: {o} {e}");
    assert!(!e.contains("first callback's bug"), "the panic hook's message was not captured: {e}");
    assert!(!e.contains(CALLBACK_PANICKED), "the line naming the panic escaped the capture: {e}");
}
