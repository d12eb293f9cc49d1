//! A test file without `zeroproc::test_worker!()` (the crate's unit tests have theirs, but
//! every file in `tests/` is a test binary of its own): the error names the line and where.

use zeroproc::{BuildError, Pool};

#[test]
fn the_error_names_test_worker_and_where_it_goes() {
    let e = Pool::builder().workers(1).build().unwrap_err();
    assert!(matches!(e, BuildError::WorkerExited { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("zeroproc::test_worker!()"), "{msg}");
    assert!(msg.contains("every file in tests/"), "{msg}");
}

#[test]
fn a_process_says_the_same() {
    let mut p = zeroproc::Process::spawn(|_: ()| {}, ()).unwrap();
    let msg = p.join().unwrap_err().to_string();
    assert!(msg.contains("zeroproc::test_worker!()"), "{msg}");
    assert!(msg.contains("every file in tests/"), "{msg}");
}
