//! Scenario 4: workers retiring. `max_jobs_per_worker(5)` recycles a worker every five
//! jobs and `job_time_limit(50 ms)` kills the 2 % of jobs that overrun it; 64 in flight.

use crate::service::Rng;
use crate::tally::Tally;
use std::time::{Duration, Instant};
use zeroproc::{
    as_completed, DictHandle, JobError, JobFuture, Pool, Queue, QueueHandle, SharedDict,
};

/// Where short jobs write when their body started and ended (ns since the epoch).
/// And a queue where they put (key, time) as soon as their sleep ends (lock-free: tells
/// a sleep that overran from a dict operation that waited).
type Stamps = (DictHandle<u64, (u64, u64)>, QueueHandle<(u64, u64)>);

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Sleeps `ms` and says which process ran it: its pid and the time of its first job (a
/// pid alone is reused: 45,000 workers in 8 minutes pass `pid_max`, 32,768 here). With
/// `SOAK_RETIRE_STAMPS=1` a short job also writes when its body started and ended into
/// the dict, so a `TimeLimit` on it tells a body that overran (no end: the worker was
/// not scheduled in time) from one killed after its body returned.
fn nap((ms, key, stamps): (u32, u64, Option<Stamps>)) -> (u32, u64) {
    static BORN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let born = *BORN.get_or_init(now_ns);
    let d = stamps.map(|(h, q)| (h.attach().unwrap(), q.attach().unwrap()));
    if let Some((d, _)) = &d {
        d.insert(key, (now_ns(), 0)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(ms as u64));
    if let Some((d, q)) = &d {
        let _ = q.try_put((key, now_ns()));
        d.update(&key, |v| *v = v.map(|(s, _)| (s, now_ns()))).unwrap();
    }
    (std::process::id(), born)
}

pub fn run(secs: u64) -> Tally {
    let t = Tally::default();
    // SOAK_RETIRE_MAX=0: no retirement (the control run for the time limits alone).
    let max: u64 = std::env::var("SOAK_RETIRE_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut b = Pool::builder().job_time_limit(Duration::from_millis(50));
    // SOAK_RETIRE_PIN=0: workers not pinned (to tell a busy core from a bug).
    if std::env::var("SOAK_RETIRE_PIN").is_ok_and(|v| v == "0") {
        b = b.pin(false);
    }
    if max > 0 {
        b = b.max_jobs_per_worker(max);
    }
    let pool = b.build().unwrap();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let end = Instant::now() + Duration::from_secs(secs);
    let stamps = std::env::var_os("SOAK_RETIRE_STAMPS").map(|_| {
        (SharedDict::<u64, (u64, u64)>::new().unwrap(), Queue::<(u64, u64)>::new(4096).unwrap())
    });
    let mut key = 0u64;
    let mut slept = std::collections::HashMap::<u64, u64>::new();
    let mut pids = std::collections::HashMap::<(u32, u64), u32>::new();
    let mut gone = 0;
    while Instant::now() < end {
        let mut futs: Vec<(JobFuture<(u32, u64)>, u32)> = Vec::new();
        let mut keys = std::collections::HashMap::new();
        for _ in 0..64 {
            let ms = if rng.next().is_multiple_of(50) { 1000 } else { (rng.next() % 3) as u32 };
            key += 1;
            let h = stamps.as_ref().filter(|_| ms < 1000).map(|(d, q)| (d.handle(), q.handle()));
            let f = pool.submit(nap, (ms, key, h));
            keys.insert(f.id(), key);
            futs.push((f, ms));
        }
        let want: std::collections::HashMap<u64, u32> =
            futs.iter().map(|(f, ms)| (f.id(), *ms)).collect();
        let mut it =
            as_completed(futs.into_iter().map(|(f, _)| f)).timeout(Duration::from_secs(60));
        for f in it.by_ref() {
            let ms = want[&f.id()];
            let k = keys[&f.id()];
            match (ms, f.result()) {
                (1000, Err(JobError::TimeLimit)) => t.add("time limit"),
                // Wall-clock: a 0-2 ms job whose process got no CPU for 50 ms (nice 19 on
                // a loaded machine) is killed too, as Python's wall-clock time-outs do.
                (_, Err(JobError::TimeLimit)) => {
                    t.add("time limit on a 0-2 ms job (starved?)");
                    if let Some((d, q)) = &stamps {
                        while let Ok((k2, at)) = q.try_get() {
                            slept.insert(k2, at);
                        }
                        let st = d.get(&k).unwrap();
                        let what = match st {
                            None => "body never started".to_string(),
                            Some((a, 0)) => match slept.get(&k) {
                                Some(at) => format!(
                                    "sleep ended after {} us, then the dict update did not end",
                                    (at - a) / 1000
                                ),
                                None => "sleep did not end (no CPU in time?)".to_string(),
                            },
                            Some((a, b)) => {
                                format!("body ended after {} us, killed after", (b - a) / 1000)
                            }
                        };
                        println!("short job TimeLimit: {what}");
                        t.add(&format!(
                            "short job TimeLimit: {}",
                            what.split(" after").next().unwrap()
                        ));
                    }
                }
                (m, Ok(pid)) if m < 1000 => {
                    t.add("ok");
                    *pids.entry(pid).or_insert(0) += 1;
                }
                (m, r) => t.anomaly(&format!("{m} ms job"), format!("{r:?}")),
            }
        }
        if it.timed_out() {
            t.anomaly("HANG", "as_completed 60 s");
        }
        if let Some((d, q)) = &stamps {
            d.clear().unwrap();
            while q.try_get().is_ok() {}
            slept.clear();
        }
        // A process lives 5 jobs: one not seen for 30 s is gone (keeps the map small).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let old = now.as_nanos() as u64 - 30_000_000_000;
        let before = pids.len();
        pids.retain(|&(_, born), n| born >= old || *n > 5);
        gone += before - pids.len();
    }
    let over = if max > 0 { pids.values().filter(|&&n| n > max as u32).count() } else { 0 };
    if over > 0 {
        t.anomaly("max_jobs_per_worker", format!("{over} processes ran more than 5 jobs"));
    }
    t.add(&format!("distinct worker processes {}", pids.len() + gone));
    let st = pool.stats();
    println!("{st}");
    t.add(&format!("respawns {}", st.workers.iter().map(|w| w.respawns).sum::<u64>()));
    t
}
