//! `terminate()` says true only when the job's future holds `Cancelled`: a job that
//! finishes while `terminate` is deciding keeps its own result, and `terminate` says false
//! for it (before 2026-12-06 it said true for such a job, whose future then held its
//! result: the kill, aimed at a job no longer running, was never sent).

use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn spin_us(us: u64) -> u64 {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
    us
}

#[test]
fn terminate_says_true_only_for_jobs_that_end_cancelled() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (mut killed, mut finished) = (0, 0);
    for i in 0..20_000u64 {
        if i >= 3_000 && killed >= 5 {
            break;
        }
        // Mostly jobs of a few µs (the race at their end), and every fourth one of 40–80 µs:
        // on a loaded host the short ones alone could all end before any terminate landed
        // ("0 killed, 20000 finished first", seen three times at load 6).
        let job_us = if i % 4 == 3 { 40 + i % 41 } else { 2 + i % 7 };
        let f = pool.submit(spin_us, job_us);
        let t = Instant::now();
        while !f.running() && !f.done() {
            assert!(t.elapsed() < Duration::from_secs(30), "job {i} never started");
        }
        // Land anywhere from the job's start to as long again after its end.
        spin_us(i % (2 * job_us));
        let said = f.terminate();
        match f.result() {
            Err(JobError::Cancelled) => {
                assert!(said, "job {i}: cancelled, but terminate said false");
                killed += 1;
            }
            Ok(v) => {
                assert_eq!(v, job_us);
                assert!(
                    !said,
                    "job {i}: terminate said true, but the job finished with its result"
                );
                finished += 1;
            }
            Err(e) => panic!("job {i}: {e:?}"),
        }
    }
    eprintln!("terminate_race: {killed} killed, {finished} finished first");
    assert!(killed > 0 && finished > 0, "the race was not exercised: {killed} / {finished}");
}
