//! Arrays made in a loop until the process's descriptor limit (each live array holds one,
//! as each of Python's `SharedMemory` objects does): the error names the limit and how to
//! raise it, and `from_slice` fits as many arrays as `zeroed`.
//!
//! Before: under the usual `ulimit -n` of 1024, the 1,018th `from_slice` failed with
//! "creating the array segment: pwrite failed: Too many open files (os error 24)" — the
//! copy duplicated the descriptor, so the array that just fit failed in the copy, and the
//! message named neither the limit nor the fix (hpc29).
//!
//! One test in this binary: it lowers the process's soft limit.

use zeroproc_mp::SharedArray;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[test]
fn arrays_up_to_the_descriptor_limit_fail_naming_it() {
    // SAFETY: a plain struct of integers, valid zeroed.
    let mut old: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit with a valid out pointer; only this test runs in the process.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let room = 24;
    let low = libc::rlimit { rlim_cur: open_fds() + 8 + room, rlim_max: old.rlim_max };
    // SAFETY: setrlimit with a valid pointer; only this test runs in the process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);

    let mut made = Vec::new();
    let err = loop {
        match SharedArray::from_slice(&[1.5f64; 100]) {
            Ok(a) => made.push(a),
            Err(e) => break e.to_string(),
        }
        assert!(made.len() < 10_000, "the limit was never reached");
    };
    let from_slice = made.len();
    made.clear();
    let mut zeroed = Vec::new();
    while let Ok(a) = SharedArray::<f64>::zeroed(100) {
        zeroed.push(a);
        assert!(zeroed.len() < 10_000, "the limit was never reached");
    }
    let zeroed = zeroed.len();
    // SAFETY: setrlimit with a valid pointer; only this test runs in the process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);

    assert!(from_slice >= room as usize, "only {from_slice} arrays fit");
    assert!(err.contains("descriptor limit") && err.contains("ulimit -n"), "{err}");
    assert!(!err.contains("pwrite"), "names the copy, not the limit: {err}");
    assert_eq!(from_slice, zeroed, "from_slice fits fewer arrays than zeroed");
}
