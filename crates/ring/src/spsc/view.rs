//! A process-local, validated view of one ring: where its header and buffer are mapped in
//! this process, a local copy of the capacity, and what keeps the memory alive.
//!
//! The same view type backs rings in a shared-memory segment and rings on the heap (used
//! in-process and by the loom models), so the producer/consumer protocol code is one piece.

use super::layout::{RingHeader, DATA_OFFSET};
use super::record::RECORD_HEADER;
use std::ptr::NonNull;
use std::sync::Arc;
use zeroproc_shm::atomic::AtomicU64;

/// What keeps a ring's memory mapped.
#[derive(Debug, Clone)]
pub(crate) enum Backing {
    /// A ring inside a shared-memory segment.
    #[cfg(not(loom))]
    Segment(Arc<zeroproc_shm::Segment>),
    /// A ring on this process's heap (the `Arc` keeps the allocation alive; loom also
    /// reads the shadow cells through it).
    Heap(#[cfg_attr(not(loom), allow(dead_code))] Arc<HeapRegion>),
}

/// A heap allocation holding a ring header and its buffer.
#[derive(Debug)]
pub(crate) struct HeapRegion {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
    /// Loom only: one cell per 16-byte unit of the buffer, accessed whenever the ring code
    /// reads or writes that unit, so loom checks that every buffer access is ordered after
    /// the conflicting access of the other side (the buffer itself is plain memory, which
    /// loom cannot see).
    #[cfg(loom)]
    shadow: Box<[loom::cell::UnsafeCell<()>]>,
    /// Loom only: the commit word of each 16-byte unit (a record header's first 8 bytes),
    /// as loom atomics; production code reads and writes them in the buffer itself.
    #[cfg(loom)]
    words: Box<[zeroproc_shm::atomic::AtomicU64]>,
}

// SAFETY: the region is a plain allocation; the header in it is made of atomics, and the
// buffer's accesses are synchronised by the ring protocol (see README.md).
unsafe impl Send for HeapRegion {}
// SAFETY: as above.
unsafe impl Sync for HeapRegion {}

impl HeapRegion {
    /// Allocates and initialises a ring of `capacity` bytes (already validated).
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        let layout = std::alloc::Layout::from_size_align(
            DATA_OFFSET + capacity,
            std::mem::align_of::<RingHeader>(),
        )
        .expect("ring layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let hdr = ptr.as_ptr().cast::<RingHeader>();
        // SAFETY: `hdr` is valid for writes of a `RingHeader` (size and alignment come from
        // the layout) and nothing else can see this fresh allocation.
        unsafe { hdr.write(RingHeader::new(capacity as u64)) };
        // SAFETY: just initialised above.
        unsafe { (*hdr).publish_magic() };
        Arc::new(Self {
            ptr,
            layout,
            #[cfg(loom)]
            shadow: (0..capacity / RECORD_HEADER)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
            #[cfg(loom)]
            words: (0..capacity / RECORD_HEADER)
                .map(|_| zeroproc_shm::atomic::AtomicU64::new(0))
                .collect(),
        })
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: the header was initialised in `new` and is dropped exactly once here; the
        // allocation was made with `self.layout`. No view outlives the last `Arc`.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr().cast::<RingHeader>());
            std::alloc::dealloc(self.ptr.as_ptr(), self.layout);
        }
    }
}

/// A validated view of a ring mapped in this process.
#[derive(Debug, Clone)]
pub(crate) struct RingView {
    hdr: NonNull<RingHeader>,
    data: NonNull<u8>,
    /// Capacity, copied once from the validated header (never re-read from shared memory).
    cap: u64,
    keep: Backing,
}

// SAFETY: the view only holds pointers into memory kept alive by `keep` (an `Arc`); all
// shared state behind them is atomics or buffer bytes whose accesses the ring protocol
// synchronises.
unsafe impl Send for RingView {}
// SAFETY: as above; `&RingView` exposes only the header (atomics) and raw buffer pointers.
unsafe impl Sync for RingView {}

impl RingView {
    /// A view of the ring whose header is at `hdr`, with `cap` already validated.
    ///
    /// # Safety
    /// `hdr` points at an initialised `RingHeader` followed by `cap` buffer bytes, all of
    /// which stay mapped as long as `keep` lives.
    pub(crate) unsafe fn new(hdr: NonNull<RingHeader>, cap: u64, keep: Backing) -> Self {
        // SAFETY: the caller guarantees the buffer follows the header within the mapping.
        let data = unsafe { NonNull::new_unchecked(hdr.as_ptr().cast::<u8>().add(DATA_OFFSET)) };
        Self { hdr, data, cap, keep }
    }

    /// A heap ring of `capacity` bytes (already validated).
    pub(crate) fn heap(capacity: usize) -> Self {
        let region = HeapRegion::new(capacity);
        let hdr = region.ptr.cast::<RingHeader>();
        // SAFETY: `HeapRegion::new` initialised a header followed by `capacity` bytes, kept
        // alive by the `Arc` we store.
        unsafe { Self::new(hdr, capacity as u64, Backing::Heap(region)) }
    }

    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &RingHeader {
        // SAFETY: `hdr` points at an initialised header kept mapped by `self.keep`; it is
        // only ever accessed through atomics.
        unsafe { self.hdr.as_ref() }
    }

    /// Buffer capacity in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.cap
    }

    /// Largest payload of one record.
    #[inline]
    pub(crate) fn max_payload(&self) -> u64 {
        self.cap / 2 - RECORD_HEADER as u64
    }

    /// Offset in the buffer of ring position `pos`.
    #[inline]
    pub(crate) fn offset(&self, pos: u64) -> u64 {
        pos & (self.cap - 1)
    }

    /// Faults in the pages holding buffer bytes `[off, off + len)` (`off + len` at most the
    /// capacity), allocating those no process has touched yet: `MADV_POPULATE_WRITE`,
    /// rounded out to whole pages. Best effort (an error, e.g. before Linux 5.14, leaves
    /// the pages to fault in as written); no byte changes. A no-op under loom.
    pub(crate) fn populate(&self, off: u64, len: u64) {
        #[cfg(not(loom))]
        {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
            let start = self.data.as_ptr() as usize + off as usize;
            let lo = start & !(page - 1);
            let hi = (start + len as usize).next_multiple_of(page);
            // SAFETY: the buffer bytes are mapped memory (a segment's or the heap's, kept by
            // `self.keep`), and mappings are whole pages, so the pages holding them are
            // mapped too; populating changes no byte (of the buffer or of a neighbour on
            // the same page) and claims nothing.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE) };
        }
        #[cfg(loom)]
        let _ = (off, len);
    }

    /// Pointer to the buffer byte of ring position `pos` (always inside the buffer).
    #[inline]
    pub(crate) fn at(&self, pos: u64) -> *mut u8 {
        // SAFETY: `offset(pos) < cap`, and the buffer is `cap` bytes long.
        unsafe { self.data.as_ptr().add(self.offset(pos) as usize) }
    }

    /// The commit word at ring position `pos` (a multiple of 16): the first 8 bytes of the
    /// header of a record that starts there (record.rs; README.md, "Commit words").
    #[inline]
    pub(crate) fn word(&self, pos: u64) -> &AtomicU64 {
        debug_assert_eq!(pos % RECORD_HEADER as u64, 0);
        #[cfg(not(loom))]
        {
            // SAFETY: `at(pos)` is inside the buffer with ≥ 16 bytes before its end (`pos` is
            // a multiple of 16 and the capacity too), 16-aligned (the buffer starts at
            // `DATA_OFFSET`, a multiple of 128, from a 128-aligned header), so it is valid
            // and aligned for an `AtomicU64` for as long as `self.keep` keeps it mapped.
            // Those 8 bytes are only accessed atomically while they are a record boundary;
            // when a later lap puts payload bytes there, the ring protocol orders those
            // plain accesses with the atomic ones (the head/commit Release/Acquire pairs).
            unsafe { AtomicU64::from_ptr(self.at(pos).cast::<u64>()) }
        }
        #[cfg(loom)]
        {
            let Backing::Heap(region) = &self.keep;
            &region.words[(self.offset(pos) / RECORD_HEADER as u64) as usize]
        }
    }

    /// What keeps the memory alive (for descriptors).
    #[cfg(not(loom))]
    pub(crate) fn backing(&self) -> &Backing {
        &self.keep
    }

    /// Pointer to the header (for descriptors).
    #[cfg(not(loom))]
    pub(crate) fn header_ptr(&self) -> *const RingHeader {
        self.hdr.as_ptr()
    }

    /// Loom: records a write by this thread to the buffer units of `[pos, pos + len)`
    /// (which never wrap). No-op otherwise.
    #[inline]
    pub(crate) fn track_write(&self, pos: u64, len: u64) {
        #[cfg(loom)]
        self.track(pos, len, true);
        #[cfg(not(loom))]
        let _ = (pos, len);
    }

    /// Loom: records a read; see [`track_write`](Self::track_write).
    #[inline]
    pub(crate) fn track_read(&self, pos: u64, len: u64) {
        #[cfg(loom)]
        self.track(pos, len, false);
        #[cfg(not(loom))]
        let _ = (pos, len);
    }

    #[cfg(loom)]
    fn track(&self, pos: u64, len: u64, write: bool) {
        let Backing::Heap(region) = &self.keep;
        let first = (self.offset(pos) / RECORD_HEADER as u64) as usize;
        let n = len.div_ceil(RECORD_HEADER as u64) as usize;
        for cell in &region.shadow[first..first + n] {
            if write {
                cell.with_mut(|_| ());
            } else {
                cell.with(|_| ());
            }
        }
    }
}
