//! A result whose spill needs the pool's heap to grow, where the system refuses the growth
//! (the file-size limit `RLIMIT_FSIZE` the workers inherit; memory short), fails with
//! `JobError::TooLarge` naming the refusal: a resource limit, as a heap too small is.
//! Before env36 it was `JobError::Decode`, "job data invalid: spill: shared heap full and
//! cannot grow …" — the job's data was fine (usercrate/env `bigresults` under
//! `ulimit -f 100000`).

use std::process::Command;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

const CHILD: &str = "ZEROPROC_TEST_SPILL_GROW_CHILD";
const TEST: &str = "a_result_the_heap_cannot_grow_for_is_too_large";

fn eighty_mib(_: ()) -> Vec<u8> {
    vec![7u8; 80 << 20]
}

#[test]
fn a_result_the_heap_cannot_grow_for_is_too_large() {
    if std::env::var_os(CHILD).is_some() {
        // 100 MB: the pool and its first 64 MiB of spill heap fit, 80 MiB more do not.
        let lim = libc::rlimit { rlim_cur: 100 << 20, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: lowering this (child) process's own soft limit; its workers inherit it.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
        let pool = Pool::builder().workers(1).build().unwrap();
        match pool.submit(eighty_mib, ()).result() {
            Err(JobError::TooLarge { message }) => println!("CHILD too large: {message}"),
            Err(e) => println!("CHILD other: {e}"),
            Ok(v) => println!("CHILD returned {} bytes", v.len()),
        }
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {stdout}", out.status);
    // After libtest's "test NAME ... " on the same line.
    let at = stdout.find("CHILD ").unwrap_or_else(|| panic!("{stdout}"));
    let line = stdout[at..].lines().next().unwrap_or_default();
    assert!(line.starts_with("CHILD too large"), "{line}");
    assert!(line.contains("RLIMIT_FSIZE"), "{line}");
}
