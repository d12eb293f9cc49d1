//! Third round: time limits against slow starts, panic payloads and hooks, pools built in
//! callbacks, a job running the program itself.

use crate::{ms, nap, Report};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use zeroproc::{wait, JobError, Pool, ReturnWhen};

fn slow_init() {
    std::thread::sleep(Duration::from_millis(400));
}

/// job_time_limit 200 ms, initializer 400 ms, a fresh worker per job: the initializer's
/// time is not the job's (Python's initializer runs before the worker takes work).
fn time_limit_slow_initializer(r: &mut Report) {
    let pool = Pool::builder()
        .workers(2)
        .initializer(slow_init)
        .max_jobs_per_worker(1)
        .job_time_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    let fs: Vec<_> = (0..8).map(|_| pool.submit(nap, 20)).collect();
    let res: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    r.check("no TimeLimit for 20 ms jobs", res.iter().all(|x| x == &Ok(20)), &res);
    let f = pool.submit_with_time_limit(nap, 20, Duration::from_millis(100));
    let fr = f.result();
    r.check("per-job limit too", fr == Ok(20), &fr);
}

/// Same with crashes: each job's worker dies, the replacement's initializer is slow.
fn time_limit_after_crash(r: &mut Report) {
    let pool = Pool::builder()
        .workers(1)
        .initializer(slow_init)
        .job_time_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    let a = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0);
    let b = pool.submit(nap, 20);
    let c = pool.submit(nap, 20);
    let ar = a.result();
    r.check("abort", matches!(ar, Err(JobError::WorkerDied { signal: Some(6), .. })), &ar);
    let (br, cr) = (b.result(), c.result());
    r.check("queued after the crash not TimeLimit", br == Ok(20) && cr == Ok(20), (br, cr));
}

/// running() of a job queued on a worker still in its initializer.
fn running_during_initializer(r: &mut Report) {
    let pool =
        Pool::builder().workers(1).initializer(slow_init).max_jobs_per_worker(1).build().unwrap();
    let a = pool.submit(nap, 10);
    let b = pool.submit(nap, 10);
    a.wait();
    std::thread::sleep(Duration::from_millis(100)); // replacement in its initializer
    r.check(
        "b not running during the initializer",
        !b.running() && !b.done(),
        (b.running(), b.done()),
    );
    r.check("b cancellable", b.cancel(), ());
    r.check("b Cancelled", b.result() == Err(JobError::Cancelled), ());
}

fn panic_payloads(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let a = pool.submit(|_: u64| -> u64 { std::panic::panic_any(42u32) }, 0).result();
    let m = a.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    r.check("panic_any: Panicked", matches!(a, Err(JobError::Panicked { .. })), &a);
    r.check("panic_any: says something", m.len() > 10, &m);
    eprintln!("panic_any: {m}");
    // A job replaces the panic hook with a silent one: later panics still name their text.
    let h = pool.submit(
        |_: u64| {
            std::panic::set_hook(Box::new(|_| {}));
            1u64
        },
        0,
    );
    r.check("hook set", h.result() == Ok(1), ());
    let b = pool.submit(|_: u64| -> u64 { panic!("after a silent hook 77") }, 0).result();
    let m = b.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    r.check("message kept", m.contains("after a silent hook 77"), &m);
    // A hook that panics itself.
    let h = pool.submit(
        |_: u64| {
            std::panic::set_hook(Box::new(|_| panic!("hook panics")));
            1u64
        },
        0,
    );
    r.check("hook 2 set", h.result() == Ok(1), ());
    let c = pool.submit(|_: u64| -> u64 { panic!("under a panicking hook") }, 0).result();
    r.check("panicking hook: job fails", c.is_err(), &c);
    let d = pool.submit(|x: u64| x, 5).result();
    r.check("pool goes on", d == Ok(5), &d);
}

/// A job runs the program itself as a subprocess (Python: subprocess.run([sys.executable,
/// ...])): the child is a normal copy, not a worker.
fn job_runs_self(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .arg("list")
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1) as i64,
                String::from_utf8_lossy(&out.stdout).lines().count() as u64,
            )
        },
        0,
    );
    let fr = f.result_timeout(Duration::from_secs(20));
    r.check(
        "child listed scenarios",
        matches!(fr, Ok(Ok((0, n))) if n > 10),
        fr.map_err(|_| "hang"),
    );
    // And a child that builds its own pool.
    let g = pool.submit(
        |_: u64| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .arg("as_completed_zero_timeout")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        },
        0,
    );
    let gr = g.result_timeout(Duration::from_secs(30));
    r.check(
        "child ran a scenario with its own pool",
        matches!(&gr, Ok(Ok(s)) if s.starts_with("PASS")),
        gr.map_err(|_| "hang"),
    );
}

/// A done-callback builds, uses and drops a pool.
fn pool_in_callback(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(nap, 10);
    f.add_done_callback(move |_| {
        let p = Pool::builder().workers(2).build().unwrap();
        let s: u64 = p.map(|x: u64| x, 0..100u64).map(|x| x.unwrap()).sum();
        tx.send(s).unwrap();
    });
    r.check("sum", rx.recv_timeout(Duration::from_secs(10)) == Ok(4950), ());
}

/// wait(FIRST_EXCEPTION) counts a fallible job's Err as an exception.
fn first_exception_fallible(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let slow = pool.submit_fallible(|ms: u64| -> Result<u64, String> { Ok(nap(ms)) }, 3000);
    let bad = pool.submit_fallible(
        |ms: u64| -> Result<u64, String> {
            nap(ms);
            Err(format!("bad after {ms}"))
        },
        100,
    );
    let t = Instant::now();
    let (d, nd) = wait(vec![slow, bad], ReturnWhen::FirstException, Some(Duration::from_secs(10)));
    r.check("early", t.elapsed() < Duration::from_millis(1500), ms(t.elapsed()));
    r.check("split", (d.len(), nd.len()) == (1, 1), ());
    let e = d.into_iter().next().unwrap().result();
    r.check("Job error", matches!(&e, Err(JobError::Job(s)) if s == "bad after 100"), &e);
    r.check("display", e.unwrap_err().to_string() == "job failed: bad after 100", ());
    for f in nd {
        f.terminate();
    }
}

/// Pool shared by threads, dropped by the last one while others wait for results.
fn last_arc_dropped_by_waiter(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let fs: Vec<_> = (0..6).map(|i| pool.submit(nap, 50 * i)).collect();
    let mut hs = vec![];
    for f in fs {
        let p = pool.clone();
        hs.push(std::thread::spawn(move || {
            let v = f.result();
            drop(p);
            v
        }));
    }
    drop(pool);
    let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    r.check("all", res.iter().enumerate().all(|(i, x)| x == &Ok(50 * i as u64)), &res);
}

pub fn scenarios() -> Vec<(&'static str, fn(&mut Report))> {
    vec![
        ("time_limit_slow_initializer", time_limit_slow_initializer),
        ("time_limit_after_crash", time_limit_after_crash),
        ("running_during_initializer", running_during_initializer),
        ("panic_payloads", panic_payloads),
        ("job_runs_self", job_runs_self),
        ("pool_in_callback", pool_in_callback),
        ("first_exception_fallible", first_exception_fallible),
        ("last_arc_dropped_by_waiter", last_arc_dropped_by_waiter),
        ("mixed_map_unordered", mixed_map_unordered),
        ("mixed_random", mixed_random),
        ("huge_timeouts", huge_timeouts),
        ("init_exits_on_respawn", init_exits_on_respawn),
    ]
}

fn spin_us(us: u64) -> u64 {
    let s = Instant::now();
    while s.elapsed() < Duration::from_micros(us) {}
    us
}

/// map_unordered: tiny items, one 1.5 s item in the middle, 1 ms items after it: none of
/// the others waits for the long one.
pub fn mixed_map_unordered(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let mut items: Vec<u64> = vec![1; 3000];
    items[1500] = 1_500_000;
    items.extend(std::iter::repeat(1000).take(100));
    let t = Instant::now();
    let mut last_other = Duration::ZERO;
    let mut long_at = Duration::ZERO;
    for x in pool.map_unordered(spin_us, items) {
        if x.unwrap() == 1_500_000 {
            long_at = t.elapsed();
        } else {
            last_other = t.elapsed();
        }
    }
    eprintln!("last other {} ms, long {} ms", ms(last_other), ms(long_at));
    r.check("others before the long one", last_other < long_at, (ms(last_other), ms(long_at)));
}

/// Random mix of 5 us .. 400 ms jobs via submit + as_completed: makespan near the ideal.
pub fn mixed_random(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let mut seed = 12345u64;
    let mut durs = vec![];
    for _ in 0..400 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        durs.push(
            [5, 50, 1000, 20_000, 400_000][(seed >> 33) as usize % 5 + 0]
                .min(if (seed >> 40) % 10 == 0 { 400_000 } else { 20_000 }),
        );
    }
    let total: u64 = durs.iter().sum();
    let longest = *durs.iter().max().unwrap();
    let t = Instant::now();
    let fs: Vec<_> = durs.iter().map(|&d| pool.submit(spin_us, d)).collect();
    let n = zeroproc::as_completed(fs).map(|f| f.result().unwrap()).count();
    let e = t.elapsed();
    let ideal = Duration::from_micros((total / pool.workers() as u64).max(longest));
    eprintln!("makespan {} ms, ideal {} ms, total {} ms", ms(e), ms(ideal), total / 1000);
    r.check("all", n == 400, n);
    r.check(
        "makespan within 1.5x + 100 ms of ideal",
        e < ideal.mul_f64(1.5) + Duration::from_millis(100),
        (ms(e), ms(ideal)),
    );
}

/// Huge time-outs everywhere (Python: result(timeout=1e300) just waits).
pub fn huge_timeouts(r: &mut Report) {
    let big = Duration::MAX;
    let pool = Pool::builder().workers(2).job_time_limit(big).build();
    r.check("job_time_limit(MAX) builds", pool.is_ok(), pool.as_ref().err().map(|e| e.to_string()));
    let pool = Pool::builder().workers(2).build().unwrap();
    let step = |what: &str, r: &mut Report, f: &dyn Fn() -> bool| {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        r.check(what, matches!(ok, Ok(true)), ok.map_err(|_| "panicked"));
    };
    step("result_timeout", r, &|| matches!(pool.submit(nap, 10).result_timeout(big), Ok(Ok(10))));
    step("wait_timeout", r, &|| pool.submit(nap, 10).wait_timeout(big));
    step("submit_with_time_limit", r, &|| {
        pool.submit_with_time_limit(nap, 10, big).result() == Ok(10)
    });
    step("submit_timeout", r, &|| {
        matches!(pool.submit_timeout(nap, 10, big).map(|f| f.result()), Ok(Ok(10)))
    });
    step("map timeout", r, &|| {
        pool.map(nap, [1, 2]).timeout(big).collect::<Vec<_>>() == vec![Ok(1), Ok(2)]
    });
    step("as_completed timeout", r, &|| {
        zeroproc::as_completed(vec![pool.submit(nap, 1)]).timeout(big).count() == 1
    });
    step("wait", r, &|| {
        wait(vec![pool.submit(nap, 1)], ReturnWhen::AllCompleted, Some(big)).1.is_empty()
    });
    step("shutdown timeout", r, &|| {
        let p = Pool::builder().workers(1).build().unwrap();
        let f = p.submit(nap, 20);
        p.shutdown_with(zeroproc::Shutdown::new().timeout(big));
        f.result() == Ok(20)
    });
}

fn init_exits_on_respawn_fn() {
    let marker = "/tmp/exec38-init-exit-count";
    let n: u64 =
        std::fs::read_to_string(marker).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    std::fs::write(marker, format!("{}", n + 1)).unwrap();
    if n >= 1 {
        std::process::exit(5);
    }
}

/// An initializer that calls exit(5) in replacement workers: the job it was to run fails
/// with a message naming the initializer, not the job.
pub fn init_exits_on_respawn(r: &mut Report) {
    let _ = std::fs::remove_file("/tmp/exec38-init-exit-count");
    let pool = Pool::builder()
        .workers(1)
        .initializer(init_exits_on_respawn_fn)
        .max_jobs_per_worker(1)
        .build()
        .unwrap();
    let a = pool.submit(nap, 1).result();
    r.check("first ok", a == Ok(1), &a);
    let b = pool.submit(nap, 1).result();
    let m = b.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    eprintln!("b: {b:?}: {m}");
    r.check("b fails", b.is_err(), &b);
    r.check("b's message names the initializer", m.contains("initializer"), &m);
    let _ = std::fs::remove_file("/tmp/exec38-init-exit-count");
}
