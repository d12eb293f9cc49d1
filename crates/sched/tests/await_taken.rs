//! A `JobFuture` awaited through `&mut` (`(&mut f).await`, `tokio::select!` on `&mut f`)
//! hands its outcome over once; the future stays, done, with nothing in it. Found by a
//! user program outside the repo (2026-12-06): afterwards `exception_kind()` said `None`
//! — "no error" — for a job that had panicked, `exception()` likewise, and `result()`
//! panicked with "a done future holds its outcome until taken", which names no cause.
//! Python's future keeps its outcome (awaiting twice, then `result()`, all return it);
//! a Rust future yields its output once, so here they panic naming the earlier `.await`
//! — but the outcome's kind is kept: `exception_kind`, `cancelled`, `wait` and
//! `as_completed` still answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use zeroproc_sched::{as_completed, wait, JobError, JobErrorKind, Pool, ReturnWhen};

zeroproc_sched::test_worker!();

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` (by `&mut`, as `(&mut f).await` does) until it is ready.
fn await_by_ref<F: Future + Unpin>(f: &mut F) -> F::Output {
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match Pin::new(&mut *f).poll(&mut cx) {
            Poll::Ready(r) => return r,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(100)),
        }
    }
}

fn fails(x: u32) -> u32 {
    panic!("job {x} failed")
}

/// The panic message of `f()`.
fn panic_of(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("it panics");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn after_an_await_by_reference_the_taken_outcome_is_named() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let mut f = pool.submit(fails, 7);
    let r = await_by_ref(&mut f);
    assert!(matches!(r, Err(JobError::Panicked { .. })), "{r:?}");
    assert!(f.done());
    // The kind of the taken outcome is kept (Python's future keeps its exception). It
    // said `None` at first, as for a job that succeeded; then it panicked naming the
    // `.await`, which made `wait(FirstException)` panic on such a future.
    assert_eq!(f.exception_kind(), Some(JobErrorKind::Panicked));
    let m = panic_of(|| {
        let _ = f.exception();
    });
    assert!(m.contains("already") && m.contains(".await"), "{m}");
    // Before: the callback was silently never run.
    let m = panic_of(|| f.add_done_callback(|_| {}));
    assert!(m.contains("already") && m.contains(".await"), "{m}");
    let m = panic_of(|| {
        let _ = await_by_ref(&mut f);
    });
    assert!(m.contains("already") && m.contains(".await"), "{m}");
    let m = panic_of(move || {
        let _ = f.result();
    });
    assert!(m.contains("already") && m.contains(".await"), "{m}");
}

/// `cancelled()` and `cancel()` answer for a cancelled job after an `.await` by reference
/// took its outcome (Python's `cancelled()` stays True, and `cancel()` of a cancelled
/// future is True again). Before: both said false — the job was reported not cancelled.
#[test]
fn a_cancelled_future_stays_cancelled_after_an_await_by_reference() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300);
    let mut queued = pool.submit(|x: u32| x, 1);
    assert!(queued.cancel());
    assert_eq!(await_by_ref(&mut queued), Err(JobError::Cancelled));
    assert!(queued.cancelled(), "a cancelled job said not cancelled after the await");
    assert!(queued.cancel(), "cancel() of a cancelled future is true again");
    // A job that completed is not cancelled, awaited or not.
    let mut ran = pool.submit(|x: u32| x, 2);
    assert_eq!(await_by_ref(&mut ran), Ok(2));
    assert!(!ran.cancelled());
    assert!(!ran.cancel());
    assert_eq!(busy.result(), Ok(()));
}

fn sleepy(ms: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(ms.into()));
    ms
}

/// A future whose failed outcome an `.await` by reference took is still done, and still
/// failed: `wait(FirstException)` returns on it (Python's future keeps its exception, so
/// `FIRST_EXCEPTION` returns for it). Before: `wait` panicked with "already taken by an
/// earlier `.await`" (its `is_failed` asked `exception_kind`), a library panic on a legal
/// sequence of calls.
#[test]
fn first_exception_counts_a_failed_future_whose_outcome_was_awaited() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut failed = pool.submit(fails, 3);
    assert!(matches!(await_by_ref(&mut failed), Err(JobError::Panicked { .. })));
    let long = pool.submit(sleepy, 30_000);
    let (done, not_done) =
        wait(vec![failed, long], ReturnWhen::FirstException, Some(Duration::from_secs(60)));
    // Ended by the awaited failure at once, not after the 30 s job.
    assert_eq!((done.len(), not_done.len()), (1, 1));
    assert_eq!(done[0].exception_kind(), Some(JobErrorKind::Panicked));
    assert!(not_done[0].terminate(), "the 30 s job was waited for");
}

/// An awaited future that succeeded (or was cancelled) is done, not failed: the other
/// `wait` modes and `as_completed` count it done, `FirstException` waits on for a failure.
#[test]
fn awaited_futures_are_done_for_every_wait_and_as_completed() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut ok = pool.submit(sleepy, 2);
    assert_eq!(await_by_ref(&mut ok), Ok(2));
    assert_eq!(ok.exception_kind(), None);
    // Both workers run a long job before the short one is submitted, so it is queued
    // when cancelled. (With one long job, the short one could start on the idle worker
    // and `cancel()` said false: CI failed so on 2026-12-07.)
    let busy = [pool.submit(sleepy, 2_000), pool.submit(sleepy, 2_000)];
    while !busy.iter().all(|f| f.running()) {
        assert!(!busy.iter().any(|f| f.done()), "a 2 s job ended before the other started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut queued = pool.submit(sleepy, 1);
    assert!(queued.cancel());
    assert_eq!(await_by_ref(&mut queued), Err(JobError::Cancelled));
    assert_eq!(queued.exception_kind(), Some(JobErrorKind::Cancelled));
    let (done, not_done) = wait(vec![ok, queued], ReturnWhen::FirstCompleted, None);
    assert_eq!((done.len(), not_done.len()), (2, 0));
    let (done, not_done) = wait(done, ReturnWhen::AllCompleted, None);
    assert_eq!((done.len(), not_done.len()), (2, 0));
    // Nothing failed: FirstException waits for the running job too (then all are done).
    let mut all = done;
    all.extend(busy);
    let (done, not_done) = wait(all, ReturnWhen::FirstException, Some(Duration::from_secs(60)));
    assert_eq!((done.len(), not_done.len()), (4, 0));
    let yielded = as_completed(done).timeout(Duration::from_secs(60)).count();
    assert_eq!(yielded, 4);
}
