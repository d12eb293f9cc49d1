//! A `JobFuture`'s async waker is the user's code, woken by whichever thread stores the
//! outcome — since 2026-12-06 the pool's supervisor thread itself, for futures with no
//! callback. A waker that panics, or that touches the same future from `wake` (an
//! executor that polls or inspects inline), must not take that thread down or deadlock
//! it: the supervisor enforces time limits, respawns workers and shuts the pool down.

use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;
use zeroproc_sched::{JobError, JobErrorKind, JobFuture, Pool};

zeroproc_sched::test_worker!();

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Runs `f` on a thread of its own; fails the test if it has not returned after `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("hung")
}

struct Panics;

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics");
    }
}

/// Before: the panic unwound through the supervisor thread, which died; the pool then
/// enforced no time limit and hung (the `TimeLimit` below never came: "hung").
#[test]
fn a_panicking_waker_does_not_kill_the_supervisor() {
    within(30, || {
        let pool = Pool::builder().workers(1).build().unwrap();
        let mut f = pool.submit(nap, 50);
        let waker = Waker::from(Arc::new(Panics));
        assert!(Pin::new(&mut f).poll(&mut Context::from_waker(&waker)).is_pending());
        drop(waker);
        // No thread blocks on the pool: the supervisor stores the outcome and wakes.
        std::thread::sleep(Duration::from_millis(500));
        let g = pool.submit_with_time_limit(nap, 5000, Duration::from_millis(200));
        assert_eq!(g.result(), Err(JobError::TimeLimit));
        assert_eq!(pool.submit(nap, 1).result(), Ok(1));
    });
}

/// A waker that looks at the very future it wakes for (as an executor that runs the
/// task inline may).
struct Inspects {
    future: Mutex<Option<Arc<JobFuture<u64>>>>,
    tx: Mutex<mpsc::Sender<Option<JobErrorKind>>>,
}

impl Wake for Inspects {
    fn wake(self: Arc<Self>) {
        if let Some(f) = self.future.lock().unwrap().as_ref() {
            let _ = self.tx.lock().unwrap().send(f.exception_kind());
        }
    }
}

/// Before: `wake` ran under the future's own lock, so `exception_kind` there (it reads
/// the outcome under that lock) deadlocked the waking thread — the supervisor (no answer
/// on the channel within 10 s).
#[test]
fn a_waker_may_look_at_its_future() {
    within(30, || {
        let pool = Pool::builder().workers(1).build().unwrap();
        let (tx, rx) = mpsc::channel();
        let waker = Arc::new(Inspects { future: Mutex::new(None), tx: Mutex::new(tx) });
        let mut f = pool.submit(nap, 300);
        let w = Waker::from(waker.clone());
        assert!(Pin::new(&mut f).poll(&mut Context::from_waker(&w)).is_pending());
        *waker.future.lock().unwrap() = Some(Arc::new(f));
        let got = rx.recv_timeout(Duration::from_secs(10));
        if got.is_err() {
            std::mem::forget(pool); // its supervisor is stuck: dropping it would wait
        }
        assert_eq!(got, Ok(None));
    });
}
