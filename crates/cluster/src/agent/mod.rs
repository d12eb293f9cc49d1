//! The node agent: every rank but 0. It owns one shared-memory pool on its node per open
//! [`ClusterPool`](crate::ClusterPool) (built when the controller builds one), copies the
//! job records it receives into that pool's rings, and sends the result records back as
//! the workers wrote them. One thread, polling MPI and the pools; idle, it sleeps
//! (`idle.rs`) instead of spinning on the cores its workers use.

mod node_pool;

use crate::idle::Idle;
use crate::net::{Net, Received};
use crate::ship::NodeArrays;
use crate::wire::{self, op, pool_of, TAG_ARRAY, TAG_CMD, TAG_DONE, TAG_JOBS, TAG_REPLY};
use node_pool::NodePool;
use std::collections::HashMap;
use zeroproc_sched::JobError;

struct Agent {
    net: Net,
    /// The controller's fingerprint matches ours (else `BUILD` is refused).
    same_build: bool,
    /// One node pool per open cluster pool, by the cluster pool's id.
    pools: HashMap<u64, NodePool>,
    /// Copies of rank 0's read-only arrays (`ship.rs`).
    arrays: NodeArrays,
    stop: bool,
}

/// Serves until the controller says `STOP` (or the run ends).
pub(crate) fn serve(net: Net, same_build: bool) {
    let arrays = NodeArrays::new(net.rank());
    let mut a = Agent { net, same_build, pools: HashMap::new(), arrays, stop: false };
    let mut idle = Idle::default();
    while !a.stop {
        let mut busy = false;
        while let Some(m) = a.net.try_receive() {
            busy = true;
            a.handle(m);
            if a.stop {
                break;
            }
        }
        for p in a.pools.values_mut() {
            busy |= p.retry_backlog();
            busy |= p.poll();
        }
        busy |= a.send_outcomes();
        a.net.reap();
        if busy {
            idle.active();
        } else {
            idle.pause();
        }
    }
    // What the pools still hold is not sent back: rank 0 fails those jobs with `Shutdown`
    // (the cluster was finished under them), not with the `Cancelled` of this terminate.
    for (_, p) in std::mem::take(&mut a.pools) {
        drop(p.close(true, true));
    }
    // The array copies and the alias table (memfds: nothing is left behind).
    let rank = a.net.rank();
    drop(std::mem::replace(&mut a.arrays, NodeArrays::new(rank)));
    // The last message: rank 0 receives until it has this from every agent, so every send
    // before it is received too and `flush` returns (a large send completes only when
    // rank 0 receives it: unreceived, it kept this agent, and so every rank's
    // MPI_Finalize, waiting forever).
    a.reply(op::STOP, 0, &[]);
    a.net.flush();
}

impl Agent {
    fn handle(&mut self, m: Received) {
        match m.tag {
            TAG_JOBS => self.jobs(&m.bytes),
            TAG_ARRAY => self.arrays.receive(&mut self.net, &m.bytes),
            TAG_CMD if !m.bytes.is_empty() => {
                self.command(m.bytes[0], &m.bytes[8.min(m.bytes.len())..])
            }
            _ => eprintln!(
                "zeroproc-cluster agent {}: unexpected message (tag {}, {} bytes) from rank {}",
                self.net.rank(),
                m.tag,
                m.bytes.len(),
                m.from
            ),
        }
    }

    /// A `TAG_JOBS` batch (one cluster pool's records).
    fn jobs(&mut self, batch: &[u8]) {
        let mut last = None;
        for e in wire::entries(batch, true) {
            let pool = pool_of(e.token);
            if let Some(message) = self.arrays.refuse(e.array_tokens()) {
                let mut b = Vec::new();
                wire::push_done(&mut b, e.token, wire::kind::NO_COPY, message.as_bytes());
                self.net.send(0, TAG_DONE, b);
                continue;
            }
            match self.pools.get_mut(&pool) {
                Some(p) => {
                    p.take(e.token, e.word, e.body);
                    last = Some(pool);
                }
                None => self.fail_unknown(e.token),
            }
        }
        if let Some(p) = last.and_then(|l| self.pools.get(&l)) {
            p.publish();
        }
    }

    /// A job or command for a node pool that is gone (closed before it arrived).
    #[cold]
    fn fail_unknown(&mut self, token: u64) {
        let mut b = Vec::new();
        wire::push_error(&mut b, token, &JobError::Shutdown);
        self.net.send(0, TAG_DONE, b);
    }

    fn send_outcomes(&mut self) -> bool {
        let mut sent = false;
        for p in self.pools.values_mut() {
            if let Some(bytes) = p.outcomes() {
                self.net.send(0, TAG_DONE, bytes);
                sent = true;
            }
        }
        sent
    }

    fn reply(&mut self, op: u8, pool: u64, args: &[u8]) {
        self.net.send(0, TAG_REPLY, wire::reply(op, pool, args));
    }

    fn command(&mut self, code: u8, args: &[u8]) {
        // The first word: the pool (pool commands) or the job's token (job commands).
        let word =
            u64::from_le_bytes(args.get(..8).and_then(|b| b.try_into().ok()).unwrap_or_default());
        let rest = args.get(8..).unwrap_or_default();
        match code {
            op::BUILD => self.build(word, rest),
            op::CANCEL => {
                let done =
                    self.pools.get_mut(&pool_of(word)).is_some_and(|p| p.cancel(word, false));
                if !done {
                    self.reply(op::NOT_CANCELLED, pool_of(word), &word.to_le_bytes());
                }
            }
            op::TERMINATE_JOB => {
                if let Some(p) = self.pools.get_mut(&pool_of(word)) {
                    p.cancel(word, true);
                }
            }
            op::RUNNING => {
                let running = self.pools.get(&pool_of(word)).is_some_and(|p| p.running(word));
                let mut r = question(rest);
                r.extend_from_slice(&word.to_le_bytes());
                r.push(u8::from(running));
                self.reply(op::RUNNING, pool_of(word), &r);
            }
            op::STATS => {
                let mut r = question(rest);
                r.extend(self.pools.get(&word).map(NodePool::stats).unwrap_or_default());
                self.reply(op::STATS, word, &r);
            }
            op::SHUTDOWN | op::TERMINATE => {
                // The reply carries the pool's last statistics (`stats()` after shutdown).
                let mut stats = Vec::new();
                if let Some(p) = self.pools.remove(&word) {
                    let cancel = rest.first() == Some(&1);
                    let (bytes, last) = p.close_with_stats(code == op::TERMINATE, cancel);
                    if let Some(bytes) = bytes {
                        self.net.send(0, TAG_DONE, bytes);
                    }
                    stats = last;
                }
                self.reply(op::SHUTDOWN, word, &stats);
            }
            op::STOP => self.stop = true,
            other => {
                eprintln!("zeroproc-cluster agent {}: unknown command {other}", self.net.rank())
            }
        }
    }

    fn build(&mut self, pool: u64, args: &[u8]) {
        if !self.same_build {
            let m = format!("node agent {} runs another build than rank 0", self.net.rank());
            return self.reply(op::ERROR, pool, m.as_bytes());
        }
        if self.pools.contains_key(&pool) {
            let m = format!("node agent {}: cluster pool {pool} is built already", self.net.rank());
            return self.reply(op::ERROR, pool, m.as_bytes());
        }
        // A copy of an array the initializer reads failed here: its workers would read
        // nothing (or, on one host, rank 0's memory through /proc).
        if let Some(m) = self.arrays.refuse(NodePool::init_arrays(args).into_iter()) {
            return self.reply(op::ERROR, pool, m.as_bytes());
        }
        match NodePool::build(self.net.rank(), args) {
            Ok(p) => {
                let r = p.built();
                self.pools.insert(pool, p);
                self.reply(op::BUILD, pool, &r);
            }
            Err(m) => self.reply(op::ERROR, pool, m.as_bytes()),
        }
    }
}

/// The question number (the first u64 after the command's first word) that an answer to
/// `RUNNING` or `STATS` starts with.
fn question(rest: &[u8]) -> Vec<u8> {
    rest.get(..8).unwrap_or(&[0; 8]).to_vec()
}
