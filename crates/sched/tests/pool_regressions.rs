//! Regression tests for bugs found by an independent review of the executor (each failed
//! before its fix): lost wake-ups of blocked submitters, shutdown/terminate with full
//! rings, a callback/drain deadlock, chained maps, encode errors in a map, leaked spill
//! blocks of cancelled jobs, time-out overflow, and finished jobs reported as cancelled.
//! A hang is detected with a time-out on a helper thread (the stuck thread is left behind).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool, Shutdown, TrySubmitError};

zeroproc_sched::test_worker!();

/// Sleeps `v[0] * 100 ms`, returns the length.
fn work(v: Vec<u8>) -> u64 {
    if v[0] > 0 {
        std::thread::sleep(Duration::from_millis(100 * v[0] as u64));
    }
    v.len() as u64
}

/// 208 bytes: envelope 16 + archive (208 + 8) = 232 bytes, i.e. a ring record of exactly
/// 256 bytes (header 16 + 240) — the same as the 240-byte reservation the controller
/// makes. (`SHORT`: 200 bytes, a record of 240 once the reservation is truncated.)
fn arg(tenths: u8) -> Vec<u8> {
    arg_of(tenths, 208)
}

/// See `arg`.
const SHORT: usize = 200;

fn arg_of(tenths: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    v[0] = tenths;
    v
}

fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn wait_running<R: Send + 'static, E: Send + 'static>(f: &zeroproc_sched::JobFuture<R, E>) {
    let t = Instant::now();
    while !f.running() {
        assert!(!f.done(), "the job ended before this thread saw it running");
        assert!(t.elapsed() < Duration::from_secs(10), "job never started");
        std::thread::yield_now();
    }
}

/// One worker, 4 KiB submission ring; a job of `first_tenths` tenths of a second running
/// (long enough that it is still running when this thread has queued the rest, also on a
/// loaded host) and 15 jobs queued behind it:
/// 15 records of 256 bytes and one of 240 take 4,080 bytes, and the last 16 are the ones
/// the ring keeps free for the next record's header (ring version 2), so the ring is
/// *completely* full: not even a STOP record fits. (Each placement needs 256 + 16 bytes
/// free: the 240-byte record comes second to last.) Returns the queued futures.
fn fill(
    p: &Pool,
    first_tenths: u8,
) -> (zeroproc_sched::JobFuture<u64>, Vec<zeroproc_sched::JobFuture<u64>>) {
    let f0 = p.submit(work, arg(first_tenths));
    wait_running(&f0);
    let mut queued = Vec::new();
    for i in 0..15 {
        let a = if i == 13 { arg_of(0, SHORT) } else { arg(0) };
        match p.try_submit(work, a) {
            Ok(f) => queued.push(f),
            Err(e) => panic!("precondition: job {i} fits: {e:?}"),
        }
    }
    assert!(
        matches!(p.try_submit(work, Vec::new()), Err(TrySubmitError::Full(_))),
        "precondition: the 4 KiB ring is full"
    );
    (f0, queued)
}

// ---------------------------------------------------------------------------------------
// 1. `dispatch` waits for `completed` to change, but room in a submission ring is made by
//    the worker *releasing* records, which is not a completion. When the last completion
//    is drained before the records are released (here: the worker retires after 16 jobs
//    without releasing them; the successor releases them but produces no completion), a
//    blocked `submit` / `submit_timeout` / `map` never retries.
// ---------------------------------------------------------------------------------------
#[test]
fn blocked_submit_wakes_when_a_release_makes_room() {
    let p = Pool::builder().workers(1).ring_capacity(4096).max_jobs_per_worker(16).build().unwrap();
    let (_f0, _queued) = fill(&p, 20);
    let t = Instant::now();
    // The worker finishes the 16 jobs after ~2 s, retires, and its successor releases
    // the whole ring within a few ms: this submission should then go through.
    let r = p.submit_timeout(work, arg(0), Duration::from_secs(20));
    assert!(
        r.is_ok(),
        "submit_timeout gave up after {:?} although the ring has been empty for seconds \
         (respawns: {})",
        t.elapsed(),
        p.stats().workers[0].respawns
    );
}

// ---------------------------------------------------------------------------------------
// 2. Same root cause, shutdown: a worker that left its ring full of completed but
//    unreleased records is not respawned once the pool is closed (owed is empty), so the
//    STOP record never fits and `shutdown` (and `Drop`) spins forever.
// ---------------------------------------------------------------------------------------
#[test]
fn shutdown_completes_when_a_retired_worker_left_its_ring_full() {
    let p = Arc::new(
        Pool::builder().workers(1).ring_capacity(4096).max_jobs_per_worker(16).build().unwrap(),
    );
    let (_f0, _queued) = fill(&p, 20);
    let (tx, rx) = mpsc::channel();
    let p2 = p.clone();
    std::thread::spawn(move || {
        p2.shutdown_with(Shutdown::new().wait(false));
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "shutdown_with(wait(false)) did not return in 20 s (it busy-loops waiting for room for STOP)"
    );
}

// ---------------------------------------------------------------------------------------
// 3. `terminate` calls `shutdown(cancel)` *before* killing running jobs; `shutdown` waits
//    for room for the STOP record, which in a full ring only appears once the running job
//    ends. So terminate waits for the running job instead of killing it, and that job's
//    future gets its normal result instead of `Cancelled`.
// ---------------------------------------------------------------------------------------
#[test]
fn terminate_with_a_full_ring_kills_the_running_job() {
    let p = Pool::builder().workers(1).ring_capacity(4096).build().unwrap();
    let (f0, queued) = fill(&p, 200); // the running job takes 20 s
    let t = Instant::now();
    p.terminate();
    let took = t.elapsed();
    let r0 = f0.result();
    for f in queued {
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
    // (r0 is `Cancelled` although the job ran its 3 s to the end: finding 9 below.) A
    // bound far from the job's 20 s, which a loaded host does not reach (it was 1 s
    // against 3 s).
    assert!(
        took < Duration::from_secs(10),
        "terminate took {took:?} (it waited for the running job); its outcome: {r0:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Callbacks run while `after()` holds the future's *value* mutex; the docs promise a
//    callback "may submit more jobs" (takes the core mutex). A cancelled future stays in
//    `owed`; when its SKIPPED completion is drained, the drainer holds the core mutex and
//    calls `set()`, which takes the value mutex: value → core vs core → value = deadlock.
// ---------------------------------------------------------------------------------------
#[test]
fn callback_that_submits_does_not_deadlock_with_the_drain_of_its_cancelled_job() {
    let p = Arc::new(Pool::builder().workers(1).build().unwrap());
    // The running job ends when the callback opens the gate: `a` is certainly queued when
    // cancelled. (It was a 200 ms job: a test thread that lost its CPU for that long saw
    // it done, never running, or found `a` started.)
    let gate = zeroproc_mp::Queue::<u64>::new(1).unwrap();
    let long = p.submit(held, gate.handle());
    wait_running(&long);
    let a = p.submit(sleepy, 1);
    let p2 = p.clone();
    a.add_done_callback(move |_| {
        gate.put(7).unwrap();
        // Long enough for the worker to answer SKIPPED and a drainer to take the core lock.
        std::thread::sleep(Duration::from_millis(600));
        drop(p2.submit(sleepy, 1));
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let cancelled = a.cancel(); // runs the callback in this thread
        let _ = tx.send(cancelled);
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(cancelled) => assert!(cancelled, "a job queued behind a running one: cancel() false"),
        Err(_) => panic!(
            "cancel() + a submitting done-callback deadlocked (callback holds the value lock \
             and waits for the core lock; the drainer holds the core lock and waits for the \
             value lock)"
        ),
    }
    assert_eq!(long.result(), Ok(7));
}

// ---------------------------------------------------------------------------------------
// 5. `Map::top_up` calls the user's item iterator while holding the pool's core mutex (the
//    `Batch`). An iterator that uses the same pool — e.g. chaining two maps — re-locks the
//    mutex on the same thread: deadlock.
// ---------------------------------------------------------------------------------------
#[test]
fn chained_map_on_the_same_pool_works() {
    let p = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (tx, rx) = mpsc::channel();
    let p2 = p.clone();
    std::thread::spawn(move || {
        let v: Vec<u64> = p2
            .map(|x: u64| x + 1, p2.map(|x: u64| x * 2, 0..10u64).map(Result::unwrap))
            .map(Result::unwrap)
            .collect();
        let _ = tx.send(v);
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(v) => assert_eq!(v, (0..10u64).map(|x| 2 * x + 1).collect::<Vec<_>>()),
        Err(_) => {
            panic!("pool.map(g, pool.map(f, xs)) deadlocked: items are pulled under the core lock")
        }
    }
}

// ---------------------------------------------------------------------------------------
// 6. A map item that cannot be encoded ends the map after one `Err`: the items already in
//    flight and all later items are silently dropped, and the error comes out at the wrong
//    position — contradicting "the output always has one entry per input".
// ---------------------------------------------------------------------------------------
#[test]
fn map_with_one_unencodable_item_keeps_the_others() {
    let p = Pool::builder().workers(1).ring_capacity(1 << 12).spill_heap(0).build().unwrap();
    let items: Vec<Vec<u8>> =
        (0..8).map(|i| if i == 3 { vec![1u8; 10_000] } else { vec![1u8; i + 1] }).collect();
    let out: Vec<Result<u64, JobError>> = p.map(|v: Vec<u8>| v.len() as u64, items).collect();
    let shape: Vec<String> = out
        .iter()
        .map(|r| match r {
            Ok(n) => n.to_string(),
            Err(e) => format!("{:?}", e.kind()),
        })
        .collect();
    assert_eq!(out.len(), 8, "one entry per input expected, got {shape:?}");
    assert!(matches!(out[3], Err(JobError::TooLarge { .. })), "{shape:?}");
    assert_eq!(out[0], Ok(1), "{shape:?}");
    assert_eq!(out[7], Ok(8), "{shape:?}");
}

// ---------------------------------------------------------------------------------------
// 7. A cancelled job whose arguments were spilled is answered SKIPPED without reading (or
//    `discard`ing) its record: its spill-heap block is never freed. A few cancellations
//    exhaust the heap and every later large submission fails.
// ---------------------------------------------------------------------------------------
/// Runs until the test puts a value in the queue (a job whose end the test chooses), and
/// returns it.
fn held(q: zeroproc_mp::queue::QueueHandle<u64>) -> u64 {
    q.attach().unwrap().get().unwrap()
}

#[test]
fn cancelled_jobs_free_their_spilled_arguments() {
    let p = Pool::builder().workers(1).ring_capacity(1 << 16).spill_heap(8 << 20).build().unwrap();
    // The running job waits for the gate, opened only after the cancel: with a 60 ms job,
    // a test thread that lost its CPU for 60 ms found `big` started and `cancel()` false.
    let gate = zeroproc_mp::Queue::<u64>::new(1).unwrap();
    for round in 0..12 {
        let long = p.submit(held, gate.handle());
        wait_running(&long);
        let big = match p.try_submit(|v: Vec<u8>| v.len() as u64, vec![0u8; 1 << 20]) {
            Ok(f) => f,
            Err(TrySubmitError::Encode(_, msg)) => {
                panic!("round {round}: the 8 MiB heap is exhausted by cancelled 1 MiB jobs: {msg}")
            }
            Err(e) => panic!("round {round}: {e:?}"),
        };
        assert!(big.cancel(), "round {round}: queued behind a running job");
        gate.put(round).unwrap();
        // Behind the cancelled job on the same worker: once it is done, the worker has
        // answered SKIPPED for `big`.
        assert_eq!(p.submit(sleepy, 0).result(), Ok(0));
        assert_eq!(long.result(), Ok(round));
    }
}

// ---------------------------------------------------------------------------------------
// 8. (nit) Time-outs are converted with `as_nanos() as u64`, which wraps: a time-out of
//    ~585 years becomes ~0.29 s.
// ---------------------------------------------------------------------------------------
#[test]
fn huge_job_timeout_saturates() {
    let p = Pool::builder().workers(1).build().unwrap();
    let f = p.submit_with_time_limit(sleepy, 1000, Duration::from_secs(18_446_744_074));
    assert_eq!(f.result(), Ok(1000), "a 585-year time-out fired");
}

// ---------------------------------------------------------------------------------------
// 9. `shutdown(cancel_futures = true)` treats every owed job whose id is not `current` as
//    "not started" and fails it with `Cancelled` — including a job that already ran to
//    completion (worker cleared `current`, completion committed but not yet drained).
//    Its real result is then dropped (the future is already done).
// ---------------------------------------------------------------------------------------
#[test]
fn cancelling_shutdown_keeps_finished_results() {
    for attempt in 0..10 {
        let p = Pool::builder().workers(1).build().unwrap();
        let x = p.submit(sleepy, 0);
        let t = Instant::now();
        // The worker has committed x's completion (and cleared `current`); nobody has
        // drained it yet (the supervisor does so at its next 5 ms tick).
        while p.stats().workers[0].jobs_done < 1 {
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
        p.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
        assert_eq!(x.result(), Ok(0), "attempt {attempt}: a job that ran to completion");
    }
}

/// Limits that cannot mean anything are refused at `build`, naming the setting (new-user
/// finding: `max_jobs_per_worker(0)` was silently taken as 1, where Python raises
/// `ValueError`; `job_time_limit(ZERO)` was accepted and every job then failed).
#[test]
fn meaningless_limits_are_refused_at_build() {
    let e = Pool::builder().workers(1).max_jobs_per_worker(0).build().unwrap_err();
    assert!(e.to_string().contains("max_jobs_per_worker(0)"), "{e}");
    let e = Pool::builder().workers(1).job_time_limit(Duration::ZERO).build().unwrap_err();
    assert!(e.to_string().contains("job_time_limit of zero"), "{e}");
    // The message says what would do (it said only "bad ring capacity 100").
    let e = Pool::builder().workers(1).ring_capacity(100).build().unwrap_err();
    assert!(e.to_string().contains("power of two in 64..="), "{e}");
    let pool = Pool::builder().workers(1).max_jobs_per_worker(1).build().unwrap();
    assert_eq!(pool.submit(work, vec![0, 1]).result(), Ok(2));
    // A core no process runs on, or none at all, was accepted and the workers ran
    // unpinned (found by the user4 review).
    let e = Pool::builder().workers(1).cores([100_000]).build().unwrap_err();
    assert!(e.to_string().contains("may not run on core 100000"), "{e}");
    let e = Pool::builder().workers(1).cores([]).build().unwrap_err();
    assert!(e.to_string().contains("cores([]): no core"), "{e}");
    // SAFETY: sched_getcpu has no preconditions; the core it names is one we run on.
    let here = usize::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(0);
    let pool = Pool::builder().workers(1).cores([here]).build().unwrap();
    assert_eq!(pool.submit(work, vec![0, 1]).result(), Ok(2));
}

/// A job that drops a `SharedArray` and makes another of the same shape: the controller
/// would reuse the first one's segment, a worker does not (its kept segments would be
/// memory held in N processes that no one sees), unless its initializer asks for it.
fn same_shape_twice(_: ()) -> bool {
    use zeroproc_mp::SharedArray;
    let a = SharedArray::<u64>::zeroed(5000).unwrap();
    let id = a.segment_id().clone();
    drop(a);
    *SharedArray::<u64>::zeroed(5000).unwrap().segment_id() == id
}

fn keep_arrays() {
    zeroproc_mp::shared::cache::set_reuse_limit(1 << 30);
}

#[test]
fn workers_keep_no_dropped_arrays_unless_their_initializer_asks() {
    assert!(same_shape_twice(()), "the controller reuses");
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(same_shape_twice, ()).result(), Ok(false));
    let pool = Pool::builder().workers(1).initializer(keep_arrays).build().unwrap();
    assert_eq!(pool.submit(same_shape_twice, ()).result(), Ok(true));
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// Sleeps `ms`; returns how long it slept, in ms.
fn timed_nap(ms: u64) -> u64 {
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    t.elapsed().as_millis() as u64
}

/// Ctrl-C in a terminal sends SIGINT to the whole foreground process group, workers
/// included: their default action killed them, so a controller that handles Ctrl-C to let
/// its running jobs finish saw them fail with `WorkerDied { signal: Some(2) }` (found by the
/// user4 review; Python's fork-started workers inherit the handler and finish). Workers
/// now leave SIGINT to the controller: its default ends it, and they die with it.
#[test]
fn sigint_to_the_workers_leaves_their_jobs_to_the_controller() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let pid = pool.submit(worker_pid, ()).result().unwrap();
    let f = pool.submit(timed_nap, 400);
    let end = Instant::now() + Duration::from_secs(10);
    while !f.running() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: kill sends a signal to our own worker.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) }, 0);
    let r = f.result();
    assert!(matches!(r, Ok(ms) if ms >= 400), "{r:?}");
    assert_eq!(pool.submit(worker_pid, ()).result(), Ok(pid));
}

/// A worker stopped by SIGTERM from outside (systemd stopping a service signals every
/// process of it) fails its job with a message that says so (it said only "signal 15").
#[test]
fn a_worker_stopped_by_sigterm_is_named() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let pid = pool.submit(worker_pid, ()).result().unwrap();
    let f = pool.submit(timed_nap, 5_000);
    let end = Instant::now() + Duration::from_secs(10);
    while !f.running() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill sends a signal to our own worker.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let e = f.result().unwrap_err();
    assert!(matches!(e, JobError::WorkerDied { signal: Some(libc::SIGTERM), .. }), "{e:?}");
    assert!(e.to_string().contains("SIGTERM: usually stopped from outside the pool"), "{e}");
    assert!(pool.submit(worker_pid, ()).result().is_ok());
}

/// What the initializers below stored in this worker process.
static INIT_SEEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// An initializer that returns what it stored (as a Python initializer may return anything).
fn init_returning(x: u64) -> Result<u64, String> {
    INIT_SEEN.set(x).map_err(|_| "twice".to_string())?;
    Ok(x)
}

fn init_returning_unit_args() -> Vec<u64> {
    let _ = INIT_SEEN.set(7);
    vec![7; 3]
}

#[test]
fn an_initializer_that_returns_a_value_runs_and_the_value_is_dropped() {
    // Python ignores an initializer's return value. Before, a fn returning a value was
    // refused at compile time with "cannot be a worker initializer: it must be a fn item
    // or a closure that captures nothing" (`initializer_with`: "cannot be sent to a
    // worker"), which named the wrong cause.
    let seen = |_: ()| INIT_SEEN.get().copied();
    let pool = Pool::builder().workers(1).initializer_with(init_returning, 42).build().unwrap();
    assert_eq!(pool.submit(seen, ()).result(), Ok(Some(42)));
    drop(pool);
    let pool = Pool::builder().workers(1).initializer(init_returning_unit_args).build().unwrap();
    assert_eq!(pool.submit(seen, ()).result(), Ok(Some(7)));
}

#[test]
fn a_map_over_an_endless_input_ends_once_the_pool_is_shut_down() {
    // Python's `map` after `shutdown` raises `RuntimeError` once. Before, each further item
    // was read and yielded `Err(Shutdown)`, so a map over an endless input (a stream)
    // never ended: here `take` stops it at 100,000 items.
    let pool = Pool::builder().workers(1).build().unwrap();
    pool.shutdown();
    for chunk in [1, 10] {
        let got: Vec<_> = pool.map(|x: u64| x, 0..).chunk_size(chunk).take(100_000).collect();
        assert!(!got.is_empty() && got.len() < 10_000, "chunk {chunk}: {} items", got.len());
        assert!(got.iter().all(|r| r == &Err(JobError::Shutdown)), "chunk {chunk}");
    }
    // A map shut down while it is consumed: what was placed finishes, then it ends.
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let p = pool.clone();
    let t = std::thread::spawn(move || {
        p.map(sleepy, std::iter::repeat(5)).take(100_000).collect::<Vec<_>>()
    });
    // Shut down once the map has placed jobs and one has run (a 100 ms sleep here left
    // `ok` at 0 when the map's thread had not placed a job by then).
    let t0 = Instant::now();
    while pool.stats().jobs_done() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(30), "the map never ran a job");
        std::thread::sleep(Duration::from_millis(1));
    }
    pool.shutdown();
    let got = t.join().unwrap();
    let ok = got.iter().take_while(|r| r.is_ok()).count();
    assert!(ok > 0 && got.len() < 10_000, "{ok} ok of {}", got.len());
    assert!(got[ok..].iter().all(|r| r == &Err(JobError::Shutdown)), "{:?}", &got[ok..]);
}

/// A panic message longer than a completion record: its start and its location come back,
/// with a note of the cut, and no character is split. It came back cut at byte 131,056
/// without a word, its location lost and a U+FFFD where the cut split a character
/// (new-user finding).
#[test]
fn a_huge_panic_message_keeps_its_location_and_says_it_was_cut() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let r = pool.submit(|n: u64| -> u64 { panic!("{}", "€".repeat(n as usize)) }, 100_000).result();
    let Err(JobError::Panicked { message }) = r else { panic!("{:?}", r.map(|_| ())) };
    assert!(!message.contains('\u{FFFD}'), "a character was split");
    assert!(message.contains("bytes cut: the message had"), "no note of the cut");
    let end: String =
        message.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(message.contains("pool_regressions.rs"), "the location was lost: ...{end}");
}

/// A job that sends SIGKILL to its own worker: the message gives the usual senders without
/// claiming the signal came from outside the pool, as it did ("killed from outside the
/// pool"), a wrong cause here (new-user finding).
#[test]
fn a_job_that_kills_its_own_worker_is_not_said_to_be_killed_from_outside() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let r = pool
        .submit(
            |_: ()| -> u64 {
                // SAFETY: kill(2) of this process with a valid signal.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                0
            },
            (),
        )
        .result();
    let Err(e @ JobError::WorkerDied { signal: Some(9), .. }) = r else { panic!("{r:?}") };
    let msg = e.to_string();
    assert!(!msg.contains("from outside the pool —"), "{msg}");
    assert!(msg.contains("OOM killer") && msg.contains("by the job itself"), "{msg}");
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
}

/// Panics with a message of `n` bytes.
fn panics_with(n: usize) -> u64 {
    panic!("{}", "x".repeat(n))
}

/// A panic message longer than a small ring's completion record (`ring_capacity(256)`:
/// 112-byte records) comes back as `Panicked`, cut to fit. On 09ded8e…7f08036 the cut
/// message carried a note of the cut (~200 bytes) even when the record was smaller than
/// the note: the reservation failed, the worker exited, and the job failed as
/// `WorkerDied` (before 09ded8e the message was cut at the record's size).
#[test]
fn a_long_panic_message_in_a_small_ring_comes_back_as_panicked() {
    let pool = Pool::builder().workers(1).ring_capacity(256).build().unwrap();
    let r = pool.submit(panics_with, 300).result();
    match r {
        Err(JobError::Panicked { message }) => {
            assert!(message.starts_with("xxx"), "{message}");
            assert!(message.len() <= 112, "{} bytes", message.len());
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}
