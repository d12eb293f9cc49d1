//! A printable address of a ring: the segment id plus the ring's offset in it.

use super::error::RingError;
use super::view::{Backing, RingView};
use std::fmt;
use std::str::FromStr;
use zeroproc_shm::{ParseSegmentIdError, SegmentId};

/// Where a ring lives: pass it to another process (argv, env, a job argument) and attach
/// there with [`Ring::open`](super::Ring::open).
///
/// Text form: `<segment id>@<offset in hex>`, e.g. `memfd:42:7:00ff@0x100`.
///
/// # Example
/// ```
/// use zeroproc_ring::spsc::{Ring, Descriptor};
/// let ring = Ring::new(4096).unwrap();
/// let text = ring.descriptor().unwrap().to_string(); // e.g. put it in argv
/// let d: Descriptor = text.parse().unwrap();
/// let again = Ring::open(&d).unwrap(); // from any process of this user
/// assert_eq!(again.capacity(), 4096);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Descriptor {
    /// The segment holding the ring.
    pub segment: SegmentId,
    /// Byte offset of the ring header from the segment's base.
    pub offset: u64,
}

impl fmt::Display for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:#x}", self.segment, self.offset)
    }
}

impl FromStr for Descriptor {
    type Err = ParseSegmentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseSegmentIdError(s.to_owned());
        let (seg, off) = s.rsplit_once('@').ok_or_else(bad)?;
        let off = off.strip_prefix("0x").ok_or_else(bad)?;
        let offset = u64::from_str_radix(off, 16).map_err(|_| bad())?;
        Ok(Self { segment: seg.parse()?, offset })
    }
}

/// The descriptor of a segment-backed view.
pub(crate) fn of_view(v: &RingView) -> Option<Descriptor> {
    match v.backing() {
        Backing::Segment(seg) => {
            let offset = seg.offset_of(v.header_ptr())?.get();
            Some(Descriptor { segment: seg.id().clone(), offset })
        }
        Backing::Heap(_) => None,
    }
}

impl From<zeroproc_shm::AttachError> for RingError {
    fn from(e: zeroproc_shm::AttachError) -> Self {
        RingError::Attach(e)
    }
}
