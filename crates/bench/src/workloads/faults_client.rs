//! W6's client: keeps at most [`WINDOW`] requests in flight on a 2-worker pool, each
//! submitted with a 100 ms time-out, submits the next as each completes
//! (`wait(.., FirstCompleted, ..)`), and tallies what came back against what each request
//! was (see `faults.rs`): latency of the answered ones, lost, duplicated, mis-answered,
//! and how crashes and hangs were reported.

use super::faults::{self, Kind, Request};
use super::spin;
use crate::report::{histogram, Value};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use zeroproc_mp::SharedArray;
use zeroproc_sched::{wait, JobError, JobFuture, Pool, ReturnWhen};

/// Requests in flight at most.
pub const WINDOW: usize = 8;
/// The per-request time-out.
pub const TIMEOUT: Duration = Duration::from_millis(100);
/// A request unresolved this long after its submission is counted lost and abandoned.
pub const LOST_AFTER: Duration = Duration::from_secs(10);

/// What one W6 run gave.
#[derive(Debug)]
pub struct W6Outcome {
    /// Requests sent.
    pub requests: usize,
    /// Submission of the first to the last result seen, s.
    pub wall_s: f64,
    /// Latency (submit → result seen) of the correctly answered requests, ns.
    pub latency: Histogram<u64>,
    /// Correctly answered normal requests.
    pub ok: u64,
    /// Never resolved (within [`LOST_AFTER`]) or resolved with an unexpected error.
    pub lost: u64,
    /// Requests the execution log shows ran more than once.
    pub duplicated: u64,
    /// Requests the execution log shows ran at least once (a check of the log itself:
    /// every request, crashing and hanging ones included, counts itself first).
    pub executed: u64,
    /// Answers that do not belong to their request (or an answer to a crash or hang).
    pub mis_answered: u64,
    /// Crashing requests that gave `JobError::WorkerDied`.
    pub crash_worker_died: u64,
    /// Hanging requests that gave `JobError::TimeLimit`.
    pub hang_timed_out: u64,
    /// Crashing requests that gave another error.
    pub crash_other_error: u64,
    /// Hanging requests that gave another error.
    pub hang_other_error: u64,
    /// The first few unexpected errors, for the notes.
    pub unexpected: Vec<String>,
}

impl W6Outcome {
    fn new(requests: usize) -> Self {
        W6Outcome {
            requests,
            wall_s: 0.0,
            latency: histogram(),
            ok: 0,
            lost: 0,
            duplicated: 0,
            executed: 0,
            mis_answered: 0,
            crash_worker_died: 0,
            hang_timed_out: 0,
            crash_other_error: 0,
            hang_other_error: 0,
            unexpected: Vec::new(),
        }
    }

    /// Requests per second over the whole run.
    pub fn per_s(&self) -> f64 {
        self.requests as f64 / self.wall_s
    }

    fn unexpected(&mut self, r: &Request, what: String) {
        if self.unexpected.len() < 5 {
            self.unexpected.push(format!("request {} ({:?}): {what}", r.id, r.kind));
        }
    }

    /// Files the outcome of request `r`, seen `latency` after its submission.
    fn settle(&mut self, r: &Request, out: Result<(u64, u64), JobError>, latency: Duration) {
        match (r.kind, out) {
            (Kind::Normal, Ok(a)) if a == (r.id, faults::answer(r.id, r.nonce)) => {
                self.ok += 1;
                self.latency.record((latency.as_nanos() as u64).max(1)).expect("in range");
            }
            (_, Ok(a)) => {
                self.mis_answered += 1;
                self.unexpected(r, format!("answered {a:?}"));
            }
            (k, Err(JobError::WorkerDied { .. })) if k.crashes() => self.crash_worker_died += 1,
            (Kind::Hang, Err(JobError::TimeLimit)) => self.hang_timed_out += 1,
            (Kind::Hang, Err(e)) => {
                self.hang_other_error += 1;
                self.unexpected(r, e.to_string());
            }
            (Kind::Normal, Err(e)) => {
                self.lost += 1;
                self.unexpected(r, e.to_string());
            }
            (_, Err(e)) => {
                self.crash_other_error += 1;
                self.unexpected(r, e.to_string());
            }
        }
    }
}

/// A request in flight: its index, its future's job id, its submission time.
struct InFlight {
    req: usize,
    job: u64,
    t0: Instant,
}

/// The client's state: the futures in flight and what each one is.
struct Client<'a> {
    pool: &'a Pool,
    reqs: &'a [Request],
    log: &'a SharedArray<u64>,
    futs: Vec<JobFuture<(u64, u64)>>,
    meta: Vec<InFlight>,
    out: W6Outcome,
}

impl Client<'_> {
    fn submit(&mut self, i: usize) {
        let t0 = Instant::now();
        let args = self.reqs[i].args(&self.log.handle());
        let f = self.pool.submit_with_time_limit(faults::serve, args, TIMEOUT);
        self.meta.push(InFlight { req: i, job: f.id(), t0 });
        self.futs.push(f);
    }

    fn take_meta(&mut self, job: u64) -> InFlight {
        let i = self.meta.iter().position(|m| m.job == job).expect("a future we submitted");
        self.meta.swap_remove(i)
    }

    /// Waits for at least one completion (or a second) and files what completed.
    fn collect(&mut self) {
        let futs = std::mem::take(&mut self.futs);
        let (done, rest) = wait(futs, ReturnWhen::FirstCompleted, Some(Duration::from_secs(1)));
        self.futs = rest;
        for f in done {
            let m = self.take_meta(f.id());
            let r = f.result();
            self.out.settle(&self.reqs[m.req], r, m.t0.elapsed());
        }
        self.abandon_stale();
    }

    /// Counts as lost (and terminates) the futures unresolved after [`LOST_AFTER`].
    fn abandon_stale(&mut self) {
        let mut i = 0;
        while i < self.futs.len() {
            let m = self.meta.iter().position(|m| m.job == self.futs[i].id()).expect("meta");
            if self.meta[m].t0.elapsed() < LOST_AFTER {
                i += 1;
                continue;
            }
            let f = self.futs.swap_remove(i);
            let m = self.meta.swap_remove(m);
            let _ = f.terminate();
            self.out.lost += 1;
            self.out.unexpected(&self.reqs[m.req], "never resolved".into());
        }
    }

    /// Sends every request, at most [`WINDOW`] in flight.
    fn run(&mut self) {
        let t = Instant::now();
        let mut next = 0;
        while next < self.reqs.len() || !self.futs.is_empty() {
            while next < self.reqs.len() && self.futs.len() < WINDOW {
                self.submit(next);
                next += 1;
            }
            self.collect();
        }
        self.out.wall_s = t.elapsed().as_secs_f64();
    }
}

/// The requests the execution log shows ran (at least once, more than once).
fn executions(log: &SharedArray<u64>) -> Result<(u64, u64), String> {
    let counts = log.as_slice().map_err(|e| format!("execution log: {e}"))?;
    let ran = |min: u64| counts.iter().filter(|&&c| c >= min).count() as u64;
    Ok((ran(1), ran(2)))
}

/// W6 with `n` requests on a fresh 2-worker pool with default settings.
pub fn w6_run(n: usize) -> Result<W6Outcome, String> {
    let reqs = faults::requests(n, spin::calibrate_ns_per_iter());
    let log = SharedArray::<u64>::zeroed(n).map_err(|e| e.to_string())?;
    let pool = Pool::builder().workers(2).build().map_err(|e| e.to_string())?;
    pool.map(|x: u64| x, 0..64u64).for_each(drop); // workers up
    let mut c = Client {
        pool: &pool,
        reqs: &reqs,
        log: &log,
        futs: Vec::new(),
        meta: Vec::new(),
        out: W6Outcome::new(n),
    };
    c.run();
    let mut out = c.out;
    (out.executed, out.duplicated) = executions(&log)?;
    Ok(out)
}

/// W6 as `cargo bench` rows.
pub fn w6(n: usize) -> Result<Vec<Value>, String> {
    let o = w6_run(n)?;
    let mode = format!("{n} requests, {WINDOW} in flight, 100 ms time-out, 2 workers");
    let v =
        |name: &str, value: f64, unit: &str| Value::new(&format!("W6 {name}"), &mode, value, unit);
    let q = |x: f64| o.latency.value_at_quantile(x) as f64 / 1e3;
    Ok(vec![
        v("throughput", o.per_s(), "requests/s"),
        v("latency p50 (answered)", q(0.5), "µs"),
        v("latency p99 (answered)", q(0.99), "µs"),
        v("latency max (answered)", o.latency.max() as f64 / 1e3, "µs"),
        v("lost", o.lost as f64, ""),
        v("duplicated", o.duplicated as f64, ""),
        v("executed (log check)", o.executed as f64, ""),
        v("mis-answered", o.mis_answered as f64, ""),
        v("crashes → WorkerDied", o.crash_worker_died as f64, ""),
        v("hangs → TimeLimit", o.hang_timed_out as f64, ""),
        v("crashes → other error", o.crash_other_error as f64, ""),
        v("hangs → other error", o.hang_other_error as f64, ""),
    ])
}
