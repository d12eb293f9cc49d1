//! `wait(.., FirstException, ..)` returns when a future *fails*; a cancelled future does
//! not count, as in Python (`FIRST_EXCEPTION` skips cancelled futures). Before, a future
//! cancelled before the call (or while it waited) ended the wait at once, with the other
//! futures still running (new-user finding).

use std::time::Duration;
use zeroproc_sched::{wait, JobError, Pool, ReturnWhen};

zeroproc_sched::test_worker!();

fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn a_cancelled_future_does_not_end_a_first_exception_wait() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let running = pool.submit(sleepy, 200);
    let queued = pool.submit(sleepy, 1);
    assert!(queued.cancel());
    let (done, not_done) =
        wait(vec![running, queued], ReturnWhen::FirstException, Some(Duration::from_secs(60)));
    // Nothing failed: it waited for both, as ALL_COMPLETED.
    assert_eq!((done.len(), not_done.len()), (2, 0));
    let mut outcomes: Vec<_> = done.into_iter().map(|f| f.result()).collect();
    outcomes.sort_by_key(|r| r.is_ok());
    assert_eq!(outcomes, [Err(JobError::Cancelled), Ok(200)]);
}

#[test]
fn a_failed_future_still_ends_it_at_once() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let long = pool.submit(sleepy, 30_000);
    let cancelled = pool.submit(sleepy, 1);
    let _ = cancelled.cancel();
    let failing = pool.submit(|_: u64| -> u64 { panic!("as asked") }, 0);
    let (done, not_done) = wait(
        vec![long, cancelled, failing],
        ReturnWhen::FirstException,
        Some(Duration::from_secs(60)),
    );
    // Ended by the failure: neither at the cancellation (before the panic was in) nor
    // after the 30 s job.
    assert_eq!(not_done.len(), 1, "the wait did not end on the failure");
    assert!(not_done[0].terminate(), "the 30 s job was waited for");
    assert!(done.iter().any(|f| matches!(f.exception(), Some(JobError::Panicked { .. }))));
}

#[test]
fn cancel_is_true_again_on_a_cancelled_future_as_in_python() {
    // Python's Future.cancel() returns True for a future already cancelled (False for a
    // finished one); it returned false here.
    let pool = Pool::builder().workers(1).build().unwrap();
    let running = pool.submit(sleepy, 100);
    let queued = pool.submit(sleepy, 1);
    assert!(queued.cancel());
    assert!(queued.cancel() && queued.cancelled());
    assert_eq!(running.result(), Ok(100));
    let done = pool.submit(sleepy, 1);
    assert!(done.wait_timeout(Duration::from_secs(60)));
    assert!(!done.cancel() && !done.cancelled());
}
