//! Building a [`ClusterPool`]: the node pools (every agent's, and rank 0's own), and why
//! that can fail.

use super::{progress_loop, ClusterPool, OPEN};
use crate::idle::Idle;
use crate::launch;
use crate::outbox::Outbox;
use crate::shared::{Shared, Target, Via};
use crate::wire::op;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroproc_sched::Pool;

/// How long `build` waits for the agents to start their pools.
const BUILD_WAIT: Duration = Duration::from_secs(120);

/// Why a [`ClusterPool`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// Some ranks run another build than rank 0 (their executables' fingerprints differ):
    /// their function ids would not name the same functions.
    BuildMismatch {
        /// Rank 0's fingerprint.
        controller: u64,
        /// The ranks that differ, with their fingerprints.
        ranks: Vec<(usize, u64)>,
    },
    /// Another `ClusterPool` is open (one at a time), or the cluster was
    /// [`finish`](crate::finish)ed.
    Unavailable(String),
    /// A node (or rank 0's own pool) could not build its pool.
    Node {
        /// The rank.
        rank: usize,
        /// What it said.
        message: String,
    },
    /// There is nowhere to run jobs: no agents and no local workers.
    NoTargets,
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::BuildMismatch { controller, ranks } => {
                write!(
                    f,
                    "ranks run a different build than rank 0 (fingerprint {controller:#018x}): "
                )?;
                for (i, (r, fp)) in ranks.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}rank {r} ({fp:#018x})")?;
                }
                f.write_str("; every rank must run the same executable")
            }
            ClusterError::Unavailable(m) => f.write_str(m),
            ClusterError::Node { rank, message } => write!(f, "rank {rank}: {message}"),
            ClusterError::NoTargets => {
                f.write_str("no node agents and no local workers to run jobs")
            }
        }
    }
}

impl std::error::Error for ClusterError {}

/// Configures a [`ClusterPool`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    workers_per_node: usize,
    local_workers: Option<usize>,
    window_per_worker: usize,
    job_time_limit: Option<Duration>,
    pin: bool,
    ring_capacity: usize,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            workers_per_node: 0,
            local_workers: None,
            window_per_worker: 4,
            job_time_limit: None,
            pin: true,
            ring_capacity: 1 << 18,
        }
    }
}

impl ClusterBuilder {
    /// Workers of each node agent's pool (default 0: one per core the agent may use —
    /// launch with `--bind-to none` so that is every core of the node).
    pub fn workers_per_node(mut self, n: usize) -> Self {
        self.workers_per_node = n;
        self
    }

    /// Workers of rank 0's own pool (default: none under a launcher — rank 0 only
    /// controls; one per core without one, so the program runs on one machine unchanged).
    pub fn local_workers(mut self, n: usize) -> Self {
        self.local_workers = Some(n);
        self
    }

    /// Jobs in flight per worker of a node (default 4): a node is sent a job only while it
    /// holds fewer than `window_per_worker × workers`; the rest wait on rank 0 for the
    /// first node with room. Larger windows hide more latency, smaller ones balance better.
    pub fn window_per_worker(mut self, n: usize) -> Self {
        self.window_per_worker = n.max(1);
        self
    }

    /// A per-job time-out for every job: a job that runs longer has its worker killed (on
    /// its node) and fails with [`JobError::TimeLimit`](zeroproc_sched::JobError::TimeLimit).
    pub fn job_time_limit(mut self, d: Duration) -> Self {
        self.job_time_limit = Some(d);
        self
    }

    /// Pin each node's workers one per core (default true).
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// Bytes of each node worker's submission and completion ring (a power of two, default
    /// 256 KiB, as `PoolBuilder::ring_capacity`): a job's arguments or result must fit half
    /// of it to travel to and from a node.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// Builds the node pools (every agent's, and rank 0's if it has workers).
    pub fn build(self) -> Result<ClusterPool, ClusterError> {
        // AcqRel / Release (below and in `end`): one pool at a time; the flag hands the
        // agents over from the previous pool's `end` to this build.
        if OPEN.swap(true, Ordering::AcqRel) {
            return Err(ClusterError::Unavailable(
                "another ClusterPool is open (one at a time)".into(),
            ));
        }
        let r = self.build_inner();
        if r.is_err() {
            OPEN.store(false, Ordering::Release);
        }
        r
    }

    fn build_inner(self) -> Result<ClusterPool, ClusterError> {
        let timeout_ns = self
            .job_time_limit
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
        let (size, fingerprints) = match launch::controller() {
            Some(c) if c.net.is_none() => {
                return Err(ClusterError::Unavailable(
                    "the cluster was finished (zeroproc_cluster::finish)".into(),
                ))
            }
            Some(c) => (c.net.as_ref().map_or(1, |n| n.size()), c.fingerprints.clone()),
            None => (1, Vec::new()),
        };
        if let Some(&mine) = fingerprints.first() {
            let ranks: Vec<(usize, u64)> =
                fingerprints.iter().copied().enumerate().filter(|&(_, f)| f != mine).collect();
            if !ranks.is_empty() {
                return Err(ClusterError::BuildMismatch { controller: mine, ranks });
            }
        }
        let local_outbox = Arc::new(Outbox::default());
        let mut targets = Vec::new();
        let local = self.local_workers.unwrap_or(if size > 1 { 0 } else { default_workers() });
        let mut max_record = usize::MAX;
        if local > 0 {
            let mut b = Pool::builder()
                .workers(local)
                .pin(self.pin)
                .ring_capacity(self.ring_capacity)
                .name("cluster-node-0");
            if let Some(cores) = crate::node::cores_for(local).filter(|_| self.pin) {
                b = b.cores(cores);
            }
            if let Some(d) = self.job_time_limit {
                b = b.job_time_limit(d);
            }
            let p =
                b.build().map_err(|e| ClusterError::Node { rank: 0, message: e.to_string() })?;
            max_record = max_record.min(p.max_record());
            targets.push(Target::new(Via::Local(p), local, local * self.window_per_worker));
        }
        let shared_targets = if size > 1 {
            let built = start_agents(size, &self, timeout_ns)?;
            for (rank, workers, max) in built {
                max_record = max_record.min(max);
                targets.push(Target::new(
                    Via::Agent(rank),
                    workers,
                    workers * self.window_per_worker,
                ));
            }
            targets
        } else {
            targets
        };
        if shared_targets.is_empty() {
            return Err(ClusterError::NoTargets);
        }
        let shared = Arc::new(Shared::new(shared_targets, local_outbox, timeout_ns));
        let stop = Arc::new(AtomicBool::new(false));
        let progress = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("zeroproc-cluster-progress".into())
                .spawn(move || progress_loop(&shared, &stop))
                .map_err(|e| ClusterError::Node {
                    rank: 0,
                    message: format!("progress thread: {e}"),
                })?
        };
        Ok(ClusterPool {
            shared,
            stop,
            progress: Mutex::new(Some(progress)),
            max_record,
            ended: AtomicBool::new(false),
        })
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sends `BUILD` to every agent and collects (rank, workers, max record).
fn start_agents(
    size: usize,
    b: &ClusterBuilder,
    timeout_ns: u64,
) -> Result<Vec<(usize, usize, usize)>, ClusterError> {
    let mut args = (b.workers_per_node as u32).to_le_bytes().to_vec();
    args.extend_from_slice(&timeout_ns.to_le_bytes());
    args.push(u8::from(b.pin));
    args.extend_from_slice(&(b.ring_capacity as u64).to_le_bytes());
    let mut c = launch::controller().expect("checked by the caller");
    let net = c.net.as_mut().expect("checked by the caller");
    for r in 1..size {
        net.send(r, crate::wire::TAG_CMD, crate::wire::command(op::BUILD, &args));
    }
    let (mut built, mut failed) = (Vec::new(), None);
    let until = Instant::now() + BUILD_WAIT;
    let mut idle = Idle::default();
    while built.len() + usize::from(failed.is_some()) < size - 1 && failed.is_none() {
        match net.try_receive() {
            Some(m) if m.tag == crate::wire::TAG_REPLY && m.bytes.first() == Some(&op::BUILD) => {
                let a = &m.bytes[8..];
                let w = u32::from_le_bytes(a[0..4].try_into().expect("4")) as usize;
                let max = u32::from_le_bytes(a[4..8].try_into().expect("4")) as usize;
                built.push((m.from, w, max));
                idle.active();
            }
            Some(m)
                if m.tag == crate::wire::TAG_REPLY && m.bytes.first() == Some(&op::SHUTDOWN) =>
            {
                // A late answer to an earlier pool's shutdown: not about this build.
            }
            Some(m) if m.tag == crate::wire::TAG_REPLY => {
                let message =
                    String::from_utf8_lossy(m.bytes.get(8..).unwrap_or_default()).into_owned();
                failed = Some(ClusterError::Node { rank: m.from, message });
            }
            Some(m) => eprintln!(
                "zeroproc-cluster: unexpected tag {} from rank {} during build",
                m.tag, m.from
            ),
            None if Instant::now() > until => {
                failed = Some(ClusterError::Node {
                    rank: 0,
                    message: "node agents did not answer within 120 s".into(),
                })
            }
            None => idle.pause(),
        }
    }
    net.reap();
    if let Some(e) = failed {
        // The agents that built a pool take it down again (their replies are dropped by
        // the next build's wait).
        for &(r, _, _) in &built {
            net.send(r, crate::wire::TAG_CMD, crate::wire::command(op::TERMINATE, &[]));
        }
        return Err(e);
    }
    built.sort_unstable();
    Ok(built)
}
