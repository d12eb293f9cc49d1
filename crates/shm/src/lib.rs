//! # zeroproc-shm
//!
//! The bottom layer of zeroproc: shared memory and the things that live in it.
//!
//! * [`Segment`]: create (memfd by default, or a named 0600 `O_EXCL` file with an
//!   unguessable name) and attach, with a [`Header`] (magic, version, [`Layout`] hash,
//!   token, owner) checked on attach. Space is reserved up front; nothing is left behind.
//! * [`extent`]: a shared length that only grows (growable segments and heaps).
//! * [`fork`]: process-global state that a forked child starts afresh.
//! * [`Offset`]: relative offsets, resolved with bounds and alignment checks.
//! * [`heap`]: a shared heap any attached process can allocate from and free to.
//! * [`futex`]: wait/wake on a shared `AtomicU32` with deadlines.
//! * [`wait`]: the event count behind every blocking call, and [`wait::WaitStrategy`].
//! * [`sync`]: robust process-shared `Lock`, `RLock`, `Event`, `Condition`, `Semaphore`,
//!   `BoundedSemaphore`, `Barrier`.
//!
//! ```
//! use zeroproc_shm::{Layout, Segment, SegmentBuilder};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! const L: Layout = Layout::new("counter", 1).with_type::<AtomicU64>();
//! let seg = SegmentBuilder::new(L, 64).create().unwrap();
//! // Any process of this user can attach with `seg.id()` (e.g. passed in argv):
//! let other = Segment::attach(seg.id(), L).unwrap();
//! // SAFETY (doc): the data region is 256-byte aligned, zeroed, and at least 64 bytes.
//! let a = unsafe { &*seg.data().cast::<AtomicU64>() };
//! let b = unsafe { &*other.data().cast::<AtomicU64>() };
//! a.fetch_add(5, Ordering::Relaxed);
//! assert_eq!(b.load(Ordering::Relaxed), 5);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod atomic;
pub mod extent;
pub mod fork;
pub mod futex;
pub mod process;
pub mod wait;

#[cfg(not(loom))]
pub mod heap;
#[cfg(not(loom))]
mod offset;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
pub mod sync;

#[cfg(not(loom))]
pub use offset::{Offset, OffsetError};
#[cfg(not(loom))]
pub use segment::{
    file_size_limit, sweep_stale, AddressSpace, AttachError, Backing, CreateError, GrowError,
    Header, Layout, ParseSegmentIdError, Segment, SegmentBuilder, SegmentId, SegmentView,
    HEADER_SIZE, HEADER_VERSION, MAGIC,
};
