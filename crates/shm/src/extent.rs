//! A length that only grows: how a region of shared memory is extended while other
//! processes use it, without a lock and without remapping.
//!
//! The region is mapped at its **maximum** length in every process once (address space
//! only); the backing file is extended underneath (`fallocate`, which never shrinks a
//! file). An [`Extent`] is the shared word saying how much of the region is backed:
//!
//! ```text
//! grower:   reserve the pages below `new` (fallocate)   // must succeed first
//!           extent.publish(new)                         // fetch_max, Release
//! user:     n = extent.get()                            // Acquire
//!           touch memory below n only
//! claimer:  claim(bump, extent, bytes): CAS bump b → b + bytes, only if b + bytes <= get()
//! ```
//!
//! * `publish` is a `fetch_max`: racing growers need no lock; the extent ends at the
//!   largest length published, and each published length had its pages reserved by its
//!   publisher before (a grower killed between its reservation and its publish leaves
//!   reserved pages nobody uses yet; the next grower's reservation covers them again).
//! * **Release** in `publish` pairs with the **Acquire** in `get`: whoever reads a length
//!   has the reservation below it ordered before its own accesses. (The reservation is a
//!   system call that has returned; the Release/Acquire pair orders it like a store.)
//! * `claim` hands out disjoint ranges (one CAS on `bump`, Relaxed: nothing is published
//!   through it) that end at or below a length read with `get`, so a claimed range is
//!   always backed.
//!
//! `tests/loom_extent.rs` model-checks exactly this: growers "reserve" pages (flags) and
//! publish, claimers check every page of every range they claimed is reserved.

use crate::atomic::{AtomicU64, Ordering};

/// A shared length that only grows, published after the memory below it exists
/// (`#[repr(transparent)]` over an `AtomicU64`: it lives in shared headers).
///
/// # Example
/// ```
/// use zeroproc_shm::atomic::AtomicU64;
/// use zeroproc_shm::extent::{claim, Extent};
/// let (extent, bump) = (Extent::new(64), AtomicU64::new(0));
/// assert_eq!(claim(&bump, &extent, 48), Some(0));
/// assert_eq!(claim(&bump, &extent, 48), None, "only 16 bytes left below the extent");
/// extent.publish(128); // after reserving bytes 64..128
/// assert_eq!(claim(&bump, &extent, 48), Some(48));
/// assert_eq!(extent.publish(96), 128, "never shrinks");
/// assert_eq!(extent.get(), 128);
/// ```
#[repr(transparent)]
#[derive(Debug)]
pub struct Extent(AtomicU64);

impl Extent {
    /// An extent of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self(AtomicU64::new(len))
    }

    /// The current length: memory below it may be touched.
    #[inline]
    pub fn get(&self) -> u64 {
        // Acquire: pairs with the Release `fetch_max` in `publish`, which followed the
        // reservation of the memory below the value read.
        self.0.load(Ordering::Acquire)
    }

    /// Raises the length to `len` (no-op if it is already at least that) and returns the
    /// previous length. Call only once the memory below `len` is reserved.
    #[inline]
    pub fn publish(&self, len: u64) -> u64 {
        // Release: publishes the reservation below `len` to every `get` that reads it (or
        // a later value: fetch_max is an RMW, continuing the release sequence).
        self.0.fetch_max(len, Ordering::Release)
    }
}

/// Claims `bytes` from the bump pointer `bump` if the claimed range ends at or below the
/// extent's current length; returns the range's start.
#[inline]
pub fn claim(bump: &AtomicU64, extent: &Extent, bytes: u64) -> Option<u64> {
    // Relaxed: the bump pointer only hands out disjoint ranges; nothing is published
    // through it (the memory's existence is published through `extent`).
    let mut cur = bump.load(Ordering::Relaxed);
    loop {
        let end = cur.checked_add(bytes).filter(|&e| e <= extent.get())?;
        // Relaxed: as above.
        match bump.compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(cur),
            Err(now) => cur = now,
        }
    }
}
