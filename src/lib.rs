//! # zeroproc
//!
//! Run CPU-bound work across worker processes pinned one per core, passing jobs and results
//! zero-copy through lock-free rings in shared memory — Python's `concurrent.futures` and
//! `multiprocessing` model, without the serialization cost, hangs and leaks.
//!
//! ## Tour
//!
//! **The executor** (Python's `concurrent.futures.ProcessPoolExecutor`): [`init`] is the
//! first line of `main` (workers are this program re-executed; in a worker `init` never
//! returns — or put [`main`] on `main`; under libtest [`test_worker!`], in criterion
//! benches [`criterion_main!`]); [`Pool`] runs one pinned worker process per core;
//! [`Pool::submit`] takes any non-capturing closure or fn item and returns a
//! [`JobFuture`]; [`Pool::map`] is lazy, ordered, windowed and chunked; [`wait`] and
//! [`as_completed`] work over many futures. A job that panics, segfaults or is killed
//! fails alone ([`JobError`]); its worker is respawned.
//!
//! ```
//! zeroproc::init();
//! use zeroproc::{Pool, JobError};
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = Pool::builder().workers(2).build()?;
//! assert_eq!(pool.submit(square, 7).result(), Ok(49));
//! let total: u64 = pool.map(square, 0..1000u64).chunk_size(100).map(Result::unwrap).sum();
//! assert_eq!(total, (0..1000u64).map(square).sum::<u64>());
//! let crash = pool.submit(|_: ()| -> u64 { std::process::abort() }, ());
//! assert!(matches!(crash.result(), Err(JobError::WorkerDied { .. })));
//! assert_eq!(pool.submit(square, 3).result(), Ok(9)); // respawned, still serving
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Big data** stays in shared memory: a [`SharedArray`] is passed to jobs
//! by handle (a few dozen bytes), read as `&[T]` in any process, and split into disjoint
//! chunks that jobs write in place — disjointness is enforced by claim words in shared
//! memory, not by the caller's care. Read-only state of any type (a table, a model) is
//! archived once with [`Pool::share`] and read in place by every job through its
//! [`SharedValue`] handle. Arguments and results too large for a ring record go through the
//! pool's spill heap automatically (when it is full, `map` waits for room and `submit` queues the job until blocks come back).
//!
//! ```
//! zeroproc::init();
//! use zeroproc::{ArrayHandle, ChunkMut, SharedArray};
//!
//! fn double((x, out): (ArrayHandle<f64>, ChunkMut<f64>)) {
//!     let x = x.read().unwrap();
//!     let mut y = out.write().unwrap();
//!     let r = y.range();
//!     for (o, v) in y.iter_mut().zip(&x[r]) {
//!         *o = 2.0 * v;
//!     }
//! }
//!
//! let pool = zeroproc::Pool::builder().workers(2).build()?;
//! let x = SharedArray::from_slice(&[1.0, 2.0, 3.0, 4.0])?;
//! let mut y = SharedArray::<f64>::zeroed(4)?;
//! let jobs: Vec<_> = y.chunks_mut(2)?.into_iter().map(|c| (x.handle(), c)).collect();
//! for r in pool.map(double, jobs) {
//!     r?;
//! }
//! assert_eq!(y.as_slice()?, &[2.0, 4.0, 6.0, 8.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **The multiprocessing layer** (Python's `multiprocessing`): [`Process`] (a function, or
//! a [`Run`] object for the subclass style) with `start`/`join`/`terminate`/`kill` and exit
//! codes that tell a panic from a signal; [`Queue`] and [`JoinableQueue`] for any number of
//! producer and consumer processes; [`pipe()`] for duplex [`Connection`]s; the robust
//! [`sync`] primitives, passed to other processes in a [`SharedCell`]; and the manager's
//! containers — [`SharedDict`], [`SharedList`], [`Namespace`] — living in shared memory
//! (no manager process), atomic per operation with `update(|v| ..)` closures, and
//! consistent even when a process is killed mid-update. Every handle is an rkyv value, so
//! it can be a `Process` or job argument.
//!
//! ```
//! zeroproc::init();
//! use zeroproc::{Process, Queue};
//! let q = Queue::<u64>::new(16)?;
//! let mut p = Process::spawn(
//!     |q: zeroproc::QueueHandle<u64>| {
//!         let q = q.attach().unwrap();
//!         for i in 0..3 {
//!             q.put(i * i).unwrap();
//!         }
//!     },
//!     q.handle(),
//! )?;
//! let got: Vec<u64> = (0..3).map(|_| q.get().unwrap()).collect();
//! assert_eq!(got, [0, 1, 4]);
//! assert_eq!(p.join()?, zeroproc::Exit::Code(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! zeroproc::init();
//! use zeroproc::{container::DictHandle, Process, SharedDict};
//! let hits = SharedDict::<String, u64>::new()?;
//! let mut kids: Vec<Process> = (0..2)
//!     .map(|_| {
//!         Process::spawn(
//!             |d: DictHandle<String, u64>| {
//!                 let d = d.attach().unwrap();
//!                 for _ in 0..100 {
//!                     d.update(&"n".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
//!                 }
//!             },
//!             hits.handle(),
//!         )
//!     })
//!     .collect::<Result<_, _>>()?;
//! for k in kids.iter_mut() {
//!     k.join()?;
//! }
//! assert_eq!(hits.get(&"n".into())?, Some(200));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Passing objects to other processes.** A job or `Process` argument is an owned
//! [`Message`] value; the shared objects go as their *handle*, and the other process
//! turns the handle back into the object (the creator keeps the object alive until then):
//!
//! | object | `.handle()` gives | in the job or child |
//! |---|---|---|
//! | [`Queue<T>`], [`JoinableQueue<T>`] | [`QueueHandle<T>`], [`JoinableQueueHandle<T>`] | `.attach()?` → the queue |
//! | [`Connection<T>`], [`PipeSender<T>`], [`PipeReceiver<T>`] | [`ConnectionHandle<T>`], [`SenderHandle<T>`], [`ReceiverHandle<T>`] | `.attach()?` → that end |
//! | [`SharedDict`], [`SharedList`], [`Namespace`] | [`DictHandle`], [`ListHandle`], [`NamespaceHandle`] | `.attach()?` → the container |
//! | [`SharedCell<T>`] (a [`sync`] lock, an atomic) | [`CellHandle<T>`] | `.attach()?` → the cell, deref to `&T` |
//! | [`SharedArray<T>`] | [`ArrayHandle<T>`] | `.read()?` → `&[T]` (no `attach`: a handle *is* a view) |
//! | [`SharedArray::chunks_mut`] | [`ChunkMut<T>`] (one per chunk) | `.write()?` → `&mut [T]` of that chunk |
//! | [`SharedVec<T>`] | [`VecHandle<T>`] | `.read()?` → `&[T]` |
//! | [`Pool::share`]`(&value)` | [`SharedValue<T>`] (the value *is* the handle) | `.get()?` → `&Archived<T>` |
//!
//! ```
//! zeroproc::init();
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use zeroproc::sync::Lock;
//! use zeroproc::{CellHandle, Process, SharedCell};
//!
//! // Python: lock = Lock(); Process(target=f, args=(lock, counter)).
//! fn add((lock, n): (CellHandle<Lock>, CellHandle<AtomicU64>)) {
//!     let (lock, n) = (lock.attach().unwrap(), n.attach().unwrap());
//!     for _ in 0..100 {
//!         let _held = lock.lock().unwrap(); // released when `_held` drops
//!         n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
//!     }
//! }
//! let lock = SharedCell::new(Lock::new())?; // in shared memory, not this process's
//! let n = SharedCell::new(AtomicU64::new(0))?;
//! let mut kids = (0..2)
//!     .map(|_| Process::spawn(add, (lock.handle(), n.handle())))
//!     .collect::<Result<Vec<_>, _>>()?;
//! for k in &mut kids {
//!     k.join()?;
//! }
//! assert_eq!(n.load(Ordering::Relaxed), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **The foundation** underneath, in [`raw`] (programs that use pools and the
//! multiprocessing objects need nothing from there):
//!
//! * [`raw::shm`]: shared-memory [`raw::shm::Segment`]s (memfd by default: nothing is ever left in
//!   `/dev/shm`), checked headers, [`raw::shm::Offset`]s, a lock-free shared heap, futexes, and
//!   robust process-shared `Lock`, `RLock`, `Event`, `Condition`, `Semaphore`,
//!   `BoundedSemaphore`, `Barrier` — a process that dies holding a lock does not deadlock
//!   the others.
//! * [`raw::ring`]: the SPSC byte ring (variable-length records written in place, batched
//!   commit/consume) and the MPMC slot ring (any number of processes; a process killed
//!   mid-operation loses at most the record it held), with `op` / `try_op` / `op_timeout` /
//!   `op_deadline` and spin / spin-then-sleep / sleep waiting.
//!
//! ```
//! use zeroproc::raw::shm::{Layout, Segment, SegmentBuilder};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! const L: Layout = Layout::new("tour", 1).with_type::<AtomicU64>();
//! let seg = SegmentBuilder::new(L, 64).create()?;
//! // Another process attaches with the printable id, e.g. passed on its command line.
//! let peer = Segment::attach(&seg.id().to_string().parse()?, L)?;
//! // SAFETY (doc): the data region is 256-byte aligned, zeroed and at least 64 bytes.
//! let (a, b) = unsafe { (&*seg.data().cast::<AtomicU64>(), &*peer.data().cast::<AtomicU64>()) };
//! a.store(42, Ordering::Release);
//! assert_eq!(b.load(Ordering::Acquire), 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/architecture.md` for the layers and the protocols, and
//! `docs/performance.md` for measured figures.

// What users name, at the root: the pool and its futures, the multiprocessing objects and
// the handles that carry them to other processes. Errors and options live in the module of
// their object (`queue`, `pipe`, `shared`, `container`, `sync`); the layers underneath are
// under `raw`.
/// With the `mpi` feature, `init` is the cluster's: it also turns every MPI rank but 0
/// into a node agent when the program runs under `mpirun`/`srun` (see [`cluster`]).
#[cfg(feature = "mpi")]
pub use zeroproc_cluster::init;
/// Makes a type of yours a job argument or result, a queue's or pipe's message, or a
/// shared container's key or value ([`Message`]). Every field must be encodable too
/// (numbers, `String`, `Vec`, `Option`, tuples, other `#[zeroproc::data]` types).
/// Recursive types (a tree, a JSON-like enum) need nothing more: fields whose type names
/// the type itself (or `Self`) get rkyv's `omit_bounds` and the bounds it then needs.
///
/// ```
/// zeroproc::init();
/// #[zeroproc::data]
/// #[derive(Debug, PartialEq)]
/// struct Tile { x: u32, y: u32, pixels: Vec<u8> }
///
/// #[zeroproc::data]
/// #[derive(Debug, PartialEq)]
/// enum Verdict { Empty, Busy(u32) }
///
/// fn classify(t: Tile) -> Verdict {
///     match t.pixels.iter().filter(|&&p| p > 0).count() {
///         0 => Verdict::Empty,
///         n => Verdict::Busy(n as u32),
///     }
/// }
/// let pool = zeroproc::Pool::builder().workers(1).build()?;
/// let v = pool.submit(classify, Tile { x: 0, y: 0, pixels: vec![0, 3, 9] }).result()?;
/// assert_eq!(v, Verdict::Busy(2));
///
/// #[zeroproc::data]
/// #[derive(Debug, PartialEq)]
/// enum Json { Null, Num(f64), List(Vec<Json>) }
///
/// let j = Json::List(vec![Json::Num(1.0), Json::List(vec![Json::Null])]);
/// let depth = pool.submit(|j: Json| match j { Json::List(v) => v.len(), _ => 0 }, j).result()?;
/// assert_eq!(depth, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A field of a type rkyv does not encode (`PathBuf`, `OsString`, `Instant`, `File`, a
/// type of another crate without rkyv support) fails the build with ``the trait bound
/// `PathBuf: Archive` is not satisfied``, once per derived trait, pointing at the
/// attribute rather than at the field, with a "see issue #48214" help that is not the
/// cause (measured, docs33: 5 such errors for one `PathBuf` field). Change that field's
/// type: `PathBuf` → `String` (`path.to_str()`), `OsString` → `Vec<u8>`
/// (`OsStr::as_bytes`), `Instant` → a `Duration` or `u64` nanoseconds since a start both
/// processes know.
///
/// ```compile_fail,E0277
/// #[zeroproc::data]
/// struct Job { path: std::path::PathBuf } // error[E0277]: `PathBuf: Archive` ...
/// ```
pub use zeroproc_macros::data;
/// `init()` as the first statement of `main`, plus a guard that joins non-daemon
/// [`Process`] children whose handles were dropped (as Python does at exit; those whose
/// handle is still held are joined at `exit`) and, with the
/// `mpi` feature, finalizes MPI. Works on `async fn main` under a runtime attribute too
/// (put `#[zeroproc::main]` above `#[tokio::main]`).
///
/// ```
/// #[zeroproc::main]
/// fn main() {
///     let pool = zeroproc::Pool::builder().workers(1).build().unwrap();
///     assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
/// }
/// ```
pub use zeroproc_macros::main;
/// *(Re-exported from `zeroproc_mp`: in a program that depends on `zeroproc`, write
/// `zeroproc::` where the examples below say `zeroproc_mp::`.)*
pub use zeroproc_mp::container::{DictHandle, ListHandle, NamespaceHandle};
/// *(Re-exported from `zeroproc_mp`: in a program that depends on `zeroproc`, write
/// `zeroproc::` where the examples below say `zeroproc_mp::`.)*
pub use zeroproc_mp::pipe::{ConnectionHandle, ReceiverHandle, SenderHandle};
/// *(Re-exported from `zeroproc_mp`: in a program that depends on `zeroproc`, write
/// `zeroproc::` where the examples below say `zeroproc_mp::`.)*
pub use zeroproc_mp::queue::{JoinableQueueHandle, QueueHandle};
/// *(Re-exported from `zeroproc_mp`: in a program that depends on `zeroproc`, write
/// `zeroproc::` where the examples below say `zeroproc_mp::`.)*
pub use zeroproc_mp::shared::{ArrayHandle, CellHandle, ChunkGuard, ChunkMut, VecHandle};
/// *(Re-exported from `zeroproc_mp`: in a program that depends on `zeroproc`, write
/// `zeroproc::` where the examples below say `zeroproc_mp::`.)*
pub use zeroproc_mp::{
    pipe_oneway, Connection, JoinableQueue, Namespace, PipeReceiver, PipeSender, Queue,
    SharedArray, SharedCell, SharedDict, SharedList, SharedVec,
};
#[cfg(not(feature = "mpi"))]
pub use zeroproc_sched::init;
#[allow(deprecated)]
pub use zeroproc_sched::SubmitError;
/// *(Re-exported from `zeroproc_sched`: the examples below name that crate, as they are
/// run there; in a program that depends on `zeroproc`, write `zeroproc::` where they say
/// `zeroproc_sched::` — `zeroproc_sched::Pool` is `zeroproc::Pool`, `zeroproc_sched::init()`
/// is `zeroproc::init()` — and `#[zeroproc::data]` where they derive rkyv's traits.)*
pub use zeroproc_sched::{
    as_completed, criterion_main, test_worker, wait, AccessError, AsCompleted, BandArgsKernel,
    BandKernel, BandWithArgsKernel, BandWithKernel, BuildError, ChunkArgsKernel, ChunkKernel, Exit,
    ForEachChunkError, InPlace, InitFn, JobError, JobErrorKind, JobFn, JobFuture, Map, Message,
    Never, Pool, PoolBuilder, PoolStats, Process, ProcessError, ReturnWhen, Run, ShareError,
    SharedValue, Shutdown, Split, SubmitTimeoutError, TrySubmitError, WaitStrategy, Waitable,
    WorkerStats, ZipArgsKernel, ZipKernel,
};

/// Shared containers ([`SharedDict`], [`SharedList`], [`Namespace`]): errors and handles.
pub use zeroproc_mp::container;
/// [`pipe()`] (duplex) and the pipe's errors, options and handles (Python's
/// `multiprocessing.Pipe`); the ends are [`Connection`]s.
pub use zeroproc_mp::pipe;
/// [`Queue`] and [`JoinableQueue`]: their errors, options and handles.
pub use zeroproc_mp::queue;
/// Shared arrays of plain-old-data ([`SharedArray`], [`SharedVec`], [`SharedCell`]): errors,
/// chunk guards, the `Pod` bound.
pub use zeroproc_mp::shared;

/// The executor over an MPI run (feature `mpi`): [`cluster::ClusterPool`], one node agent
/// per node owning a local pool. See `docs/cluster.md`.
#[cfg(feature = "mpi")]
pub use zeroproc_cluster as cluster;

/// Used by `#[zeroproc::main]`; not a public API.
#[doc(hidden)]
pub mod __private {
    /// Kept alive for `main`'s duration by `#[zeroproc::main]`: with the `mpi` feature its
    /// drop stops the node agents and finalizes MPI when `main` returns or unwinds.
    #[cfg(feature = "mpi")]
    pub type MainGuard = zeroproc_cluster::MainGuard;
    /// Kept alive for `main`'s duration by `#[zeroproc::main]`: its drop shuts down the
    /// pools that were never dropped (a `static` one: their jobs finish first, as Python
    /// waits for its executors' pending work at exit), then waits for the non-daemon
    /// `Process` children whose handles were dropped while they ran, as Python joins its
    /// non-daemon children when the program exits.
    #[cfg(not(feature = "mpi"))]
    #[derive(Debug)]
    pub struct MainGuard;

    #[cfg(not(feature = "mpi"))]
    impl Drop for MainGuard {
        fn drop(&mut self) {
            finish_main();
        }
    }

    /// What Python does at exit: shut down the pools never dropped (waiting for their
    /// jobs), then join the dropped non-daemon `Process` children.
    #[cfg(not(feature = "mpi"))]
    fn finish_main() {
        zeroproc_sched::shutdown_live_pools();
        zeroproc_sched::join_adopted();
    }

    /// The same at `exit()`: `std::process::exit` (a service's way to set its exit code,
    /// Python's `sys.exit`) skips `main`'s guard, and the jobs of a pool shut down with
    /// `wait(false)` — or of one still in a variable of `main` — were lost without a word
    /// (found by the serviceuser round). Registered once, by the first guard; a pool
    /// already shut down by the guard is not met again.
    #[cfg(not(feature = "mpi"))]
    fn finish_main_at_exit() {
        extern "C" fn at_exit() {
            // A panic must not unwind into libc's `exit`.
            let _ = std::panic::catch_unwind(finish_main);
        }
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn()` that catches every panic; libc
            // calls it from `exit` on the exiting thread, while the process's other
            // threads (the pools' supervisors) still run.
            unsafe { libc::atexit(at_exit) };
        });
    }

    /// The guard for `main`.
    #[cfg(feature = "mpi")]
    pub fn main_guard() -> MainGuard {
        MainGuard::new()
    }
    /// The guard for `main` (and the same work at `exit()`, see `finish_main_at_exit`).
    #[cfg(not(feature = "mpi"))]
    pub fn main_guard() -> MainGuard {
        finish_main_at_exit();
        MainGuard
    }
}

/// The process-shared synchronization primitives (Python's `multiprocessing.Lock`,
/// `RLock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`), robust
/// against a holder that dies. See each type for its docs and examples.
pub use zeroproc_shm::sync;
/// *(Re-exported from `zeroproc_shm`: in a program that depends on `zeroproc`, write
/// `zeroproc::sync::` where the examples below say `zeroproc_shm::sync::`.)*
pub use zeroproc_shm::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// The layers underneath, for code that builds its own protocols: shared-memory
/// segments, rings, the envelope codec, the scheduler's internals and the
/// multiprocessing objects' crate. Programs using pools and the `multiprocessing` objects
/// do not need anything from here.
pub mod raw {
    pub use zeroproc_codec as codec;
    pub use zeroproc_mp as mp;
    pub use zeroproc_ring as ring;
    pub use zeroproc_sched as sched;
    pub use zeroproc_shm as shm;
}

/// rkyv, re-exported: the version zeroproc encodes with. To make a type of yours a job
/// argument or result, put [`#[zeroproc::data]`](data) on it — it derives rkyv's traits
/// with this crate path; spelled out it is `#[derive(zeroproc::rkyv::Archive,
/// zeroproc::rkyv::Serialize, zeroproc::rkyv::Deserialize)]` plus
/// `#[rkyv(crate = zeroproc::rkyv)]`.
pub use rkyv;

/// The snippets of `docs/python-mapping.md`, compiled and run as doctests so the mapping
/// cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../docs/python-mapping.md")]
mod python_mapping_doctests {}

/// The snippets of `docs/index.md` (the tour), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/index.md")]
mod index_doctests {}

/// The README's snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctests {}

/// A pool in a `static` is never dropped: when `main` returns, `#[zeroproc::main]` shuts it
/// down, waiting for the jobs submitted to it and never waited for, as Python waits at exit
/// for a module-level executor's pending work (they were lost: found by the user4 review);
/// with `init()` alone, and at the end of a test binary or a bench, an `atexit` hook does
/// the same (`crates/sched/tests/exit_without_main.rs`).
/// The program runs itself as a child that submits and returns at once; the parent checks
/// that every job wrote its file.
///
/// ```
/// use std::sync::LazyLock;
/// use std::time::Duration;
///
/// static POOL: LazyLock<zeroproc::Pool> =
///     LazyLock::new(|| zeroproc::Pool::builder().workers(1).build().unwrap());
///
/// fn touch(path: String) {
///     std::thread::sleep(Duration::from_millis(50));
///     std::fs::write(path, b"done").unwrap();
/// }
///
/// #[zeroproc::main]
/// fn main() {
///     if let Ok(dir) = std::env::var("STATIC_POOL_CHILD") {
///         for i in 0..3 {
///             let _ = POOL.submit(touch, format!("{dir}/{i}"));
///         }
///         return; // never waits for them
///     }
///     let dir = std::env::temp_dir().join(format!("zeroproc-static-pool-{}", std::process::id()));
///     std::fs::create_dir_all(&dir).unwrap();
///     let status = std::process::Command::new(std::env::current_exe().unwrap())
///         .env("STATIC_POOL_CHILD", &dir)
///         .status()
///         .unwrap();
///     let written = (0..3).filter(|i| dir.join(i.to_string()).exists()).count();
///     std::fs::remove_dir_all(&dir).unwrap();
///     assert!(status.success(), "{status}");
///     assert_eq!(written, 3, "jobs of a static pool were lost when main returned");
/// }
/// ```
#[cfg(doctest)]
mod static_pool_doctest {}
