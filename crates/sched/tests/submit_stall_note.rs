//! A blocking `submit` waits for room once 256 jobs per worker are in flight; Python's
//! `submit` never waits. A program ported from Python whose jobs wait for something the
//! submitting thread does *after* its submit loop (a queue it fills, an event it sets)
//! therefore waits for ever here (user26: 600 jobs each taking one value from a queue
//! that `main` filled after submitting them hung in the 512th `submit`, silently; the
//! same program finished in CPython 3.11). After 5 s without any job finishing, `submit`
//! now says so on standard error, naming the limit and the ways out, and goes on waiting:
//! here a thread opens the gate a little later, and every job finishes.
//!
//! The case runs this binary again on one hidden test and reads its standard error.

use std::process::{Command, Stdio};
use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// Set in the binary run again (absent in the ordinary run): the gate file's path.
const INNER_ENV: &str = "ZP_SUBMIT_STALL_INNER";

/// Waits until the gate file exists (what `main` does after its submit loop).
fn gated((gate, i): (String, u64)) -> u64 {
    while !std::path::Path::new(&gate).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    i
}

#[test]
fn inner_submit_loop_ahead_of_the_step_its_jobs_wait_for() {
    let Some(gate) = std::env::var_os(INNER_ENV) else {
        return;
    };
    let gate = gate.into_string().unwrap();
    let pool = Pool::builder().workers(1).build().unwrap();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(6500));
            std::fs::write(&gate, b"go").unwrap();
        })
    };
    // One worker holds at most 256 jobs: the 257th submit waits for the gate.
    let futs: Vec<_> = (0..300u64).map(|i| pool.submit(gated, (gate.clone(), i))).collect();
    let sum: u64 = futs.into_iter().map(|f| f.result().unwrap()).sum();
    assert_eq!(sum, (0..300u64).sum::<u64>());
    opener.join().unwrap();
    eprintln!("inner: all 300 jobs done");
}

#[test]
fn a_submit_waiting_for_room_while_no_job_finishes_says_so() {
    let gate = std::env::temp_dir().join(format!("zp-submit-stall-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_submit_loop_ahead_of_the_step_its_jobs_wait_for", "-q"])
        .arg("--nocapture")
        .env(INNER_ENV, &gate)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&gate);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the inner test passes: {err}");
    assert!(err.contains("inner: all 300 jobs done"), "{err}");
    let note = err
        .lines()
        .find(|l| l.contains("submit has waited"))
        .unwrap_or_else(|| panic!("no note on stderr: {err}"));
    assert!(
        note.contains("256 jobs are in flight on 1 worker(s) (at most 256 per worker)"),
        "{note}"
    );
    assert!(note.contains("Python's submit, which never waits"), "{note}");
    assert!(note.contains("try_submit / submit_timeout"), "{note}");
    assert_eq!(err.matches("submit has waited").count(), 1, "one note: {err}");
}
