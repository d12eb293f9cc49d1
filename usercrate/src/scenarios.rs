//! One function per scenario (issue #10: a work-conserving executor). Each builds its own
//! pool and asserts on logical order and outcomes, never on speed.

use crate::harness::{ensure, note, poll_until, Outcome};
use crate::jobs::{crash, echo, exists, hang, mixed, proc_state, signal, sleep_ms, Rng};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroproc::{as_completed, JobError, Pool};

/// Long enough for any wait that should finish "soon" but must not hang the scenario.
const SOON: Duration = Duration::from_secs(10);

/// How long `default_pool_roundtrip` goes on at most (well inside the watchdog's 20 s).
const ROUND_TRIPS_FOR: Duration = Duration::from_secs(5);

fn pool_of(workers: usize) -> Result<Pool, String> {
    Pool::builder().workers(workers).build().map_err(|e| format!("build: {e}"))
}

/// A worker this scenario SIGSTOPped: SIGCONT at the end if the process still exists.
struct Stopped(u32);

impl Stopped {
    fn stop(pid: u32) -> Result<Self, String> {
        ensure(pid != 0, || "worker 0 has no pid".into())?;
        ensure(signal(pid, libc::SIGSTOP), || format!("SIGSTOP {pid} failed"))?;
        // Stopping is asynchronous: wait until the kernel says so.
        ensure(poll_until(SOON, || proc_state(pid) == Some('T')), || {
            format!("worker {pid} not stopped after SIGSTOP")
        })?;
        Ok(Stopped(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if exists(self.0) {
            signal(self.0, libc::SIGCONT);
        }
    }
}

/// Both workers have served a job (they are up and idle).
fn warm_up(pool: &Pool) -> Outcome {
    let pids: HashSet<u32> = pool.map(sleep_ms, [20u64; 4]).map(|r| r.unwrap_or(0)).collect();
    ensure(!pids.contains(&0), || "a warm-up job failed".into())
}

/// Six 10 ms jobs while worker 0 (`stopped`) is SIGSTOPped: all Ok, none ran on it.
fn six_jobs_around(pool: &Pool, stopped: u32) -> Outcome {
    let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 10)).collect();
    for (i, pid) in all_ok(six_results(fs))?.into_iter().enumerate() {
        ensure(pid != stopped, || format!("job {i} ran on the stopped worker"))?;
    }
    ensure(proc_state(stopped) == Some('T'), || {
        format!("worker 0 ({stopped}) is no longer stopped: {:?}", proc_state(stopped))
    })
}

/// Waits for all of `fs` until [`SOON`] from now (a job stuck behind a stopped worker fails
/// the scenario with its future's state rather than hanging it).
fn six_results(fs: Vec<zeroproc::JobFuture<u32>>) -> Vec<Result<u32, String>> {
    let deadline = Instant::now() + SOON;
    fs.into_iter()
        .enumerate()
        .map(|(i, f)| match f.result_deadline(deadline) {
            Ok(Ok(pid)) => Ok(pid),
            Ok(Err(e)) => Err(format!("job {i}: {e:?}")),
            Err(f) => Err(format!("job {i} not done after {SOON:?}: {f:?}")),
        })
        .collect()
}

/// The values, or every failure in one reason.
fn all_ok(results: Vec<Result<u32, String>>) -> Result<Vec<u32>, String> {
    let n = results.len();
    let failed: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
    ensure(failed.is_empty(), || {
        format!("{} of {n} jobs failed: {}", failed.len(), failed.join("; "))
    })?;
    Ok(results.into_iter().flatten().collect())
}

/// A 3 s job, then two 50 ms jobs: both short jobs finish while the long one still runs.
pub fn short_behind_long() -> Outcome {
    let pool = pool_of(2)?;
    let long = pool.submit(sleep_ms, 3000);
    let shorts = [pool.submit(sleep_ms, 50), pool.submit(sleep_ms, 50)];
    for (i, f) in shorts.into_iter().enumerate() {
        f.result().map_err(|e| format!("short job {i}: {e:?}"))?;
    }
    let long_done = long.done();
    ensure(!long_done, || "the long job was done before both short jobs were".into())?;
    long.result().map(drop).map_err(|e| format!("long job: {e:?}"))
}

/// Worker 0 SIGSTOPped while idle: jobs run on worker 1; then `terminate` returns.
pub fn sigstop_idle_worker() -> Outcome {
    let pool = pool_of(2)?;
    warm_up(&pool)?;
    let stopped = Stopped::stop(pool.stats().workers[0].pid)?;
    six_jobs_around(&pool, stopped.0)?;
    // Hangs here are caught by the watchdog.
    std::thread::spawn(move || pool.terminate())
        .join()
        .map_err(|_| "terminate panicked".to_string())
}

/// As `sigstop_idle_worker`, ending with a plain drop of the pool.
pub fn sigstop_drop() -> Outcome {
    let pool = pool_of(2)?;
    warm_up(&pool)?;
    let stopped = Stopped::stop(pool.stats().workers[0].pid)?;
    six_jobs_around(&pool, stopped.0)?;
    drop(pool);
    Ok(())
}

/// With a pool-wide `job_time_limit`, a SIGSTOPped idle worker does not keep jobs from
/// completing Ok.
pub fn sigstop_job_timeout() -> Outcome {
    let pool = Pool::builder()
        .workers(2)
        .job_time_limit(Duration::from_millis(200))
        .build()
        .map_err(|e| format!("build: {e}"))?;
    warm_up(&pool)?;
    let stopped = Stopped::stop(pool.stats().workers[0].pid)?;
    let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 10)).collect();
    let results = six_results(fs);
    drop(stopped); // SIGCONT before the drop: this scenario is not about shutdown
    all_ok(results).map(drop)
}

/// `cancel_on_drop(true)`: dropping the future of a running job that never returns frees
/// the only worker.
pub fn cancel_on_drop_frees_worker() -> Outcome {
    let pool = Pool::builder()
        .workers(1)
        .cancel_on_drop(true)
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let f = pool.submit(hang, ());
    ensure(poll_until(SOON, || f.running()), || "the hung job never started".into())?;
    drop(f);
    eight_small_jobs(&pool)
}

/// The per-future form: `submit(..).cancel_on_drop()` on a pool built without the option.
pub fn cancel_on_drop_per_future() -> Outcome {
    // One worker, so that the hung job would otherwise hold up every later job.
    let pool = pool_of(1)?;
    let f = pool.submit(hang, ()).cancel_on_drop();
    ensure(poll_until(SOON, || f.running()), || "the hung job never started".into())?;
    drop(f);
    eight_small_jobs(&pool)
}

fn eight_small_jobs(pool: &Pool) -> Outcome {
    let fs: Vec<_> = (0..8u64).map(|i| pool.submit(echo, i)).collect();
    for (i, f) in (0..8u64).zip(fs) {
        let r = f.result();
        ensure(r == Ok(i), || format!("small job {i}: {r:?}"))?;
    }
    Ok(())
}

/// `cancel_on_drop(true)`: a queued job whose future is dropped never runs.
pub fn queued_cancel_on_drop() -> Outcome {
    use zeroproc::SharedArray;
    let pool = Pool::builder()
        .workers(1)
        .cancel_on_drop(true)
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let mut counter = SharedArray::<u64>::zeroed(1).map_err(|e| format!("array: {e}"))?;
    let chunk = counter.chunks_mut(1).map_err(|e| format!("split: {e}"))?.remove(0);
    let first = pool.submit(sleep_ms, 500);
    let second = pool.submit(crate::jobs::bump, chunk);
    let second_started = second.running() || second.done();
    drop(second);
    first.result().map_err(|e| format!("first job: {e:?}"))?;
    let later = pool.submit(echo, 7).result();
    ensure(later == Ok(7), || format!("later job: {later:?}"))?;
    ensure(!second_started, || "the second job had started before its future was dropped".into())?;
    // The chunk is unclaimed if the job never ran; close the split to read the array.
    counter.abandon_chunks().map_err(|e| format!("abandon_chunks: {e} (the job runs?)"))?;
    let n = counter.as_slice().map_err(|e| format!("read: {e}"))?[0];
    ensure(n == 0, || format!("the dropped queued job ran (counter = {n})"))
}

/// A done-callback that blocks 3 s does not delay another job's time-out, nor a crashed
/// job's `WorkerDied`.
pub fn blocking_callback_does_not_delay_timeouts() -> Outcome {
    let pool = pool_of(2)?;
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let thread_name = Arc::new(Mutex::new(String::new()));
    let a = pool.submit(sleep_ms, 10);
    {
        let (started, finished, thread_name) =
            (started.clone(), finished.clone(), thread_name.clone());
        a.add_done_callback(move |_| {
            *thread_name.lock().unwrap() =
                std::thread::current().name().unwrap_or("<unnamed>").to_string();
            started.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(3));
            finished.store(true, Ordering::SeqCst);
        });
    }
    // Not waiting on A from this thread (the callback would run here): let the pool's own
    // completion path pick it up.
    std::thread::sleep(Duration::from_millis(100));
    ensure(poll_until(Duration::from_secs(2), || started.load(Ordering::SeqCst)), || {
        "A's callback did not start within 2 s without a waiting thread".into()
    })?;
    note(format!("A's callback runs on thread {:?}", thread_name.lock().unwrap()));
    let t = Instant::now();
    let b = pool.submit_with_time_limit(hang, (), Duration::from_millis(200));
    let c = pool.submit(crash, ());
    let rb = b.result();
    let b_elapsed = t.elapsed();
    let b_before_callback = !finished.load(Ordering::SeqCst);
    let rc = c.result();
    let c_before_callback = !finished.load(Ordering::SeqCst);
    note(format!(
        "B (200 ms time-out) answered after {b_elapsed:?}, callback still sleeping: \
         {b_before_callback}; C answered while callback sleeping: {c_before_callback}"
    ));
    ensure(rb == Err(JobError::TimeLimit), || format!("B: {rb:?}, expected TimeLimit"))?;
    ensure(b_before_callback, || {
        format!("B's TimeLimit came only after the 3 s callback finished ({b_elapsed:?})")
    })?;
    ensure(matches!(rc, Err(JobError::WorkerDied { .. })), || {
        format!("C: {rc:?}, expected WorkerDied")
    })?;
    drop(a);
    Ok(())
}

/// A panicking callback on an already-done future does not reach the caller, as for a
/// pending one.
pub fn callback_on_done_future_panics_contained() -> Outcome {
    let pool = Pool::new().map_err(|e| format!("build: {e}"))?;
    // Pending future: registering and then waiting must not panic here.
    let pending = pool.submit(sleep_ms, 200);
    let r = catch_unwind(AssertUnwindSafe(|| {
        pending.add_done_callback(|_| panic!("callback panic (pending future)"));
        pending.wait_timeout(SOON)
    }));
    ensure(r.is_ok(), || "the pending future's callback panic reached the caller".into())?;
    // Done future: the callback runs at once in this thread.
    let done = pool.submit(echo, 1);
    ensure(done.wait_timeout(SOON), || "job not done".into())?;
    let r = catch_unwind(AssertUnwindSafe(|| {
        done.add_done_callback(|_| panic!("callback panic (done future)"));
    }));
    ensure(r.is_ok(), || "the done future's callback panic reached the caller".into())?;
    let after = pool.submit(echo, 2).result();
    ensure(after == Ok(2), || format!("pool after the panics: {after:?}"))
}

/// Polling a hung job's future as a `std::future::Future` for 100 ms, then dropping it
/// (`cancel_on_drop`), leaves the pool usable and droppable.
pub fn async_timeout_drop() -> Outcome {
    let pool = Pool::builder()
        .workers(2)
        .cancel_on_drop(true)
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let mut f = pool.submit(hang, ());
    let r = crate::jobs::block_on_timeout(&mut f, Duration::from_millis(100));
    ensure(r.is_none(), || format!("the hung job answered: {r:?}"))?;
    drop(f);
    let fs: Vec<_> = (0..8u64).map(|i| pool.submit(echo, i)).collect();
    for (i, f) in (0..8u64).zip(fs) {
        let r = f.result();
        ensure(r == Ok(i), || format!("small job {i}: {r:?}"))?;
    }
    drop(pool); // the watchdog catches a hang
    Ok(())
}

/// The default pool answers tiny round trips correctly: 20,000 of them, or as many as fit
/// in [`ROUND_TRIPS_FOR`] on a loaded machine. (A fixed 20,000 hung the watchdog on a
/// 2-vCPU host at load 12: round trips p50 1.2 µs but p99 5-11 ms there, scheduling
/// delays of the woken worker, so 20,000 took 5-25 s; a round trip that never returns
/// still trips the watchdog.)
pub fn default_pool_roundtrip() -> Outcome {
    const N: u64 = 20_000;
    let pool = Pool::new().map_err(|e| format!("build: {e}"))?;
    let mut lat = Vec::with_capacity(N as usize);
    let end = Instant::now() + ROUND_TRIPS_FOR;
    for i in 0..N {
        let t = Instant::now();
        if t >= end {
            break; // at least one round trip ran: `end` is seconds away at the start
        }
        let r = pool.submit(|x: u64| x + 1, i).result();
        lat.push(t.elapsed());
        ensure(r == Ok(i + 1), || format!("job {i}: {r:?}"))?;
    }
    lat.sort();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    note(format!(
        "{} workers, {} round trips, p50 {:?}, p99 {:?}, max {:?}",
        pool.workers(),
        lat.len(),
        pct(50),
        pct(99),
        lat[lat.len() - 1]
    ));
    Ok(())
}

/// 500 jobs of random sizes (2 % panic), all submitted up front, collected with
/// `as_completed`: each input is answered exactly once, with the right answer; and each
/// future keeps the `id()` it had when submitted (a user's key for "which job was this").
pub fn mixed_jobs_all_answered() -> Outcome {
    const N: usize = 500;
    let pool = Pool::new().map_err(|e| format!("build: {e}"))?;
    let mut rng = Rng::new(0x5eed_1234);
    let mut by_id = HashMap::new(); // id at submission -> input
    let panics: Vec<bool> = (0..N).map(|_| rng.below(100) < 2).collect();
    let mut fs = Vec::with_capacity(N);
    for (input, &panic) in panics.iter().enumerate() {
        let micros = rng.below(5001);
        let spin = rng.below(2) == 0;
        let f = pool.submit(mixed, (input as u64, micros, spin, panic));
        by_id.insert(f.id(), input);
        fs.push(f);
    }
    ensure(by_id.len() == N, || "duplicate future ids at submission".into())?;
    let (mut answered, mut yielded, mut id_changed) = (vec![false; N], 0, 0);
    for f in as_completed(fs) {
        yielded += 1;
        let id = f.id();
        let r = f.result();
        let input = match &r {
            Ok(v) => usize::try_from(v / 2).ok().filter(|&i| i < N && v % 2 == 1 && !panics[i]),
            Err(JobError::Panicked { message }) => panicked_input(message).filter(|&i| panics[i]),
            Err(_) => None,
        };
        let input = input.ok_or_else(|| format!("future {id}: unexpected {r:?}"))?;
        ensure(!answered[input], || format!("input {input} answered twice"))?;
        answered[input] = true;
        id_changed += usize::from(by_id.get(&id) != Some(&input));
    }
    let missing = answered.iter().filter(|a| !**a).count();
    ensure(yielded == N && missing == 0, || format!("{yielded} yielded, {missing} unanswered"))?;
    let injected = panics.iter().filter(|p| **p).count();
    note(format!("{N} answered exactly once, {injected} panicked as injected"));
    ensure(id_changed == 0, || {
        format!("all answers right, but {id_changed} of {N} futures had a different id() at completion than at submission")
    })
}

/// The input named in a `mixed` job's panic message ("... for input N ...").
fn panicked_input(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once("for input ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `terminate` returns while a job hangs (no time-out), and the hung future is Cancelled.
pub fn drop_with_hung_job_bounded() -> Outcome {
    let pool = pool_of(2)?;
    let f = pool.submit(hang, ());
    ensure(poll_until(SOON, || f.running()), || "the hung job never started".into())?;
    pool.terminate(); // the watchdog catches a hang
    match f.result_timeout(SOON) {
        Ok(Err(JobError::Cancelled)) => Ok(()),
        Ok(other) => Err(format!("hung job after terminate: {other:?}, expected Cancelled")),
        Err(_) => Err("the hung job's future is not done after terminate".into()),
    }
}
