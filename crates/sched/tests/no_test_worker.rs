//! A test binary that forgot `zeroproc_sched::test_worker!()`: building a pool fails at
//! once with an error that names it (the worker's libtest found no test to run).

use zeroproc_sched::{BuildError, Pool};

#[test]
fn a_pool_without_test_worker_names_the_macro() {
    let t0 = std::time::Instant::now();
    let err = Pool::builder().workers(1).build().expect_err("no worker can start");
    assert!(matches!(err, BuildError::WorkerExited { exit_code: Some(0), .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("zeroproc::test_worker!()"), "{msg}");
    assert!(msg.contains("mod tests"), "{msg}");
    // Not the 10 s handshake time-out.
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{:?}", t0.elapsed());
}
