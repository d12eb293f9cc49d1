//! Fault injection with real processes (issue #6, part 1), at the facade level.
//!
//! Each test prints one `RELIABILITY ...` summary line (visible with `--nocapture`); the
//! table in `docs/reliability.md` is filled from those lines. Counts are CI-sized by
//! default; `ZEROPROC_KILLS`, `ZEROPROC_CRASHES` and `ZEROPROC_FAULT_ROUNDS` make the
//! runs longer (see `.ci/reliability.sh`).

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc::sync::{Lock, LockTimeoutError};
use zeroproc::{CellHandle, QueueHandle, SharedCell};
use zeroproc::{JobError, Pool, Process, Queue};
use zeroproc_testkit as tk;
use zeroproc_testkit::{spin_us, Rng};

zeroproc::test_worker!();

/// A count from the environment, or the CI default.
fn count(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Reproducible "random" points (the seed is printed with each summary). This test's generator: `ZEROPROC_SEED` (to repeat a run) mixed with the process id.
fn seeded() -> Rng {
    let seed = count("ZEROPROC_SEED", 0).max(1)
        ^ (std::process::id() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Rng::new(seed)
}

/// The job of the kill test: logs its id (one O_APPEND write), works for `us`, answers.
fn logged_work((path, id, us): (String, u64, u64)) -> u64 {
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(format!("{id}\n").as_bytes()).unwrap();
    spin_us(us);
    id.wrapping_mul(3) + 1
}

fn log_counts(path: &str, n: usize) -> Vec<u32> {
    let mut runs = vec![0u32; n];
    for l in std::fs::read_to_string(path).unwrap().lines() {
        runs[l.parse::<usize>().unwrap()] += 1;
    }
    runs
}

fn temp_path(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!("zp-rel-{tag}-{}", std::process::id()));
    std::fs::write(&p, "").unwrap();
    p.to_str().unwrap().to_owned()
}

/// SIGKILL a worker at a random point while jobs flow, many times: every future
/// resolves (value or `WorkerDied`) within a bound, at most the one job the killed worker
/// was running fails, every job that succeeded ran exactly once, and none ran twice.
#[test]
fn sigkill_workers_at_random_points() {
    let kills = count("ZEROPROC_KILLS", 1000);
    let path = temp_path("kills");
    let p = Pool::builder().workers(2).build().unwrap();
    let mut rng = seeded();
    let seed = rng.state();
    let (mut ok, mut died, mut idle_kills, mut next_id) = (0u64, 0u64, 0u64, 0u64);
    let mut max_wait = Duration::ZERO;
    let mut outcomes: Vec<Option<bool>> = Vec::new(); // per job: Some(true) = ok
    let t0 = Instant::now();
    let mut done_kills = 0;
    while done_kills < kills {
        let n = 2 + rng.below(6);
        let fs: Vec<_> = (0..n)
            .map(|_| {
                let id = next_id;
                next_id += 1;
                outcomes.push(None);
                (id, p.submit(logged_work, (path.clone(), id, rng.below(300))))
            })
            .collect();
        // The kill point: anywhere from before the first job starts to after the last ends.
        spin_us(rng.below(800));
        // Only our own children (a reaped worker's pid may already belong to another
        // process).
        let victims: Vec<u32> =
            p.stats().workers.iter().map(|w| w.pid).filter(|&pid| is_our_child(pid)).collect();
        if victims.is_empty() {
            // Both slots are being respawned: collect and try again.
        } else {
            let pid = victims[rng.below(victims.len() as u64) as usize];
            // SAFETY: plain kill(2) of one of our own worker processes.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            done_kills += 1;
        }
        let mut failed_here = 0;
        for (id, f) in fs {
            let t = Instant::now();
            let r = f.result_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
                panic!("job {id}: no outcome within 30 s (hang) after {done_kills} kills")
            });
            max_wait = max_wait.max(t.elapsed());
            match r {
                Ok(v) => {
                    assert_eq!(v, id.wrapping_mul(3) + 1, "job {id}: wrong value");
                    ok += 1;
                    outcomes[id as usize] = Some(true);
                }
                Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), .. }) => {
                    died += 1;
                    failed_here += 1;
                    outcomes[id as usize] = Some(false);
                }
                Err(e) => panic!("job {id}: unexpected {e:?}"),
            }
        }
        assert!(failed_here <= 1, "one kill failed {failed_here} jobs");
        if failed_here == 0 {
            idle_kills += 1;
        }
    }
    // The pool still serves, with both workers.
    let v: Vec<u64> =
        p.map(|x: u64| x + 1, 0..2000u64).chunk_size(50).map(Result::unwrap).collect();
    assert_eq!(v, (1..2001).collect::<Vec<u64>>());
    let runs = log_counts(&path, next_id as usize);
    std::fs::remove_file(&path).unwrap();
    let mut twice = 0;
    for (id, (&n, o)) in runs.iter().zip(&outcomes).enumerate() {
        match o {
            Some(true) => assert_eq!(n, 1, "job {id} succeeded but ran {n} times"),
            Some(false) => assert!(n <= 1, "job {id} failed and ran {n} times"),
            None => unreachable!(),
        }
        twice += (n > 1) as u64;
    }
    let respawns: u64 = p.stats().workers.iter().map(|w| w.respawns).sum();
    println!(
        "RELIABILITY worker_sigkill kills={done_kills} jobs={next_id} ok={ok} worker_died={died} \
         kills_between_jobs={idle_kills} respawns={respawns} ran_twice={twice} lost_other=0 \
         max_result_wait_ms={} seed={seed:#x} secs={:.1}",
        max_wait.as_millis(),
        t0.elapsed().as_secs_f64()
    );
}

/// Whether `pid` is a live child of this process (its parent in /proc is us).
fn is_our_child(pid: u32) -> bool {
    pid != 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            let after = s.rsplit(')').next().unwrap_or("");
            after.split_whitespace().nth(1) == Some(&std::process::id().to_string())
        })
}

fn segv(x: u64) -> u64 {
    // SAFETY: none — deliberately invalid (the test needs a SIGSEGV in a worker).
    unsafe { std::ptr::null_mut::<u64>().write_volatile(x) };
    x
}

fn abort(_: u64) -> u64 {
    std::process::abort()
}

fn never_returns(_: u64) -> u64 {
    loop {
        std::hint::spin_loop();
    }
}

fn fine(x: u64) -> u64 {
    x ^ 0x5a5a
}

/// Segfaults, aborts and never-returning jobs (per-job time-out) interleaved with normal
/// jobs: each fault fails only its own job with the right error; every other job answers.
#[test]
fn segfault_abort_and_never_returning_jobs() {
    let n = count("ZEROPROC_CRASHES", 30);
    let p = Pool::builder().workers(2).build().unwrap();
    let t0 = Instant::now();
    let mut fs = Vec::new();
    for i in 0..n {
        fs.push(("segv", p.submit(segv, i)));
        fs.push(("abort", p.submit(abort, i)));
        fs.push(("timeout", p.submit_with_time_limit(never_returns, i, Duration::from_millis(30))));
        for k in 0..10 {
            fs.push(("fine", p.submit(fine, i * 100 + k)));
        }
    }
    let mut tally = std::collections::BTreeMap::<&str, u64>::new();
    let mut fine_i = 0;
    for (kind, f) in fs {
        let r = f.result_timeout(Duration::from_secs(20)).expect("no hang");
        match (kind, r) {
            ("segv", Err(JobError::WorkerDied { signal: Some(libc::SIGSEGV), .. }))
            | ("abort", Err(JobError::WorkerDied { signal: Some(libc::SIGABRT), .. }))
            | ("timeout", Err(JobError::TimeLimit)) => {}
            ("fine", Ok(v)) => {
                let (i, k) = (fine_i / 10, fine_i % 10);
                assert_eq!(v, fine(i * 100 + k));
                fine_i += 1;
            }
            (k, r) => panic!("{k}: {r:?}"),
        }
        *tally.entry(kind).or_default() += 1;
    }
    let respawns: u64 = p.stats().workers.iter().map(|w| w.respawns).sum();
    assert_eq!(respawns, 3 * n, "one respawn per fault");
    assert_eq!(p.submit(fine, 1).result(), Ok(fine(1)));
    println!(
        "RELIABILITY job_faults segv={} abort={} never_returning_timed_out={} other_jobs_ok={} \
         lost_other=0 respawns={respawns} secs={:.1}",
        tally["segv"],
        tally["abort"],
        tally["timeout"],
        tally["fine"],
        t0.elapsed().as_secs_f64()
    );
}

// --- the controller SIGKILLed with workers mid-job -------------------------------------

#[test]
fn zp_rel_child() {
    tk::child_entry(|role, _| {
        assert_eq!(role, "controller");
        let p = Pool::builder().workers(2).build().unwrap();
        // Everything a program typically holds, all in shared memory.
        let q = Queue::<u64>::new(16).unwrap();
        q.put(1).unwrap();
        let _arr = zeroproc::SharedArray::<f64>::zeroed(1 << 16).unwrap();
        let _lock = SharedCell::new(Lock::new()).unwrap();
        let _busy: Vec<_> = (0..4).map(|_| p.submit(never_returns, 0)).collect();
        let t = Instant::now();
        while p.stats().workers.iter().any(|w| w.pid == 0 || w.queued == 0) {
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        let pids: Vec<String> = p.stats().workers.iter().map(|w| w.pid.to_string()).collect();
        println!("PIDS {}", pids.join(" "));
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
}

fn alive(pid: u32) -> bool {
    // A zombie (dead, not yet reaped by init) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}

fn zeroproc_shm_entries() -> HashSet<String> {
    tk::dev_shm_entries().into_iter().filter(|e| e.contains("zeroproc")).collect()
}

/// SIGKILL the controller while both workers run jobs: every worker is gone within 1 s
/// and nothing new appears in /dev/shm.
#[test]
fn sigkill_controller_with_workers_mid_job() {
    let rounds = count("ZEROPROC_FAULT_ROUNDS", 10);
    let mut rng = seeded();
    let mut worst = Duration::ZERO;
    for round in 0..rounds {
        let before = zeroproc_shm_entries();
        let mut c = tk::spawn_role_piped("zp_rel_child", "controller", "");
        let ctl = c.id();
        let mut lines = std::io::BufReader::new(c.stdout.take().unwrap()).lines();
        let pids: Vec<u32> = lines
            .find_map(|l| l.unwrap().strip_prefix("PIDS ").map(str::to_owned))
            .expect("the controller printed its workers")
            .split(' ')
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(pids.iter().all(|&p| alive(p)));
        spin_us(rng.below(5000));
        tk::sigkill(&c);
        let t = Instant::now();
        tk::wait_timeout(&mut c, Duration::from_secs(10));
        while pids.iter().any(|&p| alive(p)) {
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "round {round}: workers {pids:?} outlived their controller by 1 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        worst = worst.max(t.elapsed());
        let after = zeroproc_shm_entries();
        let new: Vec<&String> = after.difference(&before).collect();
        let ours: Vec<&&String> = new.iter().filter(|e| e.contains(&format!("-{ctl}-"))).collect();
        assert!(ours.is_empty(), "round {round}: left in /dev/shm: {ours:?}");
    }
    println!(
        "RELIABILITY controller_sigkill rounds={rounds} workers_killed={} \
         worst_worker_exit_ms={} dev_shm_leftovers=0",
        2 * rounds,
        worst.as_millis()
    );
}

// --- multiprocessing primitives killed mid-operation ---------------------------------

/// Lock holder loop: `a += 1` under the lock, work, `b += 1`; invariant a == b outside.
fn lock_loop((lock, a, b): (CellHandle<Lock>, CellHandle<AtomicU64>, CellHandle<AtomicU64>)) {
    let (lock, a, b) = (lock.attach().unwrap(), a.attach().unwrap(), b.attach().unwrap());
    loop {
        let g = lock.lock().unwrap_or_else(|d| d.into_inner());
        a.fetch_add(1, Ordering::Relaxed);
        spin_us(20);
        b.fetch_add(1, Ordering::Relaxed);
        drop(g);
    }
}

/// A process looping on a shared Lock is SIGKILLed at random points: the next `lock`
/// never deadlocks; it reports `OwnerDied` exactly when the victim died inside the
/// critical section (a != b), and the lock keeps working.
#[test]
fn lock_holder_killed_mid_operation() {
    let rounds = count("ZEROPROC_FAULT_ROUNDS", 10) * 3;
    let lock = SharedCell::new(Lock::new()).unwrap();
    let a = SharedCell::new(AtomicU64::new(0)).unwrap();
    let b = SharedCell::new(AtomicU64::new(0)).unwrap();
    let mut rng = seeded();
    let (mut owner_died, mut clean) = (0, 0);
    for round in 0..rounds {
        let start = a.load(Ordering::Relaxed);
        let mut child = Process::spawn(lock_loop, (lock.handle(), a.handle(), b.handle())).unwrap();
        let t = Instant::now();
        while a.load(Ordering::Relaxed) < start + 3 {
            assert!(t.elapsed() < Duration::from_secs(10), "the child never took the lock");
            std::thread::yield_now();
        }
        spin_us(rng.below(2000));
        child.kill();
        child.join().unwrap();
        match lock.lock_timeout(Duration::from_secs(5)) {
            Ok(g) => {
                assert_eq!(a.load(Ordering::Relaxed), b.load(Ordering::Relaxed), "round {round}");
                clean += 1;
                drop(g);
            }
            Err(LockTimeoutError::OwnerDied(g)) => {
                // Died inside the critical section: repair the protected state.
                let (va, vb) = (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
                assert!(va == vb || va == vb + 1, "round {round}: a={va} b={vb}");
                b.store(va, Ordering::Relaxed);
                owner_died += 1;
                drop(g);
            }
            Err(LockTimeoutError::Timeout) => panic!("round {round}: deadlock after a kill"),
        }
        assert!(lock.try_lock().is_ok(), "round {round}: lock usable again");
    }
    println!(
        "RELIABILITY lock_holder_sigkill kills={rounds} owner_died_reported={owner_died} \
         killed_outside_critical_section={clean} deadlocks=0"
    );
}

/// Producer process: puts 0, 1, 2, ... forever.
fn produce(q: QueueHandle<u64>) {
    let q = q.attach().unwrap();
    for i in 0.. {
        q.put(i).unwrap();
    }
}

/// A producer killed at random points mid-put: the consumer receives exactly 0..n in
/// order (nothing torn, duplicated or skipped), then times out; the queue serves on.
#[test]
fn queue_producer_killed_mid_put() {
    let rounds = count("ZEROPROC_FAULT_ROUNDS", 10) * 3;
    let mut rng = seeded();
    let mut total = 0;
    for round in 0..rounds {
        let q = Queue::<u64>::new(32).unwrap();
        let mut child = Process::spawn(produce, q.handle()).unwrap();
        let qc = q.clone();
        let started = std::sync::Arc::new(AtomicU64::new(0));
        let seen = started.clone();
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) =
                qc.get_timeout(Duration::from_secs(if got.is_empty() { 10 } else { 1 }))
            {
                got.push(v);
                seen.store(1, Ordering::Relaxed);
            }
            got
        });
        // Kill points from the first value on (the child must have started producing).
        let t = Instant::now();
        while started.load(Ordering::Relaxed) == 0 {
            assert!(t.elapsed() < Duration::from_secs(10), "round {round}: no value produced");
            std::thread::sleep(Duration::from_micros(100));
        }
        spin_us(rng.below(5000));
        child.kill();
        child.join().unwrap();
        let got = consumer.join().unwrap();
        assert!(!got.is_empty(), "round {round}: nothing received");
        assert!(
            got.iter().enumerate().all(|(i, &v)| v == i as u64),
            "round {round}: not exactly 0..{} in order",
            got.len()
        );
        total += got.len();
        q.put(7).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), 7, "round {round}");
    }
    println!(
        "RELIABILITY queue_producer_sigkill kills={rounds} values_received={total} \
         torn_or_duplicated=0 queue_usable_after=yes"
    );
}

/// Consumer process: gets values forever, logging each one after `get` returned.
fn consume((q, path): (QueueHandle<u64>, String)) {
    let q = q.attach().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    loop {
        let v = q.get().unwrap();
        f.write_all(format!("{v}\n").as_bytes()).unwrap();
    }
}

/// A consumer killed at random points mid-get: every value is received exactly once,
/// by the victim (logged) or by the parent draining afterwards, except at most the one
/// value the victim held when it died.
#[test]
fn queue_consumer_killed_mid_get() {
    let rounds = count("ZEROPROC_FAULT_ROUNDS", 10) * 3;
    const N: u64 = 3000;
    let mut rng = seeded();
    let (mut lost_total, mut by_victim) = (0, 0);
    for round in 0..rounds {
        let path = temp_path(&format!("consumer-{round}"));
        let q = Queue::<u64>::new(32).unwrap();
        let mut child = Process::spawn(consume, (q.handle(), path.clone())).unwrap();
        let qp = q.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                qp.put_timeout(i, Duration::from_secs(30)).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(2));
        spin_us(rng.below(5000));
        child.kill();
        child.join().unwrap();
        let mut seen = vec![0u32; N as usize];
        let logged = std::fs::read_to_string(&path).unwrap();
        for l in logged.lines() {
            seen[l.parse::<usize>().unwrap()] += 1;
            by_victim += 1;
        }
        std::fs::remove_file(&path).unwrap();
        let drained = std::thread::spawn({
            let q = q.clone();
            move || {
                let mut v = Vec::new();
                while let Ok(x) = q.get_timeout(Duration::from_millis(500)) {
                    v.push(x);
                }
                v
            }
        });
        producer.join().unwrap();
        for x in drained.join().unwrap() {
            seen[x as usize] += 1;
        }
        let dup: Vec<usize> = (0..N as usize).filter(|&i| seen[i] > 1).collect();
        let lost: Vec<usize> = (0..N as usize).filter(|&i| seen[i] == 0).collect();
        assert!(dup.is_empty(), "round {round}: received twice: {dup:?}");
        assert!(lost.len() <= 1, "round {round}: lost {lost:?}");
        lost_total += lost.len();
    }
    println!(
        "RELIABILITY queue_consumer_sigkill kills={rounds} values={} got_by_victim={by_victim} \
         lost={lost_total} (at most the value held at death) duplicated=0",
        rounds * N
    );
}
