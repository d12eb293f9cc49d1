//! Questions rank 0 asks about its jobs and nodes: is a job running (`ClusterFuture::running`),
//! and every node's worker statistics (`ClusterPool::stats`). A job or pool on rank 0's own
//! pool is answered here; a node is asked with a command and its reply is awaited (driving
//! progress meanwhile, as any waiter does) — not once MPI is finished (nobody would answer:
//! the job is not running, the nodes' statistics are left out).

use super::{Shared, Via};
use crate::launch;
use crate::wire::{op, STAT_WORDS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Never, PoolStats, WorkerStats};

/// How long a question waits for a node's answer by default (a node that died aborts the
/// run; one that does not answer in this time — frozen, or its host swapping — is left out).
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The answer wait in force, in ns (0: [`ANSWER_WAIT`]). Relaxed: a plain setting, read
/// when a question is asked; nothing else is published through it.
static ANSWER_WAIT_NS: AtomicU64 = AtomicU64::new(0);

/// How long `stats`, `node_stats` and `running` wait for a node's answer (default 30 s),
/// and the end of a pool for the agents' (default 60 s); `None` restores the defaults. A
/// test hook: the tests freeze agents past a short wait.
#[doc(hidden)]
pub fn set_answer_wait(d: Option<Duration>) {
    let ns = d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
    ANSWER_WAIT_NS.store(ns, Ordering::Relaxed);
}

/// Numbers the questions (`RUNNING`, `STATS`), so that an answer is only ever taken by
/// the question it answers. Relaxed: only uniqueness is needed.
static QUESTIONS: AtomicU64 = AtomicU64::new(1);

fn answer_wait() -> Duration {
    node_wait(ANSWER_WAIT)
}

/// The wait [`set_answer_wait`] set, or `default`.
pub(crate) fn node_wait(default: Duration) -> Duration {
    match ANSWER_WAIT_NS.load(Ordering::Relaxed) {
        0 => default,
        ns => Duration::from_nanos(ns),
    }
}

impl Shared {
    /// True while a worker runs job `token` (false when it is queued here, unknown or done).
    pub(crate) fn running(&self, token: u64) -> bool {
        let st = self.lock();
        let Some(o) = st.owed.get(&token) else { return false };
        if let Some(h) = &o.local {
            return h.running();
        }
        let Some(Via::Agent(rank)) = o.target.map(|t| &st.targets[t].via) else { return false };
        let rank = *rank;
        drop(st);
        if !launch::live() {
            return false; // MPI is finished: nobody runs it any more
        }
        // The question's number comes back first in the answer: an answer that came after
        // an earlier question gave up (a frozen node) is not taken for this one's
        // (before, the next `running()` read the late "queued" for a job that had started).
        let q = QUESTIONS.fetch_add(1, Ordering::Relaxed);
        self.open_question(q);
        let mut args = token.to_le_bytes().to_vec();
        args.extend_from_slice(&q.to_le_bytes());
        self.command(rank, op::RUNNING, &args);
        let mut answer = None;
        self.wait_until(Some(Instant::now() + answer_wait()), || {
            if !launch::live() {
                return true;
            }
            if answer.is_none() {
                answer = self.take_answers(op::RUNNING, q).pop().map(|a| a.1);
            }
            answer.is_some()
        });
        self.close_question(q);
        if answer.is_none() && launch::live() {
            zeroproc_sched::note!(
                "zeroproc-cluster: rank {rank} did not answer whether job {token:#x} runs \
                 within {:?}; running() says false",
                answer_wait()
            );
        }
        answer.is_some_and(|a| a.get(8) == Some(&1)) // token u64, running u8
    }

    /// Every target's statistics, as (rank, stats); rank 0 is this process's own pool.
    /// Targets that did not answer in time are left out.
    pub(crate) fn node_stats(&self) -> Vec<(usize, PoolStats)> {
        let (mut out, agents) = {
            let st = self.lock();
            let mut out = Vec::new();
            let mut agents = Vec::new();
            for t in &st.targets {
                match &t.via {
                    Via::Local(p) => out.push((0, p.stats())),
                    Via::Agent(r) => agents.push(*r),
                }
            }
            (out, agents)
        };
        if let Some(mut last) = self.last_stats() {
            // The node pools are gone: their counts when they went down.
            last.sort_by_key(|g| g.0);
            for (rank, bytes) in last {
                out.push((rank, decode_stats(&bytes, self.created.elapsed())));
            }
            return out;
        }
        // Numbered as in `running`: a late answer to an earlier question (a node frozen
        // past the wait) is dropped, not taken for this one's (before, it was taken too:
        // rank 1 listed twice, or rank 2 left out).
        let q = QUESTIONS.fetch_add(1, Ordering::Relaxed);
        self.open_question(q);
        let mut args = self.id.to_le_bytes().to_vec();
        args.extend_from_slice(&q.to_le_bytes());
        for &r in agents.iter().filter(|_| launch::live()) {
            self.command(r, op::STATS, &args);
        }
        let mut got: Vec<(usize, Vec<u8>)> = Vec::new();
        let live = launch::live();
        self.wait_until(Some(Instant::now() + answer_wait()), || {
            got.extend(self.take_answers(op::STATS, q));
            !live || !launch::live() || got.len() >= agents.len()
        });
        self.close_question(q);
        if live && launch::live() && got.len() < agents.len() {
            let silent: Vec<usize> =
                agents.iter().copied().filter(|r| !got.iter().any(|g| g.0 == *r)).collect();
            zeroproc_sched::note!(
                "zeroproc-cluster: ranks {silent:?} did not answer stats within {:?}; their \
                 workers are left out",
                answer_wait()
            );
        }
        got.sort_by_key(|g| g.0);
        for (rank, bytes) in got {
            out.push((rank, decode_stats(&bytes, self.created.elapsed())));
        }
        out
    }
}

impl Shared {
    /// Says on stderr that the node holding job `token` did not answer `what` in time,
    /// and what follows.
    pub(crate) fn report_silent(&self, token: u64, what: &str, so: &str) {
        let rank = {
            let st = self.lock();
            st.owed.get(&token).and_then(|o| o.target).map(|t| match st.targets[t].via {
                Via::Agent(r) => r,
                Via::Local(_) => 0,
            })
        };
        if let Some(r) = rank {
            zeroproc_sched::note!(
                "zeroproc-cluster: rank {r} did not answer the {what} of job {token:#x} within \
                 {:?}; {so}",
                answer_wait()
            );
        }
    }

    /// The node agents that owe jobs of this pool and do not answer a `STATS` question
    /// within the answer wait (a live agent answers one at once, however long its jobs).
    pub(crate) fn silent_owing_ranks(&self) -> Vec<usize> {
        let owing = self.lock().owing_agents();
        if owing.is_empty() || !launch::live() {
            return Vec::new();
        }
        let answered: Vec<usize> = self.node_stats().into_iter().map(|s| s.0).collect();
        let mut silent: Vec<usize> = owing.into_iter().filter(|r| !answered.contains(r)).collect();
        silent.sort_unstable();
        silent
    }

    /// Fails job `token` with `e` if it is still owed (its node did not answer), waking
    /// its waiters and running its callbacks; an outcome that arrives later is dropped.
    pub(crate) fn fail_owed(&self, token: u64, e: JobError<Never>) {
        let mut st = self.lock();
        st.queue.remove(token);
        st.stealing.remove(&token);
        st.cancel_asked.remove(&token);
        st.fail_owed(token, e);
        self.unlock(st);
        self.poke();
    }
}

/// A `STATS` reply as `PoolStats` (uptime: the cluster pool's).
fn decode_stats(bytes: &[u8], uptime: Duration) -> PoolStats {
    let workers = bytes
        .chunks_exact(STAT_WORDS * 8)
        .enumerate()
        .map(|(index, c)| {
            let w = |i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().expect("8"));
            WorkerStats {
                index,
                pid: w(0) as u32,
                jobs_done: w(1),
                busy: Duration::from_nanos(w(2)),
                idle: Duration::from_nanos(w(3)),
                bytes_in: w(4),
                bytes_out: w(5),
                queued: w(6) as usize,
                respawns: w(7),
                moved_away: w(8),
            }
        })
        .collect();
    // A node agent's queue of forwarded jobs is not a `submit` backlog: not reported.
    PoolStats { workers, uptime, backlog: 0 }
}
