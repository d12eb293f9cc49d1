//! A worker the kernel does not let go of after its SIGKILL (uninterruptible sleep: a hung
//! NFS or FUSE read) is abandoned by the supervisor after `EXIT_GRACE + REAP_LIMIT`
//! (`supervisor::stop_lingering`), so that `terminate` and `Drop` return. It must be
//! accounted for as a death: the job it had claimed fails (its word says RUNNING, so no
//! successor runs it, and no answer can come from a killed process), and its successor,
//! a new process, must not inherit the "asked to exit" time of the abandoned one.
//!
//! Both went wrong: the claimed job was never failed (its future waited for ever, and a
//! closed pool's supervisor never finished: `terminate` hung), and every successor was
//! abandoned at its first look — without a kill — and replaced, one new process per tick,
//! each left serving the same rings.
//!
//! A real uninterruptible sleep cannot be arranged in a test, so the worker is stopped
//! (SIGSTOP) and its exit is dated back past the limit, which is what the supervisor sees
//! of such a worker.

use crate::error::JobError;
use crate::Pool;
use std::time::{Duration, Instant};

crate::test_worker!();

fn echo(x: u64) -> u64 {
    x
}

fn hang(_: ()) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_abandoned_worker_fails_its_claimed_job_and_its_successor_serves() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let f = pool.submit(hang, ());
    wait_for("the job to start", || f.running());
    let pid = pool.stats().workers[0].pid;
    // SAFETY: plain kill(2) of our own worker process.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    {
        // Asked to exit (and killed) long ago, and still not reaped.
        let mut core = pool.shared.lock();
        core.slots[0].asked_exit = Some(Instant::now() - Duration::from_secs(5));
    }
    pool.shared.wake_supervisor();
    let r = f.result_timeout(Duration::from_secs(20));
    assert!(
        matches!(r, Ok(Err(JobError::WorkerDied { .. }))),
        "the job the abandoned worker had claimed: {:?}",
        r.map(|_| ())
    );
    // The successor serves, and is not abandoned in turn (one respawn, not one per tick).
    for x in 0..4u64 {
        let r = pool.submit(echo, x).result_timeout(Duration::from_secs(20));
        assert_eq!(r.ok(), Some(Ok(x)), "job {x} after the abandonment");
    }
    std::thread::sleep(Duration::from_millis(100)); // 20 supervisor ticks
    let w = &pool.stats().workers[0];
    assert_eq!(w.respawns, 1, "successors were abandoned and replaced");
    assert_ne!(w.pid, pid);
    pool.terminate();
}
