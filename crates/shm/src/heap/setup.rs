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
use std::os::fd::{AsRawFd, RawFd};
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
        Self::init_growable(seg, region, len, len)
    }

    /// Creates a heap of `len` bytes at `region` of `seg` that grows on demand up to
    /// `max_len` bytes: an [`alloc`](Self::alloc) that finds no room extends the segment's
    /// file ([`Segment::grow_to`], doubling the heap, at least to what the block needs)
    /// and carves from the new range; every process attached to the heap uses it at once,
    /// without remapping. `region + max_len` must lie in the segment's mapping (create it
    /// with [`SegmentBuilder::max_data_len`](crate::SegmentBuilder::max_data_len)), and
    /// `region + len` in its committed part. The geometry (size classes, index width) is
    /// that of a `max_len` heap.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::heap::Heap;
    /// use zeroproc_shm::{Layout, Offset, SegmentBuilder, HEADER_SIZE};
    /// let seg = SegmentBuilder::new(Layout::new("doc-heap-grow", 1), 1 << 16)
    ///     .max_data_len(64 << 20)
    ///     .create()
    ///     .unwrap();
    /// let region = Offset::new(HEADER_SIZE as u64);
    /// let heap = Heap::init_growable(&seg, region, 1 << 16, 64 << 20).unwrap();
    /// let big = heap.alloc(10 << 20, 16).unwrap(); // does not fit 64 KiB: the heap grows
    /// assert!(heap.region_len() > 10 << 20);
    /// assert!(heap.alloc(100 << 20, 16).is_err(), "past the maximum");
    /// heap.free(big).unwrap();
    /// ```
    pub fn init_growable(
        seg: &'a Segment,
        region: Offset<u8>,
        len: usize,
        max_len: usize,
    ) -> Result<Heap<'a>, HeapError> {
        if region.get() < HEADER_SIZE as u64 {
            return Err(HeapError::OutOfBounds {
                region: region.get(),
                len: len as u64,
                mapping_len: seg.len() as u64,
            });
        }
        let committed = seg.committed_len() as u64;
        if region.get().checked_add(len as u64).is_none_or(|e| e > committed) {
            return Err(HeapError::OutOfBounds {
                region: region.get(),
                len: len as u64,
                mapping_len: committed,
            });
        }
        let base = NonNull::new(seg.base()).expect("a mapping is never at address 0");
        // SAFETY: `base..base + seg.len()` is the segment's mapping, alive while `seg` is
        // borrowed for 'a, and backed up to `region + len` (checked); every access to the
        // region goes through atomics or happens after the zero-to-busy CAS claimed it.
        // The descriptor is the segment's, open while `seg` is.
        unsafe { Self::init_impl(base, seg.len(), region, len, max_len, seg.fd().as_raw_fd()) }
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
        // SAFETY: `seg` is borrowed for 'a.
        unsafe { Self::attach_unbound(seg, region) }
    }

    /// [`attach`](Self::attach) with a lifetime the caller chooses: for owners that keep
    /// the segment next to the handle (e.g. in one struct) and lend the handle out
    /// re-borrowed from themselves. The handle can grow a growable heap, like `attach`'s.
    ///
    /// # Safety
    /// `seg` (its mapping and its descriptor) must outlive every use of the handle.
    pub unsafe fn attach_unbound(seg: &Segment, region: Offset<u8>) -> Result<Heap<'a>, HeapError> {
        if region.get() < HEADER_SIZE as u64 {
            return Err(HeapError::OutOfBounds {
                region: region.get(),
                len: 0,
                mapping_len: seg.len() as u64,
            });
        }
        let base = NonNull::new(seg.base()).expect("a mapping is never at address 0");
        // SAFETY: the mapping and descriptor outlive the handle (caller); the heap's
        // current length is re-checked against the segment's committed length below.
        let mut heap = unsafe { Self::attach_raw(base, seg.len(), region) }?;
        if region.get() + heap.region_len() > seg.committed_len() as u64 {
            return Err(HeapError::Corrupt("len"));
        }
        heap.fd = seg.fd().as_raw_fd();
        Ok(heap)
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
        // SAFETY: the caller's contract; -1: this heap cannot grow.
        unsafe { Self::init_impl(base, mapping_len, region, len, len, -1) }
    }

    /// `init_raw` for a heap of `len` bytes growing up to `max_len` through `fd`.
    ///
    /// # Safety
    /// As for `init_raw`, with `base..base + region + len` backed by the file, and `fd`
    /// (-1 for none) the descriptor of the file mapped at `base`, open for 'a.
    unsafe fn init_impl(
        base: NonNull<u8>,
        mapping_len: usize,
        region: Offset<u8>,
        len: usize,
        max_len: usize,
        fd: RawFd,
    ) -> Result<Heap<'a>, HeapError> {
        let len = len as u64 & !15;
        let max_len = max_len as u64 & !15;
        if !(MIN_REGION_LEN..=MAX_REGION_LEN).contains(&len) {
            return Err(HeapError::BadLength { len });
        }
        if !(len..=MAX_REGION_LEN).contains(&max_len) {
            return Err(HeapError::BadLength { len: max_len });
        }
        check_placement(base, mapping_len, region.get(), max_len)?;
        let geo = Geometry::for_len(max_len);
        if geo.blocks_start > len {
            return Err(HeapError::BadLength { len });
        }
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
        unsafe { geo.write_fields(h, region.get(), max_len, len, salt) };
        // Release: publishes the header and class table; pairs with the Acquire in `attach`.
        magic.store(HEAP_MAGIC, Release);
        Ok(Heap {
            region: NonNull::new(h.cast()).expect("inside a mapping"),
            region_off: region.get(),
            max_len,
            fd,
            blocks_start: geo.blocks_start,
            salt,
            idx_bits: geo.idx_bits,
            num_classes: geo.num_classes,
            _mapping: PhantomData,
        })
    }

    /// [`attach`](Self::attach) over a mapping the caller manages itself. The handle
    /// cannot grow a growable heap (it has no descriptor) but uses whatever other handles
    /// grew; the mapping must cover the heap's maximum.
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
        // Acquire: pairs with the Release store at the end of `init_impl`; afterwards the
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
        let max_len = hd.max_len;
        if max_len % 16 != 0 || !(MIN_REGION_LEN..=MAX_REGION_LEN).contains(&max_len) {
            return Err(HeapError::Corrupt("max_len"));
        }
        check_placement(base, mapping_len, region.get(), max_len)?;
        let len = hd.len.get();
        if len % 16 != 0 || !(MIN_REGION_LEN..=max_len).contains(&len) {
            return Err(HeapError::Corrupt("len"));
        }
        let geo = Geometry::for_len(max_len);
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
        if bump < geo.blocks_start || bump > max_len || bump % 16 != 0 {
            return Err(HeapError::Corrupt("bump"));
        }
        Ok(Heap {
            region: NonNull::new(h.cast()).expect("inside a mapping"),
            region_off: region.get(),
            max_len,
            fd: -1,
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
