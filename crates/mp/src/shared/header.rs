//! The array header at the start of the segment's data region, and the two packed words
//! of the protocol: the split state and the per-chunk claim (see `README.md`).

use std::sync::atomic::AtomicU64;
use zeroproc_shm::Layout;

/// `b"ZPARRAY1"`.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ZPARRAY1");
/// Version of the header and protocol (3: the `writes` word; 4: reader leases carry the
/// reader's start time, `crate::proc_word`, which a build of version 3 would misread;
/// 5: 1,024 reader slots).
pub(crate) const VERSION: u32 = 5;
/// Reader lease slots: processes reading at once (each holds one while it has a read
/// guard). 64 before version 5: a pool of 80 workers (a 96- or 128-core node's
/// `Pool::new()`, or an oversubscribed one) reading one input in a zip kernel failed 16
/// chunks with `NoReaderSlot` (num31). 8 KiB per array; a reader takes the first free
/// slot from a start spread by pid (`readers.rs`), the owner scans them all when it
/// splits or writes. Measured (5 alternated runs each, 2 vCPUs, load 3.7–6.6, p50s):
/// creating a fresh 100-element array 22.3 → 26.9 µs (two more pages to map), an
/// in-place call of 16 chunks 27.0 → 27.7 µs (runs spread 25–28), `read()` 0.12 → 0.11 µs.
pub(crate) const READER_SLOTS: usize = 1024;
/// Segment layout of every shared array and vector.
pub(crate) const LAYOUT: Layout =
    Layout::new("zeroproc-shared-array", VERSION).with_type::<ArrayHeader>();

/// `kind` of a [`SharedArray`](super::SharedArray).
pub(crate) const KIND_ARRAY: u32 = 1;
/// `kind` of a [`SharedVec`](super::SharedVec).
pub(crate) const KIND_VEC: u32 = 2;

/// The shared header. Plain fields are written once by the creator before the segment is
/// published (its READY Release store) and only read afterwards, and then only to be
/// validated into a local [`Geometry`](super::mapping::Geometry); the atomics carry the
/// protocol.
#[repr(C, align(64))]
pub(crate) struct ArrayHeader {
    pub magic: u64,
    pub version: u32,
    pub kind: u32,
    pub elem_size: u64,
    pub elem_align: u64,
    pub type_hash: u64,
    /// Elements reserved (the array's length; a vector's capacity).
    pub capacity: u64,
    /// Entries of the claim table.
    pub max_chunks: u64,
    /// Claim table offset from the segment base.
    pub claims_off: u64,
    /// Element 0's offset from the segment base.
    pub data_off: u64,
    pub owner_pid: u64,
    _pad: [u64; 5],
    /// Published length: a vector's, Release-stored by the owner after the elements.
    pub len: AtomicU64,
    /// The split [`State`] word.
    pub state: AtomicU64,
    /// Elements per chunk of the current split (published by the claim words' Release).
    pub chunk_len: AtomicU64,
    /// 1 once the owner dropped the array (other processes may unmap their copies).
    pub dropped: AtomicU64,
    /// Which array the segment holds: bumped each time the segment of a dropped array is
    /// kept for the next array of the same shape (`recycle.rs`). A handle carries the
    /// generation it was made for and is refused once it differs.
    pub generation: AtomicU64,
    /// Bumped (SeqCst) before the elements may change in place: when the owner enters its
    /// write mode (`begin_owner_write`, also a drop that keeps the segment) and when a
    /// split opens. With `generation` it versions the elements for copies on other nodes
    /// (`ship.rs`): a copy of version (g, w) holds what the array held once it was
    /// readable with these words.
    pub writes: AtomicU64,
    _pad2: [u64; 10],
    /// Reader leases: pid, start time, count (`crate::proc_word`); count 0 = free.
    pub readers: [AtomicU64; READER_SLOTS],
}

const _: () = assert!(std::mem::size_of::<ArrayHeader>() == 256 + 8 * READER_SLOTS);

impl ArrayHeader {
    /// A header for a new array; the atomics start at zero (state: epoch 0, idle).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        kind: u32,
        elem_size: usize,
        elem_align: usize,
        type_hash: u64,
        capacity: usize,
        max_chunks: usize,
        claims_off: usize,
        data_off: usize,
    ) -> Self {
        Self {
            magic: MAGIC,
            version: VERSION,
            kind,
            elem_size: elem_size as u64,
            elem_align: elem_align as u64,
            type_hash,
            capacity: capacity as u64,
            max_chunks: max_chunks as u64,
            claims_off: claims_off as u64,
            data_off: data_off as u64,
            owner_pid: zeroproc_shm::process::current_pid() as u64,
            _pad: [0; 5],
            len: AtomicU64::new(if kind == KIND_ARRAY { capacity as u64 } else { 0 }),
            state: AtomicU64::new(0),
            chunk_len: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            _pad2: [0; 10],
            readers: [const { AtomicU64::new(0) }; READER_SLOTS],
        }
    }
}

/// Who may touch the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Readers may lease; nobody writes.
    Idle,
    /// A split is open: chunk writers may claim; readers are refused until every chunk is
    /// terminal.
    Split,
    /// The owner writes through a write guard; readers are refused.
    Owner,
}

/// The split state word: `epoch:32 | mode:2 | chunks:30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub epoch: u32,
    pub mode: Mode,
    pub chunks: u32,
}

/// The largest number of chunks a split may have (30 bits).
pub(crate) const MAX_CHUNKS: usize = (1 << 30) - 1;

impl State {
    pub(crate) fn pack(self) -> u64 {
        let m = match self.mode {
            Mode::Idle => 0u64,
            Mode::Split => 1,
            Mode::Owner => 2,
        };
        (self.epoch as u64) << 32 | m << 30 | (self.chunks as u64 & MAX_CHUNKS as u64)
    }

    pub(crate) fn unpack(w: u64) -> Self {
        let mode = match (w >> 30) & 3 {
            0 => Mode::Idle,
            1 => Mode::Split,
            _ => Mode::Owner,
        };
        State { epoch: (w >> 32) as u32, mode, chunks: (w & MAX_CHUNKS as u64) as u32 }
    }
}

/// The low half of a claim word: free.
pub(crate) const FREE: u32 = 0;
/// The low half of a claim word: written and finished (terminal).
pub(crate) const DONE: u32 = u32::MAX;
/// The low half of a claim word: closed unwritten by an abandon (terminal). Also the
/// state of every word before the first split.
pub(crate) const CLOSED: u32 = u32::MAX - 1;

/// A claim word: `epoch:32 | FREE / DONE / CLOSED / writer pid`.
pub(crate) fn claim_word(epoch: u32, low: u32) -> u64 {
    (epoch as u64) << 32 | low as u64
}

/// The (epoch, low half) of a claim word.
pub(crate) fn claim_parts(w: u64) -> (u32, u32) {
    ((w >> 32) as u32, w as u32)
}

/// Whether a claim word's low half is terminal for its epoch.
pub(crate) fn is_terminal(low: u32) -> bool {
    low == DONE || low == CLOSED
}

/// A hash of `T`'s name, size and alignment (FNV-1a): the same in every process of one
/// build, and different for different element types with overwhelming probability.
pub(crate) fn type_hash<T: 'static>() -> u64 {
    let l = Layout::new(std::any::type_name::<T>(), 0).with_type::<T>();
    l.hash
}
