//! Faults with real processes: a crashing, aborting, exiting, SIGKILLed or overrunning job
//! fails only itself; the pool respawns the worker and keeps serving. A controller that
//! exits, panics or is SIGKILLed leaves no worker behind and nothing in /dev/shm.

use std::io::BufRead;
use std::time::{Duration, Instant};
use zeroproc_sched::{BuildError, JobError, Pool};
use zeroproc_testkit as tk;

zeroproc_sched::test_worker!();

fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn segfault(x: u64) -> u64 {
    if x == 13 {
        // SAFETY: none — deliberately invalid (the test needs a SIGSEGV in a worker).
        unsafe { std::ptr::null_mut::<u64>().write_volatile(x) };
    }
    x
}

fn pool(n: usize) -> Pool {
    Pool::builder().workers(n).build().expect("pool")
}

fn respawns(p: &Pool) -> u64 {
    p.stats().workers.iter().map(|w| w.respawns).sum()
}

#[test]
fn segfault_fails_only_that_job_and_queued_jobs_still_run() {
    let p = pool(1);
    // With one worker the crashing job has jobs queued behind it in the same ring.
    let before: Vec<_> = (0..5u64).map(|i| p.submit(segfault, i)).collect();
    let crash = p.submit(segfault, 13);
    let after: Vec<_> = (20..30u64).map(|i| p.submit(segfault, i)).collect();
    for (i, f) in before.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64));
    }
    let e = crash.result().unwrap_err();
    assert_eq!(e, JobError::WorkerDied { signal: Some(libc::SIGSEGV), exit_code: None });
    assert!(e.to_string().contains("SIGSEGV: invalid memory access"), "{e}");
    for (i, f) in after.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(20 + i as u64), "queued behind the crash");
    }
    assert_eq!(respawns(&p), 1);
}

/// Recurses `n` deep with a 4 KiB frame (the array keeps the frames from being merged).
fn deep(n: u64) -> u64 {
    let mut frame = [0u8; 4096];
    frame[(n % 4096) as usize] = n as u8;
    let frame = std::hint::black_box(frame);
    if n == 0 {
        0
    } else {
        deep(n - 1).wrapping_add(u64::from(frame[(n % 4096) as usize]))
    }
}

/// A job that overflows its stack is `StackOverflow` (Python: `RecursionError`), not a
/// bare SIGABRT; the worker is respawned and serves on. New-user finding: an unbounded
/// recursion was reported as "signal 6".
#[test]
fn a_stack_overflow_is_named_and_the_pool_serves_on() {
    let p = pool(1);
    let e = p.submit(deep, u64::MAX).result().unwrap_err();
    assert_eq!(e, JobError::StackOverflow);
    assert!(e.to_string().contains("overflowed its stack"), "{e}");
    assert_eq!(p.submit(deep, 100).result(), Ok(deep(100)));
    // An abort that is not an overflow stays a plain SIGABRT death.
    let e = p.submit(|_: ()| -> u64 { std::process::abort() }, ()).result().unwrap_err();
    assert_eq!(e, JobError::WorkerDied { signal: Some(libc::SIGABRT), exit_code: None });
    // And a segfault elsewhere is still SIGSEGV.
    assert_eq!(
        p.submit(segfault, 13).result(),
        Err(JobError::WorkerDied { signal: Some(libc::SIGSEGV), exit_code: None })
    );
    assert_eq!(p.submit(deep, 10).result(), Ok(deep(10)));
}

/// A controller that blocks every signal before building its pool (a program that
/// handles signals on a dedicated `sigwait` thread): the workers inherit the mask, and an
/// overflow with SIGSEGV blocked killed the worker with a bare SIGSEGV — reported as
/// `WorkerDied { signal: 11 }`, "invalid memory access", not `StackOverflow` (found by the
/// hostile round). The worker unblocks the fault signals its overflow check needs.
#[test]
fn a_stack_overflow_is_named_when_the_controller_blocks_every_signal() {
    // SAFETY: sets this test thread's own signal mask; the pool's threads (and, through
    // them, the workers) inherit it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
    let p = pool(1);
    assert_eq!(p.submit(deep, u64::MAX).result(), Err(JobError::StackOverflow));
    assert_eq!(p.submit(deep, 10).result(), Ok(deep(10)));
}

#[test]
fn abort_and_exit_are_reported_with_signal_or_code() {
    let p = pool(2);
    let a = p.submit(|_: ()| -> u64 { std::process::abort() }, ());
    let e = a.result().unwrap_err();
    assert_eq!(e, JobError::WorkerDied { signal: Some(libc::SIGABRT), exit_code: None });
    assert!(e.to_string().contains("SIGABRT: the job aborted — a stack overflow"), "{e}");
    let e = p.submit(|c: i32| -> u64 { std::process::exit(c) }, 3);
    assert_eq!(e.result(), Err(JobError::WorkerDied { signal: None, exit_code: Some(3) }));
    assert_eq!(p.submit(sleepy, 1).result(), Ok(1));
}

#[test]
fn sigkill_mid_job_fails_it_and_the_pool_serves_on() {
    let p = pool(2);
    let long = p.submit(sleepy, 10_000);
    let t = Instant::now();
    while !long.running() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::yield_now();
    }
    let w = p.stats().workers.into_iter().find(|w| w.queued > 0).unwrap();
    // SAFETY: plain kill(2) of our own worker.
    assert_eq!(unsafe { libc::kill(w.pid as i32, libc::SIGKILL) }, 0);
    assert_eq!(
        long.result(),
        Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), exit_code: None })
    );
    let v: Vec<u64> = p.map(|x: u64| x + 1, 0..100u64).map(Result::unwrap).collect();
    assert_eq!(v, (1..101).collect::<Vec<u64>>());
    let s = p.stats();
    assert!(s.workers.iter().all(|w| w.pid != 0), "respawned: {s}");
}

#[test]
fn crash_storm_fails_exactly_the_crashing_jobs() {
    let p = pool(2);
    let fs: Vec<_> = (0..300u64)
        .map(|i| p.submit(|i: u64| if i % 50 == 13 { segfault(13) } else { i }, i))
        .collect();
    for (i, f) in fs.into_iter().enumerate() {
        let r = f.result();
        if i % 50 == 13 {
            assert!(matches!(r, Err(JobError::WorkerDied { .. })), "{i}: {r:?}");
        } else {
            assert_eq!(r, Ok(i as u64));
        }
    }
    assert_eq!(respawns(&p), 6);
}

/// Appends `i` to the log file named in the argument, then crashes if `i % 40 == 7`.
fn logged(arg: (String, u64)) -> u64 {
    use std::io::Write;
    let (path, i) = arg;
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(format!("{i}\n").as_bytes()).unwrap(); // O_APPEND: one atomic write
    if i % 40 == 7 {
        segfault(13);
    }
    i
}

#[test]
fn crashes_never_run_a_job_twice_or_lose_one() {
    // Tiny jobs back to back: records are released in batches, so a crash leaves
    // completed-but-unreleased records at the ring head; the successor must skip them.
    let path = std::env::temp_dir().join(format!("zp-exactly-once-{}", std::process::id()));
    std::fs::write(&path, "").unwrap();
    let p = pool(2);
    let arg = |i: u64| (path.to_str().unwrap().to_owned(), i);
    let fs: Vec<_> = (0..400u64).map(|i| p.submit(logged, arg(i))).collect();
    let mut failed = 0;
    for (i, f) in fs.into_iter().enumerate() {
        match f.result() {
            Ok(v) => assert_eq!(v, i as u64),
            Err(JobError::WorkerDied { .. }) => {
                assert_eq!(i % 40, 7, "job {i} failed but did not crash");
                failed += 1;
            }
            Err(e) => panic!("{i}: {e:?}"),
        }
    }
    assert_eq!(failed, 10);
    let mut runs = vec![0u32; 400];
    for l in std::fs::read_to_string(&path).unwrap().lines() {
        runs[l.parse::<usize>().unwrap()] += 1;
    }
    std::fs::remove_file(&path).unwrap();
    let wrong: Vec<(usize, u32)> =
        runs.iter().copied().enumerate().filter(|&(_, n)| n != 1).collect();
    assert!(wrong.is_empty(), "jobs not run exactly once: {wrong:?}");
}

#[test]
fn per_job_timeout_kills_and_respawns() {
    let p = pool(1);
    let t = Instant::now();
    let f = p.submit_with_time_limit(sleepy, 20_000, Duration::from_millis(100));
    assert_eq!(f.result(), Err(JobError::TimeLimit));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(p.submit_with_time_limit(sleepy, 5, Duration::from_secs(10)).result(), Ok(5));
    // 500 ms: a 1 ms job must finish within the pool's limit on a loaded host too.
    let q = Pool::builder().workers(1).job_time_limit(Duration::from_millis(500)).build().unwrap();
    assert_eq!(q.submit(sleepy, 5_000).result(), Err(JobError::TimeLimit));
    assert_eq!(q.submit(sleepy, 1).result(), Ok(1));
}

#[test]
fn max_jobs_per_worker_recycles_processes() {
    let p = Pool::builder().workers(1).max_jobs_per_worker(3).build().unwrap();
    let pids: Vec<u32> = p.map(|_: u64| std::process::id(), 0..12u64).map(Result::unwrap).collect();
    let mut distinct = pids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{pids:?}");
    assert!(respawns(&p) >= 3);
}

static INIT_VALUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn initializer_runs_in_every_worker() {
    let p = Pool::builder()
        .workers(2)
        .initializer(|| INIT_VALUE.store(42, std::sync::atomic::Ordering::Relaxed))
        .build()
        .unwrap();
    let v: Vec<u64> = p
        .map(|_: u64| INIT_VALUE.load(std::sync::atomic::Ordering::Relaxed), 0..10u64)
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, [42; 10]);
    assert_eq!(INIT_VALUE.load(std::sync::atomic::Ordering::Relaxed), 0, "not in the controller");
    let bad = Pool::builder().workers(1).initializer(|| panic!("bad init")).build();
    match bad {
        // The panic's message and location come back in the error (it was only on stderr).
        Err(BuildError::Initializer { message: Some(m) }) => {
            assert!(m.contains("bad init") && m.contains("pool_faults.rs"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_initializer_that_exits_is_named_as_the_cause() {
    // It was reported as "it exited before attaching the pool: ... or main did not call
    // zeroproc::init() first", though the worker had attached and the initializer exited.
    let r = Pool::builder().workers(1).initializer(|| std::process::exit(3)).build();
    match r {
        Err(e @ BuildError::WorkerExited { exit_code: Some(3), .. }) => {
            let m = e.to_string();
            assert!(m.contains("the initializer ended the worker process"), "{m}");
            assert!(!m.contains("init()"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let r = Pool::builder()
        .workers(1)
        .initializer(|| {
            // SAFETY: raise has no memory effects; SIGKILL ends this worker at once.
            unsafe { libc::raise(libc::SIGKILL) };
        })
        .build();
    match r {
        Err(e @ BuildError::WorkerExited { exit_code: None, .. }) => {
            let m = e.to_string();
            assert!(m.contains("killed") && m.contains("while its initializer ran"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_slow_initializer_is_waited_for() {
    // An initializer that loads a model for longer than the 10 s start-up limit: the
    // build failed with "a worker did not report ready within 10 s: is zeroproc::init()
    // ... the first thing main does?". Python's executor waits for it.
    let p = Pool::builder()
        .workers(1)
        .initializer(|| std::thread::sleep(Duration::from_secs(11)))
        .build()
        .expect("a slow initializer failed the build");
    assert_eq!(p.submit(sleepy, 1).result(), Ok(1));
}

#[test]
fn oversized_result_is_too_large_not_a_dead_worker() {
    // Without a spill heap, a result larger than a ring record cannot be sent: a resource
    // limit (`TooLarge`, as for arguments), not bad data.
    let p = Pool::builder().workers(1).ring_capacity(1 << 16).spill_heap(0).build().unwrap();
    let f = p.submit(|n: u64| vec![1u64; n as usize], 1 << 20);
    assert!(matches!(f.result(), Err(JobError::TooLarge { .. })));
    assert_eq!(p.submit(|n: u64| vec![1u64; n as usize], 4).result(), Ok(vec![1; 4]));
    assert_eq!(respawns(&p), 0);
}

/// Forks; the copy sleeps `ms` and then returns from the job as well (it is a copy of the
/// worker, mid-job). The worker itself returns its child's pid.
fn fork_and_both_return(ms: u64) -> i64 {
    // SAFETY: fork in a single-threaded worker; the copy only sleeps and returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        std::thread::sleep(Duration::from_millis(ms));
        return -1;
    }
    pid as i64
}

#[test]
fn a_forked_copy_returning_from_the_job_does_not_answer_it() {
    // The copy must not write into the worker's completion ring: it did, and the
    // controller took the ring for corrupt (a later job failed with `Decode`, "producer's
    // tail went backwards").
    let p = pool(1);
    let f = p.submit(fork_and_both_return, 100);
    let child = f.result().expect("the worker's own answer");
    assert!(child > 0, "answered by the forked copy: {child}");
    let end = Instant::now() + Duration::from_millis(400);
    let mut n = 0u64;
    while Instant::now() < end {
        assert_eq!(p.submit(sleepy, 1).result(), Ok(1), "job {n} after the fork");
        n += 1;
    }
    // The copy is the worker's child (a zombie once it exits: `alive` counts that as dead).
    // It ends 100 ms after the fork; the bound only allows for a loaded host.
    let t = Instant::now();
    while alive(child as u32) {
        assert!(t.elapsed() < Duration::from_secs(10), "the forked copy is still running");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(respawns(&p), 0);
}

// --- the controller's own death -------------------------------------------------------

#[test]
fn zp_child() {
    tk::child_entry(|role, go| {
        let p = Pool::builder().workers(2).build().unwrap();
        let pids: Vec<String> = p.stats().workers.iter().map(|w| w.pid.to_string()).collect();
        // Keep the workers busy so they are mid-job when the controller goes.
        let _busy: Vec<_> = (0..4).map(|_| p.submit(sleepy, 30_000)).collect();
        println!("PIDS {}", pids.join(" "));
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        // Until the parent has seen the workers alive (it creates `go`). A 50 ms sleep
        // here let the controller end before a parent that lost its CPU had looked.
        let t = Instant::now();
        while !std::path::Path::new(go).exists() {
            assert!(t.elapsed() < Duration::from_secs(60), "the parent never said go");
            std::thread::sleep(Duration::from_millis(1));
        }
        match role {
            "exit" => std::process::exit(0), // no destructors: the pool is never dropped
            "panic" => panic!("controller panics"),
            "sigkill" => std::thread::sleep(Duration::from_secs(60)),
            _ => unreachable!(),
        }
    });
}

/// Leaves a thread behind that panics 50 ms after the job returned.
fn stray_panic(_: ()) -> u64 {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        panic!("stray thread of an earlier job");
    });
    1
}

#[test]
fn zp_stray_child() {
    tk::child_entry(|_, path| {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::create(path).unwrap();
        // SAFETY: dup2 onto descriptor 2: this process's stderr, and its workers', goes to
        // the file from now on.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
        let p = pool(1);
        assert_eq!(p.submit(stray_panic, ()).result(), Ok(1));
        assert_eq!(p.submit(sleepy, 300).result(), Ok(300));
        // A job's own panic is still its future's error, not printed.
        let e = p.submit(|_: ()| -> u64 { panic!("the job's own panic") }, ()).result();
        assert!(matches!(e, Err(JobError::Panicked { .. })), "{e:?}");
    });
}

/// A thread a job left behind that panics later: its message is printed on the worker's
/// stderr, as for any Rust program (Python prints a thread's uncaught exception). The
/// worker's panic hook kept every panic's message for the job's future, so it was lost
/// without a word (found by the hostile round).
#[test]
fn a_panic_in_a_thread_a_job_left_behind_is_printed() {
    let path = std::env::temp_dir().join(format!("zp-stray-{}", std::process::id()));
    let mut c = tk::spawn_role("zp_stray_child", "stray", path.to_str().unwrap());
    let status = tk::wait_timeout(&mut c, Duration::from_secs(20));
    let err = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("stray thread of an earlier job"), "the workers' stderr: {err:?}");
    assert!(!err.contains("the job's own panic"), "a job's panic was printed: {err:?}");
}

fn alive(pid: u32) -> bool {
    // Reparented workers are reaped by init (or the subreaper); a zombie counts as dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn no_worker_outlives_its_controller() {
    for role in ["exit", "panic", "sigkill"] {
        let go = std::env::temp_dir().join(format!("zp-outlive-{role}-{}", std::process::id()));
        let _ = std::fs::remove_file(&go);
        let mut c = tk::spawn_role_piped("zp_child", role, go.to_str().unwrap());
        let ctl = c.id();
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        let mut lines = out.lines().map(|l| l.unwrap());
        let pids: Vec<u32> = lines
            .find_map(|l| l.strip_prefix("PIDS ").map(str::to_owned))
            .expect("controller printed its workers")
            .split(' ')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(pids.len(), 2);
        assert!(pids.iter().all(|&p| alive(p)));
        std::fs::write(&go, b"").unwrap();
        if role == "sigkill" {
            tk::sigkill(&c);
        }
        lines.for_each(drop);
        tk::wait_timeout(&mut c, Duration::from_secs(30));
        let _ = std::fs::remove_file(&go);
        let t = Instant::now();
        // A bound against a hang only (workers die at once with PR_SET_PDEATHSIG; a
        // loaded host may take a while to run their exit).
        while pids.iter().any(|&p| alive(p)) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{role}: workers {pids:?} outlived the controller"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let left: Vec<String> =
            tk::dev_shm_entries().into_iter().filter(|e| e.contains(&format!("-{ctl}-"))).collect();
        assert!(left.is_empty(), "{role}: left in /dev/shm: {left:?}");
    }
}

fn raise_signal(sig: u64) -> u64 {
    // SAFETY: raise sends `sig` to this worker only.
    unsafe { libc::raise(sig as i32) };
    7
}

/// A SIGSEGV or SIGBUS *sent* to a worker (`raise`, `kill -SEGV`) kills it, as it kills a
/// Python worker. Before, the stack-overflow handler and then the runtime's each swallowed
/// one (they expect a fault that recurs when the handler returns): the job returned 7.
#[test]
fn a_sent_sigsegv_or_sigbus_kills_the_worker() {
    let p = pool(1);
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        let r = p.submit(raise_signal, sig as u64).result();
        assert!(
            matches!(r, Err(JobError::WorkerDied { signal: Some(s), .. }) if s == sig),
            "signal {sig}: {r:?}"
        );
    }
    assert_eq!(p.submit(sleepy, 1).result(), Ok(1));
}

/// Lowers this worker's descriptor limit to 4: it can open nothing more.
fn few_descriptors(_: ()) -> u64 {
    let lim = libc::rlimit { rlim_cur: 4, rlim_max: 4 };
    // SAFETY: setrlimit reads `lim`, a valid rlimit, and limits this worker only.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    1
}

fn sum(v: Vec<u64>) -> u64 {
    v.iter().sum()
}

fn count_up(n: u64) -> Vec<u64> {
    (0..n).collect()
}

/// A worker that cannot attach the pool's spill heap (a job lowered its descriptor limit,
/// or changed its user) fails large arguments and results with that cause. They said "the
/// pool has no spill heap" (found by the hostile round), which sent users to
/// `PoolBuilder::spill_heap` when the pool had one.
#[test]
fn a_worker_that_cannot_attach_the_spill_heap_says_why() {
    let p = pool(1);
    assert_eq!(p.submit(few_descriptors, ()).result(), Ok(1));
    let n = 2_000_000u64; // 16 MB: more than a ring record, both ways
    for e in [
        p.submit(sum, (0..n).collect()).result().map(|_| ()).unwrap_err(),
        p.submit(count_up, n).result().map(|_| ()).unwrap_err(),
    ] {
        let m = e.to_string();
        assert!(
            m.contains("could not attach the pool's spill heap") && m.contains("open files"),
            "{m}"
        );
        assert!(!m.contains("has no spill heap"), "{m}");
    }
    assert_eq!(p.submit(sleepy, 1).result(), Ok(1));
}

/// A worker is named after the program in `ps`, `top` and the kernel's OOM report, as its
/// controller is: started from `/proc/self/exe`, it was called `exe` ("Out of memory:
/// Killed process 1234 (exe)" named no program; found by the hostile round).
#[test]
fn a_worker_is_named_after_the_program() {
    let p = pool(1);
    let pid = p.stats().workers[0].pid;
    let comm = |pid: String| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm(pid.to_string()), comm("self".into()));
}
