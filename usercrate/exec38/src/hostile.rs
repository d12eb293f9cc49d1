//! Jobs that do harm to their worker, and builder settings against them.

use crate::{ms, nap, Report};
use std::time::{Duration, Instant};
use zeroproc::{BuildError, JobError, Pool};

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Each job's outcome, its message, and whether the pool goes on after it.
fn outcome_then_ok(
    r: &mut Report,
    what: &str,
    f: zeroproc::JobFuture<u64>,
    want: &dyn Fn(&JobError) -> bool,
    words: &[&str],
    pool: &Pool,
) {
    let res = f.result();
    match &res {
        Err(e) => {
            r.check(&format!("{what}: variant"), want(e), e);
            let msg = e.to_string();
            for w in words {
                r.check(&format!("{what}: message names {w}"), msg.contains(w), &msg);
            }
        }
        Ok(v) => r.check(&format!("{what}: failed"), false, v),
    }
    let after: Vec<_> = (0..4).map(|i| pool.submit(|x: u64| x, i)).map(|f| f.result()).collect();
    r.check(&format!("{what}: pool goes on"), after == vec![Ok(0), Ok(1), Ok(2), Ok(3)], &after);
}

fn job_exit0(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let f = pool.submit(|_: u64| -> u64 { std::process::exit(0) }, 0);
    outcome_then_ok(
        r,
        "exit(0)",
        f,
        &|e| matches!(e, JobError::WorkerDied { signal: None, exit_code: Some(0) }),
        &["exit"],
        &pool,
    );
}

fn job_abort(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let f = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0);
    outcome_then_ok(
        r,
        "abort",
        f,
        &|e| matches!(e, JobError::WorkerDied { signal: Some(6), .. }),
        &["abort"],
        &pool,
    );
}

#[allow(unconditional_recursion)]
fn deep(n: u64) -> u64 {
    let pad = [n; 64];
    std::hint::black_box(&pad);
    deep(n + 1) + pad[3]
}

fn job_stack_overflow(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let f = pool.submit(deep, 0);
    outcome_then_ok(r, "overflow", f, &|e| matches!(e, JobError::StackOverflow), &["stack"], &pool);
    // A big stack array rather than recursion.
    let f = pool.submit(
        |_: u64| {
            let big = [1u8; 64 << 20];
            std::hint::black_box(&big);
            big[7] as u64
        },
        0,
    );
    outcome_then_ok(
        r,
        "64 MiB on the stack",
        f,
        &|e| matches!(e, JobError::StackOverflow),
        &["stack"],
        &pool,
    );
}

fn job_oom(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let f = pool.submit(
        |mb: u64| {
            let lim = libc::rlimit { rlim_cur: 3 << 30, rlim_max: 3 << 30 };
            // SAFETY: setrlimit with a valid struct.
            unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
            let mut v: Vec<Vec<u8>> = vec![];
            loop {
                v.push(vec![1u8; (mb << 20) as usize]);
            }
        },
        256,
    );
    outcome_then_ok(
        r,
        "OOM under RLIMIT_AS",
        f,
        &|e| matches!(e, JobError::WorkerDied { signal: Some(6), .. }),
        &["alloc"],
        &pool,
    );
}

fn job_closes_stdio(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            // SAFETY: closing the process's fds 1 and 2.
            unsafe {
                libc::close(1);
                libc::close(2);
            }
            7u64
        },
        0,
    );
    r.check("closing job ok", f.result() == Ok(7), ());
    // Python: the same worker's print then raises OSError (bad fd); here println panics.
    let g = pool.submit(
        |_: u64| {
            println!("to a closed stdout");
            1u64
        },
        0,
    );
    let gr = g.result();
    r.check(
        "print after: Ok or Panicked",
        matches!(gr, Ok(1) | Err(JobError::Panicked { .. })),
        &gr,
    );
    let h = pool.submit(boom_in_closed, 0);
    let hr = h.result();
    r.check(
        "panic with closed stderr: Panicked",
        matches!(hr, Err(JobError::Panicked { .. })),
        &hr,
    );
    let after: Vec<_> = (0..3).map(|i| pool.submit(|x: u64| x, i).result()).collect();
    r.check("pool goes on", after == vec![Ok(0), Ok(1), Ok(2)], &after);
}

fn boom_in_closed(_: u64) -> u64 {
    panic!("with stderr closed")
}

fn job_leaves_thread(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            std::thread::spawn(|| loop {
                std::thread::sleep(Duration::from_millis(1));
            });
            std::thread::spawn(|| loop {
                std::hint::spin_loop();
            });
            5u64
        },
        0,
    );
    r.check("job ok", f.result() == Ok(5), ());
    let v: Vec<_> = (0..20).map(|i| pool.submit(|x: u64| x, i).result()).collect();
    r.check("later jobs", v.iter().all(|x| x.is_ok()), ());
    let t = Instant::now();
    drop(pool);
    r.check("drop returns", t.elapsed() < Duration::from_secs(3), ms(t.elapsed()));
}

extern "C" fn on_term(_: i32) {}

fn job_sigterm_handler(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            // SAFETY: installing a do-nothing handler.
            unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
            1u64
        },
        0,
    );
    r.check("ok", f.result() == Ok(1), ());
    let g = pool.submit(nap, 5000);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    r.check("terminate aimed", g.terminate(), ());
    let gr = g.result();
    r.check("terminated: Cancelled", gr == Err(JobError::Cancelled), &gr);
    r.check("quickly", t.elapsed() < Duration::from_secs(2), ms(t.elapsed()));
    let h = pool.submit(
        |_: u64| {
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            nap(10_000)
        },
        0,
    );
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let ok = pool.shutdown_with(zeroproc::Shutdown::new().timeout(Duration::from_millis(300)));
    r.check(
        "bounded shutdown returns",
        t.elapsed() < Duration::from_secs(3),
        (ms(t.elapsed()), ok),
    );
    let hr = h.result();
    r.check("hung job Cancelled", hr == Err(JobError::Cancelled), &hr);
}

fn job_forks(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    // Child _exits; parent waits for it.
    let f = pool.submit(
        |_: u64| {
            // SAFETY: fork; the child only calls _exit.
            let p = unsafe { libc::fork() };
            if p == 0 {
                unsafe { libc::_exit(4) };
            }
            let mut st = 0;
            unsafe { libc::waitpid(p, &mut st, 0) };
            libc::WEXITSTATUS(st) as u64
        },
        0,
    );
    r.check("child _exit", f.result() == Ok(4), ());
    // Child returns from the job (documented: it exits there without answering).
    let g = pool.submit(
        |_: u64| {
            // SAFETY: fork; both return.
            let p = unsafe { libc::fork() };
            if p > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            if p == 0 {
                99u64
            } else {
                1u64
            }
        },
        0,
    );
    let gr = g.result();
    r.check("parent's answer", gr == Ok(1), &gr);
    let after: Vec<_> = (0..5).map(|i| pool.submit(|x: u64| x, i).result()).collect();
    r.check("pool goes on", after.iter().all(|x| x.is_ok()), &after);
}

fn job_big_result(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let f = pool.submit(|n: u64| (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>(), 100 << 20);
    let v = f.result().unwrap();
    r.check("100 MiB", v.len() == 100 << 20, v.len());
    let sum: u64 = v.iter().map(|&b| b as u64).sum();
    let want: u64 = (0..(100u64 << 20)).map(|i| i % 251).sum();
    r.check("content", sum == want, (sum, want));
    // Two at once, and a 100 MiB argument.
    let a = pool.submit(|n: u64| vec![3u64; n as usize], 13 << 20);
    let b = pool.submit(|v: Vec<u64>| v.iter().sum::<u64>(), vec![1u64; 13 << 20]);
    let (ar, br) = (a.result(), b.result());
    r.check(
        "two",
        ar.as_ref().map(|v| v.len()) == Ok(13 << 20) && br == Ok(13 << 20),
        (ar.map(|v| v.len()), br),
    );
}

fn max_jobs(r: &mut Report) {
    let pool = Pool::builder().max_jobs_per_worker(2).build().unwrap();
    let pids: Vec<u32> = (0..20)
        .map(|_| pool.submit(pid, ()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|f| f.result().unwrap())
        .collect();
    let mut d = pids.clone();
    d.sort();
    d.dedup();
    r.check("at least 10 workers used", d.len() >= 10, (d.len(), &pids));
    // each pid at most twice
    let over: Vec<_> = d.iter().filter(|p| pids.iter().filter(|q| q == p).count() > 2).collect();
    r.check("no pid more than twice", over.is_empty(), &over);
    // map too
    let m: Vec<u32> = pool.map(pid, vec![(); 30]).chunk_size(1).map(|x| x.unwrap()).collect();
    let mut dm = m.clone();
    dm.sort();
    dm.dedup();
    r.check("map: 15 or more workers", dm.len() >= 15, dm.len());
}

fn init_panics(r: &mut Report) {
    let b = Pool::builder().initializer(|| -> () { panic!("init broke") }).build();
    r.check(
        "Initializer",
        matches!(b, Err(BuildError::Initializer { .. })),
        b.as_ref().err().map(|e| e.to_string()),
    );
    if let Err(e) = &b {
        r.check("message names the panic", e.to_string().contains("init broke"), e.to_string());
    }
    let b = Pool::builder().initializer(|| -> () { std::process::exit(7) }).build();
    r.check(
        "exit: WorkerExited",
        matches!(b, Err(BuildError::WorkerExited { .. })),
        b.as_ref().err().map(|e| e.to_string()),
    );
    if let Err(e) = &b {
        r.check(
            "exit message names initializer",
            e.to_string().contains("initializer"),
            e.to_string(),
        );
    }
    let b = Pool::builder().initializer(|| -> () { std::process::abort() }).build();
    r.check(
        "abort: WorkerExited",
        matches!(b, Err(BuildError::WorkerExited { .. })),
        b.as_ref().err().map(|e| e.to_string()),
    );
}

/// An initializer that fails only in respawned workers (after max_jobs_per_worker).
fn init_fails_on_respawn(r: &mut Report) {
    fn init() {
        if std::env::var("EXEC38_FIRST").is_err() {
            // SAFETY: single-threaded at init.
            unsafe { std::env::set_var("EXEC38_FIRST", "1") };
        }
        let marker = "/tmp/exec38-init-count";
        let n: u64 =
            std::fs::read_to_string(marker).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        std::fs::write(marker, format!("{}", n + 1)).unwrap();
        if n >= 2 {
            panic!("initializer fails on respawn");
        }
    }
    let _ = std::fs::remove_file("/tmp/exec38-init-count");
    let pool = Pool::builder().workers(2).initializer(init).max_jobs_per_worker(1).build().unwrap();
    let res: Vec<_> = (0..6)
        .map(|i| pool.submit(|x: u64| x, i))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|f| f.result())
        .collect();
    let ok = res.iter().filter(|x| x.is_ok()).count();
    r.check("first two ok", ok >= 2, &res);
    let msgs: Vec<String> =
        res.iter().filter_map(|x| x.as_ref().err()).map(|e| e.to_string()).collect();
    r.check("failures name the initializer", msgs.iter().all(|m| m.contains("initializer")), &msgs);
    let _ = std::fs::remove_file("/tmp/exec38-init-count");
}

fn time_limit_ignored(r: &mut Report) {
    let pool = Pool::builder().job_time_limit(Duration::from_millis(200)).build().unwrap();
    let t = Instant::now();
    let f = pool.submit(
        |_: u64| {
            // Block every signal it can and ignore SIGTERM, then spin.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut set);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
            let s = Instant::now();
            while s.elapsed() < Duration::from_secs(20) {}
            0u64
        },
        0,
    );
    let fr = f.result();
    r.check("TimeLimit", fr == Err(JobError::TimeLimit), &fr);
    r.check("soon", t.elapsed() < Duration::from_millis(1500), ms(t.elapsed()));
    let msg = JobError::<zeroproc::Never>::TimeLimit.to_string();
    r.check("message says time limit", msg.to_lowercase().contains("time limit"), &msg);
    let g = pool.submit(nap, 5);
    r.check("short job fine", g.result() == Ok(5), ());
}

fn error_messages(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let p = pool.submit(|_: u64| -> u64 { panic!("the panic text 42") }, 0).result();
    let m = p.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    r.check("panic named", m.contains("the panic text 42") && !m.contains("died"), &m);
    let k = pool
        .submit(
            |_: u64| -> u64 {
                unsafe { libc::raise(libc::SIGKILL) };
                0
            },
            0,
        )
        .result();
    let m = k.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    r.check(
        "SIGKILL: WorkerDied 9",
        matches!(k, Err(JobError::WorkerDied { signal: Some(9), .. })),
        &k,
    );
    r.check(
        "SIGKILL message not time limit",
        !m.to_lowercase().contains("time limit") && m.contains('9'),
        &m,
    );
    let s = pool
        .submit(
            |_: u64| -> u64 {
                unsafe { libc::raise(libc::SIGSEGV) };
                0
            },
            0,
        )
        .result();
    r.check("segv 11", matches!(s, Err(JobError::WorkerDied { signal: Some(11), .. })), &s);
    // A death under a time limit is a death, not TimeLimit.
    let d = pool
        .submit_with_time_limit(
            |_: u64| -> u64 { std::process::exit(9) },
            0,
            Duration::from_secs(5),
        )
        .result();
    r.check(
        "exit under limit: WorkerDied",
        matches!(d, Err(JobError::WorkerDied { exit_code: Some(9), .. })),
        &d,
    );
    // A panic under a time limit is a panic.
    let d = pool
        .submit_with_time_limit(
            |_: u64| -> u64 { panic!("limited panic") },
            0,
            Duration::from_secs(5),
        )
        .result();
    r.check("panic under limit: Panicked", matches!(d, Err(JobError::Panicked { .. })), &d);
    // A stack overflow in a map item (batched) is StackOverflow.
    let m: Vec<_> = pool.map(|x: u64| if x == 50 { crate_deep(x) } else { x }, 0..100).collect();
    r.check("map item overflow", m[50] == Err(JobError::StackOverflow), &m[50]);
    let ok_after = m[51..].iter().filter(|x| x.is_ok()).count();
    r.check("map after overflow items mostly fine", ok_after == 49, ok_after);
    let before: Vec<_> = m[..50].iter().filter(|x| x.is_err()).collect();
    r.check(
        "map items before: fail as StackOverflow only",
        before.iter().all(|e| **e == Err(JobError::StackOverflow)),
        &before,
    );
}

pub fn deep_pub(x: u64) -> u64 {
    deep(x)
}

fn crate_deep(x: u64) -> u64 {
    deep(x)
}

pub fn scenarios() -> Vec<(&'static str, fn(&mut Report))> {
    vec![
        ("job_exit0", job_exit0),
        ("job_abort", job_abort),
        ("job_stack_overflow", job_stack_overflow),
        ("job_oom", job_oom),
        ("job_closes_stdio", job_closes_stdio),
        ("job_leaves_thread", job_leaves_thread),
        ("job_sigterm_handler", job_sigterm_handler),
        ("job_forks", job_forks),
        ("job_big_result", job_big_result),
        ("max_jobs", max_jobs),
        ("init_panics", init_panics),
        ("init_fails_on_respawn", init_fails_on_respawn),
        ("time_limit_ignored", time_limit_ignored),
        ("error_messages", error_messages),
    ]
}
