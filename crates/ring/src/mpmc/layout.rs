//! The ring's memory layout: a control block followed by `capacity` slots.
//!
//! ```text
//! offset 0     Control (6 × 128-byte lines: meta | tail | head | not_empty | not_full | stats)
//! CONTROL_SIZE slot 0: SlotCtl { state: u64, len: u64 } (16 B) | payload (slot_size B) | pad
//!              slot 1 at CONTROL_SIZE + stride, ...  (stride = round_up(16 + slot_size, 64))
//! ```
//!
//! Every field of shared memory that another process may write is an atomic; the payload
//! bytes are plain memory whose exclusive use is arbitrated by the slot's state word.
//!
//! A slot's state word is stored with the slot's index taken off its position (`Slot`):
//! all-zero is EMPTY for the slot's first position, so zeroed memory (a fresh segment) is
//! a ready ring and creating one writes no slot — nor faults in their pages.

use super::word::shift_seq;
use crossbeam_utils::CachePadded;
use zeroproc_shm::atomic::{AtomicU32, AtomicU64, Ordering};
use zeroproc_shm::wait::EventCount;

/// `b"ZP-MPMC\0"` as a little-endian `u64`: stored last by the creator.
pub(crate) const RING_MAGIC: u64 = u64::from_le_bytes(*b"ZP-MPMC\0");
/// Version of this layout and protocol; bump on any change to either.
pub const RING_VERSION: u32 = 2;
/// Bytes before the first payload byte of a slot (the [`SlotCtl`]).
pub(crate) const SLOT_CTL_SIZE: usize = 16;
/// Slots start on this boundary and their stride is a multiple of it.
pub(crate) const SLOT_ALIGN: usize = 64;
/// Payload sizes are rounded up to a multiple of this (payloads are 16-byte aligned).
pub const PAYLOAD_ALIGN: usize = 16;
/// Alignment the ring's region needs inside a segment (the control block's cache lines).
pub const REGION_ALIGN: usize = 128;
/// Largest capacity (slots) a ring may have.
pub const MAX_CAPACITY: usize = 1 << 32;
/// Largest payload size of a slot in bytes.
pub const MAX_SLOT_SIZE: usize = 1 << 24;

/// Read-mostly fields: written once by the creator (and `closed` once by `close`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Meta {
    /// [`RING_MAGIC`] once initialised. Release-stored last by the creator; Acquire-loaded
    /// on attach, which makes every other initialised field visible.
    pub(crate) magic: AtomicU64,
    /// [`RING_VERSION`].
    pub(crate) version: AtomicU32,
    /// 0 while open, 1 once closed (see README, "close").
    pub(crate) closed: AtomicU32,
    /// Number of slots (a power of two).
    pub(crate) capacity: AtomicU64,
    /// Payload bytes per slot (a multiple of [`PAYLOAD_ALIGN`]).
    pub(crate) slot_size: AtomicU64,
    /// Bytes from one slot to the next.
    pub(crate) stride: AtomicU64,
}

/// Recovery and corruption counters (diagnostics; Relaxed).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct StatWords {
    pub(crate) dead_writers: AtomicU64,
    pub(crate) dead_readers: AtomicU64,
    pub(crate) tombstones_skipped: AtomicU64,
    pub(crate) corrupt_slots: AtomicU64,
}

/// The control block at the start of the ring's region.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) meta: CachePadded<Meta>,
    /// Hint: every position below it has been claimed by a producer.
    pub(crate) tail: CachePadded<AtomicU64>,
    /// Hint: every position below it has been claimed by a consumer.
    pub(crate) head: CachePadded<AtomicU64>,
    /// Notified after a slot becomes FULL (consumers sleep here).
    pub(crate) not_empty: CachePadded<EventCount>,
    /// Notified after a slot becomes EMPTY (producers sleep here).
    pub(crate) not_full: CachePadded<EventCount>,
    pub(crate) stats: CachePadded<StatWords>,
}

/// Bytes of the control block, rounded to the slot alignment.
pub(crate) const CONTROL_SIZE: usize = round_up(std::mem::size_of::<Control>(), REGION_ALIGN);

const _: () = assert!(std::mem::align_of::<Control>() <= REGION_ALIGN);
const _: () = assert!(CONTROL_SIZE % SLOT_ALIGN == 0);

impl Control {
    /// A control block for `geo`, not yet marked initialised (`magic` = 0).
    pub(crate) fn new(geo: Geometry) -> Self {
        Control {
            meta: CachePadded::new(Meta {
                magic: AtomicU64::new(0),
                version: AtomicU32::new(RING_VERSION),
                closed: AtomicU32::new(0),
                capacity: AtomicU64::new(geo.capacity as u64),
                slot_size: AtomicU64::new(geo.slot_size as u64),
                stride: AtomicU64::new(geo.stride as u64),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(EventCount::new()),
            not_full: CachePadded::new(EventCount::new()),
            stats: CachePadded::new(StatWords {
                dead_writers: AtomicU64::new(0),
                dead_readers: AtomicU64::new(0),
                tombstones_skipped: AtomicU64::new(0),
                corrupt_slots: AtomicU64::new(0),
            }),
        }
    }

    /// Marks the ring initialised. Everything written before becomes visible to attachers.
    pub(crate) fn publish(&self) {
        // Release: pairs with the Acquire load in `attach` (validate).
        self.meta.magic.store(RING_MAGIC, Ordering::Release);
    }
}

/// A slot's control words; the payload follows at `+SLOT_CTL_SIZE`.
#[repr(C, align(16))]
#[derive(Debug)]
pub(crate) struct SlotCtl {
    /// The state word (see `word.rs`).
    pub(crate) state: AtomicU64,
    /// Payload length of a FULL slot. Written by the producer holding the WRITING claim
    /// (Relaxed, published by its Release store of FULL); read by the consumer holding
    /// the READING claim (Relaxed, after its Acquire claim).
    pub(crate) len: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<SlotCtl>() == SLOT_CTL_SIZE);

impl SlotCtl {
    /// A slot in its initial state, EMPTY for its first position: all zero.
    pub(crate) fn empty() -> Self {
        SlotCtl { state: AtomicU64::new(0), len: AtomicU64::new(0) }
    }
}

/// The slot of one position, through which its state word is read and written: the word
/// holds `seq − index` (mod 2^40) where the protocol (`word.rs`) speaks of `seq`, so the
/// protocol's words are the same as before and a zero word reads as EMPTY for position
/// `index`. The shift is a bijection applied to both sides of every load, store and CAS,
/// so it changes no ordering and no outcome.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    ctl: &'a SlotCtl,
    index: u64,
}

impl<'a> Slot<'a> {
    /// The slot `ctl`, which is slot number `index` of its ring.
    #[inline]
    pub(crate) fn new(ctl: &'a SlotCtl, index: u64) -> Self {
        Slot { ctl, index }
    }

    /// How state word `w` is stored in this slot's memory.
    #[inline]
    pub(crate) fn in_memory(self, w: u64) -> u64 {
        shift_seq(w, self.index.wrapping_neg())
    }

    #[inline]
    fn read(self, stored: u64) -> u64 {
        shift_seq(stored, self.index)
    }

    /// The state word.
    #[inline]
    pub(crate) fn load(self, order: Ordering) -> u64 {
        self.read(self.ctl.state.load(order))
    }

    /// Stores state word `w`.
    #[inline]
    pub(crate) fn store(self, w: u64, order: Ordering) {
        self.ctl.state.store(self.in_memory(w), order)
    }

    /// Compare-and-exchange of the state word, as `AtomicU64::compare_exchange`.
    #[inline]
    pub(crate) fn compare_exchange(
        self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.ctl
            .state
            .compare_exchange(self.in_memory(current), self.in_memory(new), success, failure)
            .map(|w| self.read(w))
            .map_err(|w| self.read(w))
    }

    /// The length word.
    #[inline]
    pub(crate) fn len(self) -> &'a AtomicU64 {
        &self.ctl.len
    }

    /// The slot's control words themselves (its address, for the stuck watch and tools).
    #[inline]
    pub(crate) fn ctl(self) -> &'a SlotCtl {
        self.ctl
    }
}

/// The validated shape of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) capacity: usize,
    pub(crate) slot_size: usize,
    pub(crate) stride: usize,
}

/// Why a capacity / slot size pair is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeometryError {
    Capacity(usize),
    SlotSize(usize),
}

impl Geometry {
    /// The geometry for `capacity` slots of at least `slot_size` payload bytes.
    pub(crate) fn new(capacity: usize, slot_size: usize) -> Result<Self, GeometryError> {
        if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(GeometryError::Capacity(capacity));
        }
        if slot_size == 0 || slot_size > MAX_SLOT_SIZE {
            return Err(GeometryError::SlotSize(slot_size));
        }
        let slot_size = round_up(slot_size, PAYLOAD_ALIGN);
        let stride = round_up(SLOT_CTL_SIZE + slot_size, SLOT_ALIGN);
        Ok(Geometry { capacity, slot_size, stride })
    }

    /// Total bytes of the region: control block plus slots (cannot overflow: both factors
    /// are bounded, the product is below 2^57).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn region_size(&self) -> usize {
        CONTROL_SIZE + self.capacity * self.stride
    }
}

/// `n` rounded up to a multiple of `a` (a power of two).
pub(crate) const fn round_up(n: usize, a: usize) -> usize {
    (n + a - 1) & !(a - 1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The stored form of a slot's word, for slot indices up to the largest capacity and
    /// positions on both sides of the 40-bit wrap: a bijection (every word reads back as
    /// written, through stores and CAS), zero memory is EMPTY for the slot's first
    /// position, and the protocol classifies what it reads as it would the plain word.
    #[test]
    fn slot_words_are_stored_relative_to_the_index_at_every_index_and_wrap() {
        use super::super::word::{classify, pack, State, View, SEQ_MASK, TOMBSTONE};
        let cap = MAX_CAPACITY as u64;
        let indices = [0u64, 1, 2, 63, 1 << 20, (1 << 31) + 5, cap - 2, cap - 1];
        let laps = [0u64, 1, 255, (SEQ_MASK >> 32) - 1, SEQ_MASK >> 32];
        for &index in &indices {
            let ctl = SlotCtl::empty();
            let slot = Slot::new(&ctl, index);
            let zero = slot.load(Ordering::Relaxed);
            assert_eq!(zero, pack(index, State::Empty, 0), "zero memory at index {index}");
            assert_eq!(classify(zero, index, cap), View::Here(State::Empty, 0));
            for &lap in &laps {
                // Position `index + lap * cap` (mod 2^40): the slot's lap-th use.
                let pos = index.wrapping_add(lap.wrapping_mul(cap));
                for (st, aux) in [
                    (State::Empty, 0),
                    (State::Writing, 4_194_303),
                    (State::Full, TOMBSTONE),
                    (State::Reading, 7),
                ] {
                    let w = pack(pos, st, aux);
                    slot.store(w, Ordering::Relaxed);
                    assert_eq!(slot.load(Ordering::Relaxed), w, "index {index} lap {lap}");
                    assert_eq!(
                        classify(slot.load(Ordering::Relaxed), pos, cap),
                        View::Here(st, aux)
                    );
                    let next = pack(pos.wrapping_add(cap), State::Empty, 0);
                    assert_eq!(
                        slot.compare_exchange(w, next, Ordering::Relaxed, Ordering::Relaxed),
                        Ok(w)
                    );
                    assert_eq!(classify(slot.load(Ordering::Relaxed), pos, cap), View::Ahead);
                    assert_eq!(
                        slot.compare_exchange(w, next, Ordering::Relaxed, Ordering::Relaxed),
                        Err(next),
                        "a failed CAS reports the word as the protocol wrote it"
                    );
                }
            }
        }
    }

    #[test]
    fn geometry_rounds_and_validates() {
        let g = Geometry::new(8, 50).unwrap();
        assert_eq!(g.slot_size, 64);
        assert_eq!(g.stride, 128);
        assert_eq!(Geometry::new(1, 48).unwrap().stride, 64);
        assert_eq!(Geometry::new(3, 64), Err(GeometryError::Capacity(3)));
        assert_eq!(Geometry::new(0, 64), Err(GeometryError::Capacity(0)));
        assert_eq!(Geometry::new(4, 0), Err(GeometryError::SlotSize(0)));
        assert_eq!(
            Geometry::new(4, MAX_SLOT_SIZE + 1),
            Err(GeometryError::SlotSize(MAX_SLOT_SIZE + 1))
        );
        assert_eq!(g.region_size(), CONTROL_SIZE + 8 * 128);
    }

    #[test]
    fn control_block_is_cache_line_separated() {
        assert_eq!(CONTROL_SIZE % 128, 0);
        assert!(std::mem::offset_of!(Control, head) - std::mem::offset_of!(Control, tail) >= 64);
    }
}
