//! # zeroproc-cluster
//!
//! zeroproc past one machine: the [`Pool`](zeroproc_sched::Pool) API over an MPI run, one
//! **node agent** per node owning a local shared-memory pool, rank 0 the controller.
//! Enabled by the `mpi` feature (of this crate, or of `zeroproc`, which re-exports it as
//! `zeroproc::cluster`); without it this crate is empty and needs no MPI.
//!
//! * `init` — the first line of `main` (or `#[zeroproc::main]`): under `mpirun`/`srun`
//!   every rank but 0 becomes a node agent and never returns; worker processes never touch
//!   MPI.
//! * `ClusterPool` — `Pool`'s methods with the same signatures (a program written for `Pool`
//!   compiles against it by changing the line that builds the pool): `submit`,
//!   `submit_with_time_limit`, `submit_fallible`, `try_submit`, `submit_timeout`,
//!   `submit_deadline`, `map`, `map_unordered` (`chunk_size`, `window`, `timeout`,
//!   `progress`), `stats`, `shutdown`, `shutdown_with`, `terminate`; `ClusterFuture` has
//!   `JobFuture`'s methods (`result`, `result_timeout`, `done`, `running`, `cancel`,
//!   `terminate`, `cancel_on_drop`, `add_done_callback`, `exception`…, `.await`); `wait` and
//!   `as_completed` work over many. Several cluster pools may be open at once.
//! * Jobs travel as they are: the job record (envelope: function id + rkyv archive of the
//!   arguments) is encoded once on rank 0, sent over MPI, and copied into a worker's ring
//!   on its node unchanged but for the job id; the worker's result record comes back the
//!   same way and is validated where it is decoded, on rank 0.
//! * Faults inside a node (a worker crash, a per-job time-out) fail exactly that job, with
//!   the same [`JobError`](zeroproc_sched::JobError) as on one machine.
//! * A job holding a `SharedArray`'s handle runs on any node: the array is shipped once per
//!   node per version and cached there (`set_array_cache_limit`, `arrays_shipped`), and so
//!   is one in an initializer's arguments; other node-local handles run on rank 0's own
//!   workers or are refused at submission (at `build`, in an initializer's arguments). The
//!   handles a job holds are learnt while its record is encoded
//!   (`zeroproc_mp::segment_refs`): a string that spells a segment id is data.
//!
//! See `docs/cluster.md` for launching (mpirun, srun, `--bind-to none`), faults and what
//! is node-local.
#![cfg_attr(not(feature = "mpi"), allow(unused))]

#[cfg(feature = "mpi")]
mod agent;
#[cfg(feature = "mpi")]
mod future;
#[cfg(feature = "mpi")]
mod idle;
#[cfg(feature = "mpi")]
mod launch;
#[cfg(feature = "mpi")]
mod map;
#[cfg(feature = "mpi")]
mod net;
#[cfg(feature = "mpi")]
mod node;
#[cfg(feature = "mpi")]
mod outbox;
#[cfg(feature = "mpi")]
mod pool;
#[cfg(feature = "mpi")]
mod route;
#[cfg(feature = "mpi")]
mod shared;
#[cfg(feature = "mpi")]
mod ship;
#[cfg(feature = "mpi")]
mod wait;
mod wire;

#[cfg(feature = "mpi")]
pub use future::ClusterFuture;
#[cfg(feature = "mpi")]
pub use launch::{finish, init, under_launcher, MainGuard, FINGERPRINT_SALT_ENV, LAUNCHER_VARS};
#[cfg(feature = "mpi")]
pub use map::ClusterMap;
#[cfg(feature = "mpi")]
pub use pool::{ClusterBuilder, ClusterError, ClusterPool};
#[cfg(feature = "mpi")]
#[doc(hidden)]
pub use shared::set_answer_wait;
#[cfg(feature = "mpi")]
pub use ship::{array_cache_limit, arrays_shipped, set_array_cache_limit, DEFAULT_ARRAY_CACHE};
pub use zeroproc_sched::ReturnWhen;
#[cfg(feature = "mpi")]
pub use zeroproc_sched::{as_completed, wait, AsCompleted, Split};
