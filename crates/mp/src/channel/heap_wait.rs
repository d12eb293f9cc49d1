//! Spilling a value into a channel's heap, waiting for room when the heap is full: the
//! one place both the queue and the pipes get a heap block.
//!
//! Consumers free spilled blocks and then notify the header's `heap_space` event count
//! ([`Mapping::heap_freed`]); a producer that found the heap full sleeps there. It never
//! spins: every attempt serializes the value again.

use crate::channel::holds;
use crate::channel::mapping::Mapping;
use crate::channel::message::Wait;
use rkyv::rancor;
use zeroproc_codec::envelope::Encode;
use zeroproc_codec::spill::{
    spill_bytes, spill_recorded, Record, SpillError, SpilledBlock, BLOCK_PREFIX,
};
use zeroproc_shm::heap::{AllocError, Heap};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{block_on, BlockError, Poll};

/// Why no block was obtained.
pub(crate) enum SpillFail {
    /// The heap stayed full until the deadline (or, with `Wait::Never`, is full now).
    Timeout,
    /// `closed()` became true while waiting.
    Closed,
    /// The value can never fit this heap (or there is no heap).
    TooLarge,
    /// The value could not be serialized.
    Serialize(rancor::Error),
}

/// What to put in the block.
pub(crate) enum Content<'v, T> {
    /// The archive of a value; `first` is the size of the first block tried.
    Value { value: &'v T, first: usize },
    /// Raw bytes.
    Bytes(&'v [u8]),
}

/// A heap block holding `content`, waiting per `wait` while the heap is full; `closed`
/// (the receivers are gone: nobody will free a block) is checked before every attempt.
/// `track` is told which block is held while a value is written (`spill_recorded`).
pub(crate) fn spill_waiting<T: Encode>(
    map: &Mapping,
    content: Content<'_, T>,
    wait: Wait,
    mut closed: impl FnMut() -> bool,
    mut track: impl FnMut(Record<'_>),
) -> Result<SpilledBlock, SpillFail> {
    let Some(heap) = map.heap() else { return Err(SpillFail::TooLarge) };
    let least = match content {
        Content::Value { first, .. } => first,
        Content::Bytes(b) => b.len(),
    };
    // Past the maximum the heap can grow to: it never fits.
    if least.saturating_add(BLOCK_PREFIX) > heap.max_region_len() as usize {
        return Err(SpillFail::TooLarge);
    }
    // A full heap may be holding blocks of queue consumers that were killed holding
    // them: reclaim those (`holds.rs`) and try again before reporting or waiting.
    let mut attempt = || match attempt(heap, &content, &mut track) {
        Poll::Pending if holds::sweep(map, heap) > 0 => {
            map.heap_freed();
            attempt(heap, &content, &mut track)
        }
        r => r,
    };
    match wait {
        Wait::Never => match attempt() {
            Poll::Ready(b) => Ok(b),
            Poll::Pending => Err(SpillFail::Timeout),
            Poll::Failed(f) => Err(f),
        },
        Wait::Until(deadline) => {
            let ev = &map.header().heap_space.0;
            block_on(ev, WaitStrategy::Sleep, deadline, || {
                if closed() {
                    return Poll::Failed(SpillFail::Closed);
                }
                attempt()
            })
            .map_err(|e| match e {
                BlockError::Timeout => SpillFail::Timeout,
                BlockError::Failed(f) => f,
            })
        }
    }
}

fn attempt<T: Encode>(
    heap: &Heap<'_>,
    content: &Content<'_, T>,
    track: &mut impl FnMut(Record<'_>),
) -> Poll<SpilledBlock, SpillFail> {
    let r = match content {
        Content::Value { value, first } => spill_recorded(heap, *value, *first, &mut *track),
        Content::Bytes(b) => spill_bytes(heap, b),
    };
    match r {
        Ok(b) => Poll::Ready(b),
        // Larger than the heap's whole block area at its maximum: no amount of freeing (and
        // merging of freed neighbours) will ever make such a block, so waiting would never
        // end — the value is too large for this heap now and later.
        Err(SpillError::Heap(AllocError::OutOfMemory { block_size, .. }))
            if !heap.can_hold((block_size as usize).saturating_sub(16)) =>
        {
            Poll::Failed(SpillFail::TooLarge)
        }
        // Out of memory now (the heap grew as far as it could: to its maximum, or the
        // system refused more memory), or a damaged free-list block that the heap took out
        // of circulation: wait for a consumer to free a block and try again.
        Err(SpillError::Heap(
            AllocError::OutOfMemory { .. }
            | AllocError::GrowFailed { .. }
            | AllocError::Corrupt { .. },
        )) => Poll::Pending,
        Err(SpillError::Heap(AllocError::BadAlign { .. })) => Poll::Failed(SpillFail::TooLarge),
        Err(SpillError::Serialize(e)) => Poll::Failed(SpillFail::Serialize(e)),
    }
}

/// The size of the first block to try for an archive whose slot attempt needed at least
/// `need` bytes: a little more, since rkyv writes the root last, past the failing write.
pub(crate) fn first_block(need: usize) -> usize {
    need.saturating_add(need / 8).saturating_add(64)
}
