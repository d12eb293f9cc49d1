//! Attacks on the moves of balance37 (`src/pool/balance.rs`: a job moved off a worker in
//! a long job goes before up to 16 newer unstarted jobs of its target, which are placed
//! again behind it; a stuck worker that finishes a job makes the next drain look at once)
//! (review37): real pools of 2–4 workers, job lengths from 1 µs to 300 ms mixed so that
//! workers are judged stuck and jobs move (and are placed again) while others are
//! cancelled, retired with their worker, or taken by a `map` of chunk size 1. Each job
//! counts its runs in a file shared by the workers (`zeroproc_testkit::counters`); the
//! checks are on counts, outcomes and order, never on speed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

/// Jobs per round.
const N: u64 = 96;

/// Tag of this file's counter files.
const TAG: &str = "balance-attack";

fn counters(parent: u32, round: u64) -> &'static [AtomicU32] {
    zeroproc_testkit::counters::open(TAG, parent, round, N as usize)
}

/// How long job `i` of round `round` runs: every 11th 100–300 ms, every 4th 1–4 ms, the
/// rest 1–40 µs (xorshift of the pair: a different mix per round).
fn length(round: u64, i: u64) -> Duration {
    let mut x = (round << 32 | i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    match i {
        _ if i % 11 == 3 => Duration::from_millis(100 + x % 200),
        _ if i % 4 == 1 => Duration::from_micros(1_000 + x % 3_000),
        _ => Duration::from_micros(1 + x % 40),
    }
}

/// Job `arg` (`round << 32 | i`): counts its run, runs its length; returns `i`.
fn job(arg: u64) -> u64 {
    let (round, i) = (arg >> 32, arg & 0xffff_ffff);
    counters(std::os::unix::process::parent_id(), round)[i as usize]
        .fetch_add(1, Ordering::Relaxed);
    let d = length(round, i);
    if d >= Duration::from_millis(1) {
        std::thread::sleep(d);
    } else {
        let t = std::time::Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }
    i
}

/// The run counts of round `round` (its file removed).
fn runs(round: u64) -> Vec<u32> {
    let c = counters(std::process::id(), round);
    let v = c.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    zeroproc_testkit::counters::remove(TAG, round);
    v
}

/// Submits a round's jobs at once, cancels every 5th right away (a queued job may be
/// being moved or placed again then); every job not cancelled runs exactly once and
/// returns its index, every cancelled one never runs.
fn submit_round(pool: &Pool, round: u64) {
    zeroproc_testkit::counters::create(TAG, round, N as usize);
    let fs: Vec<_> = (0..N).map(|i| pool.submit(job, round << 32 | i)).collect();
    let cancelled: Vec<bool> =
        fs.iter().enumerate().map(|(i, f)| i % 5 == 2 && f.cancel()).collect();
    let outcomes: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    let runs = runs(round);
    for (i, r) in outcomes.into_iter().enumerate() {
        if cancelled[i] {
            assert!(matches!(r, Err(JobError::Cancelled)), "round {round} job {i}: {r:?}");
            assert_eq!(runs[i], 0, "round {round}: job {i} cancelled yet ran");
        } else {
            assert_eq!(r.ok(), Some(i as u64), "round {round}: job {i}'s outcome");
            assert_eq!(runs[i], 1, "round {round}: job {i} ran {} times", runs[i]);
        }
    }
}

#[test]
fn mixed_lengths_every_job_runs_once_and_cancel_holds() {
    for (k, workers) in [2, 3, 4].into_iter().enumerate() {
        let pool = Pool::builder().workers(workers).build().unwrap();
        for r in 0..2 {
            submit_round(&pool, (k * 2 + r) as u64);
        }
        eprintln!("{workers} workers: {}", pool.stats());
    }
}

#[test]
fn mixed_lengths_with_worker_retirement() {
    // Workers retire every 7 jobs while jobs move between them.
    let pool = Pool::builder().workers(3).max_jobs_per_worker(7).build().unwrap();
    for r in 0..2 {
        submit_round(&pool, 100 + r);
    }
}

#[test]
fn map_of_chunk_size_one_keeps_order_and_runs_each_item_once() {
    for (k, workers) in [2, 4].into_iter().enumerate() {
        let pool = Pool::builder().workers(workers).build().unwrap();
        let round = 200 + k as u64;
        zeroproc_testkit::counters::create(TAG, round, N as usize);
        let out: Vec<u64> = pool
            .map(job, (0..N).map(|i| round << 32 | i))
            .chunk_size(1)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(out, (0..N).collect::<Vec<_>>(), "{workers} workers: map order");
        assert!(runs(round).iter().all(|&n| n == 1), "{workers} workers: an item ran twice");
        // The unordered map: every item once.
        let round = round + 10;
        zeroproc_testkit::counters::create(TAG, round, N as usize);
        let mut out: Vec<u64> = pool
            .map_unordered(job, (0..N).map(|i| round << 32 | i))
            .chunk_size(1)
            .map(|r| r.unwrap())
            .collect();
        out.sort_unstable();
        assert_eq!(out, (0..N).collect::<Vec<_>>(), "{workers} workers: unordered items");
        assert!(runs(round).iter().all(|&n| n == 1), "{workers} workers: an item ran twice");
    }
}

#[test]
fn a_time_limit_fails_only_the_long_jobs_while_jobs_move() {
    // 150 ms limit: only jobs of 150 ms or more may time out (a moved job's clock starts
    // when it starts, not when it was first placed).
    let pool =
        Pool::builder().workers(2).job_time_limit(Duration::from_millis(150)).build().unwrap();
    let round = 300;
    zeroproc_testkit::counters::create(TAG, round, N as usize);
    let fs: Vec<_> = (0..N).map(|i| pool.submit(job, round << 32 | i)).collect();
    let outcomes: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    let runs = runs(round);
    for (i, r) in outcomes.into_iter().enumerate() {
        assert_eq!(runs[i], 1, "job {i} ran {} times", runs[i]);
        if length(round, i as u64) < Duration::from_millis(100) {
            assert_eq!(r.ok(), Some(i as u64), "job {i} (short) failed");
        }
    }
}
