//! `cancel()` of a queued job whose future has a done-callback: as in Python, once
//! `cancel()` has returned true the future is done and cancelled, and its callbacks have
//! run (Python's `Future.cancel` sets the state and invokes the callbacks before it
//! returns). Before, the callbacks and the done state were handed to the pool's callback
//! thread: `cancel()` said true, then `cancelled()` and `done()` said false (clu33).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn a_cancelled_future_with_a_callback_is_cancelled_when_cancel_returns() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(nap, 500);
    while !busy.running() {
        std::thread::yield_now();
    }
    for round in 0..20 {
        let queued = pool.submit(nap, 1);
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        queued.add_done_callback(move |outcome| {
            assert!(matches!(outcome, Err(JobError::Cancelled)), "{outcome:?}");
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert!(queued.cancel(), "round {round}: a queued job is cancellable");
        assert!(queued.done(), "round {round}: done once cancel() returned true");
        assert!(queued.cancelled(), "round {round}: cancelled once cancel() returned true");
        assert_eq!(ran.load(Ordering::SeqCst), 1, "round {round}: callback ran in cancel()");
        assert_eq!(queued.result(), Err(JobError::Cancelled));
    }
    assert_eq!(busy.result(), Ok(500));
}

/// `shutdown_with(cancel_futures(true).wait(false))`: the queued futures it cancelled are
/// cancelled, and their callbacks have run, once it returns (Python's `shutdown` cancels
/// them in the calling thread).
#[test]
fn futures_cancelled_by_shutdown_are_cancelled_when_it_returns() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(nap, 300);
    while !busy.running() {
        std::thread::yield_now();
    }
    let ran = Arc::new(AtomicU32::new(0));
    let queued: Vec<_> = (0..10)
        .map(|_| {
            let f = pool.submit(nap, 1);
            let r = ran.clone();
            f.add_done_callback(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    pool.shutdown_with(zeroproc_sched::Shutdown::new().cancel_futures(true).wait(false));
    for (i, f) in queued.iter().enumerate() {
        assert!(f.cancelled(), "future {i} not cancelled when shutdown returned");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 10, "callbacks run when shutdown returned");
    assert_eq!(busy.result(), Ok(300));
}

fn hang(_: u64) -> u64 {
    loop {
        std::thread::park();
    }
}

/// A callback of a cancelled future that blocks (here on a hung job's result) does not
/// hold a bounded shutdown past its time-out, nor `terminate`: with a time-out set, and
/// for `terminate`, the cancelled futures' callbacks run on the pool's callback thread.
#[test]
fn a_blocking_callback_does_not_hold_a_bounded_shutdown_or_terminate() {
    for bounded in [true, false] {
        let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
        let hung = Arc::new(pool.submit(hang, 0));
        while !hung.running() {
            std::thread::yield_now();
        }
        let queued = pool.submit(nap, 1);
        let h = hung.clone();
        queued.add_done_callback(move |_| {
            h.wait_timeout(Duration::from_secs(60));
        });
        let t = std::time::Instant::now();
        if bounded {
            let how = zeroproc_sched::Shutdown::new().cancel_futures(true);
            assert!(!pool.shutdown_with(how.timeout(Duration::from_millis(300))));
        } else {
            pool.terminate();
        }
        let took = t.elapsed();
        assert!(took < Duration::from_secs(30), "bounded {bounded}: returned after {took:?}");
        assert_eq!(queued.result(), Err(JobError::Cancelled));
    }
}
