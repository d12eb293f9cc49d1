//! `pool.stats()`: what each worker did (mpire's "insights").

use super::core::Shared;
use std::time::Duration;

/// One worker slot's counters, summed over its incarnations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    /// Slot index.
    pub index: usize,
    /// Pid of the current incarnation (0 if none runs).
    pub pid: u32,
    /// Jobs completed (including failed and cancelled ones the worker reported).
    pub jobs_done: u64,
    /// Time spent running jobs.
    pub busy: Duration,
    /// Time spent waiting for jobs.
    pub idle: Duration,
    /// Job bytes read from its submission ring.
    pub bytes_in: u64,
    /// Result bytes written to its completion ring.
    pub bytes_out: u64,
    /// Jobs queued or running on it right now.
    pub queued: usize,
    /// Times it was replaced (crash, time-out, `terminate`, `max_jobs_per_worker`).
    pub respawns: u64,
    /// Queued jobs moved off it to another worker because it was stuck (in one job for
    /// 1 ms, frozen, restarting, dead) or shared with an idle one (its queue worth 1 ms or
    /// more at its pace) — see "Scheduling is work-conserving" in `docs/architecture.md`.
    pub moved_away: u64,
}

/// Statistics of the whole pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Per worker slot.
    pub workers: Vec<WorkerStats>,
    /// Time since the pool was built.
    pub uptime: Duration,
    /// Jobs [`submit`](super::Pool::submit) accepted while every worker held its maximum
    /// of jobs in flight, waiting on the controller for room (Python's call queue beyond
    /// what the workers hold); placed oldest first as workers finish jobs.
    pub backlog: usize,
}

impl PoolStats {
    /// Jobs completed by all workers (each worker's count is in
    /// [`workers`](Self::workers); `println!("{stats}")` prints the table).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let n = pool.map(|x: u64| x + 1, 0..10u64).chunk_size(1).count();
    /// let stats = pool.stats();
    /// assert_eq!((n, stats.jobs_done()), (10, 10));
    /// assert_eq!(stats.workers.iter().map(|w| w.respawns).sum::<u64>(), 0);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn jobs_done(&self) -> u64 {
        self.workers.iter().map(|w| w.jobs_done).sum()
    }
}

impl std::fmt::Display for PoolStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "worker  pid      jobs        busy_s   idle_s   util   MB_in    MB_out   respawns moved"
        )?;
        for w in &self.workers {
            let total = (w.busy + w.idle).as_secs_f64();
            let util = if total > 0.0 { 100.0 * w.busy.as_secs_f64() / total } else { 0.0 };
            writeln!(
                f,
                "{:<7} {:<8} {:<11} {:<8.3} {:<8.3} {:>4.0}%  {:<8.2} {:<8.2} {:<8} {}",
                w.index,
                w.pid,
                w.jobs_done,
                w.busy.as_secs_f64(),
                w.idle.as_secs_f64(),
                util,
                w.bytes_in as f64 / 1e6,
                w.bytes_out as f64 / 1e6,
                w.respawns,
                w.moved_away
            )?;
        }
        if self.backlog > 0 {
            writeln!(f, "backlog: {} jobs waiting for room", self.backlog)?;
        }
        Ok(())
    }
}

pub(crate) fn collect(shared: &Shared) -> PoolStats {
    let core = shared.lock();
    let workers = (0..core.slots.len())
        .map(|w| {
            let c = shared.control(w);
            let s = &core.slots[w];
            WorkerStats {
                index: w,
                pid: if s.child.is_some() { s.pid } else { 0 },
                jobs_done: c.jobs_done.get(),
                busy: Duration::from_nanos(c.busy_ns.get()),
                idle: Duration::from_nanos(c.idle_ns.get()),
                bytes_in: c.bytes_in.get(),
                bytes_out: c.bytes_out.get(),
                queued: s.load,
                respawns: s.respawns,
                moved_away: s.moved_away,
            }
        })
        .collect();
    PoolStats { workers, uptime: shared.created.elapsed(), backlog: core.backlog.len() }
}
