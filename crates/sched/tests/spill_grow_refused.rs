//! A result whose spill needs the pool's heap to grow, where the system refuses the growth
//! (the file-size limit `RLIMIT_FSIZE` the workers inherit; memory short), fails with
//! `JobError::TooLarge` naming the refusal: a resource limit, as a heap too small is.
//! Before env36 it was `JobError::Decode`, "job data invalid: spill: shared heap full and
//! cannot grow …" — the job's data was fine (usercrate/env `bigresults` under
//! `ulimit -f 100000`).
//!
//! And under a file-size limit below the spill heap's first size (64 MiB), the heap is
//! made as large as the limit allows, so that payloads that fit it spill: before env36
//! its creation failed there and every payload larger than a ring record failed with it.

use std::process::Command;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

const CHILD: &str = "ZEROPROC_TEST_SPILL_GROW_CHILD";
const TEST: &str = "a_result_the_heap_cannot_grow_for_is_too_large";
const SMALL_CHILD: &str = "ZEROPROC_TEST_SPILL_SMALL_LIMIT_CHILD";
const SMALL_TEST: &str = "results_spill_under_a_file_size_limit_below_the_first_heap";

fn one_mib(i: u64) -> Vec<u8> {
    vec![i as u8; 1 << 20]
}

/// Runs this binary's `test` in a child with `env` set; the line it printed from "CHILD ".
fn child_line(test: &str, env: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}: {stdout}", out.status);
    // After libtest's "test NAME ... " on the same line.
    let at = stdout.find("CHILD ").unwrap_or_else(|| panic!("{stdout}"));
    stdout[at..].lines().next().unwrap_or_default().to_string()
}

#[test]
fn results_spill_under_a_file_size_limit_below_the_first_heap() {
    if std::env::var_os(SMALL_CHILD).is_some() {
        let lim = libc::rlimit { rlim_cur: 20 << 20, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: lowering this (child) process's own soft limit; its workers inherit it.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
        let pool = Pool::builder().workers(2).build().unwrap();
        let r: Result<Vec<Vec<u8>>, _> = pool.map(one_mib, 0..8u64).collect();
        match r {
            Ok(v) => println!("CHILD spilled {}", v.iter().map(Vec::len).sum::<usize>()),
            Err(e) => println!("CHILD failed: {e}"),
        }
        return;
    }
    let line = child_line(SMALL_TEST, SMALL_CHILD);
    assert_eq!(line, format!("CHILD spilled {}", 8 << 20));
}

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
    let line = child_line(TEST, CHILD);
    assert!(line.starts_with("CHILD too large"), "{line}");
    assert!(line.contains("RLIMIT_FSIZE"), "{line}");
}
