//! # zeroproc-sched
//!
//! The worker runtime and the executor: Python's `concurrent.futures.ProcessPoolExecutor`
//! over zero-copy shared-memory rings.
//!
//! ## Tour
//!
//! * [`init`] — the first line of `main`. Workers are this same program re-executed;
//!   in a worker, `init` never returns. Under libtest use [`test_worker!`].
//! * [`Pool`] — one worker process per core, pinned, each fed by its own submission ring
//!   and answering through its own completion ring (a dead worker is isolated to its own
//!   rings). Built with [`Pool::builder`].
//! * [`Pool::submit`] → [`JobFuture`]: `done`, `running`, `cancelled`, `wait`, `result`,
//!   `result_timeout`, `exception`, `cancel`, `terminate`, `add_done_callback`, `.await`.
//! * [`Pool::map`] / [`Pool::map_unordered`] — lazy, bounded window, `chunk_size`.
//! * [`wait`] and [`as_completed`] over many futures.
//! * [`running_pools`] and [`PoolObserver`] — every pool is listed in a per-user registry
//!   while it lives, and can be watched read-only from another process (`zeroproc top`).
//! * Faults: a panic fails only its job ([`JobError::Panicked`]); a worker that crashes
//!   fails only the job it was running ([`JobError::WorkerDied`]) and is respawned; there
//!   is no "broken pool". Per-job time-outs kill and respawn the worker. A worker slot
//!   whose rings are found corrupt is retired: its jobs fail with [`JobError::Decode`],
//!   the other slots serve on ([`JobError::NoWorkers`] once none is left).
//! * A worker calls only functions the controller submitted to its pool (a function
//!   table in the pool segment): a damaged function id is refused, never jumped to.
//!
//! ```
//! zeroproc_sched::init();
//! use zeroproc_sched::{Pool, JobError};
//!
//! let pool = Pool::builder().workers(2).build()?;
//! let ok = pool.submit(|(a, b): (u64, u64)| a + b, (2, 3));
//! let bad = pool.submit(|x: u64| if x > 0 { panic!("no") } else { x }, 1);
//! assert_eq!(ok.result(), Ok(5));
//! assert!(matches!(bad.result(), Err(JobError::Panicked { .. })));
//! # Ok::<(), zeroproc_sched::BuildError>(())
//! ```
//!
//! Function identity, launch, and the job accounting that makes respawning exact are
//! described in `README.md` beside this file.

mod claim;
mod control;
mod error;
mod fit;
mod fnid;
mod fntable;
mod fork;
mod future;
mod future_state;
mod job;
mod jobfn;
mod kernelfn;
mod launch;
mod partial;
mod pool;
mod process;
mod reap;
mod share;
mod spill;
mod steal;
mod taken;
mod wait;
mod worker;

#[allow(deprecated)]
pub use error::SubmitError;
pub use error::{BuildError, JobError, JobErrorKind, Never, SubmitTimeoutError, TrySubmitError};
pub use fnid::fingerprint;
pub use fntable::FN_TABLE_SLOTS;
pub use future::JobFuture;
pub use job::Message;
pub use jobfn::{BandKernel, BandWithKernel, ChunkKernel, InitFn, JobFn, ZipKernel};
pub use kernelfn::{BandArgsKernel, BandWithArgsKernel, ChunkArgsKernel, ZipArgsKernel};
pub use launch::{in_pool_worker, init, WORKER_ARGS, WORKER_ENV, WORKER_EXE_ENV};
pub use pool::raw;
pub use pool::{
    registry_dir, running_pools, shutdown_live_pools, ForEachChunkError, InPlace, Map,
    ObserveError, Pool, PoolBuilder, PoolEntry, PoolObserver, PoolSnapshot, PoolStats, Shutdown,
    WorkerSnapshot, WorkerStats,
};
pub use process::{join_adopted, Exit, Process, ProcessError, Run, PROCESS_ENV};
pub use share::{AccessError, ShareError, SharedValue};
pub use wait::{as_completed, wait, AsCompleted, ReturnWhen, Split, Waitable};
pub use zeroproc_shm::wait::WaitStrategy;
