//! The shared ring header and the size/alignment of a ring region.
//!
//! ```text
//! region offset   field (each group on its own cache line, CachePadded = 128 B on x86-64)
//! 0               meta: magic u64, capacity u64, version u32,
//!                       producer_pid u32, consumer_pid u32,
//!                       producer_closed u32, consumer_closed u32   (read-mostly)
//! 128             tail: u64   written by the producer only
//! 256             head: u64   written by the consumer only
//! 384             not_empty: EventCount   consumer sleeps here, producer notifies
//! 512             not_full:  EventCount   producer sleeps here, consumer notifies
//! 640             data[capacity]          records (see record.rs)
//! ```

use super::error::RingError;
use super::record::RECORD_HEADER;
use crossbeam_utils::CachePadded;
use zeroproc_shm::atomic::{AtomicU32, AtomicU64, Ordering};
use zeroproc_shm::wait::EventCount;

/// `b"ZPSPSC\0\x01"` as a little-endian u64: the first word of an initialised ring.
pub const RING_MAGIC: u64 = u64::from_le_bytes(*b"ZPSPSC\0\x01");
/// Version of the ring header, record format and protocol; bump on any change (2: records
/// are committed by their header's first word, not by the tail; README.md).
pub const RING_VERSION: u32 = 2;
/// Smallest capacity (bytes of record buffer).
pub const MIN_CAPACITY: usize = 64;
/// Largest capacity (the 32-bit record length bounds the payload to 2 GiB - 16).
pub const MAX_CAPACITY: usize = 1 << 32;

/// The read-mostly part of the header: identity, claims and close flags.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Meta {
    /// [`RING_MAGIC`] once initialised (Release-stored last by the creator).
    pub(crate) magic: AtomicU64,
    /// Buffer capacity in bytes (power of two).
    pub(crate) capacity: AtomicU64,
    /// [`RING_VERSION`].
    pub(crate) version: AtomicU32,
    /// Pid of the process holding the producer side (0 = unclaimed).
    pub(crate) producer_pid: AtomicU32,
    /// Pid of the process holding the consumer side (0 = unclaimed).
    pub(crate) consumer_pid: AtomicU32,
    /// 1 once the producer handle was dropped.
    pub(crate) producer_closed: AtomicU32,
    /// 1 once the consumer handle was dropped.
    pub(crate) consumer_closed: AtomicU32,
}

/// The shared header at the start of a ring region (`#[repr(C)]`, lives in shared memory).
///
/// Only its size and alignment are public: [`RingLayout`] places it, the handles use it.
#[repr(C)]
#[derive(Debug)]
pub struct RingHeader {
    pub(crate) meta: CachePadded<Meta>,
    /// Producer position: bytes ever published (monotonic, multiple of 16).
    pub(crate) tail: CachePadded<AtomicU64>,
    /// Consumer position: bytes ever released (monotonic, multiple of 16).
    pub(crate) head: CachePadded<AtomicU64>,
    /// Notified by the producer after publishing; the consumer sleeps on it.
    pub(crate) not_empty: CachePadded<EventCount>,
    /// Notified by the consumer after releasing; the producer sleeps on it.
    pub(crate) not_full: CachePadded<EventCount>,
}

/// Byte offset of the record buffer from the start of a ring region.
pub const DATA_OFFSET: usize = std::mem::size_of::<RingHeader>();

const _: () = assert!(DATA_OFFSET % RECORD_HEADER == 0);
const _: () = assert!(MIN_CAPACITY >= 4 * RECORD_HEADER);

impl RingHeader {
    /// A header for an empty ring of `capacity` bytes, magic still 0 (`publish_magic`
    /// sets it once the header is in place).
    pub(crate) fn new(capacity: u64) -> Self {
        RingHeader {
            meta: CachePadded::new(Meta {
                magic: AtomicU64::new(0),
                capacity: AtomicU64::new(capacity),
                version: AtomicU32::new(RING_VERSION),
                producer_pid: AtomicU32::new(0),
                consumer_pid: AtomicU32::new(0),
                producer_closed: AtomicU32::new(0),
                consumer_closed: AtomicU32::new(0),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(EventCount::new()),
            not_full: CachePadded::new(EventCount::new()),
        }
    }

    /// Marks the header initialised.
    pub(crate) fn publish_magic(&self) {
        // Release: pairs with the Acquire load in `validate`; every field written by `new`
        // (and the `ptr::write` that placed it) happens-before an attacher's reads.
        self.meta.magic.store(RING_MAGIC, Ordering::Release);
    }

    /// Checks an attached header and returns its capacity. `region_len` is how many bytes
    /// the region has from the header's start (its end is the segment's end).
    #[cfg(not(loom))]
    pub(crate) fn validate(&self, region_len: usize) -> Result<u64, RingError> {
        // Acquire: pairs with the Release in `publish_magic`.
        if self.meta.magic.load(Ordering::Acquire) != RING_MAGIC {
            return Err(RingError::NotARing);
        }
        // Relaxed (these two and below): written before the magic's Release, which our
        // Acquire above synchronised with; never written again.
        let version = self.meta.version.load(Ordering::Relaxed);
        if version != RING_VERSION {
            return Err(RingError::Version { found: version, expected: RING_VERSION });
        }
        let cap = self.meta.capacity.load(Ordering::Relaxed);
        if RingLayout::new(cap.min(usize::MAX as u64) as usize).is_err() {
            return Err(RingError::BadHeader("capacity is not a valid power of two"));
        }
        if (region_len as u64) < DATA_OFFSET as u64 + cap {
            return Err(RingError::BadHeader("capacity runs past the end of the segment"));
        }
        Ok(cap)
    }
}

/// Size and alignment of the shared-memory region of a ring with a given capacity.
///
/// # Example
/// ```
/// use zeroproc_ring::spsc::{RingLayout, DATA_OFFSET};
/// let l = RingLayout::new(4096).unwrap();
/// assert_eq!(l.size(), DATA_OFFSET + 4096);
/// assert_eq!(l.max_payload(), 2048 - 16);
/// assert!(RingLayout::new(1000).is_err()); // not a power of two
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    capacity: usize,
}

impl RingLayout {
    /// The layout of a ring with a `capacity`-byte record buffer (a power of two in
    /// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`]).
    pub const fn new(capacity: usize) -> Result<Self, RingError> {
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY {
            return Err(RingError::Capacity(capacity));
        }
        Ok(Self { capacity })
    }

    /// Record buffer bytes.
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes the whole region needs (header + buffer).
    pub const fn size(&self) -> usize {
        DATA_OFFSET + self.capacity
    }

    /// Alignment the region's start needs.
    pub const fn align(&self) -> usize {
        std::mem::align_of::<RingHeader>()
    }

    /// Largest payload a record may carry: a record (header included) is at most half the
    /// capacity, so one always fits in an empty ring even after a pad.
    pub const fn max_payload(&self) -> usize {
        self.capacity / 2 - RECORD_HEADER
    }
}

/// Bytes of shared memory a ring of `capacity` needs (shorthand for
/// [`RingLayout::new`]`(capacity)?.size()`).
///
/// # Example
/// ```
/// assert!(zeroproc_ring::spsc::size_for(1 << 16).unwrap() > 1 << 16);
/// ```
pub fn size_for(capacity: usize) -> Result<usize, RingError> {
    Ok(RingLayout::new(capacity)?.size())
}

/// The segment [`Layout`](zeroproc_shm::Layout) of a segment holding one ring at offset 0
/// of its data region (what [`Ring::new`](super::Ring::new) makes).
#[cfg(not(loom))]
pub const SEGMENT_LAYOUT: zeroproc_shm::Layout =
    zeroproc_shm::Layout::new("zeroproc-spsc", RING_VERSION).with_type::<RingHeader>();
