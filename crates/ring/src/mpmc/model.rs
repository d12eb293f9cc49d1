//! A heap-backed ring for the loom models (`tests/loom_mpmc.rs`): the same protocol code as
//! [`Ring`](super) in shared memory, plus hooks that stop a "process" at a chosen point of
//! an operation, as SIGKILL would.

use super::error::{TryPopError, TryPushError};
use super::heap::HeapStorage;
use super::layout::Geometry;
use super::protocol::{Core, Stats};
use super::storage::Storage;
use zeroproc_shm::wait::EventCount;

/// Where a "killed" model process stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiePoint {
    /// Right after claiming the slot, before advancing the ring's index hint.
    BeforeIndexHelp,
    /// After claiming and advancing the hint, with the payload half written (producers) or
    /// fully read (consumers), before publishing / releasing the slot.
    MidOperation,
}

/// A ring on the heap, for loom models only.
#[derive(Debug)]
pub struct ModelRing {
    core: Core<HeapStorage>,
}

impl ModelRing {
    /// A ring of `capacity` slots (a power of two) of `slot_size` bytes.
    pub fn new(capacity: usize, slot_size: usize) -> Self {
        let geo = Geometry::new(capacity, slot_size).expect("valid model geometry");
        ModelRing { core: Core::new(HeapStorage::new(geo)) }
    }

    /// As `Ring::try_push`.
    pub fn try_push<T: AsRef<[u8]>>(&self, item: T) -> Result<(), TryPushError<T>> {
        self.core.try_push(item)
    }

    /// As `Ring::try_push_with`.
    pub fn try_push_with<F: FnOnce(&mut [u8])>(
        &self,
        len: usize,
        f: F,
    ) -> Result<(), TryPushError<F>> {
        self.core.try_push_with(len, f)
    }

    /// As `Ring::capacity`.
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// As `Ring::len`.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// As `Ring::is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// As `Ring::is_closed`.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// As `Ring::try_pop`.
    pub fn try_pop(&self) -> Result<Vec<u8>, TryPopError> {
        self.core.try_pop_with(<[u8]>::to_vec)
    }

    /// As `Ring::close`.
    pub fn close(&self) {
        self.core.close()
    }

    /// As `Ring::stats`.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The event count consumers sleep on (notified after every publish).
    pub fn not_empty(&self) -> &EventCount {
        &self.core.control().not_empty
    }

    /// The event count producers sleep on (notified after every release).
    pub fn not_full(&self) -> &EventCount {
        &self.core.control().not_full
    }

    /// Claims a slot and stops at `at` without publishing, as a producer killed there.
    /// Returns false if no slot could be claimed (full or closed).
    pub fn push_then_die(&self, item: &[u8], at: DiePoint) -> bool {
        assert!(item.len() <= self.core.slot_size(), "model payload larger than a slot");
        let Ok(c) = self.core.claim_push_inner(at != DiePoint::BeforeIndexHelp) else {
            return false;
        };
        if at == DiePoint::MidOperation {
            let half = item.len() / 2;
            // SAFETY: we hold the WRITING claim; half <= item.len() <= slot size.
            unsafe {
                self.core
                    .storage()
                    .with_payload_mut(c.pos(), half, |b| b.copy_from_slice(&item[..half]))
            };
        }
        // The claim is abandoned: the slot stays WRITING with our pid.
        true
    }

    /// Claims the oldest record and stops at `at` without releasing the slot, as a consumer
    /// killed there. Returns the record it held (which is lost).
    pub fn pop_then_die(&self, at: DiePoint) -> Result<Vec<u8>, TryPopError> {
        let c = self.core.claim_pop_inner(at != DiePoint::BeforeIndexHelp)?;
        // SAFETY: we hold the READING claim; `claim_pop` checked the length.
        Ok(unsafe { self.core.storage().with_payload(c.pos(), c.len(), <[u8]>::to_vec) })
    }
}
