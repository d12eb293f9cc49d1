//! A shared heap for variable-size payloads: any process attached to the segment can
//! allocate from it and free to it, lock-free (at its maximum an allocation may split a
//! larger free block, or merge free neighbours under a merge lock that is taken over from
//! a dead owner), and a process killed in the middle of either can at worst leak the block
//! it was handling (see `README.md` in this folder).
//!
//! * Blocks are named by [`Offset<u8>`]s from the segment base (valid in every process) and
//!   resolved with [`Heap::ptr`] / [`Heap::ptr_len`].
//! * Size classes with quarter-octave steps from 32-byte blocks up to the region size, each
//!   a Treiber stack with an ABA tag; fresh space is carved by an atomic bump pointer.
//! * Payloads are 16-byte aligned; [`Heap::alloc`] takes any power-of-two alignment up to
//!   [`MAX_ALIGN`].
//! * [`Heap::free`] of a garbage, interior or already freed offset is a [`FreeError`], never
//!   undefined behaviour.
//!
//! # Example
//! ```
//! use zeroproc_shm::heap::Heap;
//! use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
//!
//! let seg = Segment::create(Layout::new("doc-heap", 1), 1 << 20).unwrap();
//! let region = Offset::new(HEADER_SIZE as u64);
//! let heap = Heap::init_in(&seg, region, seg.data_len()).unwrap();
//!
//! let off = heap.alloc(100, 16).unwrap();
//! let p = heap.ptr_len(off, 100).unwrap();
//! // SAFETY (doc): `off` is a live 100-byte block that only this code uses.
//! unsafe { p.as_ptr().write_bytes(7, 100) };
//!
//! // Another process attaches the same region and frees the block:
//! let other = Segment::attach(seg.id(), Layout::new("doc-heap", 1)).unwrap();
//! let heap2 = Heap::attach(&other, region).unwrap();
//! // SAFETY (doc): as above.
//! assert_eq!(unsafe { *heap2.ptr(off).unwrap().as_ptr() }, 7);
//! heap2.free(off).unwrap();
//! assert!(heap.free(off).is_err()); // double free: detected
//! heap.check().unwrap();
//! ```

mod alloc;
mod block;
mod check;
mod class;
mod error;
#[doc(hidden)]
pub mod failpoint;
mod grow;
#[cfg(all(test, feature = "fault-injection"))]
mod kill_tests;
mod layout;
mod merge;
mod setup;
mod stack;
#[cfg(test)]
mod tests;
mod trim;

pub use check::{ClassStats, HeapStats};
pub use error::{AllocError, CheckError, FreeError, HeapError};
pub use merge::lost_merge_bytes;

use crate::offset::{Offset, OffsetError};
use crate::segment::Segment;
use block::BlockHeader;
use class::UNIT;
use layout::{ClassSlot, HeapHeader};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::ptr::NonNull;

/// Version of the heap's shared-memory layout (header, class table, block headers).
pub const HEAP_VERSION: u32 = 3;
/// The largest alignment [`Heap::alloc`] accepts: the page size, the largest alignment an
/// offset has in every process (each maps the segment at its own page-aligned address).
pub const MAX_ALIGN: usize = 4096;
/// The smallest region a heap can manage.
pub const MIN_REGION_LEN: u64 = 4096;
/// The largest region a heap can manage (8 TiB: keeps at least 24 ABA-tag bits in a
/// free-list head word).
pub const MAX_REGION_LEN: u64 = 1 << 43;

/// A handle to a shared heap living in a region of a segment.
///
/// The handle caches the validated geometry and holds no state of its own; it is `Copy`,
/// `Send` and `Sync`, and any number of handles in any number of processes may use the heap
/// at once. All shared state is in the region and changed only by atomic operations.
///
/// # Example
/// ```
/// use zeroproc_shm::heap::{AllocError, Heap};
/// use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
///
/// let seg = Segment::create(Layout::new("doc-heap-oom", 1), 8192).unwrap();
/// let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 8192).unwrap();
/// let mut blocks = Vec::new();
/// let err = loop {
///     match heap.alloc(1000, 16) {
///         Ok(off) => blocks.push(off),
///         Err(e) => break e,
///     }
/// };
/// assert!(matches!(err, AllocError::OutOfMemory { requested: 1000, .. }));
/// heap.free(blocks.pop().unwrap()).unwrap();
/// assert!(heap.alloc(1000, 16).is_ok()); // the freed block is reused
/// ```
#[derive(Clone, Copy)]
pub struct Heap<'a> {
    /// The region start in this process's mapping.
    region: NonNull<u8>,
    /// Region offset from the segment base.
    region_off: u64,
    /// The most the region may grow to (a multiple of 16; the geometry's length). The
    /// current length is the header's `len` extent.
    max_len: u64,
    /// The segment's descriptor, for growing (-1: this handle cannot grow the heap; it
    /// still uses whatever others grew).
    fd: RawFd,
    /// Bytes from the region start to the first block.
    blocks_start: u64,
    /// The heap's salt for block header check bits.
    salt: u64,
    /// Width of the block index in a head word.
    idx_bits: u32,
    /// Number of size classes.
    num_classes: u32,
    _mapping: PhantomData<&'a Segment>,
}

// SAFETY: the handle is a pointer into a process-wide mapping that outlives `'a`, plus
// immutable validated geometry; every shared location it touches is accessed atomically
// (block payloads are the caller's, reached only through raw pointers).
unsafe impl Send for Heap<'_> {}
// SAFETY: as above; `&Heap` has no interior mutability outside the atomics in the region.
unsafe impl Sync for Heap<'_> {}

impl std::fmt::Debug for Heap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("region_off", &self.region_off)
            .field("len", &self.region_len())
            .field("max_len", &self.max_len)
            .field("blocks_start", &self.blocks_start)
            .field("num_classes", &self.num_classes)
            .finish_non_exhaustive()
    }
}

impl<'a> Heap<'a> {
    /// Offset of the region from the segment base.
    pub fn region(&self) -> Offset<u8> {
        Offset::new(self.region_off)
    }

    /// Length of the region in bytes now (it grows up to
    /// [`max_region_len`](Self::max_region_len) in a growable heap).
    pub fn region_len(&self) -> u64 {
        self.header().len.get()
    }

    /// The most the region may grow to ([`init_growable`](Self::init_growable)); equal to
    /// [`region_len`](Self::region_len) for a heap that cannot grow.
    pub fn max_region_len(&self) -> u64 {
        self.max_len
    }

    /// Resolves a block offset to a pointer valid in this process, checking only that it
    /// lies in the heap's block area (not that it is a live block: see
    /// [`usable_size`](Self::usable_size)).
    ///
    /// # Example
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-ptr", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let off = heap.alloc(8, 8).unwrap();
    /// let p = heap.ptr(off).unwrap().cast::<u64>();
    /// // SAFETY (doc): a live block of at least 8 bytes, 16-byte aligned, used only here.
    /// unsafe { p.as_ptr().write(42) };
    /// assert!(heap.ptr(Offset::new(1 << 40)).is_err());
    /// ```
    pub fn ptr(&self, off: Offset<u8>) -> Result<NonNull<u8>, OffsetError> {
        self.ptr_len(off, 1)
    }

    /// Resolves `off` for an access of `len` bytes, checking that `off..off + len` lies in
    /// the heap's block area.
    pub fn ptr_len(&self, off: Offset<u8>, len: usize) -> Result<NonNull<u8>, OffsetError> {
        // The current length (Acquire inside `get`): the file is backed below it.
        let now = self.region_len();
        let end_abs = self.region_off + now;
        let bad =
            OffsetError::OutOfBounds { offset: off.get(), len: len as u64, segment_len: end_abs };
        let rel = off.get().checked_sub(self.region_off).ok_or(bad)?;
        let fits =
            rel >= self.blocks_start && rel.checked_add(len as u64).is_some_and(|e| e <= now);
        if !fits {
            return Err(bad);
        }
        // SAFETY: `rel + len <= now <= max_len`, so the result is inside the region (which
        // lies in the mapping, validated at init/attach) and therefore non-null; the file is
        // backed there (the extent was published after the reservation).
        Ok(unsafe { NonNull::new_unchecked(self.region.as_ptr().add(rel as usize)) })
    }

    /// The heap header at the region start.
    #[inline]
    fn header(&self) -> &'a HeapHeader {
        // SAFETY: the region starts with a HeapHeader (validated at init/attach), 64-byte
        // aligned, alive for 'a. Only its atomics are mutated after init.
        unsafe { &*self.region.as_ptr().cast::<HeapHeader>() }
    }

    /// The class table entry of class `c`.
    #[inline]
    fn slot(&self, c: u32) -> &'a ClassSlot {
        debug_assert!(c < self.num_classes);
        let c = c.min(self.num_classes - 1) as usize;
        // SAFETY: the table of `num_classes` 16-byte slots follows the 128-byte header and
        // ends before `blocks_start <= len` (validated); `c` is clamped into it. Slots are
        // only accessed through their atomics.
        unsafe { &*self.region.as_ptr().add(size_of::<HeapHeader>()).cast::<ClassSlot>().add(c) }
    }

    /// The block header at unit index `idx`; callers check [`Self::idx_in_blocks`] first.
    #[inline]
    fn block(&self, idx: u64) -> &'a BlockHeader {
        assert!(self.idx_in_blocks(idx), "block index {idx} out of the heap");
        // SAFETY: `blocks_start <= idx * 16` and `idx * 16 + 16 <= len`, so the 16-byte,
        // 16-aligned header is inside the region. Headers are only accessed atomically.
        unsafe { &*self.region.as_ptr().add((idx * UNIT) as usize).cast::<BlockHeader>() }
    }
}
