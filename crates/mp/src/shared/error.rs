//! What can go wrong with shared arrays, in one enum.

use std::fmt;
use zeroproc_shm::{AttachError, CreateError, ParseSegmentIdError};

/// A shared array or vector operation failed. One enum for every operation of
/// [`SharedArray`](crate::SharedArray), [`SharedVec`](crate::SharedVec),
/// [`SharedCell`](crate::SharedCell) and their handles; by what the caller can do:
///
/// | Variants | When | Recovery |
/// |---|---|---|
/// | `SplitInProgress`, `Timeout` | reading, or splitting again, before every chunk of a split is finished | wait ([`wait_chunks`](crate::SharedArray::wait_chunks)) or [`abandon_chunks`](crate::SharedArray::abandon_chunks) |
/// | `ReadersActive`, `OwnerWriting` | writing while someone reads, reading while the owner writes | drop the guard, try again |
/// | `ChunkBusy`, `ChunkDone`, `ChunkStale`, `ChunkAbandoned` | a chunk handle used twice, or after its split | a bug in who got which chunk; nothing to retry |
/// | `BadChunkLen`, `TooManyChunks`, `TooLarge`, `ZeroSized`, `Full` | the arguments | pick other sizes (`TooManyChunks`: larger chunks, or [`zeroed_with_max_chunks`](crate::SharedArray::zeroed_with_max_chunks)) |
/// | `Dropped`, `Attach`, `OwnerDied` | a handle used after its array was dropped, or its owner process ended (`OwnerDied`: while it held the write guard) | keep the array alive until its jobs are done |
/// | `Create`, `NoReaderSlot` | system limits (memory, file descriptors), too many reading processes | free resources |
/// | `BadId`, `Foreign`, `TypeMismatch`, `LenMismatch` | a damaged or forged handle, or another build | a bug |
///
/// ```
/// use zeroproc_mp::shared::{SharedArray, SharedError};
/// let mut a = SharedArray::<f32>::zeroed(4).unwrap();
/// let chunks = a.chunks_mut(2).unwrap();
/// match a.as_slice() {
///     Err(SharedError::SplitInProgress { pending }) => assert_eq!(pending, 2),
///     other => panic!("{other:?}"),
/// }
/// a.abandon_chunks().unwrap(); // give up on the split: the array is readable again
/// assert!(matches!(chunks[0].write(), Err(SharedError::ChunkAbandoned)));
/// assert_eq!(a.as_slice().unwrap(), &[0.0; 4]);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SharedError {
    /// The segment could not be created (no space, bad size, I/O).
    Create(CreateError),
    /// The segment could not be attached (owner gone, wrong layout, permissions).
    Attach(AttachError),
    /// The handle's segment id does not parse.
    BadId(ParseSegmentIdError),
    /// The segment's array header is not one this build understands.
    Foreign(&'static str),
    /// The handle's element type is not the array's (or vector's); for a
    /// [`SharedCell`](crate::SharedCell), the cell holds another type.
    TypeMismatch,
    /// The handle's length is not the array's.
    LenMismatch {
        /// Length in the handle.
        handle: u64,
        /// Length in the segment.
        array: u64,
    },
    /// The requested length overflows the address space.
    TooLarge,
    /// Zero-sized element types are not supported.
    ZeroSized,
    /// `chunk_len` is 0.
    BadChunkLen,
    /// The split would have more chunks than the array's claim table holds.
    TooManyChunks {
        /// Chunks the split needs.
        chunks: usize,
        /// The array's claim table size.
        max: usize,
    },
    /// Some chunks of the current split are not finished (`pending` of them): reading the
    /// array, or starting another split, has to wait (or abandon the split).
    SplitInProgress {
        /// Chunks not yet done.
        pending: usize,
    },
    /// A process holds a read guard, so the array cannot be written now.
    ReadersActive {
        /// One of the readers.
        pid: u32,
    },
    /// The owner is writing the array through a write guard.
    OwnerWriting,
    /// The owner process ended (killed, or exited without dropping the array) while it
    /// held the array's write guard: the array stays in the owner's write mode, so no
    /// reader will ever be let in. Retrying cannot help (unlike
    /// [`OwnerWriting`](Self::OwnerWriting)).
    OwnerDied {
        /// The dead owner's pid.
        pid: u32,
    },
    /// Every reader slot is taken by a live process.
    NoReaderSlot,
    /// The chunk is being written by this live process (a duplicated handle, or a second
    /// `write` of the same chunk).
    ChunkBusy {
        /// The writer.
        pid: u32,
    },
    /// The chunk was already written and finished in this split.
    ChunkDone,
    /// The chunk handle belongs to another split than the array's current one.
    ChunkStale,
    /// The owner abandoned the chunk's split before the chunk was written.
    ChunkAbandoned,
    /// `wait_chunks` timed out with `pending` chunks unfinished.
    Timeout {
        /// Chunks not yet done.
        pending: usize,
    },
    /// The handle's array was dropped by its owner (the handle outlived it).
    Dropped,
    /// On a cluster node: the node agent, the only writer of the node's array alias table
    /// (`ship.rs`), was killed in the middle of changing an entry this lookup must read;
    /// the entry stays half-written for good, so which copy the handle names cannot be
    /// told.
    AliasWriterDied {
        /// The agent's pid.
        pid: u32,
    },
    /// A shared vector is at its reserved capacity.
    Full {
        /// The capacity.
        capacity: usize,
    },
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SharedError::*;
        match self {
            Create(e) => write!(f, "creating the array segment: {e}"),
            Attach(e) => write!(f, "attaching the shared array, vector or cell: {e}"),
            BadId(e) => write!(f, "{e}"),
            Foreign(why) => write!(f, "not a shared array of this build: {why}"),
            TypeMismatch => write!(
                f,
                "type mismatch: the handle's element type is not the array's or vector's (for \
                 a SharedCell: the cell holds another type)"
            ),
            LenMismatch { handle, array } => {
                write!(f, "handle length {handle} differs from the array's {array}")
            }
            TooLarge => write!(
                f,
                "array too large: its length times the element size overflows the address \
                 space"
            ),
            ZeroSized => write!(f, "zero-sized element types are not supported"),
            BadChunkLen => write!(f, "chunk length must be at least 1"),
            TooManyChunks { chunks, max } => write!(
                f,
                "{chunks} chunks requested, the array allows {max} (use larger chunks, or \
                 SharedArray::zeroed_with_max_chunks)"
            ),
            SplitInProgress { pending } => write!(
                f,
                "{pending} chunks are not finished in the current split: wait for them \
                 (wait_chunks) or abandon_chunks() before reading or splitting again"
            ),
            // The caller's own guard (a `handle.read()` still alive): "process N" read
            // as some other program's (num31).
            ReadersActive { pid } if *pid == std::process::id() => write!(
                f,
                "this process (pid {pid}) is reading the array: a ReadGuard from \
                 `handle.read()` is still alive here: drop the guard before the array is written"
            ),
            ReadersActive { pid } => write!(
                f,
                "process {pid} is reading the array (holds a read guard): it must drop the \
                 guard before the array is written"
            ),
            OwnerWriting => write!(
                f,
                "the owner is writing the array (holds its write guard): read after it is \
                 dropped"
            ),
            OwnerDied { pid } => write!(
                f,
                "the array's owner (process {pid}) was killed or exited while it held the \
                 array's write guard: the array will never be readable again"
            ),
            NoReaderSlot => write!(
                f,
                "all {} reader slots of the array are taken: that many live processes hold \
                 a read guard of it at once",
                super::header::READER_SLOTS
            ),
            ChunkBusy { pid } => write!(f, "chunk is being written by process {pid}"),
            ChunkDone => write!(f, "chunk already written"),
            ChunkStale => write!(f, "chunk handle belongs to an earlier split"),
            ChunkAbandoned => write!(f, "chunk's split was abandoned"),
            Timeout { pending } => write!(f, "timed out with {pending} chunks unfinished"),
            Dropped => write!(
                f,
                "the array was dropped by its owner: this handle outlived it (keep the \
                 SharedArray alive until every job using its handles has finished)"
            ),
            AliasWriterDied { pid } => write!(
                f,
                "this cluster node's agent (process {pid}) was killed while it changed the \
                 node's array alias table: which local copy an array handle names can no \
                 longer be looked up (the node's pool is gone with its agent)"
            ),
            Full { capacity } => write!(
                f,
                "shared vector full at its capacity of {capacity} elements (reserved at \
                 creation: SharedVec::with_capacity)"
            ),
        }
    }
}

impl std::error::Error for SharedError {}
