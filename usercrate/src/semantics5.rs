//! Corners of Python's documented semantics (concurrent.futures, multiprocessing) not
//! covered by the earlier rounds, written as a Python user would expect them to behave:
//! future state transitions, callbacks (order, thread, panics, submitting from one),
//! `wait`/`as_completed`/`map` with time-outs, `shutdown(wait=False, cancel_futures=True)`,
//! `max_tasks_per_child`, big nested results; process life cycle, queue sizes and close,
//! `JoinableQueue.join`, pipes, `RLock`, semaphores, `Event`, `Condition.notify(n)`,
//! `Barrier`, and the manager's containers' `KeyError`/`IndexError` cases.

use crate::harness::{ensure, poll_until, Outcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use zeroproc::shared::ProcessShared;
use zeroproc::{
    as_completed, wait, Barrier, CellHandle, Condition, Event, Exit, JobError, JobErrorKind,
    JoinableQueue, Lock, Pool, Process, Queue, RLock, ReturnWhen, Semaphore, SharedCell, Shutdown,
};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn build(b: zeroproc::PoolBuilder) -> Result<Pool, String> {
    b.build().map_err(|e| format!("build: {e}"))
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn nap_or_panic(ms: u64) -> u64 {
    if ms == 13 {
        panic!("unlucky {ms}");
    }
    nap(ms)
}

/// Python: `cancel()` on a running or finished future returns False and changes nothing;
/// `running()`/`done()`/`cancelled()` move queued → running → done; `result(timeout)`
/// raising `TimeoutError` leaves the future usable; `exception()` is None on success.
pub fn future_states_and_cancel() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    // 2 s: the checks below run while it does, also on a loaded host.
    let long = pool.submit(nap, 2_000);
    let queued = pool.submit(nap, 1);
    ensure(poll_until(Duration::from_secs(5), || long.running()), || "never ran".into())?;
    ensure(!long.done() && !long.cancelled(), || "running: done or cancelled".into())?;
    ensure(!queued.running() && !queued.done(), || "queued: running or done".into())?;
    ensure(!long.cancel(), || "cancel() of a running future returned true".into())?;
    ensure(long.running() && !long.cancelled(), || "cancel() changed a running future".into())?;
    let long = match long.result_timeout(Duration::from_millis(10)) {
        Err(back) => back,
        Ok(r) => return Err(format!("result_timeout(10ms) of a 2 s job: {r:?}")),
    };
    ensure(long.running(), || "the future is not running after a time-out".into())?;
    ensure(queued.cancel() && queued.cancel(), || "cancel() of a queued future".into())?;
    ensure(queued.cancelled() && queued.done() && !queued.running(), || {
        "cancelled future: cancelled/done/running".into()
    })?;
    ensure(queued.exception_kind() == Some(JobErrorKind::Cancelled), || {
        "exception_kind() of a cancelled future".into()
    })?;
    long.wait();
    ensure(long.done() && !long.running() && !long.cancelled(), || "finished states".into())?;
    ensure(!long.cancel() && !long.cancelled(), || "cancel() of a finished future".into())?;
    ensure(long.exception().is_none(), || "exception() of a success".into())?;
    let r = long.result();
    ensure(r == Ok(2_000), || format!("result after a time-out and a refused cancel: {r:?}"))?;
    let failed = pool.submit(nap_or_panic, 13);
    let e = failed.exception();
    ensure(
        matches!(&e, Some(JobError::Panicked { message }) if message.contains("unlucky 13")),
        || format!("exception(): {e:?}"),
    )?;
    ensure(!failed.cancel() && !failed.cancelled(), || "cancel() of a failed future".into())
}

/// Python: callbacks run in the order added; one added to a done future runs at once in
/// the adding thread; a raising callback is logged and the others run; a callback may
/// submit more work to the executor.
pub fn callbacks_order_thread_panics_and_submit() -> Outcome {
    let pool = Arc::new(build(Pool::builder().workers(2))?);
    let order = Arc::new(Mutex::new(Vec::new()));
    let f = pool.submit(nap, 100);
    for i in 0..5u32 {
        let order = order.clone();
        f.add_done_callback(move |_| {
            if i == 2 {
                panic!("callback {i} panics (expected in this scenario)");
            }
            order.lock().unwrap().push(i);
        });
    }
    // Submit from inside a callback: the new job's future goes out through a channel.
    let (tx, rx) = mpsc::channel();
    let p = pool.clone();
    f.add_done_callback(move |r| {
        let next = p.submit(|x: u64| x + 1, *r.as_ref().unwrap_or(&0));
        tx.send(next).unwrap();
    });
    f.wait();
    let next = rx.recv_timeout(Duration::from_secs(5)).map_err(|_| "no future from callback")?;
    let r = next.result();
    ensure(r == Ok(101), || format!("job submitted from a callback: {r:?}"))?;
    let seen = order.lock().unwrap().clone();
    ensure(seen == [0, 1, 3, 4], || format!("callback order with #2 panicking: {seen:?}"))?;
    // Added after completion: at once, in this thread, before add_done_callback returns.
    let me = std::thread::current().id();
    let ran_in = Arc::new(Mutex::new(None));
    let r2 = ran_in.clone();
    f.add_done_callback(move |_| *r2.lock().unwrap() = Some(std::thread::current().id()));
    let got = *ran_in.lock().unwrap();
    ensure(got == Some(me), || format!("callback on a done future ran in {got:?}, not {me:?}"))?;
    // The pool still serves after a panicking callback.
    ensure(pool.submit(nap, 1).result() == Ok(1), || "pool after a callback panic".into())
}

/// `wait` with each `return_when` and a time-out, over one pool and over two: the split is
/// what Python's would be.
pub fn wait_return_when_and_timeouts() -> Outcome {
    let a = build(Pool::builder().workers(2))?;
    let b = build(Pool::builder().workers(1))?;
    // FIRST_EXCEPTION: the failing job of pool b ends the wait; pool a's slow job does not.
    let fs = vec![a.submit(nap_or_panic, 2_000), b.submit(nap_or_panic, 13), a.submit(nap, 1)];
    let t = Instant::now();
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(5)));
    ensure(t.elapsed() < Duration::from_millis(1_900), || {
        format!("FIRST_EXCEPTION waited {:?} for the slow job", t.elapsed())
    })?;
    // The 1 ms job may or may not be done by then (as in Python); the 2 s one is not.
    ensure((1..=2).contains(&not_done.len()), || {
        format!("FIRST_EXCEPTION: {} not done", not_done.len())
    })?;
    ensure(done.iter().any(|f| f.exception_kind() == Some(JobErrorKind::Panicked)), || {
        "FIRST_EXCEPTION: the failed future is not among the done".into()
    })?;
    not_done.into_iter().for_each(|f| {
        f.terminate();
    });
    // FIRST_EXCEPTION with no failure: waits for all (Python: "the same as ALL_COMPLETED").
    let fs: Vec<_> = (1..=3).map(|i| a.submit(nap, i * 20)).collect();
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(5)));
    ensure(done.len() == 3 && not_done.is_empty(), || {
        format!("FIRST_EXCEPTION without failures: {} done", done.len())
    })?;
    // FIRST_COMPLETED whose time-out passes first: nothing done, nothing lost.
    let fs = vec![b.submit(nap, 400)];
    let t = Instant::now();
    let (done, not_done) = wait(fs, ReturnWhen::FirstCompleted, Some(Duration::from_millis(50)));
    ensure(done.is_empty() && not_done.len() == 1, || "FIRST_COMPLETED time-out split".into())?;
    ensure(t.elapsed() >= Duration::from_millis(50), || "returned before the time-out".into())?;
    let r = not_done.into_iter().next().map(|f| f.result());
    ensure(r == Some(Ok(400)), || format!("future after the time-out: {r:?}"))?;
    // ALL_COMPLETED with a time-out between the fast and the slow ones.
    let fs = vec![a.submit(nap, 1), b.submit(nap, 700), a.submit(nap, 2)];
    let (done, not_done) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_millis(400)));
    ensure(done.len() == 2 && not_done.len() == 1, || {
        format!("ALL_COMPLETED time-out: {} done, {} not", done.len(), not_done.len())
    })?;
    let late: Vec<_> = not_done.into_iter().map(|f| f.result()).collect();
    ensure(late == [Ok(700)], || format!("the slow one: {late:?}"))
}

/// `as_completed` with a time-out that passes after some futures were yielded: those are
/// kept, the iteration ends (Python raises `TimeoutError` at that point), the rest come
/// back still pending.
pub fn as_completed_timeout_after_some() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let fs: Vec<_> = [5, 10, 700, 15].into_iter().map(|ms| pool.submit(nap, ms)).collect();
    let mut it = as_completed(fs).timeout(Duration::from_millis(400));
    let got: Vec<u64> = it.by_ref().map(|f| f.result().unwrap_or(0)).collect();
    ensure(it.timed_out(), || "timed_out() is false".into())?;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    ensure(sorted == [5, 10, 15], || format!("yielded before the time-out: {got:?}"))?;
    let rest = it.into_remaining();
    ensure(rest.len() == 1 && !rest[0].done(), || "the remaining future".into())?;
    let r = rest.into_iter().next().map(|f| f.result());
    ensure(r == Some(Ok(700)), || format!("the remaining future's result: {r:?}"))
}

/// `map` with a time-out (Python: `TimeoutError` from the iterator at the item not ready
/// in time, the rest cancelled) and with a failing item in the middle (Python raises there;
/// zeroproc yields that item's `Err` and goes on, documented).
pub fn map_timeout_and_failure_in_the_middle() -> Outcome {
    let pool = build(Pool::builder().workers(2).cancel_on_drop(true))?;
    let got: Vec<_> =
        pool.map(nap, [5, 5, 10_000, 5, 5]).timeout(Duration::from_millis(500)).collect();
    ensure(
        got.len() == 3 && got[..2] == [Ok(5), Ok(5)] && got[2] == Err(JobError::Timeout),
        || format!("map with a time-out: {got:?}"),
    )?;
    let got: Vec<_> = pool.map(nap_or_panic, [1, 2, 13, 4, 5]).collect();
    ensure(got.len() == 5, || format!("map with a failure: {} items", got.len()))?;
    ensure(
        matches!(&got[2], Err(JobError::Panicked { message }) if message.contains("unlucky")),
        || format!("item 2: {:?}", got[2]),
    )?;
    ensure(got[3..] == [Ok(4), Ok(5)], || format!("items after the failure: {:?}", &got[3..]))?;
    // An empty input: nothing, at once (and no time-out item).
    let none: Vec<_> = pool.map(nap, Vec::<u64>::new()).timeout(Duration::from_millis(1)).collect();
    ensure(none.is_empty(), || format!("empty map: {none:?}"))
}

/// Python's `shutdown(wait=False, cancel_futures=True)`: returns at once, queued futures
/// are cancelled, the running one completes; `submit` afterwards fails.
pub fn shutdown_without_wait_cancelling_futures() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let running = pool.submit(nap, 300);
    let queued: Vec<_> = (0..3).map(|i| pool.submit(nap, i)).collect();
    ensure(poll_until(Duration::from_secs(5), || running.running()), || "never ran".into())?;
    let t = Instant::now();
    let all_exited = pool.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
    ensure(t.elapsed() < Duration::from_millis(200), || {
        format!("shutdown(wait=false) took {:?}", t.elapsed())
    })?;
    ensure(!all_exited, || "shutdown(wait=false) says every worker exited".into())?;
    for (i, f) in queued.into_iter().enumerate() {
        ensure(f.cancelled(), || format!("queued job {i} not cancelled"))?;
    }
    let r = pool.submit(nap, 1).result();
    ensure(r == Err(JobError::Shutdown), || format!("submit after shutdown: {r:?}"))?;
    let r = running.result();
    ensure(r == Ok(300), || format!("the running job: {r:?}"))?;
    pool.shutdown(); // now waits (and is idempotent)
    Ok(())
}

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

/// Python's `max_tasks_per_child=2`: each worker process runs at most two jobs.
pub fn max_tasks_per_child() -> Outcome {
    let pool = build(Pool::builder().workers(1).max_jobs_per_worker(2))?;
    let pids: Vec<u32> =
        (0..6).map(|_| pool.submit(my_pid, ()).result()).collect::<Result<_, _>>().map_err(err)?;
    let mut distinct = pids.clone();
    distinct.dedup();
    ensure(distinct.len() == 3, || format!("pids of 6 jobs, 2 per worker: {pids:?}"))?;
    ensure(pids.chunks(2).all(|c| c[0] == c[1]), || format!("pids: {pids:?}"))
}

/// A pool shared by eight threads submitting, mapping and waiting at once.
pub fn pool_from_many_threads() -> Outcome {
    let pool = Arc::new(build(Pool::builder().workers(2))?);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let fs: Vec<_> =
                    (0..100).map(|i| pool.submit(|x: u64| x * 3, t * 1000 + i)).collect();
                let mut sum = 0;
                for f in as_completed(fs) {
                    sum += f.result().map_err(err)?;
                }
                let want: u64 = (0..100).map(|i| 3 * (t * 1000 + i)).sum();
                if sum != want {
                    return Err(format!("thread {t}: sum {sum}, want {want}"));
                }
                let v: Vec<u64> = pool
                    .map(|(x, t): (u64, u64)| x + t, (0..500).map(|x| (x, t)))
                    .map(|r| r.unwrap())
                    .collect();
                if !v.iter().copied().eq(t..t + 500) {
                    return Err(format!("thread {t}: map out of order"));
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a thread panicked")??;
    }
    Ok(())
}

/// A nested result type: what a user returns from a real job.
#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Empty,
    Circle { r: f64 },
    Poly(Vec<(i32, i32)>),
}

#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub shapes: Vec<Shape>,
    pub tags: HashMap<String, Vec<u32>>,
    pub parent: Option<Box<Leaf>>,
}

#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub name: String,
    pub shapes: Vec<Shape>,
}

fn make_report(n: u32) -> Report {
    let leaf = Leaf { name: "leaf".into(), shapes: vec![Shape::Empty] };
    Report {
        name: "x".repeat(n as usize),
        shapes: vec![
            Shape::Circle { r: 1.5 },
            Shape::Poly((0..n as i32).map(|i| (i, -i)).collect()),
        ],
        tags: (0..n).map(|i| (format!("t{i}"), vec![i; 3])).collect(),
        parent: Some(Box::new(leaf)),
    }
}

/// Big and nested results: a 32 MiB `Vec`, a 16 MiB `String`, a nested struct with an
/// enum, a map, an `Option<Box<..>>`.
pub fn big_and_nested_results() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let v = pool.submit(|n: u64| (0..n).collect::<Vec<u64>>(), 4 << 20).result().map_err(err)?;
    ensure(v.len() == 4 << 20 && v[123_456] == 123_456, || "32 MiB Vec".into())?;
    let s = pool.submit(|n: u32| "é".repeat(n as usize), 8 << 20).result().map_err(err)?;
    ensure(s.len() == 16 << 20 && s.chars().all(|c| c == 'é'), || "16 MiB String".into())?;
    let r = pool.submit(make_report, 1_000).result().map_err(err)?;
    ensure(r == make_report(1_000), || "nested Report differs".into())?;
    let shapes: Vec<Shape> = pool
        .map(
            |i: u32| {
                if i.is_multiple_of(2) {
                    Shape::Empty
                } else {
                    Shape::Circle { r: f64::from(i) }
                }
            },
            0..4,
        )
        .map(|r| r.unwrap())
        .collect();
    ensure(shapes[3] == Shape::Circle { r: 3.0 } && shapes[2] == Shape::Empty, || {
        format!("{shapes:?}")
    })
}

// ---------------------------------------------------------------------------------------
// multiprocessing

/// Python's `Process` life cycle: no pid and not alive before `start`; alive and no
/// exitcode while running; `join(timeout)` returns with it still alive; `kill` → -9;
/// `name` seen in the child; a daemon killed with its handle.
pub fn process_life_cycle() -> Outcome {
    fn named(_: ()) {
        assert_eq!(Process::current_name().as_deref(), Some("worker-a"));
        std::thread::sleep(Duration::from_secs(30));
    }
    let mut p = Process::new(named, ()).name("worker-a");
    ensure(p.pid().is_none() && !p.is_alive() && p.exit_code().is_none(), || {
        "before start: pid / is_alive / exit_code".into()
    })?;
    p.start().map_err(err)?;
    ensure(p.pid().is_some() && p.is_alive() && p.exit_code().is_none(), || {
        "running: pid / is_alive / exit_code".into()
    })?;
    let j = p.join_timeout(Duration::from_millis(50)).map_err(err)?;
    ensure(j.is_none() && p.is_alive(), || format!("join_timeout of a running child: {j:?}"))?;
    p.kill();
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Signal(9) && e.python_code() == -9, || format!("kill: {e:?}"))?;
    ensure(!p.is_alive() && p.exit_code() == Some(e), || "after kill: is_alive/exit_code".into())?;
    // A child whose body panics after a good start (current_name checked in it).
    let mut p = Process::new(|_: ()| assert_eq!(Process::current_name().as_deref(), Some("b")), ())
        .name("b");
    p.start().map_err(err)?;
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Code(0), || {
        format!("current_name in the child: {e:?} {:?}", p.panic_message())
    })?;
    // A daemon whose handle is dropped runs on, as Python's (the program's exit kills it);
    // `terminate` stops one earlier (Python: `exitcode` -15).
    let mut d =
        Process::new(|_: ()| std::thread::sleep(Duration::from_millis(300)), ()).daemon(true);
    d.start().map_err(err)?;
    let pid = d.pid().ok_or("daemon pid")? as libc::pid_t;
    drop(d);
    // SAFETY: kill with signal 0 only checks whether `pid` exists (our child, adopted).
    ensure(unsafe { libc::kill(pid, 0) } == 0, || "a dropped daemon was killed".into())?;
    let mut d = Process::new(|_: ()| std::thread::sleep(Duration::from_secs(30)), ()).daemon(true);
    d.start().map_err(err)?;
    d.terminate();
    let e = d.join().map_err(err)?;
    ensure(e == Exit::Signal(libc::SIGTERM), || format!("terminated daemon: {e:?}"))
}

/// `qsize`/`empty`/`full`, `put_nowait` on a full queue (Python: `queue.Full`), `close`
/// then put (fails here for every process, documented) and get (drains, then `Closed`),
/// and a `get` with a time-out after the only producer died (Python: `queue.Empty`).
pub fn queue_sizes_close_and_dead_producers() -> Outcome {
    use zeroproc::queue::{GetTimeoutError, PutError, TryGetError, TryPutError};
    let q = Queue::<u32>::new(4).map_err(err)?;
    let len = q.len(); // Python's qsize()
    ensure(q.is_empty() && len == 0 && !q.is_full(), || "fresh queue".into())?;
    for i in 0..4 {
        q.put(i).map_err(err)?;
    }
    ensure(q.len() == 4 && q.is_full() && !q.is_empty(), || "full queue".into())?;
    ensure(matches!(q.try_put(9), Err(TryPutError::Full(9))), || "put_nowait when full".into())?;
    ensure(matches!(q.try_get(), Ok(0)), || "FIFO".into())?;
    q.close();
    ensure(matches!(q.put(5), Err(PutError::Closed(5))), || "put after close".into())?;
    let drained: Vec<u32> = std::iter::from_fn(|| q.try_get().ok()).collect();
    ensure(drained == [1, 2, 3], || format!("drained after close: {drained:?}"))?;
    ensure(matches!(q.try_get(), Err(TryGetError::Closed)), || "get after drain".into())?;
    ensure(matches!(q.get(), Err(zeroproc::queue::GetError::Closed)), || "blocking get".into())?;
    // The only producer puts two values and dies (SIGKILL is not needed: it just ends).
    let q = Queue::<u32>::new(4).map_err(err)?;
    let mut p = Process::spawn(
        |h: zeroproc::QueueHandle<u32>| {
            let q = h.attach().unwrap();
            q.put(1).unwrap();
            q.put(2).unwrap();
        },
        q.handle(),
    )
    .map_err(err)?;
    p.join().map_err(err)?;
    ensure(matches!(q.get(), Ok(1)) && matches!(q.get(), Ok(2)), || {
        "values of a producer that ended".into()
    })?;
    let r = q.get_timeout(Duration::from_millis(50));
    ensure(matches!(r, Err(GetTimeoutError::Timeout)), || format!("get after it ended: {r:?}"))
}

/// `JoinableQueue.join()` returns once every item got its `task_done()` (from two
/// consumer processes); with items outstanding `join(timeout)` reports the time-out.
pub fn joinable_queue_join_wakes() -> Outcome {
    fn consume(h: zeroproc::JoinableQueueHandle<u32>) {
        let q = h.attach().unwrap();
        while let Ok(x) = q.get() {
            std::thread::sleep(Duration::from_millis(u64::from(x)));
            q.task_done().unwrap();
        }
    }
    let q = JoinableQueue::<u32>::new(16).map_err(err)?;
    q.put(1).map_err(err)?;
    ensure(q.join_timeout(Duration::from_millis(30)).is_err(), || "join with one item".into())?;
    let mut kids: Vec<Process> = (0..2)
        .map(|_| Process::spawn(consume, q.handle()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    for x in 0..10 {
        q.put(x).map_err(err)?;
    }
    q.join_timeout(Duration::from_secs(5)).map_err(|e| format!("join: {e}"))?;
    ensure(q.is_empty(), || "join returned with items queued".into())?;
    q.close();
    for k in &mut kids {
        let e = k.join().map_err(err)?;
        ensure(e == Exit::Code(0), || format!("consumer: {e:?} {:?}", k.panic_message()))?;
    }
    Ok(())
}

/// Pipes: a duplex echo with a child; `poll(timeout)` false then true; `recv` after the
/// other end is gone → `Disconnected` (Python: `EOFError`); `send` to a gone end →
/// `Disconnected` (Python: `BrokenPipeError`).
pub fn pipes_poll_eof_and_broken() -> Outcome {
    use zeroproc::pipe::{RecvError, SendError};
    fn echo(h: zeroproc::ConnectionHandle<String>) {
        let mut c = h.attach().unwrap();
        while let Ok(s) = c.recv() {
            c.send(s.to_uppercase()).unwrap();
        }
    }
    let (mut a, b) = zeroproc::pipe::<String>().map_err(err)?;
    let mut p = Process::spawn(echo, b.handle()).map_err(err)?;
    drop(b);
    let t = Instant::now();
    ensure(!a.poll(Duration::from_millis(30)), || "poll with nothing sent".into())?;
    ensure(t.elapsed() >= Duration::from_millis(30), || "poll returned early".into())?;
    a.send("hi".into()).map_err(err)?;
    ensure(a.poll(Duration::from_secs(5)), || "poll: the echo never came".into())?;
    let r = a.recv().map_err(err)?;
    ensure(r == "HI", || format!("echo: {r}"))?;
    p.kill();
    p.join().map_err(err)?;
    let r = a.recv_timeout(Duration::from_secs(5));
    ensure(matches!(r, Err(zeroproc::pipe::RecvTimeoutError::Disconnected)), || {
        format!("recv after the child died: {r:?}")
    })?;
    // Python raises BrokenPipeError at the first send; here sends fill the ring, then
    // `Disconnected` (documented): never a hang.
    let mut sent = 0;
    let s = loop {
        match a.send_timeout(format!("anyone? {sent}"), Duration::from_secs(5)) {
            Ok(()) if sent < 1_000_000 => sent += 1,
            other => break other,
        }
    };
    crate::harness::note(format!("{sent} sends to a dead receiver succeeded first"));
    ensure(matches!(s, Err(zeroproc::pipe::SendTimeoutError::Disconnected(_))), || {
        format!("send to a dead end after {sent}: {s:?}")
    })?;
    // One-way, in one process: the receiver dropped, then send; the sender dropped, then recv.
    let (mut tx, rx) = zeroproc::pipe_oneway::<u32>().map_err(err)?;
    tx.send(1).map_err(err)?;
    drop(rx);
    let s = tx.send(2);
    ensure(matches!(s, Err(SendError::Disconnected(2))), || format!("send, no receiver: {s:?}"))?;
    let (mut tx, mut rx) = zeroproc::pipe_oneway::<u32>().map_err(err)?;
    tx.send(7).map_err(err)?;
    drop(tx);
    ensure(matches!(rx.recv(), Ok(7)), || "the value sent before the close".into())?;
    let r = rx.recv();
    ensure(matches!(r, Err(RecvError::Disconnected)), || format!("recv after the close: {r:?}"))
}

/// `RLock` is reentrant (and `Lock` is not: a second acquire from the holder times out);
/// a plain `Semaphore` may be released above its initial value (Python allows it);
/// `Event.wait(timeout)` returns the flag.
pub fn locks_semaphores_and_events() -> Outcome {
    let r = RLock::new();
    let g1 = r.lock().map_err(|_| "rlock")?;
    let g2 = r.try_lock().map_err(|_| "RLock is not reentrant")?;
    ensure(r.depth() == 2 && r.is_locked(), || format!("depth {}", r.depth()))?;
    drop(g2);
    ensure(r.is_locked(), || "released after one of two".into())?;
    drop(g1);
    ensure(!r.is_locked(), || "still locked after both".into())?;
    let l = Lock::new();
    let _g = l.lock().map_err(|_| "lock")?;
    ensure(l.lock_timeout(Duration::from_millis(10)).is_err(), || "Lock is reentrant".into())?;
    let s = Semaphore::new(1);
    s.release(2);
    ensure(s.value() == 3, || format!("semaphore value after over-release: {}", s.value()))?;
    ensure(s.try_acquire() && s.try_acquire() && s.try_acquire() && !s.try_acquire(), || {
        "acquire count".into()
    })?;
    let e = Event::new();
    ensure(!e.wait_timeout(Duration::from_millis(5)), || "wait on a clear event".into())?;
    e.set();
    ensure(e.wait_timeout(Duration::from_millis(5)) && e.is_set(), || {
        "wait on a set event".into()
    })?;
    e.clear();
    ensure(!e.is_set(), || "clear".into())
}

/// A lock, a condition and a counter in one shared struct.
#[repr(C)]
struct Cond {
    lock: Lock,
    cond: Condition,
    woken: AtomicU32,
    go: AtomicU32,
}

// SAFETY: `#[repr(C)]`, process-shared primitives and atomics only: no pointers, all
// mutation through atomics.
unsafe impl ProcessShared for Cond {}

/// `Condition.notify(2)` wakes two of three waiting processes, `notify_all` the last;
/// `wait_for(pred, timeout)` returns the predicate's last value (False on time-out).
pub fn condition_notify_n_and_wait_for_timeout() -> Outcome {
    fn waiter(h: CellHandle<Cond>) {
        let c = h.attach().unwrap();
        let g = c.lock.lock().unwrap();
        let _g = c.cond.wait_for(g, || c.go.load(Ordering::Relaxed) > 0).unwrap();
        c.go.fetch_sub(1, Ordering::Relaxed);
        c.woken.fetch_add(1, Ordering::Relaxed);
    }
    let c = SharedCell::new(Cond {
        lock: Lock::new(),
        cond: Condition::new(),
        woken: AtomicU32::new(0),
        go: AtomicU32::new(0),
    })
    .map_err(err)?;
    // wait_for with a time-out and a predicate that never holds.
    {
        let g = c.lock.lock().map_err(|_| "lock")?;
        let (g, ok) = c
            .cond
            .wait_for_timeout(g, Duration::from_millis(20), || false)
            .map_err(|_| "wait_for_timeout")?;
        ensure(!ok, || "wait_for_timeout with a false predicate returned true".into())?;
        drop(g);
    }
    let mut kids: Vec<Process> = (0..3)
        .map(|_| Process::spawn(waiter, c.handle()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    // Wait until all three sleep in the condition (they hold the lock only briefly).
    std::thread::sleep(Duration::from_millis(300));
    {
        let _g = c.lock.lock().map_err(|_| "lock")?;
        c.go.store(2, Ordering::Relaxed);
        c.cond.notify(2);
    }
    let two = poll_until(Duration::from_secs(5), || c.woken.load(Ordering::Relaxed) == 2);
    std::thread::sleep(Duration::from_millis(50));
    let woken = c.woken.load(Ordering::Relaxed);
    {
        let _g = c.lock.lock().map_err(|_| "lock")?;
        c.go.store(1, Ordering::Relaxed);
        c.cond.notify_all();
    }
    for k in &mut kids {
        let e = k.join_timeout(Duration::from_secs(5)).map_err(err)?;
        ensure(e == Some(Exit::Code(0)), || format!("waiter: {e:?}"))?;
    }
    ensure(two && woken == 2, || format!("notify(2) woke {woken}"))
}

/// `Barrier`: `parties`, `n_waiting`, `abort` wakes the waiter with `Broken` (Python:
/// `BrokenBarrierError`), `reset` makes it usable again.
pub fn barrier_abort_and_reset() -> Outcome {
    use zeroproc::sync::BarrierError;
    let b = Arc::new(Barrier::new(3));
    ensure(b.parties() == 3 && b.n_waiting() == 0 && !b.is_broken(), || "fresh".into())?;
    let t = {
        let b = b.clone();
        std::thread::spawn(move || b.wait())
    };
    ensure(poll_until(Duration::from_secs(5), || b.n_waiting() == 1), || "n_waiting".into())?;
    b.abort();
    let r = t.join().map_err(|_| "thread")?;
    ensure(r == Err(BarrierError::Broken), || format!("waiter after abort: {r:?}"))?;
    ensure(b.wait() == Err(BarrierError::Broken), || "wait on a broken barrier".into())?;
    b.reset();
    ensure(!b.is_broken() && b.n_waiting() == 0, || "after reset".into())?;
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.wait())
        })
        .collect();
    let me = b.wait().map_err(err)?;
    let mut idx = vec![me.index()];
    for t in ts {
        idx.push(t.join().map_err(|_| "thread")?.map_err(err)?.index());
    }
    idx.sort_unstable();
    ensure(idx == [0, 1, 2], || format!("indices {idx:?}"))
}

/// The manager's containers where Python raises: `d[k]` of a missing key (`KeyError`:
/// `None`), `del d[k]` (`None`), `l[i]` out of range (`IndexError`), `l.pop()` of an empty
/// list, a namespace attribute never set (`AttributeError`: `None`); iteration and `len`
/// agree after updates from several processes.
pub fn containers_missing_keys_and_indices() -> Outcome {
    use zeroproc::{Namespace, SharedDict, SharedList};
    let d = SharedDict::<String, u64>::new().map_err(err)?;
    ensure(d.get(&"nope".into()).map_err(err)?.is_none(), || "missing key".into())?;
    ensure(d.remove(&"nope".into()).map_err(err)?.is_none(), || "del missing key".into())?;
    let mut kids: Vec<Process> = (0..3u64)
        .map(|i| {
            Process::spawn(
                |(h, i): (zeroproc::DictHandle<String, u64>, u64)| {
                    let d = h.attach().unwrap();
                    for k in 0..50 {
                        d.insert(format!("{i}-{k}"), k).unwrap();
                        d.update(&"total".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
                    }
                },
                (d.handle(), i),
            )
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;
    for k in &mut kids {
        k.join().map_err(err)?;
    }
    let n = d.len().map_err(err)?;
    let items = d.items().map_err(err)?;
    ensure(n == 151 && items.len() == 151, || format!("len {n}, items {}", items.len()))?;
    ensure(d.get(&"total".into()).map_err(err)? == Some(150), || "total".into())?;
    let l = SharedList::<u32>::new().map_err(err)?;
    ensure(l.pop().map_err(err)?.is_none(), || "pop of an empty list".into())?;
    ensure(l.get(0).map_err(err)?.is_none(), || "l[0] of an empty list".into())?;
    l.extend([1, 2, 3]).map_err(err)?;
    let r = l.remove(3);
    ensure(matches!(r, Err(zeroproc::container::ContainerError::IndexOutOfRange { .. })), || {
        format!("remove(3) of a 3-list: {r:?}")
    })?;
    let r = l.set(5, 9);
    ensure(r.is_err(), || format!("set(5) of a 3-list: {r:?}"))?;
    ensure(l.to_vec().map_err(err)? == [1, 2, 3], || "list changed by failed ops".into())?;
    let ns = Namespace::new().map_err(err)?;
    ensure(ns.get::<u32>("x").map_err(err)?.is_none(), || "unset attribute".into())?;
    ns.set("x", 1u32).map_err(err)?;
    let r = ns.get::<String>("x");
    ensure(matches!(r, Err(zeroproc::container::ContainerError::TypeMismatch)), || {
        format!("typed get of another type: {r:?}")
    })
}

/// Python: `cancel()` runs the callbacks already added (with the future cancelled), and
/// so does `shutdown(cancel_futures=True)` for every queued future; `as_completed` of done
/// futures with a zero time-out yields them all.
pub fn cancel_runs_callbacks() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    // 2 s: running through the cancels below, also on a loaded host.
    let busy = pool.submit(nap, 2_000);
    // Started before the shutdown below (else it is pending, and cancelled like the rest:
    // under load the worker may not have taken it yet — this failed 1 run in 5 so).
    let t0 = std::time::Instant::now();
    while !busy.running() && !busy.done() {
        ensure(t0.elapsed() < Duration::from_secs(10), || "the busy job never started".into())?;
        std::thread::yield_now();
    }
    let queued: Vec<_> = (0..3).map(|i| pool.submit(nap, i)).collect();
    let (tx, rx) = mpsc::channel();
    for f in &queued {
        let tx = tx.clone();
        f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    }
    ensure(queued[0].cancel(), || "cancel of a queued future".into())?;
    let r = rx.recv_timeout(Duration::from_secs(2)).map_err(|_| "no callback after cancel()")?;
    ensure(r == Err(JobError::Cancelled), || format!("callback after cancel(): {r:?}"))?;
    pool.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
    for _ in 0..2 {
        let r = rx.recv_timeout(Duration::from_secs(2)).map_err(|_| "no callback at shutdown")?;
        ensure(r == Err(JobError::Cancelled), || format!("callback at shutdown: {r:?}"))?;
    }
    let r = busy.result();
    ensure(r == Ok(2_000), || format!("the running job: {r:?}"))?;
    let n = as_completed(queued).timeout(Duration::ZERO).count();
    ensure(n == 3, || format!("as_completed of 3 done futures, zero time-out: {n}"))
}

fn panicking_input(i: u64) -> u64 {
    if i == 5 {
        panic!("the input iterator fails at {i} (expected in this scenario)");
    }
    i
}

/// Python: an exception raised by the input iterable propagates from `map`. Here the
/// panic goes through the `map` iterator's `next()`; the pool stays usable and its drop
/// does not hang on the jobs already placed.
pub fn map_input_that_panics() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.map(|x: u64| x * 2, (0..100u64).map(panicking_input)).count()
    }));
    ensure(r.is_err(), || "the input's panic did not reach the caller".into())?;
    let v: Vec<_> = pool.map(|x: u64| x * 2, 0..10u64).collect();
    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(2 * i as u64)), || format!("{v:?}"))?;
    let t = Instant::now();
    drop(pool);
    ensure(t.elapsed() < Duration::from_secs(5), || format!("drop took {:?}", t.elapsed()))
}

/// A `get` blocked in one thread wakes with `Closed` as soon as another closes the queue
/// (not at its time-out); a blocked `put` on a full queue likewise.
pub fn blocked_queue_ops_wake_on_close() -> Outcome {
    use zeroproc::queue::{GetTimeoutError, PutTimeoutError};
    let q = Arc::new(Queue::<u32>::new(1).map_err(err)?);
    let t = {
        let q = q.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (q.get_timeout(Duration::from_secs(10)), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    let (r, took) = t.join().map_err(|_| "thread")?;
    ensure(matches!(r, Err(GetTimeoutError::Closed)), || format!("blocked get: {r:?}"))?;
    ensure(took < Duration::from_secs(5), || format!("blocked get woke after {took:?}"))?;
    let q = Arc::new(Queue::<u32>::new(1).map_err(err)?);
    q.put(1).map_err(err)?;
    let t = {
        let q = q.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (q.put_timeout(2, Duration::from_secs(10)), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    let (r, took) = t.join().map_err(|_| "thread")?;
    ensure(matches!(r, Err(PutTimeoutError::Closed(2))), || format!("blocked put: {r:?}"))?;
    ensure(took < Duration::from_secs(5), || format!("blocked put woke after {took:?}"))
}

/// A `Process` given a 64 MiB argument (Python pickles it through a pipe), and timed
/// joins of zero.
pub fn process_big_argument_and_zero_timeouts() -> Outcome {
    let mut p = Process::spawn(
        |v: Vec<u64>| {
            assert!(v.len() == 8 << 20 && v.iter().enumerate().all(|(i, &x)| x == i as u64))
        },
        (0..8u64 << 20).collect::<Vec<u64>>(),
    )
    .map_err(err)?;
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Code(0), || format!("big argument: {e:?} {:?}", p.panic_message()))?;
    ensure(p.join_timeout(Duration::ZERO).map_err(err)? == Some(Exit::Code(0)), || {
        "join_timeout(0) of an ended process".into()
    })?;
    let mut q = Process::spawn(nap_unit, 300).map_err(err)?;
    ensure(q.join_timeout(Duration::ZERO).map_err(err)?.is_none(), || "join_timeout(0)".into())?;
    q.kill();
    q.join().map_err(err)?;
    Ok(())
}

fn nap_unit(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// `result_timeout(0)` / `wait_timeout(0)` of a done future give the outcome (Python's
/// `result(timeout=0)` of a finished future returns it).
pub fn zero_timeouts_on_done_futures() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let f = pool.submit(nap, 1);
    f.wait();
    ensure(f.wait_timeout(Duration::ZERO), || "wait_timeout(0) of a done future".into())?;
    let r = f.result_timeout(Duration::ZERO).map_err(|_| "result_timeout(0) of a done future")?;
    ensure(r == Ok(1), || format!("{r:?}"))?;
    let g = pool.submit(nap, 200);
    let back = g.result_timeout(Duration::ZERO);
    ensure(back.is_err(), || "result_timeout(0) of a running job returned".into())?;
    let (done, not_done) =
        wait(vec![pool.submit(nap, 1)], ReturnWhen::AllCompleted, Some(Duration::ZERO));
    crate::harness::note(format!("wait(timeout=0): {} done, {} not", done.len(), not_done.len()));
    Ok(())
}

/// Python keeps a future alive while its executor runs it: a callback added to a future
/// the caller then drops still runs; a future outlives its executor's `with` block
/// (`shutdown(wait=True)`) with its outcome.
pub fn dropped_futures_and_dropped_pools() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(nap, 50);
    f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    drop(f);
    let r = rx.recv_timeout(Duration::from_secs(5)).map_err(|_| "the callback never ran")?;
    ensure(r == Ok(50), || format!("callback of a dropped future: {r:?}"))?;
    let g = pool.submit(nap, 100);
    let h = pool.submit(nap, 10);
    drop(pool);
    ensure(g.done() && h.done(), || "futures not done after the pool's drop".into())?;
    let (rg, rh) = (g.result(), h.result());
    ensure(rg == Ok(100) && rh == Ok(10), || format!("after the pool's drop: {rg:?} {rh:?}"))
}

/// Mixing `send`/`recv_bytes` and `send_bytes`/`recv`. Python's `recv_bytes` of a pickled
/// message gives its bytes and `recv` of raw bytes raises an unpickling error, the message
/// consumed either way; here either is `WrongKind` and the message stays for the other
/// method (documented): never a hang, a lost message or a wrong value.
pub fn pipe_mixed_bytes_and_values() -> Outcome {
    use zeroproc::pipe::RecvTimeoutError;
    let (mut a, mut b) = zeroproc::pipe::<u64>().map_err(err)?;
    a.send_bytes(b"not an archive").map_err(err)?;
    a.send(42).map_err(err)?;
    let r = b.recv_timeout(Duration::from_secs(1));
    ensure(matches!(r, Err(RecvTimeoutError::WrongKind)), || format!("recv of raw bytes: {r:?}"))?;
    let r = b.recv_bytes_timeout(Duration::from_secs(1)).map_err(err)?;
    ensure(r == b"not an archive", || format!("the bytes kept after WrongKind: {r:?}"))?;
    let r = b.recv_bytes_timeout(Duration::from_secs(1));
    ensure(matches!(r, Err(RecvTimeoutError::WrongKind)), || {
        format!("recv_bytes of a value: {r:?}")
    })?;
    let r = b.recv_timeout(Duration::from_secs(1));
    ensure(matches!(r, Ok(42)), || format!("the value kept after WrongKind: {r:?}"))
}

/// Exit codes Python reports for a segfault (-11) and an `exit(256)` (0, the status is
/// 8 bits).
pub fn more_exit_codes() -> Outcome {
    let segv = |_: ()| {
        // SAFETY: raise only sends SIGSEGV to this (child) process.
        unsafe { libc::raise(libc::SIGSEGV) };
    };
    let null_write = |_: ()| {
        // SAFETY: not safe at all: a write through a null pointer, to fault on purpose.
        unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 1) };
    };
    let e = Process::spawn(null_write, ()).map_err(err)?.join().map_err(err)?;
    ensure(e.python_code() == -11, || format!("a null write: {e:?}"))?;
    let e = Process::spawn(segv, ()).map_err(err)?.join().map_err(err)?;
    let proc_segv = e;
    let pool = build(Pool::builder().workers(1))?;
    let r = pool
        .submit(
            |_: ()| -> u32 {
                // SAFETY: raise only sends SIGSEGV to this worker.
                unsafe { libc::raise(libc::SIGSEGV) };
                7
            },
            (),
        )
        .result();
    ensure(matches!(r, Err(JobError::WorkerDied { signal: Some(11), .. })), || {
        format!("raise(SIGSEGV) in a job: {r:?}")
    })?;
    ensure(proc_segv.python_code() == -11, || {
        format!("raise(SIGSEGV) in a Process: {proc_segv:?}")
    })?;
    let e =
        Process::spawn(|_: ()| std::process::exit(256), ()).map_err(err)?.join().map_err(err)?;
    ensure(e.python_code() == 0, || format!("exit(256): {e:?}"))
}

/// A recursive type (a tree), as Python pickles any tree of objects: the one attribute,
/// as for any other type (it failed with E0275 before).
#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub value: u32,
    pub children: Vec<Tree>,
}

fn grow(depth: u32) -> Tree {
    Tree { value: depth, children: (0..depth.min(3)).map(grow).collect() }
}

fn tree_sum(t: &Tree) -> u64 {
    u64::from(t.value) + t.children.iter().map(tree_sum).sum::<u64>()
}

/// A recursive type as a job's argument and result.
pub fn recursive_types_travel() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let t = pool.submit(grow, 6).result().map_err(err)?;
    ensure(t == grow(6), || "tree differs".into())?;
    let s = pool.submit(|t: Tree| tree_sum(&t), t.clone()).result().map_err(err)?;
    ensure(s == tree_sum(&t), || format!("sum {s}"))
}

/// Python: `submit` from other threads racing a `shutdown` either gets a future that
/// completes or raises `RuntimeError`. Four threads submit in a loop while the main thread
/// shuts the pool down: every future ends (a value, `Shutdown`, or `Cancelled` with
/// `cancel_futures`), nothing hangs.
pub fn shutdown_racing_submitters() -> Outcome {
    for cancel in [false, true] {
        let pool = Arc::new(build(Pool::builder().workers(2))?);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut futs = Vec::new();
                    loop {
                        let f = pool.submit(|x: u64| x + 1, 1);
                        let refused =
                            f.done() && f.exception_kind() == Some(JobErrorKind::Shutdown);
                        futs.push(f);
                        if refused {
                            break;
                        }
                    }
                    futs.into_iter()
                        .map(|f| f.result_timeout(Duration::from_secs(10)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        pool.shutdown_with(Shutdown::new().cancel_futures(cancel));
        let mut counts = [0usize; 3];
        for t in threads {
            for r in t.join().map_err(|_| "a submitter panicked")? {
                match r {
                    Ok(Ok(2)) => counts[0] += 1,
                    Ok(Err(JobError::Shutdown)) => counts[1] += 1,
                    Ok(Err(JobError::Cancelled)) if cancel => counts[2] += 1,
                    Ok(other) => return Err(format!("cancel={cancel}: a future ended {other:?}")),
                    Err(_) => return Err(format!("cancel={cancel}: a future never ended")),
                }
            }
        }
        crate::harness::note(format!("cancel={cancel}: ok/shutdown/cancelled = {counts:?}"));
        ensure(counts[1] == 4, || format!("cancel={cancel}: {} refused, want 4", counts[1]))?;
    }
    Ok(())
}

/// `close()` as the end-of-stream signal: three consumer processes blocked in `get` all
/// wake with `Closed` (Python programs put one sentinel per consumer).
pub fn close_wakes_every_blocked_consumer() -> Outcome {
    let q = Queue::<u32>::new(8).map_err(err)?;
    let mut kids: Vec<Process> = (0..3)
        .map(|_| {
            Process::spawn(
                |h: zeroproc::QueueHandle<u32>| {
                    let q = h.attach().unwrap();
                    let mut n = 0;
                    while q.get().is_ok() {
                        n += 1;
                    }
                    assert!(n <= 4, "{n} values");
                },
                q.handle(),
            )
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;
    for i in 0..4 {
        q.put(i).map_err(err)?;
    }
    std::thread::sleep(Duration::from_millis(100)); // all three block in get
    q.close();
    for k in &mut kids {
        let e = k.join_timeout(Duration::from_secs(5)).map_err(err)?;
        ensure(e == Some(Exit::Code(0)), || format!("consumer: {e:?} {:?}", k.panic_message()))?;
    }
    Ok(())
}

/// A `Semaphore` released past `u32::MAX` (Python's counter is unbounded): an error or a
/// panic that says so, not a silent wrap to a small count.
pub fn semaphore_counter_limit() -> Outcome {
    let s = Semaphore::new(u32::MAX - 1);
    let r = std::panic::catch_unwind(|| s.release(5));
    crate::harness::note(format!("release past u32::MAX: {:?}, value {}", r.is_ok(), s.value()));
    ensure(r.is_err() || s.value() >= u32::MAX - 1, || {
        format!("the count wrapped to {}", s.value())
    })
}

/// Python lets several threads wait on one future (`result()` in each): here `wait()` /
/// `wait_timeout()` / `exception()` borrow, so an `Arc<JobFuture>` serves them all; a
/// `submit_fallible` job's `Err` counts for `FIRST_EXCEPTION`.
pub fn one_future_many_waiters_and_fallible_jobs() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let f = Arc::new(pool.submit(nap, 100));
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || f.wait_timeout(Duration::from_secs(5)))
        })
        .collect();
    for t in ts {
        ensure(t.join().map_err(|_| "waiter panicked")?, || "a waiter timed out".into())?;
    }
    let f = Arc::try_unwrap(f).map_err(|_| "future still shared")?;
    ensure(f.result() == Ok(100), || "result after shared waits".into())?;
    let fs = vec![
        pool.submit_fallible(|x: u32| if x == 1 { Err(format!("bad {x}")) } else { Ok(x) }, 1),
        pool.submit_fallible(|ms: u32| Ok::<u32, String>(nap(u64::from(ms)) as u32), 2_000),
    ];
    let t = Instant::now();
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(5)));
    ensure(t.elapsed() < Duration::from_millis(1_900) && done.len() == 1, || {
        format!("FIRST_EXCEPTION with a job's Err: {} done after {:?}", done.len(), t.elapsed())
    })?;
    let e = done[0].exception();
    ensure(matches!(&e, Some(JobError::Job(m)) if m == "bad 1"), || format!("exception(): {e:?}"))?;
    not_done.into_iter().for_each(|f| {
        f.terminate();
    });
    Ok(())
}

/// `Duration::MAX` as "no limit" (Python's `timeout=None` written as a huge number) in every
/// timed call whose condition already holds: each returns at once, none panics on an
/// overflowing deadline.
pub fn huge_timeouts_are_forever() -> Outcome {
    let max = Duration::MAX;
    let pool = build(Pool::builder().workers(1))?;
    let f = pool.submit(nap, 1);
    ensure(f.wait_timeout(max), || "wait_timeout(MAX)".into())?;
    let r = f.result_timeout(max).map_err(|_| "result_timeout(MAX)")?;
    ensure(r == Ok(1), || format!("{r:?}"))?;
    let (done, _) = wait(vec![pool.submit(nap, 1)], ReturnWhen::AllCompleted, Some(max));
    ensure(done.len() == 1, || "wait(MAX)".into())?;
    let n = as_completed(vec![pool.submit(nap, 1)]).timeout(max).count();
    ensure(n == 1, || "as_completed(MAX)".into())?;
    let v: Vec<_> = pool.map(nap, [1, 2]).timeout(max).collect();
    ensure(v == [Ok(1), Ok(2)], || format!("map.timeout(MAX): {v:?}"))?;
    let q = Queue::<u32>::new(2).map_err(err)?;
    q.put_timeout(1, max).map_err(err)?;
    ensure(matches!(q.get_timeout(max), Ok(1)), || "queue get_timeout(MAX)".into())?;
    let jq = JoinableQueue::<u32>::new(2).map_err(err)?;
    jq.join_timeout(max).map_err(err)?;
    let (mut a, mut b) = zeroproc::pipe::<u32>().map_err(err)?;
    a.send_timeout(5, max).map_err(err)?;
    ensure(b.poll(max) && matches!(b.recv_timeout(max), Ok(5)), || "pipe (MAX)".into())?;
    let e = Event::new();
    e.set();
    ensure(e.wait_timeout(max), || "event wait_timeout(MAX)".into())?;
    let l = Lock::new();
    drop(l.lock_timeout(max).map_err(|_| "lock_timeout(MAX)")?);
    ensure(Semaphore::new(1).acquire_timeout(max), || "semaphore (MAX)".into())?;
    ensure(Barrier::new(1).wait_timeout(max).is_ok(), || "barrier (MAX)".into())?;
    let mut p = Process::spawn(|_: ()| {}, ()).map_err(err)?;
    ensure(p.join_timeout(max).map_err(err)? == Some(Exit::Code(0)), || {
        "join_timeout(MAX)".into()
    })?;
    ensure(pool.shutdown_with(Shutdown::new().timeout(max)), || "shutdown timeout(MAX)".into())
}

/// A panic inside a container's `update` closure (Python: an exception inside
/// `with lock: d[k] = f(d[k])`): the lock is released and the entry keeps its old value;
/// the dict serves on in this and other processes.
pub fn panicking_update_leaves_containers_usable() -> Outcome {
    use zeroproc::{SharedDict, SharedList};
    let d = SharedDict::<String, u64>::new().map_err(err)?;
    d.insert("k".into(), 1).map_err(err)?;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        d.update(&"k".to_string(), |v| {
            *v = Some(99);
            panic!("update fails halfway (expected in this scenario)");
        })
    }));
    ensure(r.is_err(), || "the panic did not propagate".into())?;
    let v = d.get(&"k".into()).map_err(err)?;
    crate::harness::note(format!("after a panicking update: {v:?}"));
    ensure(v == Some(1), || format!("entry after a panicking update: {v:?}"))?;
    let mut p = Process::spawn(
        |h: zeroproc::DictHandle<String, u64>| {
            let d = h.attach().unwrap();
            d.update(&"k".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
        },
        d.handle(),
    )
    .map_err(err)?;
    let e = p.join_timeout(Duration::from_secs(5)).map_err(err)?;
    ensure(e == Some(Exit::Code(0)), || format!("another process's update: {e:?}"))?;
    ensure(d.get(&"k".into()).map_err(err)? == Some(2), || "the update after".into())?;
    let l = SharedList::<u32>::new().map_err(err)?;
    let r = l.update(3, |v| *v += 1);
    ensure(r.is_err(), || format!("update of a missing index: {r:?}"))
}

fn tiny_or_panic(x: u64) -> u64 {
    if x % 25_000 == 24_999 {
        panic!("bad item {x}");
    }
    x * 3
}

fn tiny_or_abort(x: u64) -> u64 {
    if x == 60_000 {
        std::process::abort();
    }
    x
}

/// The default `map` over tiny items (batched automatically since 2026-12-07): one
/// outcome per item in input order, a panic fails only its item (Python's
/// `executor.map`'s own item), and an abort fails at most the 64 items of its batch
/// while every other item comes back (CPython's executor: `BrokenProcessPool` for every
/// item after it).
pub fn default_map_of_tiny_items_keeps_per_item_outcomes() -> Outcome {
    let pool = Pool::new().map_err(err)?;
    let n = 100_000u64;
    for (i, r) in pool.map(tiny_or_panic, 0..n).enumerate() {
        let i = i as u64;
        match r {
            Ok(v) => ensure(v == i * 3, || format!("item {i}: {v}"))?,
            Err(JobError::Panicked { message }) => {
                ensure(i % 25_000 == 24_999 && message.contains(&format!("bad item {i}")), || {
                    format!("item {i} panicked: {message}")
                })?
            }
            Err(e) => return Err(format!("item {i}: {e}")),
        }
    }
    let mut seen = vec![false; n as usize];
    for r in pool.map_unordered(tiny_or_panic, 0..n) {
        match r {
            Ok(v) => seen[(v / 3) as usize] = true,
            Err(JobError::Panicked { .. }) => {}
            Err(e) => return Err(format!("unordered: {e}")),
        }
    }
    let missing = (0..n).filter(|&x| x % 25_000 != 24_999 && !seen[x as usize]).count();
    ensure(missing == 0, || format!("{missing} results missing from map_unordered"))?;
    let (mut died, mut first) = (0, None);
    for (i, r) in pool.map(tiny_or_abort, 0..n).enumerate() {
        match r {
            Ok(v) => ensure(v == i as u64, || format!("item {i}: {v}"))?,
            Err(JobError::WorkerDied { .. }) => {
                died += 1;
                first.get_or_insert(i);
            }
            Err(e) => return Err(format!("item {i}: {e}")),
        }
    }
    ensure((1..=64).contains(&died), || format!("{died} items failed for one abort"))?;
    ensure(first <= Some(60_000), || format!("first failure at {first:?}"))
}
