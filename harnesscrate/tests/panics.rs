//! Tests that panic while their own pool has jobs running, `#[should_panic]`, and tests
//! with a time limit of their own.

zeroproc::test_worker!();

use std::time::Duration;
use zeroproc::{JobError, Pool};
use zeroproc_harnesscrate::{boom, sleepy, square};

#[test]
#[should_panic(expected = "test body panicked")]
fn panic_while_jobs_run() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let _futs: Vec<_> = (0..6).map(|_| pool.submit(sleepy, 100)).collect();
    panic!("test body panicked");
}

#[test]
#[should_panic(expected = "boom 7")]
fn should_panic_on_a_job_panic() {
    let pool = Pool::builder().workers(1).build().unwrap();
    match pool.submit(boom, 7).result() {
        Err(JobError::Panicked { message }) => panic!("{message}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
#[should_panic]
fn unwrap_of_a_failed_job() {
    let pool = Pool::builder().workers(1).build().unwrap();
    pool.submit(boom, 1).result().unwrap();
}

/// A test with a time-out of its own on a job: `terminate` kills the job (a hang here,
/// caught by the run's `timeout`, would mean it waited for the 10-minute job).
#[test]
fn result_timeout_then_terminate() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(sleepy, 600_000);
    let f = f.result_timeout(Duration::from_millis(50)).unwrap_err();
    pool.terminate();
    assert!(f.result().is_err());
}

#[test]
fn job_time_limit() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let r = pool.submit_with_time_limit(sleepy, 10_000, Duration::from_millis(100)).result();
    assert!(matches!(r, Err(JobError::TimeLimit)), "{r:?}");
    assert_eq!(pool.submit(square, 4).result(), Ok(16));
}
