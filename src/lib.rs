//! # zeroproc
//!
//! Run CPU-bound work across worker processes pinned one per core, passing jobs and results
//! zero-copy through lock-free rings in shared memory — Python's `concurrent.futures` and
//! `multiprocessing` model, without the serialization cost, hangs and leaks.
//!
//! ## Tour (what exists today)
//!
//! The foundation is in place; the pool and the multiprocessing layer build on it.
//!
//! * [`shm`]: shared-memory [`shm::Segment`]s (memfd by default: nothing is ever left in
//!   `/dev/shm`), checked headers, [`shm::Offset`]s, a lock-free shared heap, futexes, and
//!   robust process-shared `Lock`, `RLock`, `Event`, `Condition`, `Semaphore`,
//!   `BoundedSemaphore`, `Barrier` — a process that dies holding a lock does not deadlock
//!   the others.
//! * [`ring`]: the SPSC byte ring (variable-length records written in place, batched
//!   commit/consume) and the MPMC slot ring (any number of processes; a process killed
//!   mid-operation loses at most the record it held), with `op` / `try_op` / `op_timeout` /
//!   `op_deadline` and spin / spin-then-sleep / sleep waiting.
//!
//! ```
//! use zeroproc::shm::{Layout, Segment, SegmentBuilder};
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

pub use zeroproc_ring as ring;
pub use zeroproc_shm as shm;
