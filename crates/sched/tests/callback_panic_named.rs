//! A done-callback that panics is contained (the future's outcome and its other callbacks
//! are not affected) and standard error says, after the panic hook's message, that the
//! panic was a done-callback's and was caught — as Python logs "exception calling callback
//! for <Future …>" and goes on. Before, only the panic hook's `thread '…' panicked at …`
//! was printed: nothing said it came from a callback, nor that the program went on.
//!
//! The case runs this binary again on one hidden test and reads its standard error.

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
