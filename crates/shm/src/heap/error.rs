//! The heap's error types: one per operation.

use crate::segment::GrowError;
use std::fmt;

/// Why [`Heap::init_in`](super::Heap::init_in) or [`Heap::attach`](super::Heap::attach)
/// refused a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeapError {
    /// The region does not lie inside the mapping (or overlaps the segment header).
    OutOfBounds {
        /// Region offset from the segment base.
        region: u64,
        /// Region length.
        len: u64,
        /// Length of the mapping.
        mapping_len: u64,
    },
    /// The region offset is not 64-byte aligned, or the mapping base is not 4096-byte
    /// aligned.
    Misaligned {
        /// The offending offset or address.
        at: u64,
        /// Required alignment.
        align: u64,
    },
    /// The region length is outside [`MIN_REGION_LEN`](super::MIN_REGION_LEN)..=
    /// [`MAX_REGION_LEN`](super::MAX_REGION_LEN).
    BadLength {
        /// The requested length.
        len: u64,
    },
    /// `init_in`: the region's first word is not zero (a heap is already there, or the
    /// memory is in other use).
    AlreadyInitialized,
    /// `attach`: the region's first word is zero; no heap was initialised there.
    NotInitialized,
    /// `attach`: another process is initialising the heap right now.
    NotReady,
    /// `attach`: the region holds something that is not a zeroproc heap.
    Foreign {
        /// The first word found.
        magic: u64,
    },
    /// `attach`: a heap of another layout version.
    Version {
        /// Version found in the header.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// `attach`: a header field is inconsistent (the named field).
    Corrupt(&'static str),
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapError::OutOfBounds { region, len, mapping_len } => write!(
                f,
                "heap region {region:#x}+{len} does not fit the {mapping_len}-byte mapping \
                 (after the segment header)"
            ),
            HeapError::Misaligned { at, align } => {
                write!(f, "heap region at {at:#x} is not {align}-byte aligned")
            }
            HeapError::BadLength { len } => write!(
                f,
                "heap length {len} is outside {}..={}",
                super::MIN_REGION_LEN,
                super::MAX_REGION_LEN
            ),
            HeapError::AlreadyInitialized => write!(f, "the heap region is not zeroed"),
            HeapError::NotInitialized => write!(f, "no heap was initialised in this region"),
            HeapError::NotReady => write!(f, "the heap is still being initialised"),
            HeapError::Foreign { magic } => {
                write!(f, "the region holds no zeroproc heap (first word {magic:#018x})")
            }
            HeapError::Version { found, expected } => {
                write!(f, "heap layout version {found}, this build understands {expected}")
            }
            HeapError::Corrupt(field) => write!(f, "heap header field `{field}` is inconsistent"),
        }
    }
}

impl std::error::Error for HeapError {}

/// Why [`Heap::alloc`](super::Heap::alloc) returned no block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// No free block of a fitting class and no room left to carve one.
    OutOfMemory {
        /// Requested payload size.
        requested: usize,
        /// Requested alignment.
        align: usize,
        /// Size of the block (header and alignment padding included) that was looked for.
        block_size: u64,
        /// Bytes still available to carve new blocks from.
        carve_remaining: u64,
    },
    /// A growable heap had no room and could not grow: the system refused the memory
    /// (see [`GrowError`]). Nothing was allocated; the heap is unchanged.
    GrowFailed {
        /// Bytes of the block the heap tried to grow for.
        requested: u64,
        /// Why the segment could not grow.
        error: GrowError,
    },
    /// `align` is not a power of two or exceeds [`MAX_ALIGN`](super::MAX_ALIGN).
    BadAlign {
        /// The requested alignment.
        align: usize,
    },
    /// A free list held a block whose header was overwritten (a buffer overrun by some
    /// block's owner). The block is taken out of circulation; the heap stays usable.
    Corrupt {
        /// Class whose free list held it.
        class: u32,
        /// Offset (from the segment base) of the damaged block header.
        header: u64,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::OutOfMemory { requested, align, block_size, carve_remaining } => write!(
                f,
                "shared heap out of memory: {requested} bytes aligned to {align} need a \
                 {block_size}-byte block; no free one and {carve_remaining} bytes left to carve"
            ),
            AllocError::GrowFailed { requested, error } => {
                write!(f, "shared heap full and cannot grow for a {requested}-byte block: {error}")
            }
            AllocError::BadAlign { align } => {
                write!(f, "alignment {align} is not a power of two up to {}", super::MAX_ALIGN)
            }
            AllocError::Corrupt { class, header } => {
                write!(f, "free list of class {class} holds a damaged block header at {header:#x}")
            }
        }
    }
}

impl std::error::Error for AllocError {}

/// Why [`Heap::free`](super::Heap::free) (or [`Heap::usable_size`](super::Heap::usable_size))
/// refused an offset. The heap is unchanged when this is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The offset is outside the heap's carved block area.
    OutOfRange {
        /// The offset passed in.
        offset: u64,
    },
    /// The offset is not 16-byte aligned (no payload ever is).
    Misaligned {
        /// The offset passed in.
        offset: u64,
    },
    /// No allocated block starts at this offset (garbage, or inside a block).
    NotABlock {
        /// The offset passed in.
        offset: u64,
    },
    /// The block is already free.
    DoubleFree {
        /// The offset passed in.
        offset: u64,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeError::OutOfRange { offset } => {
                write!(f, "offset {offset:#x} is outside the heap's blocks")
            }
            FreeError::Misaligned { offset } => {
                write!(f, "offset {offset:#x} is not 16-byte aligned")
            }
            FreeError::NotABlock { offset } => {
                write!(f, "no allocated block at offset {offset:#x}")
            }
            FreeError::DoubleFree { offset } => {
                write!(f, "block at offset {offset:#x} is already free")
            }
        }
    }
}

impl std::error::Error for FreeError {}

/// A violated invariant found by [`Heap::check`](super::Heap::check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// The class whose free list is broken (`None` for the header or bump pointer).
    pub class: Option<u32>,
    /// The offending offset from the segment base (a header or link), if any.
    pub offset: Option<u64>,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "heap check failed: {}", self.problem)?;
        if let Some(c) = self.class {
            write!(f, " (class {c})")?;
        }
        if let Some(o) = self.offset {
            write!(f, " at {o:#x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CheckError {}
