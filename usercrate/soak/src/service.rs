//! Scenario 1: a service loop. 256 futures in flight of a hostile mix, consumed with
//! `wait` and `as_completed` in turn; hung jobs given up on with `result_timeout` and
//! terminated by a thread of their own; `map`/`map_unordered` bursts with `.timeout`,
//! dropped half-way.

use crate::tally::Tally;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zeroproc::{as_completed, wait, JobError, JobFuture, Pool, ReturnWhen};

const IN_FLIGHT: usize = 256;
const BIG: usize = 5 << 20;
const TINY: u8 = 0;
const MEDIUM: u8 = 1;
const SLOW: u8 = 2;
const PANIC: u8 = 3;
const ABORT: u8 = 4;
const HANG: u8 = 5;
const BIG_VEC: u8 = 6;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The one job function: what it does is its argument's kind.
fn job((kind, ms): (u8, u32)) -> Vec<u8> {
    match kind {
        TINY => spin(Duration::from_micros(10)),
        MEDIUM | SLOW => std::thread::sleep(Duration::from_millis(ms as u64)),
        PANIC => panic!("soak panic {ms}"),
        ABORT => std::process::abort(),
        HANG => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => return (0..BIG).map(|i| i as u8).collect(),
    }
    Vec::new()
}

/// A small xorshift, so a run is the same mix every time.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn pick(rng: &mut Rng) -> (u8, u32) {
    let r = rng.next() % 10_000;
    let ms = 1 + (rng.next() % 20) as u32;
    match r {
        0..=49 => (PANIC, ms),
        50..=69 => (ABORT, 0),
        70..=79 => (HANG, 0),
        80..=89 => (BIG_VEC, 0),
        90..=189 => (SLOW, 200),
        190..=1089 => (MEDIUM, ms),
        _ => (TINY, 0),
    }
}

fn check(t: &Tally, kind: u8, ms: u32, r: Result<Vec<u8>, JobError>) {
    match (kind, r) {
        (TINY | MEDIUM | SLOW, Ok(v)) if v.is_empty() => t.add("ok"),
        (BIG_VEC, Ok(v)) if v.len() == BIG && v.iter().enumerate().all(|(i, &b)| b == i as u8) => {
            t.add("ok big")
        }
        (PANIC, Err(JobError::Panicked { message }))
            if message.contains(&format!("soak panic {ms}")) =>
        {
            t.add("panicked")
        }
        (ABORT, Err(JobError::WorkerDied { signal: Some(6), .. })) => t.add("died (abort)"),
        (k, r) => t.anomaly(&format!("kind {k}"), format!("{:?}", r.map(|v| v.len()))),
    }
}

/// Hung jobs: wait 500 ms for each (its `result_timeout`), then terminate it.
fn hang_reaper(t: &Tally, rx: mpsc::Receiver<JobFuture<Vec<u8>>>) {
    for f in rx {
        match f.result_timeout(Duration::from_millis(500)) {
            Ok(r) => t.anomaly("hang finished", format!("{:?}", r.map(|v| v.len()))),
            Err(f) => {
                if !f.terminate() {
                    t.anomaly("hang terminate", "terminate() returned false");
                }
                match f.result_timeout(Duration::from_secs(30)) {
                    Ok(Err(JobError::Cancelled)) => t.add("hang cancelled"),
                    Ok(r) => t.anomaly("hang result", format!("{:?}", r.map(|v| v.len()))),
                    Err(_) => t.anomaly("HANG", "terminated job not done after 30 s"),
                }
            }
        }
    }
}

fn sq(x: u32) -> u64 {
    x as u64 * x as u64
}

fn nap(ms: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(ms as u64));
    ms
}

/// A `map` and a `map_unordered` with `.timeout`, each dropped half-way.
fn map_bursts(pool: &Pool, t: &Tally) {
    let mut m = pool.map(sq, 0..20_000u32).timeout(Duration::from_secs(60));
    for i in 0..10_000u32 {
        match m.next() {
            Some(Ok(v)) if v == sq(i) => {}
            other => return t.anomaly("map", format!("item {i}: {other:?}")),
        }
    }
    drop(m);
    t.add("map burst");
    // 40 naps of 20 ms on 2 workers: ~400 ms of work, a 100 ms time-out.
    let mut seen = 0;
    let mut timed_out = false;
    for r in pool.map_unordered(nap, vec![20u32; 40]).timeout(Duration::from_millis(100)) {
        match r {
            Ok(20) => seen += 1,
            Err(JobError::Timeout) if !timed_out => timed_out = true,
            other => return t.anomaly("map_unordered", format!("{other:?} after {seen}")),
        }
        if seen == 20 {
            break;
        }
    }
    t.add(if timed_out { "map_unordered timed out" } else { "map_unordered dropped" });
}

fn refill(
    pool: &Pool,
    rng: &mut Rng,
    kinds: &mut HashMap<u64, (u8, u32)>,
    hang: &mpsc::Sender<JobFuture<Vec<u8>>>,
) -> Vec<JobFuture<Vec<u8>>> {
    let mut out = Vec::new();
    while kinds.len() < IN_FLIGHT {
        let (k, ms) = pick(rng);
        let f = pool.submit(job, (k, ms));
        if k == HANG {
            hang.send(f).unwrap();
        } else {
            kinds.insert(f.id(), (k, ms));
            out.push(f);
        }
    }
    out
}

pub fn run(secs: u64) -> Tally {
    let t = Tally::default();
    let pool = Pool::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut kinds: HashMap<u64, (u8, u32)> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        s.spawn(|| hang_reaper(&t, rx));
        let mut pending: Vec<JobFuture<Vec<u8>>> = Vec::new();
        let mut last_burst = Instant::now();
        let mut round = 0u64;
        while Instant::now() < end {
            round += 1;
            pending.extend(refill(&pool, &mut rng, &mut kinds, &tx));
            if round.is_multiple_of(2) {
                // wait(FIRST_COMPLETED) style.
                let (done, rest) = wait(
                    std::mem::take(&mut pending),
                    ReturnWhen::FirstCompleted,
                    Some(Duration::from_secs(60)),
                );
                if done.is_empty() {
                    t.anomaly("HANG", "wait(FirstCompleted) returned nothing in 60 s");
                }
                for f in done {
                    let (k, ms) = kinds.remove(&f.id()).unwrap();
                    check(&t, k, ms, f.result());
                }
                pending = rest;
            } else {
                // as_completed style, over everything in flight.
                let mut it =
                    as_completed(std::mem::take(&mut pending)).timeout(Duration::from_secs(60));
                for f in it.by_ref() {
                    let (k, ms) = kinds.remove(&f.id()).unwrap();
                    check(&t, k, ms, f.result());
                }
                if it.timed_out() {
                    t.anomaly("HANG", "as_completed timed out after 60 s");
                    pending = it.into_remaining();
                }
            }
            if last_burst.elapsed() > Duration::from_secs(5) {
                map_bursts(&pool, &t);
                last_burst = Instant::now();
            }
        }
        for f in pending {
            let (k, ms) = kinds.remove(&f.id()).unwrap();
            check(&t, k, ms, f.result());
        }
        drop(tx);
    });
    let st = pool.stats();
    println!("{st}");
    t.add(&format!("respawns {}", st.workers.iter().map(|w| w.respawns).sum::<u64>()));
    t
}
