//! A program that calls `fork()` while it holds a pool (found by the hostile round): the
//! child inherits a copy of the pool's controller state and the same shared memory. Before,
//! the child's `submit` got another job's answer (`twice(100)` returned `Ok(0)`), a future
//! waited for in the child took the parent's completion (the parent never got it), and a
//! child that panicked (or dropped the pool) SIGKILLed the parent's workers — the parent's
//! running job failed with `WorkerDied { signal: 9 }`, "usually the OOM killer" — or
//! aborted on the supervisor thread it does not have. Now the child's uses of the inherited
//! pool fail at once with an error naming the fork, and the parent's pool is untouched
//! (Python: an executor inherited through `fork` is unusable in the child too).

use std::time::{Duration, Instant};
use zeroproc::{JobError, Pool};
use zeroproc_testkit as tk;

zeroproc::test_worker!();

fn twice(x: u64) -> u64 {
    x * 2
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// What the forked child does with the inherited pool; returns the failures it saw.
fn in_child(
    pool: Pool,
    slow: zeroproc::JobFuture<u64>,
    small: Pool,
    backlogged: zeroproc::JobFuture<u64>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let is_fork_error = |r: &Result<u64, JobError>| match r {
        Err(e) => e.to_string().contains("fork"),
        Ok(_) => false,
    };
    let t = Instant::now();
    match pool.submit(twice, 100).result_timeout(Duration::from_secs(2)) {
        Ok(r) if is_fork_error(&r) => {}
        Ok(r) => bad.push(format!("submit in the child: {r:?}")),
        Err(_) => bad.push("submit in the child: no answer in 2 s".into()),
    }
    match slow.result_timeout(Duration::from_secs(2)) {
        Ok(r) if is_fork_error(&r) => {}
        Ok(r) => bad.push(format!("the parent's future waited for in the child: {r:?}")),
        Err(_) => bad.push("the parent's future in the child: no answer in 2 s".into()),
    }
    // A job in the parent's backlog (`submit` past the in-flight limit): neither placed nor
    // cancelled by the child, and its future fails there at once.
    if backlogged.cancel() {
        bad.push("the child cancelled the parent's backlogged job".into());
    }
    match backlogged.result_timeout(Duration::from_secs(2)) {
        Ok(r) if is_fork_error(&r) => {}
        Ok(r) => bad.push(format!("the parent's backlogged future in the child: {r:?}")),
        Err(_) => bad.push("the parent's backlogged future in the child: no answer in 2 s".into()),
    }
    drop(small); // must not run, cancel or wait for the parent's backlog
    let r: Vec<_> = pool.map(twice, 0..3u64).collect();
    if !r.iter().all(is_fork_error) {
        bad.push(format!("map in the child: {r:?}"));
    }
    if t.elapsed() > Duration::from_secs(1) {
        bad.push(format!("the child's calls took {:?}", t.elapsed()));
    }
    // What `#[zeroproc::main]` does when the child's `main` returns, then a drop while
    // panicking (the child's `main` panics holding the pool).
    drop(zeroproc::__private::main_guard());
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _pool = pool;
        panic!("the child panics holding the pool");
    }));
    if dropped.is_ok() {
        bad.push("the panic was not caught".into());
    }
    bad
}

#[test]
fn zp_fork_child() {
    zeroproc::init();
    tk::child_entry(|_, _| {
        std::panic::set_hook(Box::new(|_| {})); // the child's expected panic stays quiet
        let pool = Pool::builder().workers(2).build().unwrap();
        assert_eq!(pool.submit(twice, 1).result(), Ok(2));
        let slow = pool.submit(nap, 400);
        let end = Instant::now() + Duration::from_secs(5);
        while !slow.running() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(slow.running(), "the slow job never started");
        // One worker, 256 jobs in flight at most: the last ones wait in the backlog.
        let small = Pool::builder().workers(1).build().unwrap();
        let first = small.submit(nap, 400);
        let mut queued: Vec<_> = (0..300u64).map(|i| small.submit(twice, i)).collect();
        let backlogged = queued.pop().unwrap();
        // SAFETY: fork of this (test child) process; the child runs only `in_child` and
        // then `_exit`s, never returning into libtest.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let bad = in_child(pool, slow, small, backlogged);
            for b in &bad {
                eprintln!("forked child: {b}");
            }
            // SAFETY: ends the forked child without running the parent's exit hooks.
            unsafe { libc::_exit(i32::from(!bad.is_empty())) };
        }
        assert!(child > 0, "fork failed");
        let mut status = 0;
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            // SAFETY: waitpid on our own child, status is a valid out-pointer.
            let r = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if r == child {
                break;
            }
            if Instant::now() > end {
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                panic!("the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "forked child: status {status:#x} (its stderr says what it saw)"
        );
        let r = slow.result_timeout(Duration::from_secs(5)).map_err(|_| "no answer in 5 s");
        assert_eq!(r, Ok(Ok(400)), "the parent's running job");
        assert_eq!(pool.submit(twice, 5).result(), Ok(10), "the parent's pool after the fork");
        assert_eq!(first.result(), Ok(400));
        for (i, f) in queued.into_iter().enumerate() {
            assert_eq!(f.result(), Ok(2 * i as u64), "the parent's job {i}");
        }
        assert_eq!(backlogged.result(), Ok(598), "the parent's backlogged job");
        let respawns: u64 = pool.stats().workers.iter().map(|w| w.respawns).sum();
        assert_eq!(respawns, 0, "a worker of the parent was killed");
    });
}

#[test]
fn a_forked_child_cannot_use_or_break_the_parents_pool() {
    if tk::is_child() {
        return;
    }
    let mut child = tk::spawn_role("zp_fork_child", "fork", "");
    let status = tk::wait_timeout(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status}");
}
