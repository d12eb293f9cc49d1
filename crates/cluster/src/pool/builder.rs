//! Building a [`ClusterPool`]: the node pools (every agent's, and rank 0's own), and why
//! that can fail.

use super::{progress_loop, ClusterPool};
use crate::idle::Idle;
use crate::launch;
use crate::outbox::Outbox;
use crate::shared::{release_shipped, ship_to, Shared, Target, Via};
use crate::ship::{Need, Placement};
use crate::wire::{command, op, TAG_CMD, TAG_REPLY};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroproc_sched::raw::Initializer;
use zeroproc_sched::{InitFn, JobFn, Message, Pool, WaitStrategy};

/// How long `build` waits for the agents to start their pools.
const BUILD_WAIT: Duration = Duration::from_secs(120);

/// Why a [`ClusterPool`] could not be built. `Node` carries the rank and the message of
/// the `BuildError` its pool got (a panicking initializer, bad options, a worker that
/// did not start).
///
/// ```
/// zeroproc_cluster::init();
/// use zeroproc_cluster::ClusterPool;
/// match ClusterPool::builder().local_workers(1).max_jobs_per_worker(0).build() {
///     Err(e) => println!("cannot build: {e}"), // which rank, and why
///     Ok(_) => panic!("0 jobs per worker is refused"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// Some ranks run another build than rank 0 (their executables' fingerprints differ):
    /// their function ids would not name the same functions.
    BuildMismatch {
        /// Rank 0's fingerprint.
        controller: u64,
        /// The ranks that differ, with their fingerprints.
        ranks: Vec<(usize, u64)>,
    },
    /// The cluster was [`finish`](crate::finish)ed: MPI is gone.
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
    /// The configuration cannot be used (e.g. initializer arguments that cannot be
    /// archived).
    Config(String),
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
            ClusterError::Config(m) => f.write_str(m),
            ClusterError::NoTargets => {
                f.write_str("no node agents and no local workers to run jobs")
            }
        }
    }
}

impl std::error::Error for ClusterError {}

/// Configures a [`ClusterPool`]. The options are `PoolBuilder`'s, per node —
/// `workers_per_node` and `local_workers` where a `Pool` has `workers`,
/// `window_per_worker` where it has `window` — and `build` fails with a
/// [`ClusterError`] (which names the rank) where `Pool`'s fails with a `BuildError`.
///
/// ```
/// zeroproc_cluster::init();
/// use std::time::Duration;
/// use zeroproc_cluster::ClusterPool;
/// let pool = ClusterPool::builder()
///     .workers_per_node(0)                       // every core of each node (default)
///     .local_workers(2)                          // rank 0's own pool: 2 workers
///     .window_per_worker(8)                      // jobs in flight per node worker
///     .job_time_limit(Duration::from_secs(60))   // per job, on its node
///     .name("tiles")
///     .build()?;
/// assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    workers_per_node: usize,
    local_workers: Option<usize>,
    window_per_worker: usize,
    job_time_limit: Option<Duration>,
    pin: bool,
    ring_capacity: usize,
    cancel_on_drop: bool,
    wait_strategy: Option<WaitStrategy>,
    max_jobs_per_worker: Option<u64>,
    spill_heap: Option<usize>,
    /// The workers' initializer (or why its arguments could not be archived).
    initializer: Option<Result<Initializer, String>>,
    /// The segment ids of the handles in the initializer's arguments (collected when they
    /// were archived: `pool::Record`).
    initializer_ids: Vec<String>,
    name: Option<String>,
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
            cancel_on_drop: false,
            wait_strategy: None,
            max_jobs_per_worker: None,
            spill_heap: None,
            initializer: None,
            initializer_ids: Vec::new(),
            name: None,
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

    /// How idle workers wait for jobs (`PoolBuilder::wait_strategy`), on every node's pool
    /// and rank 0's own. Default: the node agents' pools use [`WaitStrategy::Sleep`] —
    /// unlike a local `Pool` (spin 50 µs, then sleep): the agent shares its node's cores
    /// with its workers, and a worker spinning after its job keeps the agent off the CPU;
    /// sleeping at once costs the agent a futex wake (~2 µs) per job that finds its worker
    /// idle. Measured on 2 vCPUs: tiny-job round trip p50 ~10 µs instead of ~21 µs when the
    /// agent and its worker share a core (`--bind-to core`); with floating ranks
    /// (`--bind-to none`) either ~10 µs or 18–29 µs depending on where the scheduler puts
    /// rank 0 and the agent, against 16 µs (up to 34) spinning (docs/cluster.md,
    /// "Round-trip latency"). Rank 0's own pool keeps
    /// the local default (its controller polls its rings directly, as a local `Pool`'s
    /// does). `wait_strategy(WaitStrategy::default())` gives every pool the local default.
    pub fn wait_strategy(mut self, s: WaitStrategy) -> Self {
        self.wait_strategy = Some(s);
        self
    }

    /// Replace each node's worker after `n` jobs (`PoolBuilder::max_jobs_per_worker`,
    /// Python's `max_tasks_per_child`).
    pub fn max_jobs_per_worker(mut self, n: u64) -> Self {
        self.max_jobs_per_worker = Some(n); // 0 is refused by `build`
        self
    }

    /// Runs `f` once in every worker of every node (and every respawned worker) before its
    /// first job, as `PoolBuilder::initializer`. A panicking initializer fails `build` with
    /// [`ClusterError::Node`] naming the rank and the panic's message.
    pub fn initializer<F: InitFn<R>, R>(mut self, f: F) -> Self {
        self.initializer = Some(Ok(Initializer::new(f)));
        self.initializer_ids = Vec::new();
        self
    }

    /// Runs `f(args)` once in every worker of every node before its first job (Python's
    /// `initializer=f, initargs=args`), as `PoolBuilder::initializer_with`: `args` is
    /// archived once on rank 0 and sent to each node. A `SharedArray`'s handle in `args` is
    /// shipped to every node before its pool starts, as for a job, and kept there while the
    /// pool is open (an initializer of a worker respawned later reads the node's copy: the
    /// array as `build` found it, or a later version a job there read since); any other
    /// node-local handle (a queue, a vector, a chunk…) makes `build` fail with
    /// [`ClusterError::Config`] naming it, why, and to send the data itself.
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// use std::sync::OnceLock;
    /// static UNIT: OnceLock<String> = OnceLock::new(); // per worker process
    /// fn setup(unit: String) { UNIT.set(unit).unwrap(); }
    /// let pool = zeroproc_cluster::ClusterPool::builder().initializer_with(setup, "cm".to_string()).build()?;
    /// assert_eq!(pool.submit(|x: u64| format!("{x}{}", UNIT.get().unwrap()), 7).result().unwrap(), "7cm");
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn initializer_with<F, A, R>(mut self, f: F, args: A) -> Self
    where
        F: JobFn<A, R>,
        A: Message,
    {
        let (init, ids) = zeroproc_mp::segment_refs::collect(|| Initializer::with(f, &args));
        self.initializer = Some(init);
        self.initializer_ids = ids;
        self
    }

    /// The pool's name (default `<executable>-<pid>` of rank 0, as `PoolBuilder::name`);
    /// each node's pool is listed by `zeroproc top` on its node as `NAME-node-RANK`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The most bytes each node's spill heap grows to, which carries arguments and results
    /// too large for a ring record (`PoolBuilder::spill_heap`: it starts at 64 MiB; default
    /// 1 GiB or a quarter of the node's memory, `0`: none). A job's
    /// arguments must fit every node's: larger ones are `TooLarge` at submission.
    pub fn spill_heap(mut self, bytes: usize) -> Self {
        self.spill_heap = Some(bytes);
        self
    }

    /// Dropping an unfinished [`ClusterFuture`](crate::ClusterFuture) of this pool
    /// terminates its job, as `PoolBuilder::cancel_on_drop` does on one machine: a job
    /// waiting on rank 0 or on its node never runs, a running one has its worker killed on
    /// its node. Default `false` (Python: a dropped future's job still runs). One future can
    /// opt in alone with [`ClusterFuture::cancel_on_drop`](crate::ClusterFuture::cancel_on_drop).
    pub fn cancel_on_drop(mut self, on: bool) -> Self {
        self.cancel_on_drop = on;
        self
    }

    /// Builds the node pools (every agent's, and rank 0's if it has workers). Several
    /// cluster pools may be open at once: each agent then keeps one node pool per cluster
    /// pool (each with its workers, as several `Pool`s on one machine would).
    pub fn build(self) -> Result<ClusterPool, ClusterError> {
        if zeroproc_sched::in_pool_worker() {
            // A job may build a local `Pool` (as in CPython's `ProcessPoolExecutor`), not
            // a cluster pool: a worker never touches MPI, and rank 0 owns the nodes.
            return Err(ClusterError::Node {
                rank: launch::own_rank(),
                message: "a ClusterPool cannot be built inside a worker (a job or an \
                          initializer called ClusterPool::build): workers never touch MPI; \
                          build it on rank 0, or a local zeroproc::Pool in the job"
                    .into(),
            });
        }
        let id = crate::shared::next_pool_id();
        if let Some(mut c) = launch::controller() {
            c.open_route(id);
        }
        let r = self.build_inner(id);
        if r.is_err() {
            if let Some(mut c) = launch::controller() {
                c.close_route(id);
            }
        }
        r
    }

    fn build_inner(mut self, id: u64) -> Result<ClusterPool, ClusterError> {
        let name = self.name.take().unwrap_or_else(default_name);
        self.name = Some(name.clone());
        if let Some(Err(e)) = &self.initializer {
            return Err(ClusterError::Config(format!("initializer arguments: {e}")));
        }
        zeroproc_sched::raw::check_limits(self.max_jobs_per_worker, self.job_time_limit)
            .map_err(ClusterError::Config)?;
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
        // The initializer runs on every node's workers: its read-only arrays are shipped
        // to every node before the node builds its pool (as a job's are before its batch)
        // and kept there while the pool is open; any other node-local handle in its
        // arguments (rank 0's shared memory) could not be attached there — refused here,
        // naming why, as a job's arguments are at submission.
        let init_arrays = match (size > 1, crate::ship::classify(&self.initializer_ids)) {
            (false, _) | (true, Placement::Anywhere) => Vec::new(),
            (true, Placement::Ship(needs)) => needs,
            (true, Placement::Local(id, why)) => {
                return Err(ClusterError::Config(format!(
                    "the initializer's arguments hold a node-local handle ({id}): it names \
                     shared memory on rank 0's node, which the workers of the other nodes \
                     cannot attach, and it is not a read-only array that could be shipped to \
                     them ({why}); send the data itself, or a SharedArray's handle (shipped \
                     to every node)"
                )));
            }
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
                .name(format!("{name}-node-0"));
            if let Some(cores) = crate::node::cores_for(local).filter(|_| self.pin) {
                b = b.cores(cores);
            }
            if let Some(d) = self.job_time_limit {
                b = b.job_time_limit(d);
            }
            if let Some(w) = self.wait_strategy {
                b = b.wait_strategy(w);
            }
            if let Some(n) = self.max_jobs_per_worker {
                b = b.max_jobs_per_worker(n);
            }
            if let Some(n) = self.spill_heap {
                b = b.spill_heap(n);
            }
            if let Some(Ok(init)) = &self.initializer {
                b = b.forwarded_initializer(init);
            }
            // This process's own pool: rank 0's, or, built in a job, that of the node whose
            // worker runs it (before, always "rank 0").
            let rank = launch::own_rank();
            let p = b.build().map_err(|e| ClusterError::Node { rank, message: e.to_string() })?;
            max_record = max_record.min(p.max_record());
            targets.push(Target::new(Via::Local(p), local, local * self.window_per_worker));
        }
        let shared_targets = if size > 1 {
            let built = start_agents(id, size, &self, timeout_ns, &init_arrays)?;
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
        let mut shared = Shared::new(id, shared_targets, local_outbox, timeout_ns);
        shared.cancel_on_drop = self.cancel_on_drop;
        let shared = Arc::new(shared);
        if let Some(mut c) = launch::controller() {
            c.wake_route(id, Arc::downgrade(&shared));
        }
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
        super::live::register(&shared, &stop);
        let batching = self.job_time_limit.is_none()
            && self.max_jobs_per_worker.is_none()
            && self.spill_heap != Some(0);
        Ok(ClusterPool {
            init_arrays,
            shared,
            stop,
            progress: Mutex::new(Some(progress)),
            max_record,
            batching,
            ended: AtomicBool::new(false),
            questions: Mutex::new(()),
            name,
        })
    }
}

/// `<executable>-<pid>`, as a local pool's default name.
fn default_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_ref().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned());
    format!("{}-{}", stem.unwrap_or_else(|| "zeroproc".into()), std::process::id())
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sends `BUILD` for pool `id` to every agent and collects (rank, workers, max record).
fn start_agents(
    id: u64,
    size: usize,
    b: &ClusterBuilder,
    timeout_ns: u64,
    init_arrays: &[Need],
) -> Result<Vec<(usize, usize, usize)>, ClusterError> {
    let mut args = id.to_le_bytes().to_vec();
    args.extend_from_slice(&(b.workers_per_node as u32).to_le_bytes());
    args.extend_from_slice(&timeout_ns.to_le_bytes());
    args.push(u8::from(b.pin));
    args.extend_from_slice(&(b.ring_capacity as u64).to_le_bytes());
    let (kind, spin) = match b.wait_strategy {
        // The agents' default: see `ClusterBuilder::wait_strategy`.
        None | Some(WaitStrategy::Sleep) => (3u8, Duration::ZERO),
        Some(WaitStrategy::Spin) => (1, Duration::ZERO),
        Some(WaitStrategy::SpinThenSleep { spin }) => (2, spin),
    };
    args.push(kind);
    args.extend_from_slice(&u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX).to_le_bytes());
    args.extend_from_slice(&b.max_jobs_per_worker.unwrap_or(0).to_le_bytes());
    args.extend_from_slice(&b.spill_heap.map_or(u64::MAX, |n| n as u64).to_le_bytes());
    let name = b.name.as_deref().unwrap_or_default().as_bytes();
    args.extend_from_slice(&(name.len() as u32).to_le_bytes());
    args.extend_from_slice(name);
    args.extend_from_slice(&(init_arrays.len() as u32).to_le_bytes());
    init_arrays.iter().for_each(|n| args.extend_from_slice(&n.token.to_le_bytes()));
    if let Some(Ok(init)) = &b.initializer {
        args.push(1);
        args.extend_from_slice(&init.fn_id.to_le_bytes());
        if let Some(a) = &init.args {
            args.extend_from_slice(a);
        }
    }
    let send_all = |code: u8, args: &[u8], ranks: &mut dyn Iterator<Item = usize>| {
        let mut c = launch::controller().expect("checked by the caller");
        if let Some(net) = c.net.as_mut() {
            ranks.for_each(|r| net.send(r, TAG_CMD, command(code, args)));
        }
    };
    // The initializer's arrays, to every node before its `BUILD` (one sender's messages
    // arrive in order); each node's copies count one user (this pool) until it ends.
    for r in 1..size {
        if let Err(message) = ship_to(r, init_arrays) {
            (1..r).for_each(|r| release_shipped(r, init_arrays, false));
            return Err(ClusterError::Config(format!("the initializer's arguments: {message}")));
        }
    }
    send_all(op::BUILD, &args, &mut (1..size));
    let (mut built, mut failed) = (Vec::new(), None);
    let wait = crate::shared::node_wait(BUILD_WAIT);
    let until = Instant::now() + wait;
    let mut idle = Idle::default();
    let mut msgs = Vec::new();
    while built.len() < size - 1 && failed.is_none() {
        // The controller's lock only for the poll: other pools' threads poll too.
        let live = launch::controller().is_some_and(|mut c| c.receive_for(id, &mut msgs));
        if !live {
            failed = Some(ClusterError::Unavailable(
                "the cluster was finished (zeroproc_cluster::finish)".into(),
            ));
        }
        let got = !msgs.is_empty();
        for m in msgs.drain(..) {
            let a = m.bytes.get(16..).unwrap_or_default();
            match (m.tag, m.bytes.first()) {
                (TAG_REPLY, Some(&op::BUILD)) if a.len() >= 8 => {
                    let w = u32::from_le_bytes(a[0..4].try_into().expect("4")) as usize;
                    let max = u32::from_le_bytes(a[4..8].try_into().expect("4")) as usize;
                    built.push((m.from, w, max));
                }
                (TAG_REPLY, _) => {
                    let message = String::from_utf8_lossy(a).into_owned();
                    failed = Some(ClusterError::Node { rank: m.from, message });
                }
                _ => eprintln!(
                    "zeroproc-cluster: unexpected tag {} from rank {} during build",
                    m.tag, m.from
                ),
            }
        }
        if got {
            idle.active();
        } else if Instant::now() > until {
            // Named by the silent ranks (before, cluster30: "rank 0: node agents did not
            // answer within 120 s", as if rank 0 had failed).
            let silent: Vec<usize> =
                (1..size).filter(|r| !built.iter().any(|b: &(usize, _, _)| b.0 == *r)).collect();
            failed = Some(ClusterError::Node {
                rank: silent[0],
                message: format!(
                    "node agents (ranks {silent:?}) did not answer the pool's build within \
                     {wait:?} (frozen, hung or unreachable)"
                ),
            });
        } else {
            idle.pause();
        }
    }
    if let Some(e) = failed {
        // Every agent takes this pool's node pool down again — also those that have not
        // answered yet: a rank's commands arrive in order, so it builds, then terminates.
        // Their answers go to a closed route and are dropped.
        let mut down = id.to_le_bytes().to_vec();
        down.push(0);
        send_all(op::TERMINATE, &down, &mut (1..size));
        // A node may have failed for want of its copy: a later build ships them again.
        (1..size).for_each(|r| release_shipped(r, init_arrays, true));
        return Err(e);
    }
    built.sort_unstable();
    Ok(built)
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    /// As `PoolBuilder`: a limit that cannot mean anything is refused at `build`, before
    /// anything is sent to the nodes (it was clamped to 1, or forwarded as zero).
    #[test]
    fn meaningless_limits_are_refused_at_build() {
        let e = ClusterPool::builder().max_jobs_per_worker(0).build().expect_err("refused");
        assert!(
            matches!(&e, ClusterError::Config(m) if m.contains("max_jobs_per_worker(0)")),
            "{e}"
        );
        let e = ClusterPool::builder().job_time_limit(Duration::ZERO).build().expect_err("refused");
        assert!(matches!(&e, ClusterError::Config(m) if m.contains("job_time_limit")), "{e}");
    }
}
