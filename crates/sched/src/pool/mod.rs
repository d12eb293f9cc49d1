//! The executor: [`Pool`] (Python's `ProcessPoolExecutor`).

mod backlog;
mod balance;
pub(crate) mod builder;
mod callbacks;
#[cfg(test)]
mod claim_damage_tests;
pub(crate) mod core;
mod damage;
mod events;
#[cfg(test)]
mod fork_live_tests;
mod inplace;
#[cfg(test)]
mod kill_window_tests;
#[cfg(test)]
mod linger_tests;
mod live;
pub(crate) mod locked;
mod map;
pub(crate) mod observe;
mod pace;
mod probe;
mod progress;
pub mod raw;
pub(crate) mod registry;
mod shutdown;
mod stats;
mod submit;
mod supervisor;
mod trim;
#[cfg(test)]
mod trim_race_tests;
mod waiting;

pub use builder::PoolBuilder;
pub use inplace::{ForEachChunkError, InPlace};
pub(crate) use live::shutdown_at_exit;
pub use live::shutdown_live_pools;
pub use map::Map;
pub use observe::{ObserveError, PoolObserver, PoolSnapshot, WorkerSnapshot};
pub use registry::{registry_dir, running_pools, PoolEntry};
pub use shutdown::Shutdown;
pub use stats::{PoolStats, WorkerStats};

use crate::error::{JobError, Never, SubmitTimeoutError, TrySubmitError};
use crate::future::{Inner, JobFuture};
use crate::job::{self, Message};
use crate::jobfn::JobFn;
use crate::share::{ShareError, SharedValue};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use submit::Attempt;

/// A pool of worker processes, one pinned per core, fed through shared-memory rings.
///
/// ```
/// zeroproc_sched::init(); // first line of main: a worker never gets past it
/// use zeroproc_sched::Pool;
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::builder().workers(2).build()?;
/// let f = pool.submit(square, 7);
/// assert_eq!(f.result(), Ok(49));
/// let v: Vec<u64> = pool.map(|x: u64| x + 1, 0..5).map(Result::unwrap).collect();
/// assert_eq!(v, [1, 2, 3, 4, 5]);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
pub struct Pool {
    pub(crate) shared: Arc<core::Shared>,
    /// The supervisor thread until joined; also held (weakly) by [`live`]: it is the
    /// `Pool` that keeps this `Arc` alive.
    supervisor: live::Supervisor,
    pub(crate) window: Option<usize>,
    /// `map` may batch tiny items (`map.rs`, "Automatic batches"): no pool-wide window,
    /// job time limit or `max_jobs_per_worker`, and a spill heap.
    pub(crate) batching: bool,
    job_time_limit: Option<Duration>,
    name: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("name", &self.name).field("workers", &self.workers()).finish()
    }
}

impl Pool {
    /// A builder with the defaults (one pinned worker per available core).
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool with the defaults: Python's `ProcessPoolExecutor()` — one worker per
    /// available core (`available_parallelism`, which respects the process's CPU affinity
    /// and cgroup quota), each pinned to its core. Dropping it is leaving Python's `with`
    /// block: queued and running jobs finish first.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::new()?; // with ProcessPoolExecutor() as pool:
    /// let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(pool.workers(), n);
    /// assert_eq!(pool.submit(|x: u64| x * x, 9).result(), Ok(81));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn new() -> Result<Pool, crate::BuildError> {
        PoolBuilder::default().build()
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.shared.map.workers
    }

    /// The pool's name ([`PoolBuilder::name`], default `<executable>-<pid>`), as
    /// `zeroproc top` lists it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the pool's shared segment, which a [`PoolObserver`] attaches read-only.
    pub fn segment_id(&self) -> &zeroproc_shm::SegmentId {
        self.shared.seg.id()
    }

    fn timeout_ns(&self) -> u64 {
        self.job_time_limit.map_or(0, timeout_ns)
    }

    /// Runs `f(args)` in a worker; never waits, like Python's `submit`. At most 256 jobs
    /// per worker are in flight (queued in its ring or running) at a time; past that, the
    /// job waits in the pool's **backlog**, in the controller, and is given to a worker as
    /// soon as one has room — in submission order: while the backlog holds jobs, later
    /// submissions go behind them. A backlogged job is not
    /// [`running`](JobFuture::running), can be [`cancel`](JobFuture::cancel)led, runs
    /// before [`shutdown`](Self::shutdown) returns, and is cancelled by
    /// [`terminate`](Self::terminate) or a shutdown with
    /// [`cancel_futures`](Shutdown::cancel_futures). The backlog is unbounded, as
    /// Python's queue of work items: each backlogged job holds its archived arguments in
    /// the controller's memory (a submit loop of a million jobs keeps a million argument
    /// archives until workers take them). To bound it — back-pressure — use
    /// [`try_submit`](Self::try_submit) / [`submit_timeout`](Self::submit_timeout), which
    /// hand the arguments back when the pool is full (also while a backlog waits), or
    /// [`map`](Self::map), which keeps a window of jobs in flight.
    ///
    /// A pool that is shut down, or
    /// arguments that cannot be encoded, give a future that is already failed
    /// ([`JobError::Shutdown`], [`JobError::Decode`]); use
    /// [`try_submit`](Self::try_submit) / [`submit_timeout`](Self::submit_timeout) to get
    /// the arguments back instead.
    ///
    /// **At most [`FN_TABLE_SLOTS`](crate::FN_TABLE_SLOTS) (4,096) distinct functions per
    /// pool**, for its life: each distinct fn item or closure (each generic instance
    /// counts once) is registered in the pool's function table on its first submission —
    /// the table a worker checks before calling what a record names. The 4,097th fails
    /// without running with [`JobError::Decode`] (`try_submit`/`submit_timeout`: `Encode`)
    /// whose message says "the pool's function table is full"; resubmitting functions
    /// already submitted goes on working. A program generating many functions (closures in
    /// generic code) passes a tag in the arguments of one function instead.
    ///
    /// A job takes **one** argument: several values go as a tuple, destructured in the
    /// closure's pattern (a two-parameter `fn add(a, b)` is "expected function that takes 1
    /// argument", E0593). Arguments and results are owned values that can be archived
    /// ([`Message`]: numbers, `String`, `Vec`, tuples, `Option`, and your types with
    /// `#[zeroproc::data]`); references are not — pass the value, or a handle to shared
    /// data ([`share`](Self::share)).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|(name, n): (String, usize)| name.repeat(n), ("ab".to_string(), 3));
    /// assert_eq!(f.result(), Ok("ababab".to_string())); // the future holds a Result
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    ///
    /// `f` is any fn item or closure that captures nothing ([`JobFn`]). A closure that
    /// captures owned data is a type error at this call, shown by `cargo check` and
    /// editors, whose message says to pass the data as the argument or as shared state:
    ///
    /// ```compile_fail,E0277
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    /// let name = String::from("x");
    /// let _ = pool.submit(move |x: u64| format!("{name}{x}"), 7); // captures `name`
    /// ```
    ///
    /// A closure capturing only `Copy` data, and a function pointer (whose target would
    /// not be known in the worker), meet every bound stable Rust can state; they are
    /// refused when the job is instantiated — `cargo build` fails, `cargo check` does not
    /// (see `jobfn.rs`):
    ///
    /// ```compile_fail,E0080
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    /// let k = 3u64;
    /// let _ = pool.submit(move |x: u64| x * k, 7); // captures `k`: does not build
    /// ```
    ///
    /// ```compile_fail,E0080
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
    /// fn square(x: u64) -> u64 { x * x }
    /// let f: fn(u64) -> u64 = square; // a pointer, not a zero-sized fn item
    /// let _ = pool.submit(f, 7);
    /// ```
    #[inline]
    pub fn submit<F, A, R>(&self, f: F, args: A) -> JobFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let (fn_id, inner) = self.plain(f);
        self.dispatch_future(fn_id, &args, inner, None, true).unwrap_or_else(|e| self.failed(e))
    }

    /// Like [`submit`](Self::submit) for a function returning `Result<T, E>`: its `Err(e)`
    /// becomes [`JobError::Job(e)`](JobError::Job), so `result()` has one error to match
    /// rather than a `Result` inside a `Result`. (With plain `submit` such a function works
    /// too: its future's value is then the `Result<T, E>` itself.)
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobError;
    /// fn parse(s: String) -> Result<u32, String> {
    ///     s.parse().map_err(|e| format!("{s:?}: {e}"))
    /// }
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// assert_eq!(pool.submit_fallible(parse, "42".into()).result(), Ok(42));
    /// match pool.submit_fallible(parse, "x".into()).result() {
    ///     Err(JobError::Job(msg)) => assert!(msg.starts_with("\"x\"")), // the job's own error
    ///     other => panic!("{other:?}"), // the pool's errors (panic, worker death, ...)
    /// }
    /// // The same function through `submit`: the job's Result is the value.
    /// assert_eq!(pool.submit(parse, "7".into()).result(), Ok(Ok(7)));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn submit_fallible<F, A, T, E>(&self, f: F, args: A) -> JobFuture<T, E>
    where
        F: JobFn<A, Result<T, E>>,
        A: Message,
        T: Send + 'static,
        E: Send + 'static,
        Result<T, E>: Message,
    {
        let _ = f;
        let fn_id = crate::fnid::id_of(job::call::<F, A, Result<T, E>>);
        let inner = Inner::<T, E>::new(self.shared.clone(), |b, heap| {
            match crate::spill::decode_owned::<Result<T, E>>(b, heap) {
                Ok(Ok(t)) => Ok(t),
                Ok(Err(e)) => Err(JobError::Job(e)),
                Err(message) => Err(JobError::Decode { message }),
            }
        });
        self.dispatch_future(fn_id, &args, inner, None, true).unwrap_or_else(|e| self.failed(e))
    }

    /// Submits without waiting: `Full(args)` when every submission ring is full — or while
    /// jobs of [`submit`](Self::submit) wait in the pool's backlog, which no submission
    /// overtakes. Every
    /// error hands the arguments back ([`TrySubmitError::into_inner`]), for a retry or
    /// another route (the crossbeam-channel `try_send` shape).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::TrySubmitError;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// match pool.try_submit(|v: Vec<u64>| v.iter().sum::<u64>(), vec![1, 2, 3]) {
    ///     Ok(f) => assert_eq!(f.result(), Ok(6)),
    ///     Err(TrySubmitError::Full(v)) => { /* back-pressure: do something else with v */ drop(v) }
    ///     Err(e) => panic!("{e}"),
    /// }
    /// pool.shutdown();
    /// let e = pool.try_submit(|v: Vec<u64>| v.len(), vec![4, 5]).unwrap_err();
    /// assert!(matches!(e, TrySubmitError::Shutdown(_)));
    /// assert_eq!(e.into_inner(), vec![4, 5]);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn try_submit<F, A, R>(&self, f: F, args: A) -> Result<JobFuture<R>, TrySubmitError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let (fn_id, inner) = self.plain(f);
        let mut dest = Some(inner.clone() as Arc<dyn core::Complete>);
        match self.shared.try_dispatch(fn_id, &args, &mut dest, 0, self.timeout_ns()) {
            Ok((w, id)) => Ok(assigned(inner, w, id)),
            Err(Attempt::Full | Attempt::HeapFull) => Err(TrySubmitError::Full(args)),
            Err(Attempt::Closed) => Err(TrySubmitError::Shutdown(args)),
            Err(Attempt::NoWorkers | Attempt::Corrupt) => Err(TrySubmitError::NoWorkers(args)),
            Err(Attempt::Encode(e)) => Err(TrySubmitError::Encode(args, e)),
            Err(Attempt::TooLarge(e)) => Err(TrySubmitError::TooLarge(args, e)),
        }
    }

    /// Submits, waiting at most `timeout` for room in a submission ring (and in the spill
    /// heap, for large arguments); [`SubmitTimeoutError::Timeout`] hands the arguments back when
    /// there was none. Jobs waiting in the backlog of [`submit`](Self::submit) go first. The time-out bounds the *submission*, not the job: to bound the job,
    /// see [`submit_with_time_limit`](Self::submit_with_time_limit); to bound the wait for
    /// its result, [`JobFuture::result_timeout`].
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit_timeout(|x: u64| x + 1, 41, Duration::from_secs(1))?;
    /// assert_eq!(f.result(), Ok(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_timeout<F, A, R>(
        &self,
        f: F,
        args: A,
        timeout: Duration,
    ) -> Result<JobFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_until(f, args, zeroproc_shm::wait::deadline_after(timeout))
    }

    /// Submits, waiting until `deadline` for room in a submission ring: the
    /// [`submit_timeout`](Self::submit_timeout) of a caller with one deadline for many
    /// steps.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::{Duration, Instant};
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// let fs = (0..3u64)
    ///     .map(|x| pool.submit_deadline(|x: u64| x * 10, x, deadline))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let got: Vec<u64> = fs.into_iter().map(|f| f.result().unwrap()).collect();
    /// assert_eq!(got, [0, 10, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_deadline<F, A, R>(
        &self,
        f: F,
        args: A,
        deadline: Instant,
    ) -> Result<JobFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        self.submit_until(f, args, Some(deadline))
    }

    /// `submit_timeout` and `submit_deadline` (`None`: no deadline).
    fn submit_until<F, A, R>(
        &self,
        f: F,
        args: A,
        deadline: Option<Instant>,
    ) -> Result<JobFuture<R>, SubmitTimeoutError<A>>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let (fn_id, inner) = self.plain(f);
        match self.dispatch_future(fn_id, &args, inner, deadline, false) {
            Ok(fut) => Ok(fut),
            Err(Attempt::Full | Attempt::HeapFull) => Err(SubmitTimeoutError::Timeout(args)),
            Err(Attempt::Closed) => Err(SubmitTimeoutError::Shutdown(args)),
            Err(Attempt::NoWorkers | Attempt::Corrupt) => Err(SubmitTimeoutError::NoWorkers(args)),
            Err(Attempt::Encode(e)) => Err(SubmitTimeoutError::Encode(args, e)),
            Err(Attempt::TooLarge(e)) => Err(SubmitTimeoutError::TooLarge(args, e)),
        }
    }

    /// Submits with a time limit for this job (overrides the builder's `job_time_limit`):
    /// if the job runs longer, its worker is killed and respawned and the future fails
    /// with [`JobError::TimeLimit`] (not [`JobError::Timeout`], which is a waiter giving
    /// up). Python's `concurrent.futures` has no such limit (its `timeout` only stops the
    /// wait). Time during which the program was stopped (Ctrl-Z then `fg`) is not counted.
    /// Only the worker is killed: a process the job started (`std::process::Command`)
    /// runs on, reparented, as one does after Python's `Pool.terminate()` — bound it in
    /// the job (`timeout 10 cmd`, or `Child::kill` at the job's own deadline).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let nap = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let limit = Duration::from_millis(200);
    /// assert_eq!(pool.submit_with_time_limit(nap, 60_000, limit).result(), Err(JobError::TimeLimit));
    /// assert_eq!(pool.submit_with_time_limit(nap, 1, limit).result(), Ok(()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn submit_with_time_limit<F, A, R>(&self, f: F, args: A, limit: Duration) -> JobFuture<R>
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let (fn_id, inner) = self.plain(f);
        let t = timeout_ns(limit);
        match self.shared.submit_or_backlog(fn_id, &args, inner.clone(), t) {
            Ok(Some((w, id))) => assigned(inner, w, id),
            Ok(None) => JobFuture { inner },
            Err(e) => self.failed(e),
        }
    }

    /// The trampoline id and a fresh future slot for a plain (infallible) job of `F`.
    fn plain<F, A, R>(&self, _f: F) -> (u32, Arc<Inner<R, Never>>)
    where
        F: JobFn<A, R>,
        A: Message,
        R: Message + Send + 'static,
    {
        let fn_id = crate::fnid::id_of(job::call::<F, A, R>);
        (fn_id, Inner::new(self.shared.clone(), decode_plain::<R>))
    }

    /// A future already failed by a submission that could not be made (blocking forms:
    /// `Full` cannot happen without a deadline).
    fn failed<R: Send + 'static, E: Send + 'static>(&self, e: Attempt) -> JobFuture<R, E> {
        let err = match e {
            Attempt::Encode(message) => JobError::Decode { message },
            Attempt::TooLarge(message) => JobError::TooLarge { message },
            Attempt::NoWorkers | Attempt::Corrupt => JobError::NoWorkers,
            // `Full` cannot happen without a deadline: the blocking forms queue the job.
            Attempt::Closed | Attempt::Full | Attempt::HeapFull => JobError::Shutdown,
        };
        JobFuture::ready(self.shared.clone(), Err(err))
    }

    fn dispatch_future<A: Message, R: Send + 'static, E: Send + 'static>(
        &self,
        fn_id: u32,
        args: &A,
        inner: Arc<Inner<R, E>>,
        deadline: Option<Instant>,
        backlog: bool,
    ) -> Result<JobFuture<R, E>, Attempt> {
        if !backlog {
            // Waits for room until `deadline` (`None`: as long as it takes).
            let t = self.timeout_ns();
            let (w, id) = self.shared.dispatch(fn_id, args, inner.clone(), 0, t, deadline)?;
            return Ok(assigned(inner, w, id));
        }
        // Never waits: queued in the backlog when the pool has no room (`backlog.rs`).
        match self.shared.submit_or_backlog(fn_id, args, inner.clone(), self.timeout_ns())? {
            Some((w, id)) => Ok(assigned(inner, w, id)),
            None => Ok(JobFuture { inner }),
        }
    }

    /// Applies `f` to every item of `items`, lazily, keeping a bounded number of jobs in
    /// flight; yields `Ok(result)` or the job's error **in input order**. See [`Map`] for
    /// `chunk_size`, `window`, `timeout` and `progress`.
    ///
    /// **Tiny items are batched automatically** (as `multiprocessing.Pool.map` picks a
    /// chunk size and joblib sizes its batches): once items are measured below 2 µs each,
    /// up to 64 travel in one job (about 16 µs of work), so a map of tiny items runs at
    /// chunked speed instead of paying the per-job cost per item. Each item keeps its own
    /// result and its own panic (`Err(Panicked)` for that item only); what a batch shares
    /// is a worker's *death*: an item that aborts, segfaults or exits fails the items of
    /// its batch that ran before it with the same `WorkerDied` (a stack overflow:
    /// `StackOverflow`; their results died with the worker), while the items after it,
    /// never started, are placed again and succeed; and its slowest item's time: the items batched with one that turns out slow wait
    /// for it (up to 63, in either order; [`chunk_size(1)`](Map::chunk_size) where each
    /// item's latency matters). A batch still running at two ticks of the pool's
    /// supervisor (5 ms or more) hands back the items it has not started, before its next
    /// item: they are placed again (one job each once measured slow, so a burst of slow
    /// items after tiny ones spreads over the workers) and keep their place in the output;
    /// an item that started is never run again. Batches take only items the input
    /// promises by its `size_hint` (a range, a `Vec`): a stream's (a channel, `filter`)
    /// run one job each, so that a read that waits for a job's effect never holds that
    /// job back. Slower items run one job each, as do all items when [`chunk_size`](Map::chunk_size) or [`window`](Map::window) is
    /// set (`chunk_size(1)`: one job per item, always) or the pool has a
    /// [`job_time_limit`](crate::PoolBuilder::job_time_limit),
    /// [`max_jobs_per_worker`](crate::PoolBuilder::max_jobs_per_worker) or no spill heap
    /// ([`spill_heap(0)`](crate::PoolBuilder::spill_heap): a batch of items that each fit
    /// a ring record may not).
    ///
    /// The items are owned values (each is sent to a worker): to map over a `Vec` you keep,
    /// pass `v.iter().copied()` or `v.iter().cloned()` — `&v` yields references, which is
    /// "type mismatch resolving `<&Vec<u64> as IntoIterator>::Item == u64`".
    ///
    /// A function that returns `Result<T, E>` yields `Result<Result<T, E>, JobError>` per
    /// item (there is no `map_fallible`): the outer error is the pool's (a panic, a dead
    /// worker ...), the inner one the job's.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let parse = |s: String| s.parse::<u32>().map_err(|e| format!("{s:?}: {e}"));
    /// let items = ["1", "x", "3"].map(String::from);
    /// let mut good = 0;
    /// for r in pool.map(parse, items) {
    ///     match r {
    ///         Ok(Ok(n)) => good += n,
    ///         Ok(Err(bad_input)) => eprintln!("skipped {bad_input}"),
    ///         Err(pool_error) => panic!("{pool_error}"),
    ///     }
    /// }
    /// assert_eq!(good, 4);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let squares: Vec<u64> =
    ///     pool.map(|x: u64| x * x, 1..=4).chunk_size(2).map(Result::unwrap).collect();
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Map<'_, F, I::IntoIter, A, R>
    where
        F: JobFn<A, R>,
        I: IntoIterator<Item = A>,
        A: Message,
        R: Message + Send + 'static,
    {
        Map::new(self, f, items.into_iter(), true)
    }

    /// Like [`map`](Self::map), yielding results as they complete (any order; Python's
    /// `imap_unordered`). The results do not say which item they came from: return the
    /// item (or its index) with the result when you need it.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let words = ["a", "bbb", "cc"].map(String::from);
    /// let mut lens: Vec<(usize, usize)> = pool
    ///     .map_unordered(|(i, w): (usize, String)| (i, w.len()), words.into_iter().enumerate())
    ///     .map(Result::unwrap)
    ///     .collect();
    /// lens.sort();
    /// assert_eq!(lens, [(0, 1), (1, 3), (2, 2)]);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn map_unordered<F, A, R, I>(&self, f: F, items: I) -> Map<'_, F, I::IntoIter, A, R>
    where
        F: JobFn<A, R>,
        I: IntoIterator<Item = A>,
        A: Message,
        R: Message + Send + 'static,
    {
        Map::new(self, f, items.into_iter(), false)
    }

    /// Archives `value` once into shared memory for every job to read in place (Ray's
    /// `put`, mpire's `shared_objects`): pass clones of the returned [`SharedValue`] as job
    /// arguments and call [`SharedValue::get`] in the job for `&Archived<T>` — no per-job and
    /// no per-worker copy. Keep the `SharedValue` until the jobs that read it are done.
    /// Each value is a segment of its own, holding one file descriptor in the creating
    /// process while it lives (so `ulimit -n` bounds how many live at once): share a few
    /// large values (a table, a model), not many small ones.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Pool, SharedValue};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let words = pool.share(&vec!["zero".to_string(), "one".into(), "two".into()])?;
    /// let f = pool.submit(|(w, i): (SharedValue<Vec<String>>, u32)| w.get().unwrap()[i as usize].len(), (words.clone(), 2));
    /// assert_eq!(f.result(), Ok(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn share<T: Message>(&self, value: &T) -> Result<SharedValue<T>, ShareError> {
        SharedValue::new(value)
    }

    /// Per-worker statistics: jobs done, busy and idle time, bytes moved, respawns.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// for r in pool.map(|x: u64| x + 1, 0..100) {
    ///     r.unwrap();
    /// }
    /// let stats = pool.stats();
    /// assert_eq!(stats.workers.len(), 2);
    /// println!("{stats}"); // a table: jobs, busy and idle seconds, utilisation, MB in/out
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        stats::collect(&self.shared)
    }

    /// Stops accepting jobs, lets the workers finish what is queued and running, and waits
    /// until every worker has exited (Python's `shutdown()`, `wait=True`). Like Python, it
    /// waits for running jobs however long they run; [`shutdown_with`](Self::shutdown_with)
    /// bounds the wait, returns at once, or cancels what has not started. Queued jobs of a
    /// worker that stops taking jobs (frozen, dead) move to the others; a worker that does
    /// not exit once nothing is left is killed. Idempotent; `Drop` calls it. Later
    /// submissions fail with [`JobError::Shutdown`] (Python raises `RuntimeError` there).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{JobError, Pool};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let nap = |ms: u64| { std::thread::sleep(std::time::Duration::from_millis(ms)); ms };
    /// let (a, b) = (pool.submit(nap, 50), pool.submit(nap, 10)); // b waits behind a
    /// pool.shutdown(); // returns once both ran and the worker exited
    /// assert!(a.done() && b.done());
    /// assert_eq!((a.result(), b.result()), (Ok(50), Ok(10)));
    /// assert_eq!(pool.submit(nap, 1).result(), Err(JobError::Shutdown));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn shutdown(&self) {
        self.shutdown_with(Shutdown::new());
    }

    /// [`shutdown`](Self::shutdown) with Python's options (`wait`, `cancel_futures`) and a
    /// bound on the wait: jobs still running when the [`timeout`](Shutdown::timeout)
    /// passes are [`terminate`](Self::terminate)d (those futures fail with
    /// [`JobError::Cancelled`]). Returns whether every worker had exited when it returned
    /// (false with `wait(false)` while jobs remain, or when the time-out struck).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_sched::{Pool, Shutdown};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let hung = pool.submit(|_: ()| -> u32 { loop { std::thread::park() } }, ());
    /// assert!(!pool.shutdown_with(Shutdown::new().timeout(Duration::from_millis(50))));
    /// assert_eq!(hung.result(), Err(zeroproc_sched::JobError::Cancelled));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn shutdown_with(&self, how: Shutdown) -> bool {
        // The futures it cancels complete here, callbacks included, as in Python — unless
        // a time-out is set: a callback that blocks must not hold it past its bound
        // (Python's `shutdown` has none); `terminate` does not wait for callbacks either.
        self.shared.shutdown(how.cancel_futures, how.cancel_futures && how.timeout.is_none());
        if !how.wait {
            return self.join_supervisor(Some(Instant::now()));
        }
        let Some(timeout) = how.timeout else { return self.join_supervisor(None) };
        if self.join_supervisor(zeroproc_shm::wait::deadline_after(timeout)) {
            return true;
        }
        self.terminate();
        false
    }

    /// Joins the supervisor thread (it ends once every worker has exited), giving up at
    /// `deadline`; true if it ended (or was joined before).
    fn join_supervisor(&self, deadline: Option<Instant>) -> bool {
        join_supervisor(&self.shared, &self.supervisor, deadline)
    }
}

/// [`Pool::join_supervisor`], for a pool known by its parts (see [`live`]).
///
/// Several threads may shut a pool down at once: the handle's mutex is held only to look
/// at the handle (and to join a supervisor already finished), never for the wait, so a
/// `wait(false)` or a bounded shutdown returns on its own terms while another thread waits
/// without a bound (before api31 the first waiter held it for its whole wait:
/// `tests/shutdown_threads.rs`). Whoever finds the supervisor finished joins it; the
/// others then find no handle: it was joined.
fn join_supervisor(
    shared: &core::Shared,
    supervisor: &Mutex<Option<JoinHandle<()>>>,
    deadline: Option<Instant>,
) -> bool {
    // Only an unbounded wait says what it waits for when it lasts (`waiting`).
    join_supervisor_noting(
        shared,
        supervisor,
        deadline,
        deadline.is_none().then(waiting::LongWait::new),
    )
}

/// [`join_supervisor`] whose wait, if `long` is given, says what it waits for when it
/// lasts (`waiting`).
fn join_supervisor_noting(
    shared: &core::Shared,
    supervisor: &Mutex<Option<JoinHandle<()>>>,
    deadline: Option<Instant>,
    mut long: Option<waiting::LongWait>,
) -> bool {
    if shared.forked() {
        // A forked child's copy of the handle names a thread of the parent: joining it
        // panicked ("threads should not terminate unexpectedly"), aborting a child that
        // was already unwinding. There is nothing of the child's to wait for.
        let mut g = supervisor.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::forget(g.take());
        return true;
    }
    shared.wake_supervisor();
    loop {
        {
            let mut g = supervisor.lock().unwrap_or_else(|e| e.into_inner());
            match g.as_ref() {
                None => return true,
                Some(h) if h.is_finished() => {
                    let h = g.take().expect("looked at above");
                    let _ = h.join(); // finished: returns at once
                    shared.callbacks.close();
                    return true;
                }
                Some(_) => {}
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match long.as_mut() {
            Some(long) => long.look(shared),
            None => {
                shared.poll();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Pool {
    /// Stops now (Python's `multiprocessing.Pool.terminate`): queued jobs are cancelled,
    /// running jobs are killed with their workers (their futures fail with
    /// [`JobError::Cancelled`]), and every worker has exited when this returns. Later
    /// submissions fail with [`JobError::Shutdown`].
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{JobError, Pool};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let stuck = pool.submit(|_: ()| -> u32 { loop { std::thread::park() } }, ());
    /// let queued = pool.submit(|x: u32| x, 1);
    /// pool.terminate(); // no wait for `stuck`: its worker is killed
    /// assert_eq!(stuck.result(), Err(JobError::Cancelled));
    /// assert_eq!(queued.result(), Err(JobError::Cancelled));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn terminate(&self) {
        // Cancel the queue, then SIGKILL every worker (a stopped or spinning one too): the
        // supervisor reaps them, fails the running jobs with `Cancelled`, and exits.
        self.shared.close(true);
        self.shared.kill_all();
        self.join_supervisor(None);
    }
}

impl Drop for Pool {
    /// `shutdown(wait = true, cancel_futures = false)`, like leaving Python's `with`
    /// block — except while the thread is panicking: then the pool is
    /// [`terminate`](Pool::terminate)d, so a failing controller does not wait for its
    /// jobs.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.terminate();
        } else {
            self.shutdown();
        }
    }
}

fn assigned<R, E>(inner: Arc<Inner<R, E>>, w: usize, id: u64) -> JobFuture<R, E> {
    // Relaxed: `dispatch` already stored them under the lock; this is the same thread.
    debug_assert_eq!(inner.worker.load(Ordering::Relaxed), w);
    debug_assert_eq!(inner.id.load(Ordering::Relaxed), id);
    JobFuture { inner }
}

/// A time-out in ns for the owed-job table (0 means none, so at least 1; saturating).
fn timeout_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn decode_plain<R: Message>(
    b: &[u8],
    heap: Option<&crate::spill::SpillHeap>,
) -> Result<R, JobError<Never>> {
    crate::spill::decode_owned::<R>(b, heap).map_err(|message| JobError::Decode { message })
}
