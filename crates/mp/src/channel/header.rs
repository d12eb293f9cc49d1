//! The channel header at the start of a channel segment's data region: what the segment
//! holds (kind, message type, where the rings and the spill heap are) and the few shared
//! words that are not part of a ring (owner gone, JoinableQueue's task count, heap space).

use crate::channel::holds::Holds;
use std::sync::atomic::{AtomicU32, AtomicU64};
use zeroproc_shm::wait::EventCount;
use zeroproc_shm::Layout;

/// `b"ZPCHAN01"`: Release-stored last by the creator, once the rings and the heap exist.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ZPCHAN01");
/// Version of the header and of the record formats carried in the rings. 4: the holds
/// table's protocol (producer intents, consumers' owner tokens in claim words; see
/// `holds.rs`), which builds of version 3 would misread. Still 4 after the takers table
/// and the free count were added in the padding of the task and heap-space lines
/// (2026-12-06): a build without them leaves them 0, which costs only their diagnostics
/// (no join note; the stuck rule without its restart on frees), never a misread. 5: the
/// takers table's words carry the taker's start time (`pid | start | count`, was
/// `pid << 32 | count`), which a build of version 4 would misread (2026-12-07).
pub(crate) const VERSION: u32 = 5;
/// Segment layout of every channel segment.
pub(crate) const LAYOUT: Layout =
    Layout::new("zeroproc-channel", VERSION).with_type::<ChannelHeader>();

/// A [`Queue`](crate::Queue): one MPMC ring.
pub(crate) const KIND_QUEUE: u32 = 1;
/// A [`JoinableQueue`](crate::JoinableQueue): one MPMC ring plus the task count.
pub(crate) const KIND_JOINABLE: u32 = 2;
/// A duplex pipe: ring 0 carries A → B, ring 1 carries B → A.
pub(crate) const KIND_DUPLEX: u32 = 3;
/// A one-way pipe: ring 0 carries sender → receiver.
pub(crate) const KIND_ONEWAY: u32 = 4;

/// Written once by the creator before [`MAGIC`] is published, then only read (and
/// validated into a local [`Geometry`](crate::channel::mapping::Geometry) on attach).
#[repr(C, align(128))]
pub(crate) struct Meta {
    /// [`MAGIC`] once initialised (0 before).
    pub magic: AtomicU64,
    pub version: u32,
    pub kind: u32,
    /// Hash of the message type's name and archived shape.
    pub type_hash: u64,
    /// Offsets of the rings from the segment base (0: absent).
    pub ring_off: [u64; 2],
    /// MPMC: slots; SPSC: buffer bytes.
    pub ring_cap: u64,
    /// MPMC: payload bytes per slot (0 for pipes).
    pub slot_size: u64,
    /// Offset and initial length of the spill heap (length 0: no heap).
    pub heap_off: u64,
    pub heap_len: u64,
    /// The most the spill heap may grow to (its mapping; `heap_len` for a fixed heap).
    pub heap_max: u64,
    pub owner_pid: u64,
}

/// One 128-byte line of its own (x86 prefetches line pairs).
#[repr(C, align(128))]
pub(crate) struct Line<T>(pub T);

/// JoinableQueue's shared task accounting.
#[repr(C)]
pub(crate) struct Tasks {
    /// Values put and not yet `task_done`.
    pub unfinished: AtomicU64,
    /// Notified (all) when `unfinished` reaches 0; `join` sleeps here.
    pub all_done: EventCount,
    /// Which processes took values and have not reported them done (pid, low bits of its
    /// start time, count; 0: free; `queue/joinable/takers.rs`): lets a long `join` say
    /// that a process that took tasks has died without reporting them.
    pub taken: [AtomicU64; crate::queue::joinable::takers::TAKERS],
}

/// Producers waiting for room in the spill heap.
#[repr(C)]
pub(crate) struct HeapSpace {
    /// Notified after a spilled block is freed; waiting producers sleep here.
    pub ev: EventCount,
    /// Spilled blocks freed so far (wrapping; bumped before every notify of `ev`): a
    /// waiting producer that saw no free for a while knows nothing was in flight that
    /// it could not see (`heap_wait.rs`).
    pub frees: AtomicU64,
}

/// The whole header (five lines and the holds table).
#[repr(C)]
pub(crate) struct ChannelHeader {
    pub meta: Meta,
    /// 1 once every handle of the creating process is gone: other processes may unmap
    /// their cached copies when they no longer use them (see `cache.rs`).
    pub owner_dropped: Line<AtomicU64>,
    pub tasks: Line<Tasks>,
    /// Notified after a spilled block is freed: producers waiting for heap space sleep here.
    pub heap_space: Line<HeapSpace>,
    /// Pipes: pid of the process that claimed each ring side, `[2 * ring + 0]` producer,
    /// `[2 * ring + 1]` consumer (0: never claimed). A hint for liveness checks by a
    /// sender waiting for heap space (the rings keep their own claim words).
    pub sides: Line<[AtomicU32; 4]>,
    /// Queues: which consumer holds which spilled heap block (`holds.rs`), so that the
    /// block of one killed while holding it is reclaimed.
    pub holds: Holds,
}

const _: () = assert!(std::mem::size_of::<ChannelHeader>() == 640 + 768);

/// A stable hash of `T`'s name and its archived form's size and alignment: a handle of
/// one message type cannot attach to a channel of another.
pub(crate) fn type_hash<T: rkyv::Archive + 'static>() -> u64 {
    Layout::new(std::any::type_name::<T>(), VERSION).with_type::<T::Archived>().hash
}
