//! Errors of creating a ring and attaching to one.

use std::fmt;

/// Creating a ring failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// The capacity is not a power of two in `1..=MAX_CAPACITY`.
    BadCapacity(usize),
    /// The slot size is not in `1..=MAX_SLOT_SIZE`.
    BadSlotSize(usize),
    /// The offset is not a multiple of [`REGION_ALIGN`](super::REGION_ALIGN), or lies
    /// inside the segment header.
    BadOffset(u64),
    /// The region does not fit in the segment.
    TooSmall {
        /// Bytes the ring needs from its offset.
        needed: u64,
        /// Bytes the segment has from that offset.
        available: u64,
    },
    /// Creating the ring's own segment failed.
    Segment(zeroproc_shm::CreateError),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::BadCapacity(c) => {
                write!(f, "ring capacity {c} is not a power of two in 1..=2^32")
            }
            CreateError::BadSlotSize(s) => write!(f, "slot size {s} is not in 1..=2^24"),
            CreateError::BadOffset(o) => {
                write!(f, "ring offset {o:#x} is not 128-byte aligned past the segment header")
            }
            CreateError::TooSmall { needed, available } => {
                write!(f, "ring needs {needed} bytes, the segment has {available} from the offset")
            }
            CreateError::Segment(e) => write!(f, "creating the ring's segment: {e}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Segment(e) => Some(e),
            _ => None,
        }
    }
}

/// Attaching to a ring was refused; nothing of the region was trusted.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// Attaching the segment failed.
    Segment(zeroproc_shm::AttachError),
    /// The offset is misaligned or the control block does not fit in the segment.
    Offset(zeroproc_shm::OffsetError),
    /// No ring has been initialised at this offset (yet).
    NotInitialized,
    /// Something other than an MPMC ring is at this offset.
    BadMagic(u64),
    /// A ring of another layout version.
    Version {
        /// Version found.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The recorded capacity / slot size / stride are inconsistent.
    BadGeometry {
        /// Capacity found.
        capacity: u64,
        /// Slot size found.
        slot_size: u64,
        /// Stride found.
        stride: u64,
    },
    /// The slots run past the end of the segment.
    TooSmall {
        /// Bytes the ring needs from its offset.
        needed: u64,
        /// Bytes the segment has from that offset.
        available: u64,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Segment(e) => write!(f, "attaching the ring's segment: {e}"),
            AttachError::Offset(e) => write!(f, "ring offset: {e}"),
            AttachError::NotInitialized => f.write_str("no initialised ring at this offset"),
            AttachError::BadMagic(m) => write!(f, "not an MPMC ring (magic {m:#018x})"),
            AttachError::Version { found, expected } => {
                write!(f, "MPMC ring version {found}, this build understands {expected}")
            }
            AttachError::BadGeometry { capacity, slot_size, stride } => write!(
                f,
                "inconsistent ring geometry: capacity {capacity}, slot size {slot_size}, \
                 stride {stride}"
            ),
            AttachError::TooSmall { needed, available } => {
                write!(f, "ring needs {needed} bytes, the segment has {available} from the offset")
            }
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttachError::Segment(e) => Some(e),
            AttachError::Offset(e) => Some(e),
            _ => None,
        }
    }
}
