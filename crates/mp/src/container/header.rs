//! The container segment's header: identity (checked on attach), the lock, the commit
//! words, and the intent record that makes every mutation crash-consistent (the protocol
//! is in `README.md` beside this file).
//!
//! ```text
//! [segment header 256] [ContainerHeader] [heap region: tables and entry blocks]
//! ```

use std::sync::atomic::AtomicU64;
use zeroproc_shm::sync::Lock;
use zeroproc_shm::Layout;

/// "ZPCONTNR" little-endian: written last at creation.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ZPCONTNR");
/// Header format version. 3: the lock is 64 bits (owner pid and start-time stamp), in the
/// place of version 2's 32-bit lock and its padding word.
pub(crate) const VERSION: u32 = 3;
/// Layout identity of container segments (header size and alignment are mixed in).
pub(crate) const LAYOUT: Layout =
    Layout::new("zeroproc-container", VERSION).with_type::<ContainerHeader>();

/// A `SharedDict`: a hash table of key/value entries.
pub(crate) const KIND_DICT: u32 = 1;
/// A `SharedList`: a table of value entries.
pub(crate) const KIND_LIST: u32 = 2;
/// A `Namespace`: a hash table of name/value entries, each value with its own type.
pub(crate) const KIND_NAMESPACE: u32 = 3;

/// The container's shared header. Fields above `lock` are written once before the segment
/// becomes READY and only read afterwards; everything from `lock` on is changed only by the
/// lock holder (readers also hold the lock).
#[repr(C)]
pub(crate) struct ContainerHeader {
    /// [`MAGIC`] once initialised (Release; pairs with the Acquire in attach).
    pub magic: AtomicU64,
    pub version: u32,
    /// `KIND_*`.
    pub kind: u32,
    /// Type hash of the key type (dict), 0 otherwise.
    pub key_type: u64,
    /// Type hash of the value type (dict, list), 0 for a namespace.
    pub value_type: u64,
    /// Heap region offset (from the segment base) and the most the heap grows to (its
    /// current length is in the heap's own header).
    pub heap_off: u64,
    pub heap_len: u64,
    /// Set (Release) when the creator dropped its container; attachers' caches drop their
    /// mapping once they no longer use it (Acquire in the cache sweep).
    pub dropped: AtomicU64,
    /// The container's robust lock: every operation, reads included, holds it.
    pub lock: Lock,
    /// Offset of the current table block: a **commit word** (see README).
    pub table: AtomicU64,
    /// Live entries (dict, namespace): bookkeeping, recomputed on recovery.
    pub len: AtomicU64,
    /// Tombstones in the table (dict, namespace): bookkeeping, recomputed on recovery.
    pub tombs: AtomicU64,
    /// Committed mutations so far (bookkeeping, for `zeroproc top`-style observers).
    pub mutations: AtomicU64,
    /// Recoveries performed (an operation found a dead holder's or its own unfinished
    /// intent).
    pub recoveries: AtomicU64,
    /// The intent of the mutation in progress.
    pub intent: Intent,
}

/// What the lock holder is about to do, written before it does it, so that whoever takes
/// the lock next can finish or undo it. All fields 0 = nothing in progress.
#[repr(C)]
pub(crate) struct Intent {
    /// Offset (from the segment base) of the commit word; 0 = not yet recorded.
    pub commit_at: AtomicU64,
    /// The value the commit word has once the mutation took effect.
    pub commit_val: AtomicU64,
    /// Blocks allocated for the mutation: freed if it did not commit.
    pub new: [AtomicU64; 2],
    /// Blocks the mutation retires: freed once it committed.
    pub old: [AtomicU64; 2],
    /// 1: `old[0]` is a table whose entries are retired too (clear); reset to 0 once the
    /// entries are freed, before the table itself is.
    pub deep: AtomicU64,
}

/// Size of the header region (rounded so the heap starts 64-byte aligned).
pub(crate) const HEADER_REGION: usize = size_of::<ContainerHeader>().next_multiple_of(64);
