//! "An error message that names the wrong cause is a bug": every error a user can meet,
//! triggered through the public API, with the key words its `Display` (and `Debug`) must
//! carry — the real cause and, where useful, the fix — next to the exception Python raises
//! for the same misuse (docs/python-mapping.md).
//!
//! Table-driven: each [`Case`] triggers one error and returns its `Display` and `Debug`
//! texts; [`check`] runs a table and reports every case whose text misses a key word
//! (case-insensitive), or that did not fail at all.

use crate::harness::{note, Outcome};
use std::time::Duration;
use zeroproc::container::{ContainerError, InsertError};
use zeroproc::sync::{BarrierError, LockTimeoutError, ReleaseError, TryLockError};
use zeroproc::{
    pipe_oneway, Barrier, BoundedSemaphore, CellHandle, JoinableQueue, Lock, Namespace, Pool,
    Process, Queue, SharedArray, SharedCell, SharedDict, SharedList, SubmitTimeoutError,
    TrySubmitError,
};

/// What a trigger returns: the error's `Display` and `Debug`, or why it could not be
/// triggered (the call succeeded, or the set-up failed).
type Texts = Result<(String, String), String>;

/// One error, how to trigger it, and what its message must say.
pub struct Case {
    /// The misuse or failure, in a user's words.
    what: &'static str,
    /// What Python raises for the same (or `-` where Python has no equivalent).
    python: &'static str,
    /// Triggers the error.
    trigger: fn() -> Texts,
    /// Words the `Display` text must contain (case-insensitive): the cause, and the fix.
    display: &'static [&'static str],
    /// Words the `Debug` text must contain (the variant's name).
    debug: &'static [&'static str],
}

fn texts<E: std::fmt::Display + std::fmt::Debug>(e: E) -> Texts {
    Ok((e.to_string(), format!("{e:?}")))
}

/// `texts` of the error in `r`, or a failure naming the unexpected success.
fn fails<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(r: Result<T, E>) -> Texts {
    match r {
        Err(e) => texts(e),
        Ok(v) => Err(format!("did not fail: Ok({v:?})")),
    }
}

fn setup<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("set-up failed: {e}"))
}

/// Runs every case of `table`; each failing one is a line of the outcome's reason.
fn check(table: &[Case]) -> Outcome {
    let mut bad = Vec::new();
    for c in table {
        let t = std::time::Instant::now();
        let got = (c.trigger)();
        let took = t.elapsed();
        match got {
            Err(why) => bad.push(format!("[{}] {why}", c.what)),
            Ok((display, debug)) => {
                let short = |s: &str| s.chars().take(400).collect::<String>();
                note(format!(
                    "{} [{took:.0?}]  (Python: {}) -> {}  |  {}",
                    c.what,
                    c.python,
                    short(&display),
                    short(&debug)
                ));
                let (d, g) = (display.to_lowercase(), debug.to_lowercase());
                let miss: Vec<_> =
                    c.display.iter().filter(|w| !d.contains(&w.to_lowercase())).collect();
                let miss_dbg: Vec<_> =
                    c.debug.iter().filter(|w| !g.contains(&w.to_lowercase())).collect();
                if !miss.is_empty() || !miss_dbg.is_empty() {
                    bad.push(format!(
                        "[{}] display {display:?} lacks {miss:?}; debug {debug:?} lacks {miss_dbg:?}",
                        c.what
                    ));
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {} cases:\n    {}", bad.len(), table.len(), bad.join("\n    ")))
    }
}

fn one_worker() -> Result<Pool, String> {
    setup(Pool::builder().workers(1).pin(false).build())
}

// ---------------------------------------------------------------------------------------
// The executor.

fn raise(sig: i32) -> u32 {
    // SAFETY: raising a signal in this (worker) process; the job is meant to die of it.
    unsafe { libc::raise(sig) };
    0
}

fn died_of(sig: i32) -> Texts {
    let pool = one_worker()?;
    fails(pool.submit(raise, sig).result())
}

fn refuse_if_marked(marker: String) {
    if std::path::Path::new(&marker).exists() {
        panic!("initializer refuses: marker present");
    }
}

fn recurse(n: u64) -> u64 {
    let buf = [n as u8; 4096];
    std::hint::black_box(&buf);
    if n == 0 {
        0
    } else {
        recurse(n + 1) + u64::from(buf[7])
    }
}

const EXECUTOR: &[Case] = &[
    Case {
        what: "workers(0)",
        python: "ValueError: max_workers must be greater than 0",
        trigger: || fails(Pool::builder().workers(0).build().map(|_| ())),
        display: &["workers(0)", "at least one worker"],
        debug: &["Config"],
    },
    Case {
        what: "max_jobs_per_worker(0)",
        python: "ValueError: max_tasks_per_child must be >= 1",
        trigger: || fails(Pool::builder().workers(1).max_jobs_per_worker(0).build().map(|_| ())),
        display: &["max_jobs_per_worker", "0"],
        debug: &["Config"],
    },
    Case {
        what: "job_time_limit(0)",
        python: "-",
        trigger: || {
            fails(Pool::builder().workers(1).job_time_limit(Duration::ZERO).build().map(|_| ()))
        },
        display: &["job_time_limit", "zero"],
        debug: &["Config"],
    },
    Case {
        what: "cores([]) (an empty set)",
        python: "OSError from os.sched_setaffinity",
        trigger: || fails(Pool::builder().cores([]).build().map(|_| ())),
        display: &["core"],
        debug: &["Config"],
    },
    Case {
        what: "cores([a core the machine lacks])",
        python: "OSError: [Errno 22] Invalid argument",
        trigger: || fails(Pool::builder().cores([4096]).build().map(|_| ())),
        display: &["4096"],
        debug: &["Config"],
    },
    Case {
        what: "initializer panics",
        python: "BrokenProcessPool at the first result()",
        trigger: || {
            fails(
                Pool::builder()
                    .workers(1)
                    .initializer(|| panic!("no licence file"))
                    .build()
                    .map(|_| ()),
            )
        },
        display: &["initializer", "panicked", "no licence file"],
        debug: &["Initializer"],
    },
    Case {
        what: "initializer exits",
        python: "BrokenProcessPool",
        trigger: || {
            fails(
                Pool::builder()
                    .workers(1)
                    .initializer(|| std::process::exit(4))
                    .build()
                    .map(|_| ()),
            )
        },
        display: &["initializer", "4"],
        debug: &["WorkerExited"],
    },
    Case {
        what: "a Pool built inside a job",
        python: "(allowed in a non-daemon Process)",
        trigger: || {
            let pool = one_worker()?;
            let inner = pool
                .submit(|_: ()| Pool::builder().workers(1).build().err().map(|e| e.to_string()), ())
                .result();
            match inner {
                Ok(Some(msg)) => Ok((msg, "(Display only: the error came from a worker)".into())),
                other => Err(format!("the inner build did not fail: {other:?}")),
            }
        },
        display: &["inside a worker", "controller"],
        debug: &[],
    },
    Case {
        what: "job panics",
        python: "the exception re-raised by result()",
        trigger: || {
            let pool = one_worker()?;
            fails(pool.submit(|_: ()| -> u32 { panic!("bad row 17") }, ()).result())
        },
        display: &["panicked", "bad row 17"],
        debug: &["Panicked", "bad row 17"],
    },
    Case {
        what: "fallible job returns Err",
        python: "the exception re-raised by result()",
        trigger: || {
            let pool = one_worker()?;
            let f = pool
                .submit_fallible(|x: i32| if x < 0 { Err(format!("{x} < 0")) } else { Ok(x) }, -1);
            fails(f.result())
        },
        display: &["job failed", "-1 < 0"],
        debug: &["Job", "-1 < 0"],
    },
    Case {
        what: "worker SIGSEGV",
        python: "BrokenProcessPool: A process in the process pool was terminated abruptly",
        trigger: || died_of(libc::SIGSEGV),
        display: &["worker died", "signal 11", "SIGSEGV"],
        debug: &["WorkerDied", "11"],
    },
    Case {
        what: "worker SIGABRT",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGABRT),
        display: &["worker died", "signal 6", "SIGABRT"],
        debug: &["WorkerDied", "6"],
    },
    Case {
        what: "worker SIGKILL",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGKILL),
        display: &["worker died", "signal 9", "SIGKILL", "OOM"],
        debug: &["WorkerDied", "9"],
    },
    Case {
        what: "worker SIGTERM",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGTERM),
        display: &["worker died", "signal 15", "SIGTERM"],
        debug: &["WorkerDied", "15"],
    },
    Case {
        what: "worker SIGBUS",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGBUS),
        display: &["worker died", "signal 7", "SIGBUS"],
        debug: &["WorkerDied", "7"],
    },
    Case {
        what: "worker SIGFPE",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGFPE),
        display: &["worker died", "signal 8", "SIGFPE"],
        debug: &["WorkerDied", "8"],
    },
    Case {
        what: "worker SIGILL",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGILL),
        display: &["worker died", "signal 4", "SIGILL"],
        debug: &["WorkerDied", "4"],
    },
    Case {
        what: "worker SIGUSR1 (a signal with no usual meaning)",
        python: "BrokenProcessPool",
        trigger: || died_of(libc::SIGUSR1),
        display: &["worker died", "signal 10", "SIGUSR1"],
        debug: &["WorkerDied", "10"],
    },
    Case {
        what: "job calls exit(3)",
        python: "BrokenProcessPool",
        trigger: || {
            let pool = one_worker()?;
            fails(pool.submit(|_: ()| -> u32 { std::process::exit(3) }, ()).result())
        },
        display: &["worker died", "exit code 3", "std::process::exit"],
        debug: &["WorkerDied", "Some(3)"],
    },
    Case {
        what: "job calls exit(0)",
        python: "BrokenProcessPool",
        trigger: || {
            let pool = one_worker()?;
            fails(pool.submit(|_: ()| -> u32 { std::process::exit(0) }, ()).result())
        },
        display: &["worker", "exit code 0"],
        debug: &["WorkerDied", "Some(0)"],
    },
    Case {
        what: "job overflows its stack",
        python: "RecursionError",
        trigger: || {
            let pool = one_worker()?;
            fails(pool.submit(recurse, 1).result())
        },
        display: &["stack", "recursion", "ulimit -s"],
        debug: &["StackOverflow"],
    },
    Case {
        what: "job past its time limit",
        python: "- (mpire: TimeoutError)",
        trigger: || {
            let pool = one_worker()?;
            let f = pool.submit_with_time_limit(
                |ms: u64| std::thread::sleep(Duration::from_millis(ms)),
                5_000,
                Duration::from_millis(50),
            );
            fails(f.result())
        },
        display: &["time limit", "restarted"],
        debug: &["TimeLimit"],
    },
    Case {
        what: "map(..).timeout(d) runs out",
        python: "TimeoutError",
        trigger: || {
            // Stops the running job when dropped (a shutdown waits for running jobs).
            let pool = setup(Pool::builder().workers(1).pin(false).cancel_on_drop(true).build())?;
            let mut got = pool
                .map(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [5_000])
                .timeout(Duration::from_millis(20));
            let r = got.next().ok_or("map yielded nothing")?;
            drop(got);
            let t = fails(r);
            if let Some(f) = pool.submit(|_: ()| 1u8, ()).result().err() {
                return Err(format!("the pool after the time-out: {f}"));
            }
            t
        },
        display: &["timed out", "result"],
        debug: &["Timeout"],
    },
    Case {
        what: "cancelled future",
        python: "CancelledError",
        trigger: || {
            let pool = one_worker()?;
            let busy = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 200);
            let queued = pool.submit(|_: ()| 1u8, ());
            if !queued.cancel() {
                return Err("cancel() of a queued job refused".into());
            }
            busy.terminate();
            fails(queued.result())
        },
        display: &["cancelled"],
        debug: &["Cancelled"],
    },
    Case {
        what: "submit after shutdown",
        python: "RuntimeError: cannot schedule new futures after shutdown",
        trigger: || {
            let pool = one_worker()?;
            pool.shutdown();
            fails(pool.submit(|x: u8| x, 1).result())
        },
        display: &["after", "shut down"],
        debug: &["Shutdown"],
    },
    Case {
        what: "try_submit after shutdown",
        python: "RuntimeError: cannot schedule new futures after shutdown",
        trigger: || {
            let pool = one_worker()?;
            pool.shutdown();
            let e = pool.try_submit(|x: u8| x, 1);
            if !matches!(e, Err(TrySubmitError::Shutdown(1))) {
                return Err(format!("{e:?}"));
            }
            fails(e.map(|_| ()))
        },
        display: &["shut down"],
        debug: &["Shutdown"],
    },
    Case {
        what: "submit_timeout after shutdown",
        python: "RuntimeError: cannot schedule new futures after shutdown",
        trigger: || {
            let pool = one_worker()?;
            pool.shutdown();
            let e = pool.submit_timeout(|x: u8| x, 1, Duration::from_millis(1));
            if !matches!(e, Err(SubmitTimeoutError::Shutdown(1))) {
                return Err(format!("{e:?}"));
            }
            fails(e.map(|_| ()))
        },
        display: &["shut down"],
        debug: &["Shutdown"],
    },
    Case {
        what: "arguments larger than the spill heap",
        python: "- (pickle has no size limit)",
        trigger: || {
            let pool = setup(Pool::builder().workers(1).spill_heap(1 << 20).build())?;
            fails(pool.submit(|v: Vec<u8>| v.len(), vec![7u8; 4 << 20]).result())
        },
        display: &["too large", "argument", "spill_heap"],
        debug: &["TooLarge"],
    },
    Case {
        what: "result larger than the spill heap",
        python: "- (pickle has no size limit)",
        trigger: || {
            let pool = setup(Pool::builder().workers(1).spill_heap(1 << 20).build())?;
            fails(pool.submit(|n: usize| vec![7u8; n], 4 << 20).result())
        },
        display: &["too large", "result", "spill_heap"],
        debug: &["TooLarge"],
    },
    Case {
        what: "try_submit with arguments larger than the spill heap",
        python: "-",
        trigger: || {
            let pool = setup(Pool::builder().workers(1).spill_heap(1 << 20).build())?;
            fails(pool.try_submit(|v: Vec<u8>| v.len(), vec![7u8; 4 << 20]).map(|_| ()))
        },
        display: &["too large", "spill_heap"],
        debug: &["TooLarge"],
    },
    Case {
        what: "the initializer fails in a replacement worker",
        python: "BrokenProcessPool",
        trigger: || {
            let marker = std::env::temp_dir().join(format!("errors6-{}", std::process::id()));
            let _ = std::fs::remove_file(&marker);
            let pool = setup(
                Pool::builder()
                    .workers(1)
                    .pin(false)
                    .initializer_with(refuse_if_marked, marker.to_string_lossy().into_owned())
                    .build(),
            )?;
            setup(std::fs::write(&marker, b"x"))?;
            let _ = pool.submit(|_: ()| -> u8 { std::process::abort() }, ()).result();
            let next = pool.submit(|x: u8| x, 1).result_timeout(Duration::from_secs(10));
            let _ = std::fs::remove_file(&marker);
            match next {
                Ok(r) => fails(r),
                Err(_) => Err("the job for the replacement hung".into()),
            }
        },
        display: &["initializer failed"],
        debug: &["WorkerDied", "Some(93)"],
    },
    Case {
        what: "a SharedValue handle read as another type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let pool = one_worker()?;
            let v = setup(pool.share(&vec![1u64, 2, 3]))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&v))?;
            let w = setup(rkyv::from_bytes::<zeroproc::SharedValue<String>, rkyv::rancor::Error>(
                &bytes,
            ))?;
            fails(w.get().map(|s| s.len()))
        },
        display: &["another type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "for_each_chunk_mut with a chunk that panics",
        python: "- (pool.map raises the first exception)",
        trigger: || {
            let pool = one_worker()?;
            let mut y = setup(SharedArray::<f64>::zeroed(40))?;
            fails(pool.for_each_chunk_mut(
                &mut y,
                10,
                |c: &mut [f64], r: std::ops::Range<usize>| {
                    if r.start == 20 {
                        panic!("bad chunk at {}", r.start);
                    }
                    c.fill(1.0);
                },
            ))
        },
        display: &["chunk 2", "20..30", "bad chunk at 20", "1 chunk(s) failed"],
        debug: &["Chunk"],
    },
    Case {
        what: "for_each_chunk_mut_with over arrays of different lengths",
        python: "- (zip stops at the shorter)",
        trigger: || {
            let pool = one_worker()?;
            let mut y = setup(SharedArray::<f64>::zeroed(40))?;
            let x = setup(SharedArray::<f64>::zeroed(30))?;
            fails(pool.for_each_chunk_mut_with(&mut y, &x, 10, |c: &mut [f64], x: &[f64]| {
                c.copy_from_slice(x)
            }))
        },
        display: &["input has 30", "output 40"],
        debug: &["LenMismatch"],
    },
];

/// The executor's errors: build, job failures, worker deaths by each signal and exit,
/// time limits, time-outs, cancellation, shutdown, sizes.
pub fn errors6_executor() -> Outcome {
    check(EXECUTOR)
}

// ---------------------------------------------------------------------------------------
// Queues and pipes.

const CHANNELS: &[Case] = &[
    Case {
        what: "Queue::new(0)",
        python: "- (Queue(0) is unbounded)",
        trigger: || fails(Queue::<u8>::new(0).map(|_| ())),
        display: &["capacity"],
        debug: &["Config"],
    },
    Case {
        what: "try_put on a full queue",
        python: "queue.Full",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            setup(q.put(1))?;
            fails(q.try_put(2))
        },
        display: &["full"],
        debug: &["Full"],
    },
    Case {
        what: "put_timeout on a full queue",
        python: "queue.Full",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            setup(q.put(1))?;
            fails(q.put_timeout(2, Duration::from_millis(5)))
        },
        display: &["timed out", "room"],
        debug: &["Timeout"],
    },
    Case {
        what: "put on a closed queue",
        python: "ValueError: Queue is closed",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            q.close();
            fails(q.put(1))
        },
        display: &["closed"],
        debug: &["Closed"],
    },
    Case {
        what: "try_get on an empty queue",
        python: "queue.Empty",
        trigger: || fails(setup(Queue::<u32>::new(1))?.try_get()),
        display: &["empty"],
        debug: &["Empty"],
    },
    Case {
        what: "get_timeout on an empty queue",
        python: "queue.Empty",
        trigger: || fails(setup(Queue::<u32>::new(1))?.get_timeout(Duration::from_millis(5))),
        display: &["timed out"],
        debug: &["Timeout"],
    },
    Case {
        what: "get on a closed, drained queue",
        python: "ValueError: Queue is closed (OSError: handle is closed)",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            q.close();
            fails(q.get())
        },
        display: &["closed", "drained"],
        debug: &["Closed"],
    },
    Case {
        what: "put of a value larger than the queue's spill heap",
        python: "- (no limit)",
        trigger: || {
            let q =
                setup(Queue::<Vec<u8>>::builder(2).slot_size(256).max_heap_size(1 << 20).build())?;
            fails(q.put(vec![1u8; 4 << 20]))
        },
        display: &["too large", "max_heap_size"],
        debug: &["TooLarge"],
    },
    Case {
        what: "task_done() too often",
        python: "ValueError: task_done() called too many times",
        trigger: || fails(setup(JoinableQueue::<u8>::new(2))?.task_done()),
        display: &["task_done", "more times"],
        debug: &["TaskDoneError"],
    },
    Case {
        what: "join_timeout with tasks unfinished",
        python: "- (JoinableQueue.join has no timeout)",
        trigger: || {
            let q = setup(JoinableQueue::<u8>::new(2))?;
            setup(q.put(1))?;
            fails(q.join_timeout(Duration::from_millis(5)))
        },
        display: &["timed out", "1 tasks unfinished"],
        debug: &["unfinished: 1"],
    },
    Case {
        what: "a queue handle attached as another message type",
        python: "- (pickle has no types)",
        trigger: || {
            use zeroproc::rkyv;
            let q = setup(Queue::<u32>::new(1))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&q.handle()))?;
            let h =
                setup(rkyv::from_bytes::<zeroproc::QueueHandle<u64>, rkyv::rancor::Error>(&bytes))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["message type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "send on a pipe whose receiving end was dropped",
        python: "BrokenPipeError: [Errno 32] Broken pipe",
        trigger: || {
            let (mut a, b) = setup(zeroproc::pipe::<u32>())?;
            drop(b);
            fails(a.send(1))
        },
        display: &["receiving end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "recv on a pipe whose sending end was dropped",
        python: "EOFError",
        trigger: || {
            let (a, mut b) = setup(zeroproc::pipe::<u32>())?;
            drop(a);
            fails(b.recv())
        },
        display: &["sending end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "try_recv on an empty pipe",
        python: "- (poll() returns False)",
        trigger: || {
            let (_a, mut b) = setup(zeroproc::pipe::<u32>())?;
            fails(b.try_recv())
        },
        display: &["empty"],
        debug: &["Empty"],
    },
    Case {
        what: "recv_timeout on an empty pipe",
        python: "- (poll(timeout) returns False)",
        trigger: || {
            let (_a, mut b) = setup(zeroproc::pipe::<u32>())?;
            fails(b.recv_timeout(Duration::from_millis(5)))
        },
        display: &["timed out"],
        debug: &["Timeout"],
    },
    Case {
        what: "try_send on a full pipe",
        python: "- (send blocks)",
        trigger: || {
            let (mut a, _b) = setup(zeroproc::pipe::<u64>())?;
            for i in 0.. {
                if let Err(e) = a.try_send(i) {
                    return texts(e);
                }
            }
            unreachable!()
        },
        display: &["full"],
        debug: &["Full"],
    },
    Case {
        what: "recv of a message sent with send_bytes",
        python: "- (recv of a send_bytes message: UnpicklingError)",
        trigger: || {
            let (mut a, mut b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send_bytes(b"raw"))?;
            fails(b.recv())
        },
        display: &["send_bytes message with recv_bytes", "stays queued"],
        debug: &["WrongKind"],
    },
    Case {
        what: "recv_bytes of a message sent with send",
        python: "- (recv_bytes of a pickled message returns its bytes)",
        trigger: || {
            let (mut a, mut b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send(7))?;
            fails(b.recv_bytes())
        },
        display: &["send message with recv"],
        debug: &["WrongKind"],
    },
    Case {
        what: "send on a one-way pipe whose receiver process was killed",
        python: "BrokenPipeError",
        trigger: || {
            let (mut tx, rx) = setup(pipe_oneway::<u32>())?;
            let mut p = setup(Process::spawn(
                |h: zeroproc::ReceiverHandle<u32>| {
                    let _rx = h.attach().unwrap();
                    std::thread::sleep(Duration::from_secs(30));
                },
                rx.handle(),
            ))?;
            drop(rx);
            std::thread::sleep(Duration::from_millis(100));
            p.kill();
            setup(p.join())?;
            // A ring's worth of values may go in before the death is noticed.
            for i in 0..100_000 {
                if let Err(e) = tx.send_timeout(i, Duration::from_secs(2)) {
                    return texts(e);
                }
            }
            Err("100000 sends to a dead receiver succeeded".into())
        },
        display: &["receiving end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "a pipe end attached twice",
        python: "- (two processes may use one end)",
        trigger: || {
            let (mut a, _b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send(1))?; // this process uses the end
            let h = a.handle();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ConnectionHandle<u32>| {
                    let e = match h.attach() {
                        Err(e) => e.to_string(),
                        Ok(mut c) => c.send(2).err().map(|e| e.to_string()).unwrap_or_default(),
                    };
                    eprintln!("errors6 child: {e}");
                    // Exit code 0 only when the message names the cause.
                    std::process::exit(i32::from(
                        !(e.contains("in use by process") && e.contains("its own pipe")),
                    ));
                },
                h,
            ))?;
            match setup(p.join())? {
                zeroproc::Exit::Code(0) => Ok(("(checked in the child)".into(), String::new())),
                e => Err(format!("the child's attach of an end in use: {e:?}")),
            }
        },
        display: &[],
        debug: &[],
    },
    Case {
        what: "send of a value larger than the pipe's spill heap",
        python: "- (no limit; ValueError past 2 GiB on old Pythons)",
        trigger: || {
            let (mut a, _b) = setup(
                zeroproc::pipe::PipeBuilder::<Vec<u8>>::new().max_heap_size(1 << 20).duplex(),
            )?;
            fails(a.send(vec![1u8; 4 << 20]))
        },
        display: &["too large", "PipeBuilder::max_heap_size"],
        debug: &["TooLarge"],
    },
    Case {
        what: "a pipe end attached again after its attachment was dropped",
        python: "- (Python's copies of a connection close independently)",
        trigger: || {
            let (a, _b) = setup(zeroproc::pipe::<u32>())?;
            let h = a.handle();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ConnectionHandle<u32>| {
                    let c = h.attach().unwrap();
                    drop(c);
                },
                h.clone(),
            ))?;
            setup(p.join())?;
            drop(a);
            fails(h.attach().map(|_| ()))
        },
        display: &["closed", "give each job its own pipe, or use a Queue"],
        debug: &["EndClosed"],
    },
];

/// Queues, joinable queues and pipes: full, empty, closed, timed out, disconnected,
/// dead peers, wrong kinds and types.
pub fn errors6_channels() -> Outcome {
    check(CHANNELS)
}

// ---------------------------------------------------------------------------------------
// Locks, semaphores, conditions, barriers, events.

const SYNC: &[Case] = &[
    Case {
        what: "try_lock of a held lock",
        python: "acquire(blocking=False) returns False",
        trigger: || {
            let l = Lock::new();
            let _g = l.lock();
            let t = match l.try_lock() {
                Err(e @ TryLockError::WouldBlock) => texts(e),
                Err(e) => Err(format!("{e:?}")),
                Ok(_) => Err("try_lock of a held lock succeeded".into()),
            };
            t
        },
        display: &["held"],
        debug: &["WouldBlock"],
    },
    Case {
        what: "lock_timeout of a held lock",
        python: "acquire(timeout=t) returns False",
        trigger: || {
            let l = Lock::new();
            let _g = l.lock();
            let t = match l.lock_timeout(Duration::from_millis(5)) {
                Err(e @ LockTimeoutError::Timeout) => texts(e),
                Err(e) => Err(format!("{e:?}")),
                Ok(_) => Err("lock_timeout of a held lock succeeded".into()),
            };
            t
        },
        display: &["timed out", "lock"],
        debug: &["Timeout"],
    },
    Case {
        what: "lock whose holder was killed",
        python: "- (the lock stays held for ever)",
        trigger: || {
            let cell = setup(SharedCell::new(Lock::new()))?;
            let mut p = setup(Process::spawn(
                |h: CellHandle<Lock>| {
                    let l = h.attach().unwrap();
                    let g = l.lock();
                    std::mem::forget(g);
                    std::process::exit(0);
                },
                cell.handle(),
            ))?;
            setup(p.join())?;
            let t = match cell.lock() {
                Err(e) => texts(e),
                Ok(_) => Err("the lock of a dead holder was taken silently".into()),
            };
            t
        },
        display: &["owner died", "held by the caller"],
        debug: &["OwnerDied"],
    },
    Case {
        what: "BoundedSemaphore released too often",
        python: "ValueError: Semaphore released too many times",
        trigger: || {
            let s = BoundedSemaphore::new(1);
            match s.release(1) {
                Err(e @ ReleaseError::AboveBound { .. }) => texts(e),
                r => Err(format!("{r:?}")),
            }
        },
        display: &["released too many times", "bound 1"],
        debug: &["AboveBound"],
    },
    Case {
        what: "Barrier aborted",
        python: "threading.BrokenBarrierError",
        trigger: || {
            let b = Barrier::new(2);
            b.abort();
            fails(b.wait().map(|r| r.index()))
        },
        display: &["broken"],
        debug: &["Broken"],
    },
    Case {
        what: "Barrier wait_timeout runs out",
        python: "threading.BrokenBarrierError",
        trigger: || match Barrier::new(2).wait_timeout(Duration::from_millis(5)) {
            Err(e @ BarrierError::Timeout) => texts(e),
            r => Err(format!("{r:?}")),
        },
        display: &["timed out", "barrier", "broken"],
        debug: &["Timeout"],
    },
];

/// Lock, semaphore and barrier misuse and failures.
pub fn errors6_sync() -> Outcome {
    check(SYNC)
}

// ---------------------------------------------------------------------------------------
// Shared containers and arrays.

const SHARED: &[Case] = &[
    Case {
        what: "SharedList index past the end (set)",
        python: "IndexError: list assignment index out of range",
        trigger: || {
            let l = setup(SharedList::<u32>::new())?;
            setup(l.push(1))?;
            fails(l.set(5, 2))
        },
        display: &["index 5", "out of range", "len 1"],
        debug: &["IndexOutOfRange"],
    },
    Case {
        what: "SharedList remove past the end",
        python: "IndexError: pop index out of range",
        trigger: || {
            let l = setup(SharedList::<u32>::new())?;
            fails(l.remove(0))
        },
        display: &["index 0", "out of range", "len 0"],
        debug: &["IndexOutOfRange"],
    },
    Case {
        what: "Namespace field read as another type",
        python: "- (no types)",
        trigger: || {
            let ns = setup(Namespace::new())?;
            setup(ns.set("x", 1u64))?;
            fails(ns.get::<String>("x"))
        },
        display: &["type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedList value larger than its maximum",
        python: "- (no limit)",
        trigger: || {
            let l = setup(SharedList::<Vec<u8>>::with_max_capacity_bytes(8192, 64 << 10))?;
            let r: Result<(), InsertError<Vec<u8>>> = l.push(vec![0u8; 1 << 20]);
            if let Err(e) = &r {
                if !matches!(e.error(), ContainerError::Full { .. }) {
                    return Err(format!("{e:?}"));
                }
            }
            fails(r)
        },
        display: &["not stored", "full", "maximum"],
        debug: &["InsertError", "Full"],
    },
    Case {
        what: "SharedDict handle attached as another type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let d = setup(SharedDict::<String, u64>::new())?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&d.handle()))?;
            let h = setup(rkyv::from_bytes::<
                zeroproc::DictHandle<String, u32>,
                rkyv::rancor::Error,
            >(&bytes))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedArray handle read after the array was dropped",
        python: "- (a closed SharedMemory's buf raises ValueError/TypeError)",
        trigger: || {
            let a = setup(SharedArray::<f64>::zeroed(16))?;
            let h = a.handle();
            drop(a);
            fails(h.read().map(|g| g.len()))
        },
        display: &["dropped", "keep the SharedArray alive"],
        debug: &["Dropped"],
    },
    Case {
        what: "SharedArray handle attached in a child after the array was dropped",
        python: "FileNotFoundError: [Errno 2] No such file or directory: '/psm_..'",
        trigger: || {
            let a = setup(SharedArray::<f64>::zeroed(1 << 16))?;
            let h = a.handle();
            drop(a);
            zeroproc::shared::cache::release_dropped();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ArrayHandle<f64>| {
                    let e = h.read().err().map(|e| e.to_string()).unwrap_or_default();
                    eprintln!("errors6 child: {e}");
                    std::process::exit(i32::from(!(e.contains("dropped") || e.contains("exited"))));
                },
                h,
            ))?;
            match setup(p.join())? {
                zeroproc::Exit::Code(0) => Ok(("(checked in the child)".into(), String::new())),
                e => Err(format!("the child's message did not name the drop: {e:?}")),
            }
        },
        display: &[],
        debug: &[],
    },
    Case {
        what: "SharedArray handle read as another element type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let a = setup(SharedArray::<f64>::zeroed(16))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&a.handle()))?;
            let h =
                setup(rkyv::from_bytes::<zeroproc::ArrayHandle<u64>, rkyv::rancor::Error>(&bytes))?;
            fails(h.read().map(|g| g.len()))
        },
        display: &["element type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedVec pushed past its capacity",
        python: "- (list grows)",
        trigger: || {
            let mut v = setup(zeroproc::SharedVec::<u32>::with_capacity(2))?;
            setup(v.push(1))?;
            setup(v.push(2))?;
            fails(v.push(3))
        },
        display: &["full", "capacity of 2", "with_capacity"],
        debug: &["Full"],
    },
    Case {
        what: "SharedArray written while a reader holds it",
        python: "- (no guards)",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(16))?;
            let h = a.handle();
            let guard = setup(h.read())?;
            let r = a.write().map(|_| ());
            drop(guard);
            fails(r)
        },
        display: &["reading the array", "drop the guard"],
        debug: &["ReadersActive"],
    },
    Case {
        what: "SharedCell handle attached as another type",
        python: "- (no types)",
        trigger: || {
            use zeroproc::rkyv;
            let c = setup(SharedCell::new(Lock::new()))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&c.handle()))?;
            let h = setup(rkyv::from_bytes::<CellHandle<zeroproc::Event>, rkyv::rancor::Error>(
                &bytes,
            ))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["the cell holds another type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "SharedArray larger than the machine",
        python: "OSError: [Errno 28] No space left on device / MemoryError",
        trigger: || fails(SharedArray::<u8>::zeroed(1 << 46).map(|_| ())),
        display: &["bytes"],
        debug: &["Create"],
    },
    Case {
        what: "SharedArray length overflowing the address space",
        python: "OverflowError",
        trigger: || fails(SharedArray::<f64>::zeroed(usize::MAX / 4).map(|_| ())),
        display: &["too large"],
        debug: &["TooLarge"],
    },
    Case {
        what: "chunks_mut(0)",
        python: "ValueError: range() arg 3 must not be zero",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            fails(a.chunks_mut(0).map(|c| c.len()))
        },
        display: &["chunk length", "at least 1"],
        debug: &["BadChunkLen"],
    },
    Case {
        what: "read while a split is unfinished",
        python: "-",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            let _chunks = setup(a.chunks_mut(4))?;
            fails(a.as_slice().map(|s| s.len()))
        },
        display: &["2 chunks", "not finished", "wait_chunks", "abandon_chunks"],
        debug: &["SplitInProgress"],
    },
    Case {
        what: "wait_chunks runs out",
        python: "-",
        trigger: || {
            let mut a = setup(SharedArray::<f64>::zeroed(8))?;
            let _chunks = setup(a.chunks_mut(4))?;
            fails(a.wait_chunks(Duration::from_millis(5)))
        },
        display: &["timed out", "2 chunks"],
        debug: &["Timeout"],
    },
];

/// Shared containers' and arrays' errors.
pub fn errors6_shared() -> Outcome {
    check(SHARED)
}

// ---------------------------------------------------------------------------------------
// Process.

const PROCESS: &[Case] = &[
    Case {
        what: "start twice",
        python: "AssertionError: cannot start a process twice",
        trigger: || {
            let mut p = Process::new(|_: ()| {}, ());
            setup(p.start())?;
            let r = p.start();
            setup(p.join())?;
            fails(r)
        },
        display: &["already started"],
        debug: &["AlreadyStarted"],
    },
    Case {
        what: "join before start",
        python: "AssertionError: can only join a started process",
        trigger: || fails(Process::new(|_: ()| {}, ()).join()),
        display: &["not started", "start"],
        debug: &["NotStarted"],
    },
    Case {
        what: "a Process started inside a job",
        python:
            "(allowed; daemonic processes: 'daemonic processes are not allowed to have children')",
        trigger: || {
            let pool = one_worker()?;
            let inner = pool
                .submit(|_: ()| Process::spawn(|_: ()| {}, ()).err().map(|e| e.to_string()), ())
                .result();
            match inner {
                Ok(Some(msg)) => Ok((msg, String::new())),
                other => Err(format!("the inner spawn did not fail: {other:?}")),
            }
        },
        display: &["inside a worker", "controller"],
        debug: &[],
    },
];

/// `Process` misuse.
pub fn errors6_process() -> Outcome {
    check(PROCESS)
}
