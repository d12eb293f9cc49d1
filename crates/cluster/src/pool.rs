//! [`ClusterPool`]: the executor over every node of an MPI run.

use crate::future::{ClusterFuture, Slot};
use crate::idle::Idle;
use crate::launch;
use crate::outbox::Outbox;
use crate::shared::{Shared, Target, Via};
use crate::wire::op;
use rkyv::util::AlignedVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, EncodeError, Header};
use zeroproc_sched::{JobError, JobFn, Message, Never, Pool};

/// Only one cluster pool at a time: the agents serve one node pool each.
static OPEN: AtomicBool = AtomicBool::new(false);

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
    job_timeout: Option<Duration>,
    pin: bool,
    ring_capacity: usize,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            workers_per_node: 0,
            local_workers: None,
            window_per_worker: 4,
            job_timeout: None,
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
    /// its node) and fails with [`JobError::TimedOut`].
    pub fn job_timeout(mut self, d: Duration) -> Self {
        self.job_timeout = Some(d);
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
        let timeout_ns =
            self.job_timeout.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
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
            if let Some(d) = self.job_timeout {
                b = b.job_timeout(d);
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

/// Polls while nobody waits, so that callbacks run and queued jobs flow.
fn progress_loop(shared: &Shared, stop: &AtomicBool) {
    let mut idle = Idle::default();
    // Relaxed: a stop flag; the joiner synchronizes through `join`.
    while !stop.load(Ordering::Relaxed) {
        // Relaxed: a hint (a waiter drives progress itself).
        if shared.waiters.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if shared.progress() {
            idle.active();
        } else {
            idle.pause();
        }
    }
}

/// The executor over every node of an MPI run: [`Pool`]'s API, jobs spread over the
/// workers of every node agent (and rank 0's own pool if it has workers).
///
/// Under `mpirun`/`srun`, [`crate::init`] (or `zeroproc::init` with the `mpi` feature) makes
/// every rank but 0 a node agent; rank 0 runs `main` and builds the pool. Run without a
/// launcher, the same program uses a local pool only.
///
/// ```
/// zeroproc_cluster::init();
/// use zeroproc_cluster::ClusterPool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = ClusterPool::builder().build()?;
/// assert_eq!(pool.submit(square, 7).result(), Ok(49));
/// let total: u64 = pool.map(square, 0..1000u64).chunk_size(100).map(Result::unwrap).sum();
/// assert_eq!(total, (0..1000u64).map(square).sum::<u64>());
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
pub struct ClusterPool {
    pub(crate) shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    progress: Mutex<Option<JoinHandle<()>>>,
    /// The largest job record every target takes.
    pub(crate) max_record: usize,
    ended: AtomicBool,
}

impl std::fmt::Debug for ClusterPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPool").field("nodes", &self.nodes()).finish()
    }
}

impl ClusterPool {
    /// A builder with the defaults.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// A pool with the defaults.
    pub fn new() -> Result<ClusterPool, ClusterError> {
        ClusterBuilder::default().build()
    }

    /// Workers per target, as (rank, workers): rank 0 is this process's own pool.
    pub fn nodes(&self) -> Vec<(usize, usize)> {
        let st = self.shared.lock();
        st.targets
            .iter()
            .map(|t| match t.via {
                Via::Local(_) => (0, t.workers),
                Via::Agent(r) => (r, t.workers),
            })
            .collect()
    }

    /// Workers over all nodes.
    pub fn workers(&self) -> usize {
        self.nodes().iter().map(|n| n.1).sum()
    }

    /// The encoded job record of `f(args)`, or why it cannot be sent.
    pub(crate) fn record<A: Message>(
        &self,
        fn_id: u32,
        args: &A,
    ) -> Result<AlignedVec<16>, JobError<Never>> {
        encode_record(fn_id, args, self.max_record)
    }

    /// Runs `f(args)` on a worker of some node. Never blocks for long: the job waits on
    /// rank 0 until a node has room. A shut-down pool or arguments that cannot be sent give
    /// a future that is already failed ([`JobError::Shutdown`], [`JobError::Decode`],
    /// [`JobError::TooLarge`]).
    pub fn submit<F, A, R>(&self, f: F, args: A) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_timeout_ns(f, args, self.shared.timeout_ns)
    }

    /// [`submit`](Self::submit) with a per-job time-out (overrides the builder's): a job
    /// that runs longer has its worker killed and fails with [`JobError::TimedOut`].
    pub fn submit_with_timeout<F, A, R>(&self, f: F, args: A, timeout: Duration) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.submit_timeout_ns(f, args, ns)
    }

    fn submit_timeout_ns<F, A, R>(&self, f: F, args: A, timeout_ns: u64) -> ClusterFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        // Acquire: pairs with the Release store in `close`.
        if self.shared.closed.load(Ordering::Acquire) {
            return ClusterFuture::failed(self.shared.clone(), JobError::Shutdown);
        }
        let record = match self.record(zeroproc_sched::raw::fn_id(f), &args) {
            Ok(r) => r,
            Err(e) => return ClusterFuture::failed(self.shared.clone(), e),
        };
        let slot = Slot::<R>::new();
        let mut st = self.shared.lock();
        let token = self.shared.place(&mut st, record, slot.clone(), 0, timeout_ns);
        self.shared.flush(&mut st);
        self.shared.unlock(st);
        ClusterFuture { slot, shared: self.shared.clone(), token }
    }

    /// Stops accepting jobs and lets the nodes finish what is queued, then stops their
    /// pools (Python's `shutdown(wait, cancel_futures)`). `wait`: block until every job is
    /// done and the node pools are gone. `cancel_futures`: jobs not yet started are
    /// cancelled. Idempotent; `Drop` calls `shutdown(true, false)`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.close();
        if cancel_futures {
            let tokens = {
                let mut st = self.shared.lock();
                self.shared.cancel_queue(&mut st);
                let tokens = st.owed_tokens();
                self.shared.unlock(st); // callbacks of the cancelled jobs
                tokens
            };
            for t in tokens {
                // A refusal (running, done) needs no answer here.
                let _ = self.shared.request_cancel(t, false);
            }
        }
        if wait {
            self.shared.wait_until(None, || self.shared.owed() == 0);
            self.end(op::SHUTDOWN);
        }
    }

    /// Stops now: queued jobs are cancelled, running jobs are killed with their workers on
    /// every node (their futures fail with [`JobError::Cancelled`]), and the node pools are
    /// gone when this returns.
    pub fn terminate(&self) {
        self.close();
        let mut st = self.shared.lock();
        self.shared.cancel_queue(&mut st);
        self.shared.unlock(st); // callbacks of the cancelled jobs
        self.end(op::TERMINATE);
        self.shared
            .wait_until(Some(Instant::now() + Duration::from_secs(5)), || self.shared.owed() == 0);
    }

    fn close(&self) {
        // Release: pairs with the Acquire in `submit`.
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Takes the node pools down (`code`: SHUTDOWN or TERMINATE) and waits for every
    /// agent's answer; then stops the progress thread. Once.
    fn end(&self, code: u8) {
        // AcqRel: `end` runs once, whichever of shutdown/terminate/drop gets here first.
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let agents: Vec<usize> = {
            let mut st = self.shared.lock();
            let mut ranks = Vec::new();
            for t in st.targets.iter_mut() {
                match &t.via {
                    Via::Agent(r) => ranks.push(*r),
                    Via::Local(p) if code == op::TERMINATE => p.terminate(),
                    Via::Local(p) => p.shutdown(true, false),
                }
            }
            ranks
        };
        let live = launch::controller().is_some_and(|c| c.net.is_some());
        if live && !agents.is_empty() {
            for &r in &agents {
                self.shared.command(r, code, &[0]);
            }
            let mut answered = 0;
            let mut idle = Idle::default();
            let until = Instant::now() + Duration::from_secs(60);
            while answered < agents.len() && Instant::now() < until {
                self.shared.progress();
                let n = self.shared.take_replies().iter().filter(|r| r.1 == op::SHUTDOWN).count();
                answered += n;
                if n > 0 {
                    idle.active();
                } else {
                    idle.pause();
                }
            }
            // Outcomes the agents sent before answering (terminated jobs) are in.
            self.shared.progress();
        }
        // Relaxed: see `progress_loop`.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.progress.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        OPEN.store(false, Ordering::Release);
    }
}

impl Drop for ClusterPool {
    /// `shutdown(true, false)`, or `terminate` while the thread panics.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.terminate();
        } else {
            self.shutdown(true, false);
        }
    }
}

/// Encodes the job record (envelope: header with `fn_id`, rkyv archive of `args`) once;
/// it travels unchanged from here to the worker.
pub(crate) fn encode_record<A: Message>(
    fn_id: u32,
    args: &A,
    max: usize,
) -> Result<AlignedVec<16>, JobError<Never>> {
    let mut size = 256usize.min(max.max(envelope::HEADER_LEN));
    loop {
        let mut buf = AlignedVec::<16>::with_capacity(size);
        buf.resize(size, 0);
        match envelope::encode_measured(&mut buf, Header::new(0, fn_id), args) {
            Ok(n) => {
                buf.resize(n, 0);
                return Ok(buf);
            }
            Err((EncodeError::TooLarge { .. }, need)) if size < max => {
                size = size.saturating_mul(2).max(need.saturating_add(need / 8)).min(max);
            }
            Err((EncodeError::TooLarge { .. }, need)) => {
                return Err(JobError::TooLarge {
                    message: format!(
                        "the arguments need at least {need} bytes; a cluster job record is at most \
                         {max} bytes (what every node's spill heap holds)"
                    ),
                })
            }
            Err((e, _)) => return Err(JobError::Decode { message: e.to_string() }),
        }
    }
}
