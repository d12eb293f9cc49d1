//! [`Overflow`] implementations: none, and a shared heap taken as it is.

use super::Overflow;
use crate::envelope::Encode;
use crate::spill::{spill, SpillError, SpilledBlock};
use std::fmt;
use zeroproc_shm::heap::Heap;

/// No heap: a value larger than the largest record is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOverflow;

/// [`NoOverflow`]'s refusal: the envelope needs `need` bytes, more than any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unspillable {
    /// A lower bound on the envelope's size.
    pub need: usize,
}

impl fmt::Display for Unspillable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the value needs {} bytes, more than the largest record, and there is no heap to spill it to", self.need)
    }
}

impl std::error::Error for Unspillable {}

impl Overflow for NoOverflow {
    type Error = Unspillable;

    fn spill<T: Encode>(&mut self, _: &T, need: usize) -> Result<SpilledBlock, Unspillable> {
        Err(Unspillable { need })
    }

    fn give_back(&mut self, _: SpilledBlock) {
        unreachable!("NoOverflow never hands out a block")
    }
}

/// A shared heap, without waiting: a full heap is an error at once.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-heap-overflow", 1), 4 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 4 << 20).unwrap();
/// use zeroproc_codec::envelope::Header;
/// use zeroproc_codec::payload::decode_any;
/// use zeroproc_codec::send::{send, HeapOverflow, Publish, Ring, Sent, Wait};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// let big = vec![1u32; 100_000];
/// let mut ring = Ring::new(&mut tx, Wait::Never, Publish::Commit);
/// let sent = send(&mut ring, &mut HeapOverflow(&heap), Header::new(1, 0), &big).unwrap();
/// assert!(matches!(sent, Sent::Spilled(_)));
/// let rec = rx.try_recv().unwrap();
/// let (_, v) = decode_any::<Vec<u32>>(&rec, &heap).unwrap();
/// assert_eq!(v.len(), 100_000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HeapOverflow<'h, 'a>(pub &'h Heap<'a>);

impl Overflow for HeapOverflow<'_, '_> {
    type Error = SpillError;

    fn spill<T: Encode>(&mut self, value: &T, need: usize) -> Result<SpilledBlock, SpillError> {
        spill(self.0, value, need)
    }

    fn give_back(&mut self, block: SpilledBlock) {
        // A block this sender allocated a moment ago: freeing fails only on a corrupt heap,
        // which the next allocation reports.
        let _ = block.free(self.0);
    }
}
