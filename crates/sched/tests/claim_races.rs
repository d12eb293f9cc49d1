//! Exactly-once accounting under the races the claim protocol decides (`claim.rs`), with
//! real processes: placing a job writes nothing to its claim word (a word naming an older
//! id means "queued"), so these runs go through several laps of every worker's claim
//! region (each word reused for newer ids many times) while the controller revokes jobs
//! (cancel, relocation off a stopped or busy worker) and workers claim, die (SIGKILL) or
//! retire (`max_jobs_per_worker`) with records of revoked, claimed and queued jobs in
//! their rings.
//!
//! Every future must resolve within a bound; a job that succeeded ran exactly once, a
//! cancelled one never, one that died with its worker at most once; no other error (a
//! `Decode` would be a claim word taken for damaged: `pool/damage.rs`).

use std::io::Write;
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool};
use zeroproc_testkit::{spin_us, Rng};

zeroproc_sched::test_worker!();

/// xorshift64*: reproducible "random" points (the seed is printed on failure).
/// This test's generator: seeded by the process id and the clock.
fn seeded() -> Rng {
    let seed = (std::process::id() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ Instant::now().elapsed().as_nanos() as u64;
    Rng::new(seed)
}

/// Logs `key` (one O_APPEND write: atomic), works for `us`, answers `key * 3 + 1`.
fn logged((path, key, us): (String, u64, u64)) -> u64 {
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(format!("{key}\n").as_bytes()).unwrap();
    spin_us(us);
    key * 3 + 1
}

fn temp_log(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!("zp-claimraces-{tag}-{}", std::process::id()));
    std::fs::write(&p, "").unwrap();
    p.to_str().unwrap().to_owned()
}

fn runs_per_key(path: &str, n: usize) -> Vec<u32> {
    let mut runs = vec![0u32; n];
    for l in std::fs::read_to_string(path).unwrap().lines() {
        runs[l.parse::<usize>().unwrap()] += 1;
    }
    runs
}

/// Whether `pid` is a live child of this process.
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let mut rest = stat.rsplit(") ").next().unwrap_or("").split(' ');
    let _state = rest.next();
    rest.next().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) of one of our own worker processes (checked by the caller).
    unsafe { libc::kill(pid as i32, sig) };
}

/// What happened to one job.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Outcome {
    Ok,
    Cancelled,
    Died,
}

/// Checks each job's runs against its outcome.
fn check_runs(path: &str, outcomes: &[Outcome], seed: u64) {
    let runs = runs_per_key(path, outcomes.len());
    for (key, (&n, &o)) in runs.iter().zip(outcomes).enumerate() {
        match o {
            Outcome::Ok => {
                assert_eq!(n, 1, "job {key} succeeded but ran {n} times (seed {seed:#x})")
            }
            Outcome::Cancelled => {
                assert_eq!(n, 0, "job {key} was cancelled but ran {n} times (seed {seed:#x})")
            }
            Outcome::Died => assert!(n <= 1, "job {key} died and ran {n} times (seed {seed:#x})"),
        }
    }
}

/// `cancel` racing the worker's claim, on words reused lap after lap: `cancel()` is true
/// exactly for the jobs whose futures say `Cancelled`, and those never ran; every other
/// job ran exactly once and got its own result.
#[test]
fn cancel_racing_claims_over_many_laps() {
    let path = temp_log("cancel");
    let pool = Pool::builder().workers(2).build().expect("pool");
    let mut rng = seeded();
    let seed = rng.state();
    let mut outcomes = Vec::new();
    // 2 workers: regions of 512 words, so ~1,500 jobs each are three laps of every word.
    while outcomes.len() < 3000 {
        let n = 4 + rng.below(40);
        let fs: Vec<_> = (0..n)
            .map(|_| {
                let key = outcomes.len() as u64;
                outcomes.push(Outcome::Ok);
                let us = if rng.below(8) == 0 { rng.below(200) } else { 0 };
                (key, pool.submit(logged, (path.clone(), key, us)))
            })
            .collect();
        spin_us(rng.below(150));
        // Cancel about a third, newest and oldest alike.
        let said: Vec<bool> = fs.iter().map(|(_, f)| rng.below(3) == 0 && f.cancel()).collect();
        for ((key, f), cancelled) in fs.into_iter().zip(said) {
            let r = f.result_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
                panic!("job {key}: no outcome within 30 s (hang), seed {seed:#x}")
            });
            match r {
                Ok(v) => {
                    assert!(!cancelled, "job {key}: cancel() said true, then it ran");
                    assert_eq!(v, key * 3 + 1, "job {key}: another job's result");
                }
                Err(JobError::Cancelled) => {
                    assert!(cancelled, "job {key}: cancelled without cancel() saying so");
                    outcomes[key as usize] = Outcome::Cancelled;
                }
                Err(e) => panic!("job {key}: unexpected {e:?} (seed {seed:#x})"),
            }
        }
    }
    // Every worker process is gone before the log is read: no run can come later.
    pool.shutdown();
    check_runs(&path, &outcomes, seed);
    std::fs::remove_file(&path).unwrap();
}

/// Relocation racing claims: workers are stopped (SIGSTOP) at random points for a few
/// milliseconds, or kept in a long job, so their queued jobs are revoked and copied to
/// other workers under new ids while the victim may be claiming them; some victims are
/// SIGKILLed instead (a successor re-reads the ring with revoked and claimed records in
/// it), workers retire every 97 jobs, and some jobs are cancelled. Each worker's region
/// is lapped several times.
#[test]
fn relocation_racing_claims_with_stops_kills_and_cancels() {
    let path = temp_log("relocate");
    let pool = Pool::builder().workers(3).max_jobs_per_worker(97).build().expect("pool");
    let mut rng = seeded();
    let seed = rng.state();
    let mut outcomes = Vec::new();
    let t0 = Instant::now();
    let mut kills = 0;
    while outcomes.len() < 2500 {
        let n = 6 + rng.below(30);
        let fs: Vec<_> = (0..n)
            .map(|_| {
                let key = outcomes.len() as u64;
                outcomes.push(Outcome::Ok);
                // Now and then a long job: the ones queued behind it move.
                let us = match rng.below(16) {
                    0 => 2_000 + rng.below(2_000),
                    1..=4 => rng.below(100),
                    _ => 0,
                };
                (key, pool.submit(logged, (path.clone(), key, us)))
            })
            .collect();
        spin_us(rng.below(300));
        let pids: Vec<u32> =
            pool.stats().workers.iter().map(|w| w.pid).filter(|&p| is_our_child(p)).collect();
        if !pids.is_empty() {
            let pid = pids[rng.below(pids.len() as u64) as usize];
            match rng.below(8) {
                0 => {
                    signal(pid, libc::SIGKILL);
                    kills += 1;
                }
                1..=4 => {
                    signal(pid, libc::SIGSTOP);
                    // Long enough for the balancer to judge it stopped (1 ms idle, or 1 ms
                    // in one job) and move its queue; the supervisor looks every 5 ms.
                    std::thread::sleep(Duration::from_micros(500 + rng.below(6_000)));
                    signal(pid, libc::SIGCONT);
                }
                _ => {}
            }
        }
        let said: Vec<bool> = fs.iter().map(|(_, f)| rng.below(6) == 0 && f.cancel()).collect();
        for ((key, f), cancelled) in fs.into_iter().zip(said) {
            let r = f.result_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
                panic!("job {key}: no outcome within 30 s (hang), seed {seed:#x}")
            });
            let o = match r {
                Ok(v) => {
                    assert_eq!(v, key * 3 + 1, "job {key}: another job's result (seed {seed:#x})");
                    Outcome::Ok
                }
                Err(JobError::Cancelled) => Outcome::Cancelled,
                Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), .. }) => Outcome::Died,
                Err(e) => panic!("job {key}: unexpected {e:?} (seed {seed:#x})"),
            };
            assert_eq!(cancelled, o == Outcome::Cancelled, "job {key}: cancel() vs {o:?}");
            outcomes[key as usize] = o;
        }
    }
    let moved: u64 = pool.stats().workers.iter().map(|w| w.moved_away).sum();
    pool.shutdown();
    check_runs(&path, &outcomes, seed);
    std::fs::remove_file(&path).unwrap();
    eprintln!(
        "claim_races: {} jobs, {moved} moved, {kills} kills, {:.1} s (seed {seed:#x})",
        outcomes.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(moved > 0, "no job was relocated: the race was not exercised");
}

/// `shutdown(cancel_futures)` and `terminate` racing the workers' claims: every job is
/// either answered with its own result (and ran once), cancelled without running, or (on
/// `terminate`) cancelled while it ran — at most once.
#[test]
fn shutdown_and_terminate_racing_claims() {
    let path = temp_log("close");
    let mut rng = seeded();
    let seed = rng.state();
    let mut outcomes = Vec::new();
    for round in 0..16 {
        let pool = Pool::builder().workers(2).build().expect("pool");
        let fs: Vec<_> = (0..20 + rng.below(60))
            .map(|_| {
                let key = outcomes.len() as u64;
                outcomes.push(Outcome::Ok);
                (key, pool.submit(logged, (path.clone(), key, rng.below(50))))
            })
            .collect();
        spin_us(rng.below(500));
        let terminate = round % 2 == 1;
        if terminate {
            pool.terminate();
        } else {
            pool.shutdown_with(zeroproc_sched::Shutdown::new().cancel_futures(true));
        }
        for (key, f) in fs {
            let r = f.result_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
                panic!("job {key}: no outcome within 30 s (hang), seed {seed:#x}")
            });
            outcomes[key as usize] = match r {
                Ok(v) => {
                    assert_eq!(v, key * 3 + 1, "job {key}: another job's result");
                    Outcome::Ok
                }
                // A job terminated while it ran may have logged its run: at most once.
                Err(JobError::Cancelled) if terminate => Outcome::Died,
                Err(JobError::Cancelled) => Outcome::Cancelled,
                Err(e) => panic!("job {key}: unexpected {e:?} (seed {seed:#x})"),
            };
        }
    }
    check_runs(&path, &outcomes, seed);
    std::fs::remove_file(&path).unwrap();
}

/// A `map` dropped or timed out mid-stream cancels the chunks no worker has claimed
/// (`Map::abandon`) while workers claim them: nothing runs twice, every item yielded ran
/// once, and the pool serves on.
#[test]
fn abandoned_maps_racing_claims() {
    let path = temp_log("map");
    let pool = Pool::builder().workers(2).build().expect("pool");
    let mut rng = seeded();
    let seed = rng.state();
    let mut next = 0u64;
    let mut yielded = Vec::new();
    for round in 0..40 {
        let n = 50 + rng.below(200);
        let items: Vec<(String, u64, u64)> =
            (next..next + n).map(|k| (path.clone(), k, rng.below(30))).collect();
        next += n;
        let take = rng.below(n) as usize;
        let mut m = pool.map(logged, items).chunk_size(1 + rng.below(4) as usize);
        if round % 2 == 1 {
            m = m.timeout(Duration::from_micros(200 + rng.below(2_000)));
        }
        let mut expect = next - n; // an ordered map: the items' own results, in order
        for r in m.take(take) {
            match r {
                Ok(v) => {
                    assert_eq!(v, expect * 3 + 1, "round {round}: another item's result");
                    yielded.push(expect);
                    expect += 1;
                }
                // The map's time-out: the rest is given up.
                Err(JobError::Timeout | JobError::Cancelled) if round % 2 == 1 => expect += 1,
                Err(e) => panic!("round {round}: unexpected {e:?} (seed {seed:#x})"),
            }
        }
    }
    assert_eq!(pool.submit(|x: u64| x, 5).result(), Ok(5), "the pool serves on");
    pool.shutdown();
    let runs = runs_per_key(&path, next as usize);
    for (key, &n) in runs.iter().enumerate() {
        assert!(n <= 1, "item {key} ran {n} times (seed {seed:#x})");
    }
    for k in yielded {
        assert_eq!(runs[k as usize], 1, "item {k} was yielded but ran {} times", runs[k as usize]);
    }
    std::fs::remove_file(&path).unwrap();
}

/// Job 0 holds its worker until file `go` exists (at most 30 s); the others log, work
/// 50 µs (so that the other worker stays full while the test submits) and answer.
fn held_or_logged((path, key): (String, u64)) -> u64 {
    if key == 0 {
        let go = format!("{path}.go");
        let t = Instant::now();
        while !std::path::Path::new(&go).exists() && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    logged((path, key, 50))
}

/// Moves may fill a busy worker past the 256 jobs in flight that new jobs may fill, up to
/// 3/4 of its claim region (384): one worker held in a long job with a full queue, the
/// other running tiny jobs kept full by a submit backlog. Killing (SIGKILL) the worker
/// while it holds more than 256 loses nothing: its successor, or the other worker, runs
/// every job it held exactly once, and no worker ever holds more than 384.
#[test]
fn a_worker_filled_past_256_by_moves_killed_loses_no_job() {
    const N: u64 = 6_000;
    let path = temp_log("past256");
    let pool = Pool::builder().workers(2).build().expect("pool");
    let held = pool.submit(held_or_logged, (path.clone(), 0));
    while !held.running() {
        std::thread::yield_now();
    }
    let fs: Vec<_> = (1..N).map(|k| pool.submit(held_or_logged, (path.clone(), k))).collect();
    let t = Instant::now();
    let (mut peak, mut killed) = (0, None);
    while killed.is_none() {
        let s = pool.stats();
        peak = peak.max(s.workers.iter().map(|w| w.queued).max().unwrap());
        if let Some(w) = s.workers.iter().find(|w| w.queued > 256 && is_our_child(w.pid)) {
            signal(w.pid, libc::SIGKILL);
            killed = Some((w.index, w.queued));
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no worker got past 256 jobs: {s}");
    }
    std::fs::write(format!("{path}.go"), b"").unwrap();
    let mut outcomes = vec![Outcome::Ok; N as usize];
    for (k, f) in (1..).zip(fs) {
        peak = peak.max(pool.stats().workers.iter().map(|w| w.queued).max().unwrap());
        match f.result_timeout(Duration::from_secs(30)).expect("a future never resolved") {
            Ok(v) => assert_eq!(v, k * 3 + 1, "job {k}: another job's result"),
            Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), .. }) => {
                outcomes[k as usize] = Outcome::Died
            }
            Err(e) => panic!("job {k}: {e:?}"),
        }
    }
    assert_eq!(held.result(), Ok(1));
    let died = outcomes.iter().filter(|&&o| o == Outcome::Died).count();
    let (w, queued) = killed.unwrap();
    let s = pool.stats();
    eprintln!("killed worker {w} holding {queued}; peak {peak}; {died} died\n{s}");
    assert!(died <= 1, "{died} jobs died with one worker (only the one it ran may)");
    assert!(s.workers[w].respawns >= 1, "the killed worker was not respawned");
    assert!(peak <= 384, "a worker held {peak} jobs (more than 3/4 of its region)");
    pool.shutdown();
    check_runs(&path, &outcomes, 0);
    let _ = std::fs::remove_file(format!("{path}.go"));
    std::fs::remove_file(&path).unwrap();
}
