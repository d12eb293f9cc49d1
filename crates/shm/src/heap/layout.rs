//! The heap header at the start of the region, the class table after it, and the geometry
//! both are computed from.
//!
//! ```text
//! region + 0    HeapHeader      magic, version, geometry, salt, len       (cache line 0)
//! region + 64                   bump, merge lock, stash                   (cache line 1)
//! region + 128  [ClassSlot; n]  per class: free-list head, carved count   (16 B each)
//! blocks_start  blocks ...      carved upwards from here by the bump pointer
//! region + len
//! ```

use super::class::{self, UNIT};
use crate::atomic::AtomicU64;
use crate::extent::Extent;

/// `b"ZPHEAP!!"` as a little-endian word, once the header is initialised.
pub(crate) const HEAP_MAGIC: u64 = u64::from_le_bytes(*b"ZPHEAP!!");
/// The magic word while `init_in` is still writing the header.
pub(crate) const HEAP_MAGIC_BUSY: u64 = u64::from_le_bytes(*b"ZPHEAP..");

/// Least number of tag bits left in a free-list head word (see `stack.rs`).
pub(crate) const MIN_TAG_BITS: u32 = 24;

/// The fixed part of the heap header (`#[repr(C)]`, two cache lines).
#[repr(C, align(64))]
pub(crate) struct HeapHeader {
    /// [`HEAP_MAGIC`] once initialised; `HEAP_MAGIC_BUSY` during init; 0 before.
    pub(crate) magic: AtomicU64,
    /// `HEAP_VERSION`.
    pub(crate) version: u32,
    /// Number of entries in the class table.
    pub(crate) num_classes: u32,
    /// Offset of the region from the segment base (a heap attached at the wrong place is
    /// refused).
    pub(crate) region_off: u64,
    /// The most the region may grow to, in bytes: the geometry (classes, index width) is
    /// computed from it. Equal to the initial length for a heap that cannot grow.
    pub(crate) max_len: u64,
    /// Bytes from the region start to the first block.
    pub(crate) blocks_start: u64,
    /// Random per heap; mixed into every block header's check bits.
    pub(crate) salt: u64,
    /// Width of the block index in a free-list head word.
    pub(crate) idx_bits: u32,
    _pad0: [u8; 4],
    /// Bytes of the region usable now (backed by the file): only grows, published after
    /// the segment's file was extended (`extent.rs`). Read-mostly, so on cache line 0.
    pub(crate) len: Extent,
    /// Bytes from the region start up to which blocks have been carved (cache line 1).
    pub(crate) bump: AtomicU64,
    /// Owner of the merge lock (`merge.rs`): `thread token << 32 | pid`, 0 when free.
    pub(crate) merge_owner: AtomicU64,
    /// Head (block index, 0 = empty) of the merge lock owner's stash (`merge.rs`).
    pub(crate) stash: AtomicU64,
    _pad1: [u8; 40],
}

const _: () = assert!(std::mem::size_of::<HeapHeader>() == 128);

/// One size class: the head of its Treiber free list and how many blocks were ever carved.
#[repr(C)]
pub(crate) struct ClassSlot {
    /// `tag << idx_bits | block index` (index 0 = empty list); see `stack.rs`.
    pub(crate) head: AtomicU64,
    /// Blocks of this class carved from the bump area (bounds every free-list walk).
    pub(crate) carved: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<ClassSlot>() == 16);

/// The geometry of a heap of at most `max_len` bytes: everything derived from the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) num_classes: u32,
    pub(crate) blocks_start: u64,
    pub(crate) idx_bits: u32,
}

impl Geometry {
    /// The geometry for a region of `len` bytes (`len` already validated against
    /// `MIN_REGION_LEN` / `MAX_REGION_LEN`).
    pub(crate) fn for_len(len: u64) -> Geometry {
        let num_classes = class::classes_up_to(len);
        let table = size_of::<HeapHeader>() as u64 + num_classes as u64 * 16;
        let blocks_start = table.next_multiple_of(64);
        let max_idx = len / UNIT;
        let idx_bits = 64 - max_idx.leading_zeros();
        Geometry { num_classes, blocks_start, idx_bits }
    }

    /// Writes every header field but `magic` and zeroes the class table.
    ///
    /// # Safety
    /// `h` must point to at least `blocks_start` writable bytes, 64-byte aligned, that no
    /// other thread or process reads or writes except through `magic` (the caller has
    /// claimed the region by CAS-ing `magic` from 0 to `HEAP_MAGIC_BUSY`).
    pub(crate) unsafe fn write_fields(
        &self,
        h: *mut HeapHeader,
        region_off: u64,
        max_len: u64,
        len: u64,
        salt: u64,
    ) {
        // SAFETY: per the contract, every field address is in bounds, aligned and exclusively
        // ours; `addr_of_mut!` creates no reference to the (possibly racing) `magic`.
        unsafe {
            std::ptr::addr_of_mut!((*h).version).write(super::HEAP_VERSION);
            std::ptr::addr_of_mut!((*h).num_classes).write(self.num_classes);
            std::ptr::addr_of_mut!((*h).region_off).write(region_off);
            std::ptr::addr_of_mut!((*h).max_len).write(max_len);
            std::ptr::addr_of_mut!((*h).blocks_start).write(self.blocks_start);
            std::ptr::addr_of_mut!((*h).salt).write(salt);
            std::ptr::addr_of_mut!((*h).idx_bits).write(self.idx_bits);
            std::ptr::addr_of_mut!((*h)._pad0).write([0; 4]);
            std::ptr::addr_of_mut!((*h).len).write(Extent::new(len));
            std::ptr::addr_of_mut!((*h).bump).write(AtomicU64::new(self.blocks_start));
            std::ptr::addr_of_mut!((*h).merge_owner).write(AtomicU64::new(0));
            std::ptr::addr_of_mut!((*h).stash).write(AtomicU64::new(0));
            std::ptr::addr_of_mut!((*h)._pad1).write([0; 40]);
            let slots = h.cast::<u8>().add(size_of::<HeapHeader>()).cast::<ClassSlot>();
            for c in 0..self.num_classes as usize {
                slots
                    .add(c)
                    .write(ClassSlot { head: AtomicU64::new(0), carved: AtomicU64::new(0) });
            }
        }
    }
}
