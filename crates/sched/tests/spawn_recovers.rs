//! A pool whose replacement workers cannot be created for a while — `fork`/`exec`
//! refused: a pids limit filled by processes a job left behind, memory, or (here) an
//! environment variable too long for `exec` (E2BIG) — serves again once they can be.
//! Before (user29, a long-lived service): three failed attempts in 15 ms retired the slot
//! for good, and every later job of the pool failed with `NoWorkers` after the cause had
//! gone.

use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn die(_: u64) -> u64 {
    std::process::exit(7)
}

/// Leaves a file named `i` in `dir`: proof that job `i` ran.
fn mark((dir, i): (String, u64)) -> u64 {
    std::fs::write(format!("{dir}/{i}"), b"ran").unwrap();
    i
}

#[test]
fn a_pool_whose_workers_could_not_be_started_for_a_while_serves_again() {
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
    // One string longer than exec takes (MAX_ARG_STRLEN, 128 KiB): every spawn fails.
    std::env::set_var("ZEROPROC_TEST_E2BIG", "x".repeat(200 << 10));
    let died = pool.submit(die, 0).result();
    assert_eq!(died, Err(JobError::WorkerDied { signal: None, exit_code: Some(7) }));
    // Jobs placed on the slot while its replacement cannot be made: they fail when it is
    // retired, and the process it gets later must not run them.
    let dir = std::env::temp_dir().join(format!("zp-spawn-recovers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_string_lossy().into_owned();
    let queued: Vec<_> = (0..20u64).map(|i| pool.submit(mark, (d.clone(), i))).collect();
    let failed: Vec<u64> = queued
        .into_iter()
        .enumerate()
        .filter(|(_, f)| f.wait_timeout(Duration::from_secs(30)))
        .filter_map(|(i, f)| f.result().is_err().then_some(i as u64))
        .collect();
    // While no process can be made, jobs fail rather than wait.
    let t = Instant::now();
    let during = loop {
        let r =
            pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(30)).expect("hung");
        if r.is_err() || t.elapsed() > Duration::from_secs(5) {
            break r;
        }
    };
    assert_eq!(during, Err(JobError::NoWorkers));
    std::env::remove_var("ZEROPROC_TEST_E2BIG");
    // The cause is gone: within a few retries the slot serves again.
    let t = Instant::now();
    let after = loop {
        let r =
            pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(30)).expect("hung");
        if r.is_ok() || t.elapsed() > Duration::from_secs(20) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(after, Ok(2), "still failing {:?} after the cause went away", t.elapsed());
    let futs: Vec<_> = (0..100u64).map(|i| pool.submit(|x: u64| x * 2, i)).collect();
    for (i, f) in futs.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64 * 2));
    }
    // The ring of the retired slot was read again by its new process: of the jobs whose
    // futures failed, none ran (the other ones ran, once: their futures said so).
    drop(pool);
    let ran: Vec<u64> =
        failed.iter().copied().filter(|i| dir.join(i.to_string()).exists()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!failed.is_empty(), "no job was queued on the slot during the outage");
    assert!(ran.is_empty(), "jobs {ran:?} failed (NoWorkers) yet ran later");
}
