//! Questions rank 0 asks about its jobs and nodes: is a job running (`ClusterFuture::running`),
//! and every node's worker statistics (`ClusterPool::stats`). A job or pool on rank 0's own
//! pool is answered here; a node is asked with a command and its reply is awaited (driving
//! progress meanwhile, as any waiter does) — not once MPI is finished (nobody would answer:
//! the job is not running, the nodes' statistics are left out).

use super::{Shared, Via};
use crate::launch;
use crate::wire::{op, STAT_WORDS};
use std::time::{Duration, Instant};
use zeroproc_sched::{PoolStats, WorkerStats};

/// How long a question waits for a node's answer (a node that died aborts the run).
const ANSWER_WAIT: Duration = Duration::from_secs(30);

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
        self.command(rank, op::RUNNING, &token.to_le_bytes());
        let mut answer = None;
        let mine = |args: &Vec<u8>| args.get(..8) == Some(&token.to_le_bytes()[..]);
        self.wait_until(Some(Instant::now() + ANSWER_WAIT), || {
            if !launch::live() {
                return true;
            }
            if answer.is_none() {
                answer = self.take_reply_where(op::RUNNING, mine);
            }
            answer.is_some()
        });
        answer.is_some_and(|a| a.get(8) == Some(&1))
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
        for &r in agents.iter().filter(|_| launch::live()) {
            self.command(r, op::STATS, &self.id.to_le_bytes());
        }
        let mut got: Vec<(usize, Vec<u8>)> = Vec::new();
        let live = launch::live();
        self.wait_until(Some(Instant::now() + ANSWER_WAIT), || {
            got.extend(self.take_replies(op::STATS));
            !live || !launch::live() || got.len() >= agents.len()
        });
        got.sort_by_key(|g| g.0);
        for (rank, bytes) in got {
            out.push((rank, decode_stats(&bytes, self.created.elapsed())));
        }
        out
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
