//! `PoolBuilder`: every knob of a pool, with the defaults a CPU-bound workload wants.

use super::core::{Shared, Slot};
use super::registry;
use super::supervisor::{self, Launch};
use super::Pool;
use crate::claim::MAX_WORKERS;
use crate::control::{PoolHeader, SegmentMap, POOL_LAYOUT};
use crate::error::BuildError;
use crate::launch::{self, Spec};
use crate::share::pin::{self, Pins};
use crate::share::Stored;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use zeroproc_ring::spsc::Ring;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Segment, SegmentBuilder};

/// Configures and starts a [`Pool`].
///
/// Fixed limits (not configurable): a pool runs at most
/// [`FN_TABLE_SLOTS`](crate::FN_TABLE_SLOTS) (4,096) distinct job functions over its life
/// (see [`Pool::submit`]).
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Pool, WaitStrategy};
/// let pool = Pool::builder()
///     .workers(2)                       // default: available_parallelism()
///     .pin(true)                        // one core each (default)
///     .wait_strategy(WaitStrategy::Sleep)
///     .max_jobs_per_worker(1000)        // recycle workers (Python's max_tasks_per_child)
///     .build()?;
/// assert_eq!(pool.workers(), 2);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    workers: Option<usize>,
    pin: bool,
    cores: Option<Vec<usize>>,
    initializer: Option<u32>,
    /// `initializer_with`'s arguments, encoded (or why they could not be).
    init_args: Option<Result<InitArgs, String>>,
    max_jobs: Option<u64>,
    strategy: WaitStrategy,
    window: usize,
    ring_capacity: usize,
    job_time_limit: Option<Duration>,
    /// `None`: the default ([`default_spill_heap`]).
    spill_heap: Option<usize>,
    name: Option<String>,
    cancel_on_drop: bool,
    oversubscribe: bool,
}

/// `initializer_with`'s arguments as an envelope, and the shared values they name (kept
/// while workers may start: `share/pin.rs`); shown by size in `Debug`.
#[derive(Clone)]
struct InitArgs(Arc<[u8]>, Arc<Pins>);

impl std::fmt::Debug for InitArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitArgs({} bytes)", self.0.len())
    }
}

/// Workers per available core a pool may have without [`PoolBuilder::oversubscribe`].
const MAX_WORKERS_PER_CORE: usize = 64;

impl Default for PoolBuilder {
    fn default() -> Self {
        Self {
            workers: None,
            pin: true,
            cores: None,
            initializer: None,
            init_args: None,
            max_jobs: None,
            strategy: WaitStrategy::default(),
            window: 0,
            ring_capacity: 1 << 18,
            job_time_limit: None,
            spill_heap: None,
            name: None,
            cancel_on_drop: false,
            oversubscribe: false,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: `std::thread::available_parallelism()`, which
    /// respects the affinity mask and cgroup CPU quotas; Python's `max_workers`). `0` is
    /// refused by [`build`](Self::build) with [`BuildError::Config`], and so is more than
    /// 64 per available core unless [`oversubscribe`](Self::oversubscribe) says it is
    /// meant.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(3).build()?;
    /// assert_eq!(pool.workers(), 3);
    /// assert!(zeroproc_sched::Pool::builder().workers(0).build().is_err());
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Pin each worker to one core (default true). Worker `i` gets the `i`-th core of
    /// [`cores`](Self::cores), or of the controller's affinity mask, modulo their number.
    /// Turn it off when the machine is shared with other pinned programs, or the pool has
    /// more workers than cores.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).pin(false).build()?;
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// The cores (CPU ids) to pin workers to, in order; implies `pin(true)`. With fewer
    /// cores than workers, the cores are reused in turn. An empty list, or a core this
    /// process may not run on (not in its affinity mask), is a [`BuildError::Config`] at
    /// [`build`](Self::build).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).cores([0]).build()?; // both on CPU 0
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn cores(mut self, cores: impl IntoIterator<Item = usize>) -> Self {
        self.cores = Some(cores.into_iter().collect());
        self.pin = true;
        self
    }

    /// Runs `f` once in every worker (and every respawned worker) before its first job.
    /// A panicking initializer fails [`build`](Self::build) with
    /// [`BuildError::Initializer`] (with the panic's message). What `f` returns is dropped
    /// in the worker, as Python ignores an initializer's return value (a returned `Err`
    /// too: panic to fail the build). With arguments:
    /// [`initializer_with`](Self::initializer_with).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static READY: AtomicBool = AtomicBool::new(false); // one per worker process
    /// fn setup() {
    ///     READY.store(true, Ordering::Relaxed);
    /// }
    /// let pool = zeroproc_sched::Pool::builder().workers(1).initializer(setup).build()?;
    /// assert_eq!(pool.submit(|_: ()| READY.load(Ordering::Relaxed), ()).result(), Ok(true));
    /// assert!(!READY.load(Ordering::Relaxed)); // not run in the controller
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn initializer<F: crate::InitFn<R>, R>(mut self, f: F) -> Self {
        let _ = f;
        self.initializer = Some(crate::fnid::id_of(crate::job::call_init::<F, R>));
        self.init_args = None;
        self
    }

    /// Runs `f(args)` once in every worker (and every respawned worker) before its first
    /// job — Python's `initializer=f, initargs=args`. `args` is archived once, into a
    /// shared-memory segment the pool keeps; each worker reads it from there. A
    /// panicking initializer fails [`build`](Self::build) with
    /// [`BuildError::Initializer`] (with the panic's message); arguments that cannot be archived fail it with
    /// [`BuildError::Config`]. What `f` returns is dropped in the worker, as in
    /// [`initializer`](Self::initializer). To give every *job* the same read-only data, see
    /// [`Pool::share`](crate::Pool::share).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::sync::OnceLock;
    /// static SCALE: OnceLock<(u64, String)> = OnceLock::new(); // per worker process
    ///
    /// fn setup(cfg: (u64, String)) {
    ///     SCALE.set(cfg).unwrap();
    /// }
    /// fn scaled(x: u64) -> String {
    ///     let (k, unit) = SCALE.get().unwrap();
    ///     format!("{}{unit}", x * k)
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder()
    ///     .workers(2)
    ///     .initializer_with(setup, (10, "cm".to_string()))
    ///     .build()?;
    /// assert_eq!(pool.submit(scaled, 7).result().unwrap(), "70cm");
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn initializer_with<F, A, R>(mut self, f: F, args: A) -> Self
    where
        F: crate::JobFn<A, R>,
        A: crate::Message,
    {
        let _ = f;
        self.initializer = Some(crate::fnid::id_of(crate::job::call_ignoring::<F, A, R>));
        let (encoded, pins) = pin::capture(|| crate::job::encode_owned(&args));
        let pins = Arc::new(pins);
        self.init_args = Some(encoded.map(|b| InitArgs(Arc::from(&b[..]), pins)));
        self
    }

    /// The initializer as a function id and, for `initializer_with`, its arguments'
    /// envelope ([`raw::Initializer`](crate::raw::Initializer), which zeroproc-cluster
    /// forwards to the pools of its nodes).
    pub(crate) fn set_initializer(mut self, fn_id: u32, args: Option<&[u8]>) -> Self {
        self.initializer = Some(fn_id);
        self.init_args = args.map(|b| Ok(InitArgs(Arc::from(b), Arc::new(Pins::NONE))));
        self
    }

    /// A worker exits after this many jobs and is replaced by a fresh process (Python's
    /// `max_tasks_per_child`); its queued jobs pass to the successor. It leaves by `exit`
    /// (so `atexit` handlers and static destructors run); one still in `exit` 200 ms later
    /// (a handler a job registered that never returns) is SIGKILLed and replaced.
    ///
    /// `0` is refused by [`build`](Self::build) with [`BuildError::Config`] (Python raises
    /// `ValueError` for a `max_tasks_per_child` below 1).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).max_jobs_per_worker(2).build()?;
    /// let pids: Vec<u32> = pool.map(|_: u8| std::process::id(), 0..4).map(Result::unwrap).collect();
    /// assert_eq!(pids[0], pids[1]); // two jobs per process ...
    /// assert_ne!(pids[1], pids[2]); // ... then a fresh one
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn max_jobs_per_worker(mut self, n: u64) -> Self {
        self.max_jobs = Some(n);
        self
    }

    /// How idle workers and waiting controller threads wait: spin (lowest latency, burns
    /// the core), spin-then-sleep (default: spins 50 µs), or sleep. `Spin` is for a
    /// machine the pool has to itself and latency-critical tiny jobs; `Sleep` for a shared
    /// machine or a pool that is idle most of the time.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::WaitStrategy;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).wait_strategy(WaitStrategy::Sleep).build()?;
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn wait_strategy(mut self, s: WaitStrategy) -> Self {
        self.strategy = s;
        self
    }

    /// A fixed number of jobs `map` keeps in flight (default: adaptive, see
    /// [`Map::window`](crate::Map::window)). A map's own
    /// [`Map::window`](crate::Map::window) overrides it.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).window(4).build()?;
    /// let n = pool.map(|x: u64| x, 0..100).filter(|r| r.is_ok()).count();
    /// assert_eq!(n, 100);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn window(mut self, jobs: usize) -> Self {
        self.window = jobs;
        self
    }

    /// Bytes of each worker's submission and completion ring (a power of two, default
    /// 256 KiB). A job's arguments or a result larger than about half of it does not fit
    /// a ring record and goes through the [`spill_heap`](Self::spill_heap) instead (slower:
    /// one more copy); raise this when many jobs carry tens of KiB each. A ring's memory is
    /// allocated page by page as records first reach it, not at `build()`: a large capacity
    /// costs address space until jobs use it (two workers with 64 MiB rings build in ~2 ms
    /// and hold no ring memory yet) — unless the pool's segment (2 × workers × this, plus
    /// a little) is over a sixteenth of the memory available (the machine's, or the room
    /// under a memory cgroup's limit): then it is allocated at `build()`, so that pools
    /// that do not fit together are a `NoSpace` there rather than an OOM kill when jobs
    /// reach the pages. On each ring's first lap its writer faults the pages in
    /// 64 KiB ahead of its records, so one job in several hundred pays a few µs more; a
    /// program that needs its p99 from the first job on runs a lap of warm-up jobs (about
    /// 5,000 tiny ones per worker at the default size).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).ring_capacity(1 << 20).build()?;
    /// let v = pool.submit(|n: usize| vec![7u8; n], 300_000).result().unwrap();
    /// assert_eq!(v.len(), 300_000);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// Allow more than 64 workers per available core (default
    /// false: such a count is refused at `build`, as it is usually a mistake that starts
    /// thousands of processes). The hard cap of 512 workers holds either way.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// let many = zeroproc_sched::Pool::builder().workers(65 * cores).pin(false);
    /// assert!(matches!(many.clone().build(), Err(zeroproc_sched::BuildError::Config(_))));
    /// // `many.oversubscribe(true).build()` would start them all (up to 512).
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn oversubscribe(mut self, on: bool) -> Self {
        self.oversubscribe = on;
        self
    }

    /// The most bytes the shared heap that carries arguments and results too large for a
    /// ring record may grow to (default: 1 GiB, or a quarter of the machine's memory, or a
    /// quarter of the process's address-space limit `RLIMIT_AS`, whichever is least; `0`:
    /// no heap — such payloads are then
    /// [`JobError::TooLarge`](crate::JobError::TooLarge)). The heap is made on the first
    /// payload that needs it, at 64 MiB (or this size, if smaller), and doubles when a
    /// payload finds no room, up to this size.
    ///
    /// A full heap at its size limit is waited for (arguments at `submit`/`map`, results in
    /// the worker). At its limit larger free blocks are split and freed neighbours merged,
    /// so memory once carved for small payloads serves a large one when it is freed; a
    /// payload larger than the whole heap is `TooLarge` at once (not waited for). A payload
    /// takes one block, its archived size rounded up to a size class (at most a quarter
    /// more): the largest that fits is a little under the limit (896 MiB under 1 GiB).
    ///
    /// Each process that uses the heap maps this maximum whole (address space, not
    /// memory): a worker whose address space an initializer or a job limits
    /// (`setrlimit(RLIMIT_AS, ..)`) needs room for it, so pass a size well under that limit
    /// (e.g. a quarter), or its spills fail with a message naming `RLIMIT_AS`.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).spill_heap(0).build()?; // no heap
    /// let big = pool.submit(|v: Vec<u8>| v.len(), vec![0u8; 1 << 20]);
    /// assert!(matches!(big.result(), Err(JobError::TooLarge { .. })));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn spill_heap(mut self, bytes: usize) -> Self {
        self.spill_heap = Some(bytes);
        self
    }

    /// A time-out applied to every job: a job running longer fails with
    /// [`JobError::TimeLimit`](crate::JobError::TimeLimit) and its worker is killed and
    /// respawned (checked every 5 ms). A zero limit is refused by [`build`](Self::build)
    /// with [`BuildError::Config`]: every job would fail. One job's own limit:
    /// [`Pool::submit_with_time_limit`](crate::Pool::submit_with_time_limit). Time during
    /// which the program was stopped (Ctrl-Z then `fg`, SIGSTOP to its process group) is
    /// not counted: the job did not run.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_sched::Pool::builder()
    ///     .workers(1)
    ///     .job_time_limit(Duration::from_millis(200))
    ///     .build()?;
    /// let stuck = pool.submit(|_: ()| -> u32 { loop { std::thread::park() } }, ());
    /// assert_eq!(stuck.result(), Err(JobError::TimeLimit)); // killed, worker respawned
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn job_time_limit(mut self, d: Duration) -> Self {
        self.job_time_limit = Some(d);
        self
    }

    /// Dropping an unfinished [`JobFuture`](crate::JobFuture) of this pool cancels its
    /// job: a queued job is taken back and never runs, a running one is stopped (its
    /// worker is killed and replaced, as by [`JobFuture::terminate`](crate::JobFuture::terminate)).
    /// Default `false`, as in Python, where a dropped future's job still runs; turn it on
    /// when futures are given up on, e.g. an async caller's `tokio::time::timeout`. One
    /// future can opt in alone with [`JobFuture::cancel_on_drop`](crate::JobFuture::cancel_on_drop).
    /// A [`map`](crate::Pool::map) dropped before its end (or ended by its
    /// [`timeout`](crate::Map::timeout)) stops its running jobs the same way.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).cancel_on_drop(true).build()?;
    /// let hung = pool.submit(|_: ()| -> u32 { loop { std::thread::park() } }, ());
    /// drop(hung); // the worker is freed (killed and replaced) ...
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2)); // ... and serves again
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn cancel_on_drop(mut self, on: bool) -> Self {
        self.cancel_on_drop = on;
        self
    }

    /// The name `zeroproc top` shows for this pool (default `<executable>-<pid>`).
    /// Every pool is listed in a per-user registry while it lives (see
    /// [`running_pools`](crate::running_pools)).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).name("resize-images").build()?;
    /// assert_eq!(pool.name(), "resize-images");
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The number of workers, checked against the caps.
    fn worker_count(&self) -> Result<usize, BuildError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        match self.workers {
            Some(0) => Err(BuildError::Config(
                "workers(0): a pool needs at least one worker (Python's max_workers must be \
                 greater than 0)"
                    .into(),
            )),
            Some(n) if n > MAX_WORKERS => Err(BuildError::Config(format!(
                "{n} workers: a pool has at most {MAX_WORKERS} (one process each)"
            ))),
            Some(n) if n > MAX_WORKERS_PER_CORE * cores && !self.oversubscribe => {
                Err(BuildError::Config(format!(
                    "{n} workers on {cores} available cores (more than \
                     {MAX_WORKERS_PER_CORE} per core): one process each; call \
                     PoolBuilder::oversubscribe(true) if that is meant"
                )))
            }
            Some(n) => Ok(n),
            None => Ok(cores.min(MAX_WORKERS)),
        }
    }

    /// Cores given to [`cores`](Self::cores) that this process may not run on were
    /// ignored (each worker's pinning failed silently, so it ran unpinned), and an empty
    /// list meant "not pinned": both are configuration errors, as `os.sched_setaffinity`
    /// with such a set is one in Python (`OSError`).
    fn check_cores(&self) -> Result<(), BuildError> {
        let Some(given) = &self.cores else { return Ok(()) };
        if given.is_empty() {
            return Err(BuildError::Config(
                "cores([]): no core to pin workers to (pin(false) runs them unpinned)".into(),
            ));
        }
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .map(|v| v.into_iter().map(|c| c.id).collect())
            .unwrap_or_default();
        match given.iter().find(|c| !allowed.contains(c)) {
            Some(c) if !allowed.is_empty() => Err(BuildError::Config(format!(
                "cores({given:?}): this process may not run on core {c} (its affinity \
                 mask allows {allowed:?})"
            ))),
            _ => Ok(()),
        }
    }

    /// A spill heap larger than the machine's memory cannot be created (it was accepted,
    /// then every large payload failed with "the pool has no spill heap").
    fn check_spill_heap(&self) -> Result<(), BuildError> {
        let memory = physical_memory();
        match self.spill_heap {
            Some(n) if memory > 0 && n as u64 > memory => Err(BuildError::Config(format!(
                "spill heap of {n} bytes is larger than the machine's memory ({memory} bytes)"
            ))),
            _ => Ok(()),
        }
    }

    /// The spill heap's size limit this pool gets.
    fn spill_heap_limit(&self) -> usize {
        self.spill_heap.unwrap_or_else(default_spill_heap)
    }

    /// Creates the shared segment and rings, starts the workers and waits for every one
    /// to finish its handshake (attached, same build, initializer run). Call
    /// [`init`](crate::init) first in `main`; the errors are [`BuildError`]'s: bad options
    /// (`Config`), a worker that did not start or runs `main` instead of serving
    /// (`NoInit`, `HandshakeTimeout`: `init()` is missing or not first), a panicking
    /// initializer (`Initializer`), and system limits (`Segment`, `Spawn`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{BuildError, Pool};
    /// match Pool::builder().workers(2).max_jobs_per_worker(0).build() {
    ///     Err(BuildError::Config(why)) => println!("fix the options: {why}"),
    ///     other => panic!("{other:?}"),
    /// }
    /// let pool = Pool::builder().workers(2).build()?;
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn build(self) -> Result<Pool, BuildError> {
        match launch::started() {
            launch::Started::No => {}
            launch::Started::Entered => return Err(BuildError::InsideWorker),
            launch::Started::WithoutInit => launch::without_init("Pool::build"),
        }
        let n = self.worker_count()?;
        self.check_cores()?;
        self.check_spill_heap()?;
        check_limits(self.max_jobs, self.job_time_limit).map_err(BuildError::Config)?;
        let cap = self.ring_capacity;
        let (seg, map) = create_segment(n, cap)?;
        let cores = self.core_ids();
        let core_of = |w: usize| (!cores.is_empty()).then(|| cores[w % cores.len()]);
        let slots = (0..n)
            .map(|w| new_slot(&seg, &map, w, cap, core_of(w)))
            .collect::<Result<Vec<_>, _>>()?;
        let init_args = match &self.init_args {
            None => None,
            Some(Err(e)) => return Err(BuildError::Config(format!("initializer arguments: {e}"))),
            // The type hash is not checked on this path (the worker reads the bytes as
            // the initializer's argument type, validated): any value does.
            Some(Ok(b)) => Some(Arc::new(Stored::create(&b.0, 0).map_err(BuildError::Segment)?)),
        };
        let fingerprint = crate::fnid::fingerprint();
        let parent = std::process::id();
        let specs = (0..n)
            .map(|w| Spec {
                segment: seg.id().clone(),
                index: w,
                core: core_of(w),
                fingerprint,
                strategy: self.strategy,
                initializer: self.initializer,
                init_args: init_args.as_ref().map(|s| s.id().clone()),
                max_jobs: self.max_jobs,
                parent,
            })
            .collect();
        let shared = Shared::new(
            seg,
            map,
            slots,
            self.strategy,
            self.spill_heap_limit(),
            self.cancel_on_drop,
        )
        .ok_or_else(|| BuildError::Config("pool segment layout".into()))?;
        if let Some(init) = self.initializer {
            // Workers call the initializer only if it is in the pool's function table.
            let mut core = shared.lock();
            core.fns
                .ensure(&shared.header().fns, init)
                .map_err(|e| BuildError::Config(e.to_string()))?;
        }
        let shared = Arc::new(shared);
        let name = self.name.unwrap_or_else(registry::default_name);
        let init_pins = self.init_args.as_ref().and_then(|a| a.as_ref().ok()).map(|a| a.1.clone());
        let launch =
            Launch { specs, name: name.clone(), _init_args: init_args, _init_pins: init_pins };
        let handle = start_supervisor(&shared, launch)?;
        let window = (self.window != 0).then_some(self.window);
        let supervisor = Arc::new(std::sync::Mutex::new(Some(handle)));
        super::live::register(&shared, &supervisor);
        // Not without a spill heap: a batch of items that each fit a ring record may not
        // (20 KiB results, 64 a batch: `TooLarge` for every batch; map_batches.rs).
        let heap = self.spill_heap.unwrap_or_else(default_spill_heap) != 0;
        let batching =
            window.is_none() && self.job_time_limit.is_none() && self.max_jobs.is_none() && heap;
        Ok(Pool { shared, supervisor, window, batching, job_time_limit: self.job_time_limit, name })
    }
}

impl PoolBuilder {
    /// The cores workers are pinned to, in worker order (empty: not pinned).
    fn core_ids(&self) -> Vec<usize> {
        match (&self.cores, self.pin) {
            (_, false) => Vec::new(),
            (Some(c), true) => c.clone(),
            (None, true) => core_affinity::get_core_ids()
                .map(|v| v.into_iter().map(|c| c.id).collect())
                .unwrap_or_default(),
        }
    }
}

/// The pool segment: header (worker count, ring capacity) and, zeroed, the control blocks,
/// claim words and rings that `map` places.
fn create_segment(n: usize, cap: usize) -> Result<(Arc<Segment>, SegmentMap), BuildError> {
    let map = SegmentMap::new(n, cap).ok_or_else(|| {
        BuildError::Config(format!(
            "bad ring capacity {cap}: give a power of two in {}..={} bytes",
            zeroproc_ring::spsc::MIN_CAPACITY,
            zeroproc_ring::spsc::MAX_CAPACITY
        ))
    })?;
    let seg = SegmentBuilder::new(POOL_LAYOUT, map.data_len())
        // Pages allocated where first touched, not here (see `start_supervisor`).
        .reserve_later()
        .create_with(|seg| {
            let p = seg.data().cast::<PoolHeader>();
            // SAFETY: the data region is fresh, zeroed, 256-byte aligned and large
            // enough (map.data_len); nobody else can see it before create_with
            // returns. The control blocks that follow are all-atomic, zero is valid.
            let h = unsafe { &*p };
            // Relaxed: published by the segment's READY state (Release on create).
            h.workers.store(n as u32, Ordering::Relaxed);
            h.ring_capacity.store(cap as u64, Ordering::Relaxed);
        })
        .map_err(BuildError::Segment)?;
    Ok((Arc::new(seg), map))
}

/// Worker `w`'s slot: its two rings initialised in the pool segment, with the
/// controller's ends (the submission producer, the completion consumer).
fn new_slot(
    seg: &Arc<Segment>,
    map: &SegmentMap,
    w: usize,
    cap: usize,
    core: Option<usize>,
) -> Result<Slot, BuildError> {
    // SAFETY: the segment is ours alone (no worker started yet) and the map's regions
    // are disjoint, so nothing else uses these ring regions.
    let sub =
        unsafe { Ring::init_in(seg.clone(), map.submission(w), cap) }.map_err(BuildError::Ring)?;
    // SAFETY: as above.
    let comp =
        unsafe { Ring::init_in(seg.clone(), map.completion(w), cap) }.map_err(BuildError::Ring)?;
    Ok(Slot::new(
        sub.producer().map_err(BuildError::Ring)?,
        comp.consumer().map_err(BuildError::Ring)?,
        core,
    ))
}

/// Starts the supervisor thread and waits for it to report the workers' handshakes.
fn start_supervisor(shared: &Arc<Shared>, launch: Launch) -> Result<JoinHandle<()>, BuildError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = shared.clone();
    let handle = std::thread::Builder::new()
        .name("zeroproc-supervisor".into())
        .spawn(move || supervisor::run(s2, launch, tx))
        .map_err(BuildError::Spawn)?;
    *shared.supervisor.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.thread().clone());
    // The pool segment's pages are not allocated nor mapped ahead (`reserve_later`): each
    // comes where a job first touches it. Allocating its 1.3 MiB took 0.36 ms before the
    // first spawn, and mapping it (`MADV_POPULATE_WRITE`) 0.45 ms more — done here while
    // the supervisor spawned, it held the address space's lock that the supervisor's own
    // start and each spawn wait for; done later on two CPUs, it delayed the first result
    // as much. Start → first result 4.1–4.5 → 1.7–1.9 ms; the rings' writers fault their
    // pages in 64 KiB ahead on the first lap (docs/performance.md, "Pool start").
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(BuildError::Config("supervisor thread died".into())),
    }
}

/// Limits that cannot mean anything useful: a worker that may run no job, a time limit
/// every job exceeds (`Err` says which and why). [`PoolBuilder::build`] applies it;
/// zeroproc-cluster's builder, which forwards both to its nodes, applies it too.
///
/// ```
/// use std::time::Duration;
/// use zeroproc_sched::raw::check_limits;
/// assert!(check_limits(Some(0), None).is_err());
/// assert!(check_limits(None, Some(Duration::ZERO)).is_err());
/// assert!(check_limits(Some(1), Some(Duration::from_millis(1))).is_ok());
/// ```
pub fn check_limits(max_jobs: Option<u64>, time_limit: Option<Duration>) -> Result<(), String> {
    if max_jobs == Some(0) {
        return Err("max_jobs_per_worker(0): a worker must be allowed at least one job \
                    (Python's max_tasks_per_child must be >= 1)"
            .into());
    }
    if time_limit == Some(Duration::ZERO) {
        return Err("job_time_limit of zero: every job would fail; give a positive time".into());
    }
    Ok(())
}

/// The machine's memory in bytes (0 if unknown).
fn physical_memory() -> u64 {
    // SAFETY: sysconf takes an integer name and has no memory effects.
    let (pages, page) =
        unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages.max(0) as u64).saturating_mul(page.max(0) as u64)
}

/// The default limit of a pool's spill heap: 1 GiB, or a quarter of the machine's memory
/// if that is less (it is address space until payloads need it: the heap starts at 64 MiB
/// and doubles on demand), or a quarter of this process's address-space limit
/// (`RLIMIT_AS`, `ulimit -v`) if that is less still: every process that uses the heap maps
/// its maximum whole, so under a limit below 1 GiB the heap could not be mapped at all
/// and every payload too large for a ring record failed (user29: `ulimit -v 1000000`,
/// an 8 MiB result failed with "the pool has no spill heap"). Workers inherit the limit.
pub(crate) fn default_spill_heap() -> usize {
    let quarter = usize::try_from(physical_memory() / 4).unwrap_or(usize::MAX);
    let by_memory = match quarter {
        0 => 1 << 30,
        q => q.min(1 << 30),
    };
    match address_space_limit() {
        Some(limit) => by_memory.min(usize::try_from(limit / 4).unwrap_or(usize::MAX)),
        None => by_memory,
    }
}

/// This process's address-space limit (`RLIMIT_AS` soft limit) in bytes, if it has one.
pub(crate) fn address_space_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `lim`.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
    (r == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}
