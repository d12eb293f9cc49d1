//! A segment larger than this process's file-size limit (`RLIMIT_FSIZE`, `ulimit -f`;
//! Slurm propagates the submitting shell's by default) is an error naming that limit, as
//! Python's `SharedMemory` raises `OSError: [Errno 27] File too large` there (CPython
//! ignores SIGXFSZ). Before env36 the `ftruncate` of the memfd raised SIGXFSZ, whose
//! default action killed the controller without a word: a default pool's program exited
//! 153 under `ulimit -f 16` (usercrate/env).

use std::process::Command;
use zeroproc_shm::{Layout, Segment, SegmentBuilder};

const L: Layout = Layout::new("test-fsize", 1);
const CHILD: &str = "ZEROPROC_TEST_FSIZE_CHILD";
const LIMIT: u64 = 256 << 10;

/// Runs this binary's test `test` in a child under a 256 KiB `RLIMIT_FSIZE`; its status
/// and stdout.
fn in_a_child(test: &str) -> (std::process::ExitStatus, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lower_the_limit() {
    let lim = libc::rlimit { rlim_cur: LIMIT, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: lowering this (child) process's own soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
}

fn check(test: &str) {
    let (status, stdout) = in_a_child(test);
    assert!(status.success(), "the child died ({status}): {stdout}");
    assert!(stdout.contains("CHILD named"), "{stdout}");
}

#[test]
fn a_segment_past_the_file_size_limit_names_it() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let small = Segment::create(L, 4096).map(|_| ()).map_err(|e| e.to_string());
        assert!(small.is_ok(), "a segment under the limit: {small:?}");
        match Segment::create(L, 1 << 20) {
            Err(e) if e.to_string().contains("RLIMIT_FSIZE") => println!("CHILD named: {e}"),
            Err(e) => println!("CHILD other error: {e}"),
            Ok(_) => println!("CHILD created"),
        }
        return;
    }
    check("a_segment_past_the_file_size_limit_names_it");
}

#[test]
fn growing_past_the_file_size_limit_names_it() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        let seg = SegmentBuilder::new(L, 4096).max_data_len(4 << 20).create().unwrap();
        seg.grow_to(LIMIT).expect("up to the limit");
        match seg.grow_to(2 << 20) {
            Err(e) if e.to_string().contains("RLIMIT_FSIZE") => println!("CHILD named: {e}"),
            Err(e) => println!("CHILD other error: {e}"),
            Ok(_) => println!("CHILD grew"),
        }
        return;
    }
    check("growing_past_the_file_size_limit_names_it");
}
