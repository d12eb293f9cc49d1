//! A test binary that forgot `zeroproc_sched::test_worker!()`: building a pool fails at
//! once with an error that names it (the worker's libtest found no test to run), and so
//! does joining a `Process`.

use zeroproc_sched::{BuildError, Pool, Process, ProcessError};

#[test]
fn a_pool_without_test_worker_names_the_macro() {
    let t0 = std::time::Instant::now();
    let err = Pool::builder().workers(1).build().expect_err("no worker can start");
    assert!(matches!(err, BuildError::WorkerExited { exit_code: Some(0), .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("zeroproc::test_worker!()"), "{msg}");
    assert!(msg.contains("mod tests"), "{msg}");
    assert!(msg.contains("every file in tests/ is a test binary of its own"), "{msg}");
    // Not the 10 s handshake time-out.
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{:?}", t0.elapsed());
}

/// The child of a `Process` is the test binary re-run, whose libtest finds no test to run
/// and exits with 0. The error said "zeroproc::init() is not the first line of main", a
/// main the test's author does not write (harnessuser round).
#[test]
fn a_process_without_test_worker_names_the_macro() {
    let mut p = Process::spawn(|_: ()| {}, ()).unwrap();
    let err = p.join().expect_err("the child cannot run its body");
    assert!(matches!(err, ProcessError::NotRun { exit_code: 0, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("zeroproc::test_worker!()"), "{msg}");
    assert!(msg.contains("every file in tests/ is a test binary of its own"), "{msg}");
}
