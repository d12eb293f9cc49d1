//! `Process` with real child processes: exit codes, signals, panics with their message,
//! the `Run` style, join with a time-out, terminate/kill, and handles passed as arguments.

use std::time::Duration;
use zeroproc_sched::{Exit, Process, Run};

zeroproc_sched::test_worker!();

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct WriteSquares {
    path: String,
    upto: u64,
}

impl Run for WriteSquares {
    fn run(self) {
        let s: Vec<String> = (1..=self.upto).map(|i| (i * i).to_string()).collect();
        std::fs::write(&self.path, s.join(",")).unwrap();
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("zp-proc-{}-{name}", std::process::id()))
}

#[test]
fn a_function_runs_in_another_process() {
    let path = tmp("fn");
    let mut p = Process::spawn(
        |(path, parent): (String, u32)| {
            assert_ne!(std::process::id(), parent, "runs in a child");
            std::fs::write(path, Process::current_name().unwrap()).unwrap();
        },
        (path.to_str().unwrap().to_owned(), std::process::id()),
    )
    .unwrap();
    assert!(p.pid().is_some());
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert_eq!(p.exit_code(), Some(Exit::Code(0)));
    assert!(!p.is_alive());
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("Process-"));
    std::fs::remove_file(path).unwrap();
}

fn double(x: u64) -> u64 {
    x * 2
}

/// A value whose `Drop` panics: dropped in the child, after the body returned.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropping the returned value");
    }
}

/// Python ignores a `Process` target's return value; so does `Process` (a fn returning a
/// value was refused with an error naming captured variables as the cause).
#[test]
fn a_target_that_returns_a_value_runs_and_the_value_is_dropped() {
    let mut p = Process::spawn(double, 21).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    let mut p = Process::spawn(|x: u64| x * 2, 21).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    // A returned `Err` is a value like any other: dropped, exit code 0 (a panic is the
    // child's failure: docs/python-mapping.md).
    let mut p = Process::spawn(|_: ()| "x".parse::<u32>(), ()).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    // The value is dropped in the child, under the same panic handling as the body.
    let mut p = Process::new(|_: ()| PanicsOnDrop, ()).name("drops");
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(1));
    assert!(p.panic_message().unwrap().contains("dropping the returned value"));
}

#[test]
fn the_run_style_and_names() {
    let path = tmp("run");
    let mut p = Process::from_run(WriteSquares { path: path.to_str().unwrap().into(), upto: 5 })
        .name("squares");
    assert_eq!(p.get_name(), "squares");
    assert!(matches!(p.join(), Err(zeroproc_sched::ProcessError::NotStarted)));
    p.start().unwrap();
    assert!(matches!(p.start(), Err(zeroproc_sched::ProcessError::AlreadyStarted)));
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "1,4,9,16,25");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn panics_exit_codes_and_signals_are_told_apart() {
    let mut p = Process::spawn(|n: u32| panic!("bad input {n}"), 7).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(1));
    let m = p.panic_message().unwrap();
    assert!(m.contains("bad input 7"), "{m}");

    let mut q = Process::spawn(|c: i32| std::process::exit(c), 42).unwrap();
    assert_eq!(q.join().unwrap(), Exit::Code(42));
    assert_eq!(q.panic_message(), None);

    let mut r = Process::spawn(|_: ()| std::process::abort(), ()).unwrap();
    assert_eq!(r.join().unwrap(), Exit::Signal(libc::SIGABRT));
    assert_eq!(r.join().unwrap().python_code(), -libc::SIGABRT);
}

#[test]
fn join_timeout_terminate_and_kill() {
    let mut p =
        Process::spawn(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 30_000).unwrap();
    assert_eq!(p.join_timeout(Duration::from_millis(50)).unwrap(), None);
    assert!(p.is_alive());
    p.terminate();
    assert_eq!(p.join().unwrap(), Exit::Signal(libc::SIGTERM));
    let mut q =
        Process::spawn(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 30_000).unwrap();
    q.kill();
    assert_eq!(q.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Signal(libc::SIGKILL)));
}

#[test]
fn a_daemon_started_by_a_thread_that_ends_runs_on_as_in_python() {
    // Python's daemon child lives until its parent *process* exits. Before, its
    // PR_SET_PDEATHSIG followed the thread that started it: once that thread ended (here
    // after the child's body began, so after its prctl) the daemon was SIGKILLed and
    // `join` said Signal(9).
    let path = tmp("daemon-thread");
    let _ = std::fs::remove_file(&path);
    let body = |path: String| {
        std::fs::write(&path, "started").unwrap();
        std::thread::sleep(Duration::from_millis(400));
    };
    let p = std::path::PathBuf::from(&path);
    let mut child = std::thread::spawn(move || {
        let mut d = Process::new(body, p.to_str().unwrap().to_owned()).daemon(true);
        d.start().unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while !p.exists() && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        d // the thread ends here, the daemon's body running
    })
    .join()
    .unwrap();
    assert!(path.exists(), "the daemon never started its body");
    let e = child.join_timeout(Duration::from_secs(20)).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(e, Some(Exit::Code(0)), "a daemon died with the thread that started it");
}

#[test]
fn a_long_panic_message_is_cut_at_a_character_with_its_location() {
    // Before: cut at byte 4,096, so a 3-byte character split there read back as U+FFFD and
    // the location (the message's end) was lost, with nothing saying so.
    let mut p = Process::spawn(|n: u32| panic!("{}", "€".repeat(n as usize)), 3000).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(1));
    let m = p.panic_message().unwrap();
    assert!(!m.contains('\u{FFFD}'), "a character was split: {m}");
    assert!(m.len() <= 4096 && m.contains("bytes cut: the message had"), "{m}");
    assert!(m.ends_with(')') && m.contains("(at "), "the location was lost: {m}");
}

/// The child's name, sent back through a queue.
fn send_my_name(q: zeroproc_mp::queue::QueueHandle<String>) {
    q.attach().unwrap().put(Process::current_name().unwrap()).unwrap();
}

#[test]
fn any_name_reaches_the_child_as_in_python() {
    // Names travel in the process segment. Before (user27), in the child's environment:
    // a name over 128 KiB failed `start` with "process: Argument list too long (os error
    // 7)", naming arguments the caller never passed (CPython 3.11 starts a child named
    // with 200,000 characters), and a NUL byte was refused.
    let q = zeroproc_mp::Queue::<String>::new(4).unwrap();
    for name in ["x".repeat(200_000), "a\0b|c|d".to_string(), String::new(), "ключ 😀".into()]
    {
        let mut p = Process::new(send_my_name, q.handle()).name(name.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), Exit::Code(0));
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), name);
    }
}

/// A dropped daemon runs on (Python: until the program exits, which the exit tests in
/// `daemon_dropped.rs` check); before newuser36 the drop killed it.
#[test]
fn a_dropped_daemon_runs_on_and_kill_stops_one() {
    let path = std::env::temp_dir().join(format!("zp-daemon-runs-on-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let write_later = |p: String| {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(p, "ran").unwrap();
    };
    let mut p = Process::new(write_later, path.to_str().unwrap().to_owned()).daemon(true);
    p.start().unwrap();
    drop(p);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(std::time::Instant::now() < until, "the dropped daemon never ran its body");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&path);
    // Stopping one earlier: `kill` (the handle held).
    let mut p =
        Process::new(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 30_000).daemon(true);
    p.start().unwrap();
    p.kill();
    assert_eq!(p.join().unwrap(), zeroproc_sched::Exit::Signal(9));
}

#[test]
fn a_shared_array_handle_is_a_process_argument() {
    use zeroproc_mp::shared::ChunkMut;
    use zeroproc_mp::SharedArray;
    let mut a = SharedArray::<u64>::zeroed(8).unwrap();
    let chunks = a.chunks_mut(4).unwrap();
    let mut ps: Vec<Process> = chunks
        .into_iter()
        .map(|c| {
            Process::spawn(
                |c: ChunkMut<u64>| {
                    let mut w = c.write().unwrap();
                    let r = w.range();
                    for (o, i) in w.iter_mut().zip(r) {
                        *o = (i * 10) as u64;
                    }
                },
                c,
            )
            .unwrap()
        })
        .collect();
    for p in ps.iter_mut() {
        assert_eq!(p.join().unwrap(), Exit::Code(0));
    }
    assert_eq!(a.as_slice().unwrap(), &[0, 10, 20, 30, 40, 50, 60, 70]);
}

#[test]
fn sync_handles_are_process_arguments_and_a_dead_holder_does_not_deadlock() {
    use zeroproc_mp::shared::CellHandle;
    use zeroproc_mp::SharedCell;
    use zeroproc_shm::sync::{Event, Lock, LockTimeoutError};
    let ev = SharedCell::new(Event::new()).unwrap();
    let mut p =
        Process::spawn(|h: CellHandle<Event>| h.attach().unwrap().set(), ev.handle()).unwrap();
    assert!(ev.wait_timeout(Duration::from_secs(10)), "the child set the event");
    assert_eq!(p.join().unwrap(), Exit::Code(0));

    // A child takes the lock and is SIGKILLed while holding it.
    let lock = SharedCell::new(Lock::new()).unwrap();
    let held = SharedCell::new(Event::new()).unwrap();
    let mut q = Process::spawn(
        |(l, e): (CellHandle<Lock>, CellHandle<Event>)| {
            let l = l.attach().unwrap();
            let _g = l.lock().unwrap();
            e.attach().unwrap().set();
            std::thread::sleep(Duration::from_secs(60));
        },
        (lock.handle(), held.handle()),
    )
    .unwrap();
    assert!(held.wait_timeout(Duration::from_secs(10)));
    q.kill();
    assert_eq!(q.join().unwrap(), Exit::Signal(libc::SIGKILL));
    match lock.lock_timeout(Duration::from_secs(10)) {
        Err(LockTimeoutError::OwnerDied(g)) => drop(g),
        Ok(_) => panic!("expected OwnerDied"),
        Err(_) => panic!("timed out: the dead holder deadlocked the lock"),
    }
    assert!(lock.try_lock().is_ok(), "usable again");
}

fn put_index((q, i): (zeroproc_mp::queue::QueueHandle<u64>, u64)) {
    std::thread::sleep(Duration::from_millis(20));
    q.attach().unwrap().put(i).unwrap();
}

/// Zombie children of this process (state Z, parent us).
fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let f: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            (f.len() > 1 && f[0] == "Z" && f[1] == me).then_some(pid)
        })
        .collect()
}

#[test]
fn fire_and_forget_children_run_their_body_and_are_reaped() {
    // Python's `Process(target=f, args=(q, i)).start()` without keeping `p`: the handle's
    // drop took the argument segment with it, and a child that had not attached it yet
    // exited without running (4 of 10 ran); the rest stayed zombies until we exited.
    let q = zeroproc_mp::Queue::<u64>::new(16).unwrap();
    let n = 8u64;
    let pids: Vec<u32> = (0..n)
        .map(|i| Process::spawn(put_index, (q.handle(), i)).unwrap().pid().unwrap())
        .collect();
    let mut got: Vec<u64> =
        (0..n).filter_map(|_| q.get_timeout(Duration::from_secs(20)).ok()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "children whose handle was dropped");
    // The reaper runs every 20 ms; 10 s is only a bound against hanging the test.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| zombie_children().contains(p)) && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<u32> = zombie_children().into_iter().filter(|p| pids.contains(p)).collect();
    assert!(left.is_empty(), "zombies left: {left:?}");
}

#[test]
fn join_adopted_waits_for_children_whose_handle_was_dropped() {
    // What `#[zeroproc::main]` does when `main` returns (Python joins non-daemon children
    // at exit).
    let path = tmp("adopted");
    let _ = std::fs::remove_file(&path);
    drop(
        Process::spawn(
            |p: String| {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(p, "done").unwrap();
            },
            path.to_string_lossy().into_owned(),
        )
        .unwrap(),
    );
    zeroproc_sched::join_adopted();
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("done"));
    let _ = std::fs::remove_file(&path);
}

/// Python's idioms `p.start(); child_conn.close()` and "send, then close at once": the
/// creator drops its ends (or its queue) right after starting the child, usually before
/// the child attached. The child still gets everything, then end-of-file. Before, the
/// channel was gone with its creator's last handle: the child's `attach()` failed with
/// `NotFound` and the values sent (`Ok` each) were lost.
#[test]
fn a_channel_dropped_by_its_creator_after_start_still_reaches_the_child() {
    use zeroproc_mp::pipe::ReceiverHandle;
    use zeroproc_mp::queue::QueueHandle;
    for _ in 0..3 {
        let (mut tx, rx) = zeroproc_mp::pipe_oneway::<String>().unwrap();
        let mut p = Process::spawn(
            |h: ReceiverHandle<String>| {
                let mut rx = h.attach().expect("the pipe is kept for the child");
                let got: Vec<String> = std::iter::from_fn(|| rx.recv().ok()).collect();
                assert_eq!(got, ["a", "b"]);
            },
            rx.handle(),
        )
        .unwrap();
        drop(rx);
        tx.send("a".into()).unwrap();
        tx.send("b".into()).unwrap();
        drop(tx);
        assert_eq!(p.join().unwrap(), Exit::Code(0), "{:?}", p.panic_message());

        let q = zeroproc_mp::Queue::<u64>::new(8).unwrap();
        let mut p = Process::spawn(
            |h: QueueHandle<u64>| {
                let q = h.attach().expect("the queue is kept for the child");
                let got: Vec<u64> = (0..3).map(|_| q.get().unwrap()).collect();
                assert_eq!(got, [1, 2, 3]);
            },
            q.handle(),
        )
        .unwrap();
        (1..=3).for_each(|i| q.put(i).unwrap());
        drop(q);
        assert_eq!(p.join().unwrap(), Exit::Code(0), "{:?}", p.panic_message());
    }
}

/// The same for a pool job queued behind a busy worker (it attaches long after the
/// creator dropped the object), and for shared containers and cells.
#[test]
fn objects_dropped_by_their_creator_after_submit_or_start_still_reach_the_job() {
    use zeroproc_mp::container::DictHandle;
    use zeroproc_mp::queue::QueueHandle;
    use zeroproc_mp::shared::CellHandle;
    use zeroproc_shm::sync::Event;
    let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300);
    let q = zeroproc_mp::Queue::<u64>::new(4).unwrap();
    q.put(41).unwrap();
    let job = pool.submit(
        |h: QueueHandle<u64>| h.attach().map(|q| q.get().unwrap() + 1).map_err(|e| e.to_string()),
        q.handle(),
    );
    drop(q);
    busy.result().unwrap();
    assert_eq!(job.result().unwrap(), Ok(42));

    let d = zeroproc_mp::SharedDict::<String, u64>::new().unwrap();
    d.insert("x".into(), 1).unwrap();
    let ev = zeroproc_mp::SharedCell::new(Event::new()).unwrap();
    ev.set();
    let mut p = Process::spawn(
        |(d, ev): (DictHandle<String, u64>, CellHandle<Event>)| {
            let d = d.attach().expect("the dict is kept for the child");
            assert_eq!(d.get(&"x".into()).unwrap(), Some(1));
            assert!(ev.attach().expect("the cell is kept for the child").is_set());
        },
        (d.handle(), ev.handle()),
    )
    .unwrap();
    drop((d, ev));
    assert_eq!(p.join().unwrap(), Exit::Code(0), "{:?}", p.panic_message());
}

/// A SIGSEGV or SIGBUS *sent* to a child (`raise`, `kill -SEGV`) ends it with that
/// signal (Python: `exitcode == -11`); the runtime's fault handler swallowed the first one
/// and the child exited 0. A real fault still ends it with SIGSEGV.
#[test]
fn a_sent_sigsegv_or_sigbus_ends_the_child() {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        let mut p = Process::spawn(
            |sig: i32| {
                // SAFETY: raise sends `sig` to this child only.
                unsafe { libc::raise(sig) };
            },
            sig,
        )
        .unwrap();
        assert_eq!(p.join().unwrap(), Exit::Signal(sig));
    }
    let mut p = Process::spawn(
        |_: ()| {
            // SAFETY: none: a write through a null pointer, to fault on purpose.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
        },
        (),
    )
    .unwrap();
    assert_eq!(p.join().unwrap(), Exit::Signal(libc::SIGSEGV));
}

/// A name is any string, as in Python: one with `|` (the separator of the child's spec)
/// reaches the child as it was given; it came as `a/b`.
#[test]
fn a_name_with_the_spec_separator_reaches_the_child_unchanged() {
    let mut p = Process::new(
        |_: ()| assert_eq!(Process::current_name().as_deref(), Some("load|parse")),
        (),
    )
    .name("load|parse");
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0), "{:?}", p.panic_message());
}

/// Misuse names the fix, as Python's "can only join a started process" does.
#[test]
fn misuse_messages_name_the_fix() {
    let mut p = Process::new(|_: ()| {}, ());
    let e = p.join().unwrap_err();
    assert!(e.to_string().contains("call start() first"), "{e}");
    p.start().unwrap();
    let e = p.start().unwrap_err();
    assert!(e.to_string().contains("starts once"), "{e}");
    p.join().unwrap();
}

fn square(x: u64) -> u64 {
    x * x
}

/// The body of a child that builds a pool of its own and a process of its own, and
/// writes what they gave (or the errors) to `path`.
fn nested(path: String) {
    let pool = zeroproc_sched::Pool::builder().workers(2).build();
    let got = match pool {
        Ok(pool) => {
            let sum: u64 =
                (1..=10).map(|i| pool.submit(square, i)).map(|f| f.result().unwrap()).sum();
            let mut p = Process::spawn(|code: i32| std::process::exit(code), 7).unwrap();
            format!("pool {sum} process {:?}", p.join().unwrap())
        }
        Err(e) => format!("error {e}"),
    };
    std::fs::write(path, got).unwrap();
}

#[test]
fn a_non_daemon_child_builds_a_pool_and_starts_processes_as_in_python() {
    // Python allows a Pool (and Processes) inside a non-daemon Process. Before, the build
    // was refused with BuildError::InsideWorker in every child.
    let path = tmp("nested");
    let mut p = Process::spawn(nested, path.to_str().unwrap().to_owned()).unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "pool 385 process Code(7)");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_daemon_child_is_refused_a_pool_with_the_reason() {
    // As Python: "daemonic processes are not allowed to have children".
    let path = tmp("nested-daemon");
    let mut p = Process::new(nested, path.to_str().unwrap().to_owned()).daemon(true);
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    let m = std::fs::read_to_string(&path).unwrap();
    assert!(m.starts_with("error ") && m.contains("daemon") && m.contains("non-daemon"), "{m}");
    std::fs::remove_file(path).unwrap();
}

/// CPython's `ProcessPoolExecutor` workers are not daemonic: a job there may run an
/// executor and start processes of its own (measured, CPython 3.11.7:
/// `current_process().daemon` is `False` in a job, and a `ProcessPoolExecutor(1)` built in
/// the job returned its result). Before api31 a job's `Pool::build` and `Process::start`
/// were refused with `InsideWorker`, "as in Python" — true of `multiprocessing.Pool` only.
#[test]
fn a_job_builds_a_pool_and_starts_processes_as_in_cpythons_executor() {
    let path = tmp("nested-job");
    let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    let r = pool
        .submit(nested, path.to_str().unwrap().to_owned())
        .result_timeout(Duration::from_secs(60));
    assert_eq!(r.ok(), Some(Ok(())));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "pool 385 process Code(7)");
    std::fs::remove_file(path).unwrap();
}

/// An initializer may build a pool too (kept for the worker's jobs, as a module-level
/// executor in a Python worker would be).
#[test]
fn an_initializer_builds_a_pool_for_its_workers_jobs() {
    static INNER: std::sync::OnceLock<zeroproc_sched::Pool> = std::sync::OnceLock::new();
    fn init() {
        let _ = INNER.set(zeroproc_sched::Pool::builder().workers(1).build().unwrap());
    }
    fn use_inner(x: u64) -> u64 {
        INNER.get().expect("built by the initializer").submit(square, x).result().unwrap()
    }
    let pool = zeroproc_sched::Pool::builder().workers(1).initializer(init).build().unwrap();
    assert_eq!(pool.submit(use_inner, 12).result(), Ok(144));
}

/// The workers of a pool built in a job die with the job's worker: a terminated job leaves
/// no process of its nested pool running.
#[test]
fn a_terminated_job_takes_its_nested_pools_workers_with_it() {
    fn inner_pid_then_hang(path: String) {
        let inner = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
        let f = inner.submit(
            |path: String| {
                std::fs::write(path, std::process::id().to_string()).unwrap();
                std::thread::sleep(Duration::from_secs(600));
            },
            path,
        );
        let _ = f.result();
    }
    let path = tmp("nested-terminated");
    let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(inner_pid_then_hang, path.to_str().unwrap().to_owned());
    let end = std::time::Instant::now() + Duration::from_secs(30);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&path).ok().and_then(|s| s.parse().ok()) {
            break pid;
        }
        assert!(std::time::Instant::now() < end, "the nested job never started");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(f.terminate());
    // Gone, or a zombie waiting for a reaper (its parent was the killed worker).
    let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')),
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !gone() {
        assert!(std::time::Instant::now() < end, "the nested pool's worker {pid} outlived its job");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_file(path).unwrap();
}
