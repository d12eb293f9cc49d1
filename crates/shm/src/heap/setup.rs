//! Creating a heap in a region (`init_in`) and attaching to one (`attach`), with every
//! header field validated before the handle is trusted.

use super::layout::{Geometry, HeapHeader, HEAP_MAGIC, HEAP_MAGIC_BUSY, MIN_TAG_BITS};
use super::{Heap, HeapError, HEAP_VERSION, MAX_ALIGN, MAX_REGION_LEN, MIN_REGION_LEN};
use crate::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use crate::offset::Offset;
use crate::segment::{Segment, HEADER_SIZE};
use std::marker::PhantomData;
use std::ptr::NonNull;

impl<'a> Heap<'a> {
    /// Creates a heap managing `len` bytes (rounded down to a multiple of 16) of `seg`
    /// starting at `region`, which must be 64-byte aligned, lie after the segment header,
    /// and start with a zero word (fresh segments are zeroed).
    ///
    /// Typically called in [`SegmentBuilder::create_with`](crate::SegmentBuilder::create_with)
    /// so that attachers find the heap ready.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::heap::{Heap, HeapError};
    /// use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let seg = Segment::create(Layout::new("doc-heap-init", 1), 1 << 16).unwrap();
    /// let region = Offset::new(HEADER_SIZE as u64);
    /// let heap = Heap::init_in(&seg, region, 1 << 16).unwrap();
    /// assert_eq!(heap.region_len(), 1 << 16);
    /// assert_eq!(Heap::init_in(&seg, region, 1 << 16).unwrap_err(), HeapError::AlreadyInitialized);
    /// ```
    pub fn init_in(
        seg: &'a Segment,
        region: Offset<u8>,
        len: usize,
    ) -> Result<Heap<'a>, HeapError> {
        if region.get() < HEADER_SIZE as u64 {
            return Err(HeapError::OutOfBounds {
                region: region.get(),
                len: len as u64,
                mapping_len: seg.len() as u64,
            });
        }
        let base = NonNull::new(seg.base()).expect("a mapping is never at address 0");
        // SAFETY: `base..base + seg.len()` is the segment's mapping, alive while `seg` is
        // borrowed for 'a; every access to the region goes through atomics or happens
        // after the zero-to-busy CAS claimed it.
        unsafe { Self::init_raw(base, seg.len(), region, len) }
    }

    /// Attaches to the heap that [`init_in`](Self::init_in) created at `region` of `seg`
    /// (in this or any other process), validating magic, version and geometry.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::heap::{Heap, HeapError};
    /// use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let seg = Segment::create(Layout::new("doc-heap-attach", 1), 1 << 16).unwrap();
    /// let region = Offset::new(HEADER_SIZE as u64);
    /// assert_eq!(Heap::attach(&seg, region).unwrap_err(), HeapError::NotInitialized);
    /// Heap::init_in(&seg, region, 1 << 16).unwrap();
    /// assert!(Heap::attach(&seg, region).is_ok());
    /// ```
    pub fn attach(seg: &'a Segment, region: Offset<u8>) -> Result<Heap<'a>, HeapError> {
        if region.get() < HEADER_SIZE as u64 {
            return Err(HeapError::OutOfBounds {
                region: region.get(),
                len: 0,
                mapping_len: seg.len() as u64,
            });
        }
        let base = NonNull::new(seg.base()).expect("a mapping is never at address 0");
        // SAFETY: as in `init_in`.
        unsafe { Self::attach_raw(base, seg.len(), region) }
    }

    /// [`init_in`](Self::init_in) over a mapping the caller manages itself (e.g. one owned
    /// by an `Arc`, or plain memory in a test).
    ///
    /// # Safety
    /// `base..base + mapping_len` must stay mapped, readable and writable for `'a`, and be
    /// accessed by others only through heaps (or through blocks they own). `base` must be
    /// 4096-byte aligned (checked) and identical in alignment across processes.
    pub unsafe fn init_raw(
        base: NonNull<u8>,
        mapping_len: usize,
        region: Offset<u8>,
        len: usize,
    ) -> Result<Heap<'a>, HeapError> {
        let len = len as u64 & !15;
        if !(MIN_REGION_LEN..=MAX_REGION_LEN).contains(&len) {
            return Err(HeapError::BadLength { len });
        }
        check_placement(base, mapping_len, region.get(), len)?;
        let geo = Geometry::for_len(len);
        debug_assert!(64 - geo.idx_bits >= MIN_TAG_BITS);
        // SAFETY: placement checked: the region is in the mapping and 64-byte aligned.
        let h = unsafe { base.as_ptr().add(region.get() as usize) }.cast::<HeapHeader>();
        // SAFETY: `magic` is the first field of the (in-bounds, aligned) header; only a
        // shared reference to the atomic is formed.
        let magic: &AtomicU64 = unsafe { &*std::ptr::addr_of!((*h).magic) };
        // Acquire on success: nothing to see yet, but keeps the claim ordered before our
        // writes. Pairs with nothing; it arbitrates between concurrent initialisers.
        if magic.compare_exchange(0, HEAP_MAGIC_BUSY, Acquire, Relaxed).is_err() {
            return Err(HeapError::AlreadyInitialized);
        }
        let salt = fresh_salt(base, region.get());
        // SAFETY: we claimed the region with the CAS above; `blocks_start <= len` bytes of it
        // are in the mapping and nobody reads them before `magic` says ready.
        unsafe { geo.write_fields(h, region.get(), len, salt) };
        // Release: publishes the header and class table; pairs with the Acquire in `attach`.
        magic.store(HEAP_MAGIC, Release);
        Ok(Heap {
            region: NonNull::new(h.cast()).expect("inside a mapping"),
            region_off: region.get(),
            len,
            blocks_start: geo.blocks_start,
            salt,
            idx_bits: geo.idx_bits,
            num_classes: geo.num_classes,
            _mapping: PhantomData,
        })
    }

    /// [`attach`](Self::attach) over a mapping the caller manages itself.
    ///
    /// # Safety
    /// As for [`init_raw`](Self::init_raw).
    pub unsafe fn attach_raw(
        base: NonNull<u8>,
        mapping_len: usize,
        region: Offset<u8>,
    ) -> Result<Heap<'a>, HeapError> {
        check_placement(base, mapping_len, region.get(), 128)?;
        // SAFETY: placement checked for the 128-byte fixed header.
        let h = unsafe { base.as_ptr().add(region.get() as usize) }.cast::<HeapHeader>();
        // SAFETY: `magic` is the first field of the in-bounds, aligned header.
        let magic: &AtomicU64 = unsafe { &*std::ptr::addr_of!((*h).magic) };
        // Acquire: pairs with the Release store at the end of `init_raw`; afterwards the
        // plain header fields are initialised and never written again.
        match magic.load(Acquire) {
            HEAP_MAGIC => {}
            0 => return Err(HeapError::NotInitialized),
            HEAP_MAGIC_BUSY => return Err(HeapError::NotReady),
            m => return Err(HeapError::Foreign { magic: m }),
        }
        // SAFETY: magic is ready, so every field is initialised and immutable from now on.
        let hd = unsafe { &*h };
        if hd.version != HEAP_VERSION {
            return Err(HeapError::Version { found: hd.version, expected: HEAP_VERSION });
        }
        if hd.region_off != region.get() {
            return Err(HeapError::Corrupt("region_off"));
        }
        let len = hd.region_len;
        if len % 16 != 0 || !(MIN_REGION_LEN..=MAX_REGION_LEN).contains(&len) {
            return Err(HeapError::Corrupt("region_len"));
        }
        check_placement(base, mapping_len, region.get(), len)?;
        let geo = Geometry::for_len(len);
        if hd.num_classes != geo.num_classes {
            return Err(HeapError::Corrupt("num_classes"));
        }
        if hd.blocks_start != geo.blocks_start {
            return Err(HeapError::Corrupt("blocks_start"));
        }
        if hd.idx_bits != geo.idx_bits {
            return Err(HeapError::Corrupt("idx_bits"));
        }
        // Relaxed: a sanity check of a monotonic value.
        let bump = hd.bump.load(Relaxed);
        if bump < geo.blocks_start || bump > len || bump % 16 != 0 {
            return Err(HeapError::Corrupt("bump"));
        }
        Ok(Heap {
            region: NonNull::new(h.cast()).expect("inside a mapping"),
            region_off: region.get(),
            len,
            blocks_start: geo.blocks_start,
            salt: hd.salt,
            idx_bits: geo.idx_bits,
            num_classes: geo.num_classes,
            _mapping: PhantomData,
        })
    }
}

/// Checks that `region..region + len` lies in the mapping, with the alignments we rely on.
fn check_placement(
    base: NonNull<u8>,
    mapping_len: usize,
    region: u64,
    len: u64,
) -> Result<(), HeapError> {
    let addr = base.as_ptr() as u64;
    if addr % MAX_ALIGN as u64 != 0 {
        return Err(HeapError::Misaligned { at: addr, align: MAX_ALIGN as u64 });
    }
    if region % 64 != 0 {
        return Err(HeapError::Misaligned { at: region, align: 64 });
    }
    if region.checked_add(len).is_none_or(|e| e > mapping_len as u64) {
        return Err(HeapError::OutOfBounds { region, len, mapping_len: mapping_len as u64 });
    }
    Ok(())
}

/// A salt that differs between heaps (and between heaps re-created in the same memory).
fn fresh_salt(base: NonNull<u8>, region: u64) -> u64 {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // RandomState's keys are seeded from the OS's random source.
    std::collections::hash_map::RandomState::new().hash_one((base.as_ptr() as u64, region, nanos))
}
