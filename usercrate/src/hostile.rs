//! Hostile jobs and misuse as a new user meets them (new-user round: fork in a job, ...).

use crate::harness::{ensure, Outcome};
use std::time::{Duration, Instant};
use zeroproc::Pool;

/// A job that forks, and whose child also returns from the job after a while (a user
/// forgetting `_exit` in the child). The worker answers with the child's pid.
fn fork_and_return(ms: u64) -> i64 {
    // SAFETY: fork in a single-threaded worker; the copy only sleeps and returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        std::thread::sleep(Duration::from_millis(ms));
        return -1;
    }
    pid as i64
}

fn plus_one(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(200));
    x + 1
}

/// The forked copy must not answer the job (it corrupted the completion ring: a later job
/// failed with `Decode`); every job after it is answered by the worker.
pub fn job_that_forks() -> Outcome {
    let pool = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let child = pool.submit(fork_and_return, 50).result().map_err(|e| e.to_string())?;
    ensure(child > 0, || format!("the job was answered by the forked copy ({child})"))?;
    let end = Instant::now() + Duration::from_millis(300);
    let mut i = 0u64;
    while Instant::now() < end {
        let r = pool.submit(plus_one, i).result();
        ensure(r == Ok(i + 1), || format!("job {i} after the fork: {r:?}"))?;
        i += 1;
    }
    Ok(())
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// `wait` and `as_completed` over futures of two pools (Python's `wait` takes futures of
/// any executors): the quick job's future is the one done. Its latency is noted: a sleep on
/// one pool was not woken by the other's completions (~100 ms late, now ~2 ms at most).
pub fn wait_over_two_pools() -> Outcome {
    let a = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let b = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let t = Instant::now();
    let fs = vec![a.submit(nap, 5_000), b.submit(nap, 20)];
    let (done, not_done) =
        zeroproc::wait(fs, zeroproc::ReturnWhen::FirstCompleted, Some(Duration::from_secs(10)));
    crate::harness::note(format!("wait FIRST_COMPLETED over two pools: {:?}", t.elapsed()));
    ensure(done.len() == 1 && not_done.len() == 1, || {
        format!("done {} not_done {}", done.len(), not_done.len())
    })?;
    let r = done.into_iter().next().map(|f| f.result());
    ensure(r == Some(Ok(20)), || format!("the done future: {r:?}"))?;
    let t = Instant::now();
    let mut it = zeroproc::as_completed(vec![a.submit(nap, 1), b.submit(nap, 20)])
        .timeout(Duration::from_secs(10));
    let first = it.next().map(|f| f.result());
    crate::harness::note(format!("as_completed over two pools: {:?}", t.elapsed()));
    ensure(first == Some(Ok(20)), || format!("first of as_completed: {first:?}"))?;
    for f in not_done {
        f.terminate();
    }
    Ok(())
}

/// An initializer slower than the 10 s start-up limit (a model that takes a while to
/// load): the build waits for it, as Python's executor does. It failed with "a worker did
/// not report ready within 10 s: is zeroproc::init() ... the first thing main does?".
pub fn slow_initializer_is_waited_for() -> Outcome {
    let t = Instant::now();
    let pool = Pool::builder()
        .workers(1)
        .initializer(|| std::thread::sleep(Duration::from_millis(10_500)))
        .build()
        .map_err(|e| format!("build: {e}"))?;
    crate::harness::note(format!("built after {:?}", t.elapsed()));
    let r = pool.submit(plus_one, 1).result();
    ensure(r == Ok(2), || format!("first job: {r:?}"))
}

/// An initializer that ends its process: the error names the initializer, not a `main`
/// without `init()` (it did).
pub fn initializer_exit_is_named() -> Outcome {
    let r = Pool::builder().workers(1).initializer(|| std::process::exit(3)).build();
    let m = match r {
        Ok(_) => return Err("built with an initializer that exits".into()),
        Err(e) => e.to_string(),
    };
    ensure(m.contains("initializer") && !m.contains("init()"), || format!("message: {m}"))
}

fn put_index((q, i): (zeroproc::QueueHandle<u64>, u64)) {
    if let Ok(q) = q.attach() {
        let _ = q.put(i);
    }
}

/// Python's `Process(target=f, args=(q, i)).start()` without keeping the handle: every
/// child runs its body (before: the dropped handle took the argument segment along, and
/// a child that had not attached it yet exited without running; 4 of 10 ran).
pub fn fire_and_forget_processes() -> Outcome {
    let q = zeroproc::Queue::<u64>::new(16).map_err(|e| e.to_string())?;
    for i in 0..10u64 {
        zeroproc::Process::spawn(put_index, (q.handle(), i)).map_err(|e| e.to_string())?;
    }
    let mut got: Vec<u64> =
        (0..10).filter_map(|_| q.get_timeout(Duration::from_secs(10)).ok()).collect();
    got.sort_unstable();
    ensure(got == (0..10).collect::<Vec<_>>(), || format!("bodies that ran: {got:?}"))
}

/// A done-callback that blocks does not hold up a thread waiting for another job: that
/// thread drained both completions and ran the callback in place (`result_timeout(500
/// ms)` came back after the callback's 2 s). Here the callback blocks until this thread,
/// holding the other result, releases it.
pub fn blocking_callback_does_not_hold_other_waiters() -> Outcome {
    let pool = Pool::builder().workers(2).build().map_err(|e| format!("build: {e}"))?;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (report, reported) = std::sync::mpsc::channel::<bool>();
    let a = pool.submit(nap, 10);
    a.add_done_callback(move |_| {
        let _ = report.send(released.recv_timeout(Duration::from_secs(8)).is_ok());
    });
    let b = pool.submit(nap, 50).result_timeout(Duration::from_secs(5));
    let _ = release.send(());
    ensure(matches!(b, Ok(Ok(50))), || format!("the other job: {:?}", b.map_err(|_| "timed out")))?;
    let r = reported.recv_timeout(Duration::from_secs(10));
    ensure(r == Ok(true), || {
        format!("the callback was still blocked when the other result came back: {r:?}")
    })
}

/// Recursion with 4 KiB frames (the array keeps them from being merged) that stops only at
/// `u64::MAX`: far past any stack.
fn recurse(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([n as u8; 4096]);
    recurse(n + 1).wrapping_add(u64::from(frame[(n % 4096) as usize]))
}

/// A job that recurses without end is `JobError::StackOverflow` (Python: `RecursionError`),
/// not a bare "signal 6"; the pool serves on. Here the job runs on the worker's main
/// thread, as in every user program.
pub fn stack_overflow_is_named() -> Outcome {
    let pool = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let r = pool.submit(recurse, 0).result();
    ensure(r == Err(zeroproc::JobError::StackOverflow), || format!("got {r:?}"))?;
    let r = pool.submit(plus_one, 1).result();
    ensure(r == Ok(2), || format!("the job after the overflow: {r:?}"))
}
