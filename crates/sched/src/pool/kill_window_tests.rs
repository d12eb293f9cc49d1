//! A kill aimed at a job in the moment between its worker's claim and the worker
//! publishing it as `current` (`worker/serve.rs`) must still land (`Shared::runs`).
//!
//! The window is a few instructions wide, so the tests hold the worker in it: the worker
//! is stopped (SIGSTOP) before it reads the job, and the test makes the claim it would
//! make. Before the fix, `terminate` and a cancel-on-drop did nothing there and the job
//! ran on for ever once the worker went on (a usercrate CI run hung so).

use crate::error::JobError;
use crate::Pool;
use std::time::Duration;

crate::test_worker!();

fn echo(x: u64) -> u64 {
    x
}

fn hang(_: ()) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A one-worker pool whose worker is stopped, and the pid it had.
fn stopped_pool() -> (Pool, u32) {
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let pid = pool.stats().workers[0].pid;
    // SAFETY: plain syscall on a child of ours.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    // The signal lands at the worker's next kernel entry: wait until it has.
    let stopped = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('T'))
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !stopped() {
        assert!(std::time::Instant::now() < end, "worker {pid} did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
    (pool, pid)
}

/// Makes the claim the stopped worker would make on job `id`.
fn claim_as_the_worker(pool: &Pool, id: u64) {
    assert!(pool.shared.claims().start(id), "the job was not queued");
    assert_eq!(pool.shared.control(0).current(), 0, "the worker published a job");
}

fn later_jobs_run(pool: &Pool, old_pid: u32) {
    for i in 0..4u64 {
        let r = pool.submit(echo, i).result_timeout(Duration::from_secs(20));
        assert_eq!(r.ok(), Some(Ok(i)), "job {i} after the kill");
    }
    assert_ne!(pool.stats().workers[0].pid, old_pid, "the worker was not replaced");
}

#[test]
fn terminate_between_claim_and_current_kills_the_job() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(hang, ());
    claim_as_the_worker(&pool, f.id());
    assert!(f.running());
    assert!(f.terminate());
    let r = f.result_timeout(Duration::from_secs(20));
    assert!(matches!(r, Ok(Err(JobError::Cancelled))), "terminated job: {:?}", r.map(|_| ()));
    later_jobs_run(&pool, pid);
}

#[test]
fn cancel_on_drop_between_claim_and_current_kills_the_job() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(hang, ()).cancel_on_drop();
    claim_as_the_worker(&pool, f.id());
    assert!(f.running());
    drop(f);
    later_jobs_run(&pool, pid);
}

#[test]
fn terminating_the_pool_in_the_window_cancels_the_job() {
    let (pool, _) = stopped_pool();
    let f = pool.submit(hang, ());
    claim_as_the_worker(&pool, f.id());
    let g = pool.submit(hang, ()); // queued behind it, never started
    pool.terminate();
    for (what, f) in [("claimed", f), ("queued", g)] {
        let r = f.result_timeout(Duration::from_secs(20));
        assert!(matches!(r, Ok(Err(JobError::Cancelled))), "{what} job: {:?}", r.map(|_| ()));
    }
}
