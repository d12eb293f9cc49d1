//! The executor's errors: build, job failures, worker deaths by each signal and exit, time
//! limits, time-outs, cancellation, shutdown, sizes.

use super::*;

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
        what: "a Pool built inside a daemon Process",
        python: "AssertionError: daemonic processes are not allowed to have children \
                 (a ProcessPoolExecutor job may build one: its workers are not daemonic)",
        trigger: || {
            let msg = error_in_daemon_child(|q: zeroproc::QueueHandle<String>| {
                let e = Pool::builder().workers(1).build().err().map(|e| e.to_string());
                q.attach().unwrap().put(e.unwrap_or_default()).unwrap();
            })?;
            match msg.is_empty() {
                false => Ok((msg, "(Display only: the error came from a child)".into())),
                true => Err("the inner build did not fail".into()),
            }
        },
        display: &["daemon", "non-daemon", "controller"],
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
            // Long enough that the queued job is still queued under load (terminated below).
            let busy = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 5_000);
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
