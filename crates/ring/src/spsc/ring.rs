//! [`Ring`]: an initialised, attached ring whose sides are not claimed yet.

use super::consumer::Consumer;
use super::error::RingError;
use super::layout::RingLayout;
use super::producer::Producer;
use super::view::RingView;

/// An SPSC ring mapped in this process (in a shared-memory segment, or on the heap),
/// from which one [`Producer`] and one [`Consumer`] are claimed, in this process or others.
///
/// Cloning it is cheap (it shares the mapping).
///
/// # Example
/// ```
/// use zeroproc_ring::spsc::{Ring, RingError};
/// let ring = Ring::new(1 << 16).unwrap();
/// let mut tx = ring.producer().unwrap();
/// assert!(matches!(ring.producer(), Err(RingError::Claimed { .. }))); // one producer
/// let mut rx = ring.consumer().unwrap();
/// tx.try_send(b"hi").unwrap();
/// assert_eq!(&*rx.try_recv().unwrap(), b"hi");
/// ```
#[derive(Debug, Clone)]
pub struct Ring {
    view: RingView,
}

impl Ring {
    /// A ring of `capacity` bytes on this process's heap, for threads of one process
    /// (the same protocol code as shared-memory rings; also what the loom models use).
    ///
    /// # Example
    /// ```
    /// let ring = zeroproc_ring::spsc::Ring::in_heap(256).unwrap();
    /// assert!(ring.descriptor().is_none()); // not reachable from other processes
    /// ```
    pub fn in_heap(capacity: usize) -> Result<Ring, RingError> {
        let l = RingLayout::new(capacity)?;
        Ok(Ring { view: RingView::heap(l.capacity()) })
    }

    /// Claims the producer side (refused while another live process, or this one, holds
    /// it; a holder that died without closing is taken over).
    pub fn producer(&self) -> Result<Producer, RingError> {
        Producer::claim(self.view.clone())
    }

    /// Claims the consumer side (same rules as [`producer`](Self::producer)).
    pub fn consumer(&self) -> Result<Consumer, RingError> {
        Consumer::claim(self.view.clone())
    }

    /// Reserves the producer side for process `pid`, the one expected to claim it (a child
    /// given this side's handle): until someone claims the side, a consumer waiting on it
    /// takes `pid`'s death for the producer's. Anyone may still claim it. Only a side never
    /// claimed nor closed is reserved; true if this call did.
    ///
    /// ```
    /// use zeroproc_ring::spsc::{Ring, RecvTimeoutError};
    /// let ring = Ring::in_heap(256).unwrap();
    /// let mut rx = ring.consumer().unwrap();
    /// let dead = u32::MAX >> 2; // above pid_max: no such process
    /// assert!(ring.reserve_producer(dead));
    /// let t = std::time::Duration::from_secs(5);
    /// assert!(matches!(rx.recv_timeout(t), Err(RecvTimeoutError::Disconnected)));
    /// let _tx = ring.producer().unwrap(); // claimed over the reservation
    /// assert!(!ring.reserve_producer(std::process::id())); // claimed: not reserved again
    /// ```
    pub fn reserve_producer(&self, pid: u32) -> bool {
        let m = &self.view.header().meta;
        super::claim::reserve(&m.producer_pid, &m.producer_closed, pid)
    }

    /// Reserves the consumer side for process `pid`, as
    /// [`reserve_producer`](Self::reserve_producer) does the producer's: a producer waiting
    /// for room takes `pid`'s death for the consumer's.
    ///
    /// ```
    /// let ring = zeroproc_ring::spsc::Ring::in_heap(256).unwrap();
    /// assert!(ring.reserve_consumer(std::process::id()));
    /// let _rx = ring.consumer().unwrap(); // the reserved process claims it
    /// ```
    pub fn reserve_consumer(&self, pid: u32) -> bool {
        let m = &self.view.header().meta;
        super::claim::reserve(&m.consumer_pid, &m.consumer_closed, pid)
    }

    /// True once the consumer closed its side (dropped its [`Consumer`]): nothing sent
    /// now would be read.
    ///
    /// ```
    /// let ring = zeroproc_ring::spsc::Ring::in_heap(256).unwrap();
    /// drop(ring.consumer().unwrap());
    /// assert!(ring.consumer_closed());
    /// ```
    pub fn consumer_closed(&self) -> bool {
        // Relaxed: a flag with no data attached (as in the producer's `place`).
        self.view.header().meta.consumer_closed.load(std::sync::atomic::Ordering::Relaxed) != 0
    }

    /// True when every record published has been released by the consumer (a record read
    /// in place and not yet released still counts): a snapshot, for diagnostics and for
    /// deciding whether anything is left for the consumer to take.
    ///
    /// ```
    /// let ring = zeroproc_ring::spsc::Ring::in_heap(256).unwrap();
    /// let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
    /// assert!(ring.is_empty());
    /// p.try_send(b"x").unwrap();
    /// assert!(!ring.is_empty());
    /// let record = c.try_recv().unwrap(); // read in place: not released yet
    /// assert!(!ring.is_empty());
    /// drop(record);
    /// assert!(ring.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        let h = self.view.header();
        // Acquire (both): a snapshot of the positions; the consumer's head never passes
        // the producer's tail, so equal means nothing unreleased.
        let head = h.head.load(std::sync::atomic::Ordering::Acquire);
        h.tail.load(std::sync::atomic::Ordering::Acquire) == head
    }

    /// Buffer capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.view.capacity() as usize
    }

    /// Largest payload of one record (`capacity / 2 - 16`).
    pub fn max_payload(&self) -> usize {
        self.view.max_payload() as usize
    }
}

/// A producer and a consumer of a new heap ring (see [`Ring::in_heap`]).
///
/// # Example
/// ```
/// let (mut tx, mut rx) = zeroproc_ring::spsc::heap_channel(1024).unwrap();
/// tx.try_send(b"x").unwrap();
/// assert_eq!(&*rx.try_recv().unwrap(), b"x");
/// ```
pub fn heap_channel(capacity: usize) -> Result<(Producer, Consumer), RingError> {
    let r = Ring::in_heap(capacity)?;
    Ok((r.producer()?, r.consumer()?))
}

#[cfg(not(loom))]
mod shm {
    use super::*;
    use crate::spsc::descriptor::{self, Descriptor};
    use crate::spsc::layout::{RingHeader, SEGMENT_LAYOUT};
    use crate::spsc::view::Backing;
    use std::sync::Arc;
    use zeroproc_shm::{Offset, Segment, SegmentBuilder, HEADER_SIZE};

    impl Ring {
        /// A ring of `capacity` bytes in a new memfd segment of its own (layout
        /// [`SEGMENT_LAYOUT`]); other processes attach with its
        /// [`descriptor`](Self::descriptor).
        ///
        /// # Example
        /// ```
        /// let ring = zeroproc_ring::spsc::Ring::new(4096).unwrap();
        /// println!("attach with {}", ring.descriptor().unwrap());
        /// ```
        pub fn new(capacity: usize) -> Result<Ring, RingError> {
            let l = RingLayout::new(capacity)?;
            let seg = SegmentBuilder::new(SEGMENT_LAYOUT, l.size())
                .create_with(|seg| {
                    // SAFETY: the data region is fresh (nobody can attach before
                    // `create_with` returns), 256-byte aligned and at least `l.size()` long.
                    unsafe { init_at(seg.data().cast::<RingHeader>(), l.capacity()) }
                })
                .map_err(RingError::Create)?;
            Ring::attach(Arc::new(seg), Offset::new(HEADER_SIZE as u64))
        }

        /// Initialises a ring of `capacity` bytes in `seg` at `offset` (which must be
        /// aligned to [`RingLayout::align`] with [`RingLayout::size`] bytes in bounds:
        /// checked) and attaches to it.
        ///
        /// # Safety
        /// The region `[offset, offset + size_for(capacity))` of `seg` must not be in use
        /// by anything else — in any process — while this runs: it is overwritten with a
        /// fresh header (a ring being used there would be destroyed under its users).
        ///
        /// # Example
        /// ```
        /// use std::sync::Arc;
        /// use zeroproc_ring::spsc::{size_for, Ring};
        /// use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
        /// let seg = Arc::new(Segment::create(Layout::new("two-rings", 1), 2 * size_for(1024).unwrap()).unwrap());
        /// let off = Offset::new((HEADER_SIZE + size_for(1024).unwrap()) as u64);
        /// // SAFETY: the segment is fresh and this region is used by nothing else.
        /// let ring = unsafe { Ring::init_in(seg.clone(), off, 1024) }.unwrap();
        /// assert_eq!(ring.descriptor().unwrap().offset, off.get());
        /// ```
        pub unsafe fn init_in(
            seg: Arc<Segment>,
            offset: Offset<RingHeader>,
            capacity: usize,
        ) -> Result<Ring, RingError> {
            let l = RingLayout::new(capacity)?;
            let p = region(&seg, offset, l.size())?;
            // SAFETY: `region` checked bounds and alignment for `l.size()` bytes; the caller
            // guarantees nothing else uses the region.
            unsafe { init_at(p.as_ptr(), l.capacity()) };
            Ring::attach(seg, offset)
        }

        /// Attaches to the ring another process initialised in `seg` at `offset`, checking
        /// its magic, version and capacity against the segment's bounds.
        ///
        /// # Example
        /// ```
        /// use std::sync::Arc;
        /// use zeroproc_ring::spsc::{Ring, RingError};
        /// use zeroproc_shm::{Layout, Offset, Segment};
        /// let seg = Arc::new(Segment::create(Layout::new("empty", 1), 4096).unwrap());
        /// let e = Ring::attach(seg, Offset::new(256)).unwrap_err();
        /// assert!(matches!(e, RingError::NotARing)); // zeroes are not a ring
        /// ```
        pub fn attach(seg: Arc<Segment>, offset: Offset<RingHeader>) -> Result<Ring, RingError> {
            let p = region(&seg, offset, std::mem::size_of::<RingHeader>())?;
            // SAFETY: in bounds and aligned (checked); `RingHeader` is all atomics, valid
            // for any bit pattern, so reading a foreign or garbage header is defined.
            let cap = unsafe { p.as_ref() }.validate(seg.len() - offset.get() as usize)?;
            // SAFETY: `validate` checked that `cap` buffer bytes follow the header inside
            // the segment, which the `Arc` keeps mapped.
            let view = unsafe { RingView::new(p, cap, Backing::Segment(seg)) };
            Ok(Ring { view })
        }

        /// Attaches to a ring made by [`Ring::new`] (a segment of layout
        /// [`SEGMENT_LAYOUT`]) from its descriptor. Rings inside segments of other layouts
        /// are attached with [`Ring::attach`].
        pub fn open(d: &Descriptor) -> Result<Ring, RingError> {
            let seg = Segment::attach(&d.segment, SEGMENT_LAYOUT)?;
            Ring::attach(Arc::new(seg), Offset::new(d.offset))
        }

        /// Where another process can attach this ring (`None` for a heap ring).
        pub fn descriptor(&self) -> Option<Descriptor> {
            descriptor::of_view(&self.view)
        }
    }

    /// Checks that `len` bytes at `offset` are inside `seg` and aligned for a header.
    fn region(
        seg: &Segment,
        offset: Offset<RingHeader>,
        len: usize,
    ) -> Result<std::ptr::NonNull<RingHeader>, RingError> {
        let p = seg.resolve(offset, 1).map_err(RingError::Offset)?;
        seg.resolve(offset.cast::<u8>(), len).map_err(RingError::Offset)?;
        Ok(p)
    }

    /// Writes a fresh header for `capacity` at `p` and publishes it (magic last).
    ///
    /// # Safety
    /// `p` is valid for writes of a `RingHeader` followed by `capacity` bytes, aligned, and
    /// no one else accesses that memory during the call.
    unsafe fn init_at(p: *mut RingHeader, capacity: usize) {
        // SAFETY: guaranteed by the caller. The first record's commit word (the buffer's
        // first 8 bytes) must read 0 until the producer commits there (README.md, "Commit
        // words"); the memory may hold old bytes.
        unsafe {
            p.write(RingHeader::new(capacity as u64));
            p.cast::<u8>().add(crate::spsc::layout::DATA_OFFSET).cast::<u64>().write(0);
            (*p).publish_magic();
        }
    }

    /// A producer and a consumer of a new shared-memory ring of `capacity` bytes (a power
    /// of two ≥ 64), both in this process. To use the ring from two processes, create a
    /// [`Ring`], claim one side here and attach the other there with its
    /// [`descriptor`](Ring::descriptor).
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// tx.send(b"ping").unwrap();
    /// assert_eq!(&*rx.recv().unwrap(), b"ping");
    /// ```
    pub fn channel(capacity: usize) -> Result<(Producer, Consumer), RingError> {
        let r = Ring::new(capacity)?;
        Ok((r.producer()?, r.consumer()?))
    }
}

#[cfg(not(loom))]
pub use shm::channel;
