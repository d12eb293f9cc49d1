//! Tests that return (or panic) with work still going: a `Process` never joined, a pool
//! kept alive past the test in a leaked box. Nothing of theirs may outlive the test binary.

zeroproc::test_worker!();

use zeroproc::{Pool, Process};
use zeroproc_harnesscrate::sleepy;

#[test]
fn process_not_joined() {
    let _p = Process::spawn(
        |ms: u64| {
            sleepy(ms);
        },
        3_000,
    )
    .unwrap();
}

#[test]
fn process_dropped() {
    let p = Process::spawn(
        |ms: u64| {
            sleepy(ms);
        },
        3_000,
    )
    .unwrap();
    drop(p);
}

#[test]
fn pool_leaked_with_a_job() {
    let pool = Box::leak(Box::new(Pool::builder().workers(1).build().unwrap()));
    std::mem::forget(pool.submit(sleepy, 3_000));
}

#[test]
#[should_panic(expected = "panics with a Process running")]
fn panic_with_a_process_running() {
    let _p = Process::spawn(
        |ms: u64| {
            sleepy(ms);
        },
        3_000,
    )
    .unwrap();
    panic!("panics with a Process running");
}
