//! A worker stopped (SIGSTOP, a debugger, Ctrl-Z) while it held jobs is judged stuck and
//! its jobs move (`pool/balance.rs`). Once it is resumed and holds nothing, it is an idle
//! worker like any other: queues are shared with it and new jobs go to it. Before, the
//! verdict stayed until the worker finished a job, which an idle worker never does: new
//! jobs went to the other workers until they were full, and `balance.rs` never shared
//! with it — 100 jobs given after the resume all ran on the other worker while it idled.

use std::time::Duration;
use zeroproc_sched::Pool;
use zeroproc_testkit::{signal, stop};

zeroproc_sched::test_worker!();

/// Sleeps `ms` and returns the pid of the worker that ran it.
fn nap(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

#[test]
fn a_worker_resumed_after_a_stop_takes_jobs_again() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let stopped = pool.stats().workers[1].pid;
    stop(stopped);
    // Half of these go to the stopped worker, are judged stuck there and move.
    let fs: Vec<_> = (0..40).map(|_| pool.submit(nap, 1)).collect();
    for f in fs {
        assert_ne!(f.result_timeout(Duration::from_secs(30)).ok().unwrap().unwrap(), stopped);
    }
    assert!(pool.stats().workers[1].moved_away > 0, "nothing was moved off the stopped worker");
    signal(stopped, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(100)); // 20 supervisor ticks

    // 20 ms jobs: with 2 ms ones, a resumed worker waiting a few ms for a CPU after each
    // (a loaded host) ran them at a quarter of the other's pace, and its queue rightly
    // moved to the other as it idled (13 of 100 once).
    let fs: Vec<_> = (0..100).map(|_| pool.submit(nap, 20)).collect();
    let on_resumed = fs
        .into_iter()
        .map(|f| f.result_timeout(Duration::from_secs(30)).ok().unwrap().unwrap())
        .filter(|&p| p == stopped)
        .count();
    eprintln!("the resumed worker ran {on_resumed} of 100 jobs\n{}", pool.stats());
    // Even shares would be 50; before, 0 (3 runs of 3).
    assert!(on_resumed >= 20, "the resumed worker ran {on_resumed} of 100 jobs");
}
