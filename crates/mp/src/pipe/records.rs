//! A pipe end as the destination of the one send path ([`zeroproc_codec::send`]): records
//! go straight into the ring when it has room for the draft, else into the thread's
//! scratch buffer, whose envelope then waits for exactly its own length of room; values
//! larger than the largest record go to the pipe's heap.

use crate::channel::error::CorruptError;
use crate::channel::heap_wait::{first_block, spill_waiting, Content, SpillFail};
use crate::channel::holds::{self, Registered};
use crate::channel::mapping::Mapping;
use crate::channel::message::Wait;
use crate::pipe::send::SendFail;
use rkyv::util::AlignedVec;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use zeroproc_codec::envelope::{Encode, SEND_HINT};
use zeroproc_codec::send::{Draft, Overflow, Records};
use zeroproc_codec::spill::SpilledBlock;
use zeroproc_ring::spsc::{Producer, Reservation, ReserveTimeoutError, TryReserveError};

/// A claimed pipe producer and the thread's scratch buffer; `held`: the spilled block the
/// record will name, in the holds table until just before the record is committed.
pub(crate) struct PipeRecords<'a, 'm> {
    pub(crate) prod: &'a mut Producer,
    pub(crate) scratch: &'a mut AlignedVec<16>,
    pub(crate) wait: Wait,
    pub(crate) kind: u32,
    pub(crate) held: &'a RefCell<Registered<'m>>,
}

impl<'m> Records for PipeRecords<'_, 'm> {
    type Error = SendFail;
    type Draft<'d>
        = PipeDraft<'d, 'm>
    where
        Self: 'd;

    fn max_len(&self) -> usize {
        self.prod.max_payload()
    }

    /// A pipe's values are often larger than a job's arguments, and a draft that finds
    /// no room costs no wait here (it moves to the scratch buffer).
    fn first_len(&self) -> usize {
        SEND_HINT.min(self.max_len())
    }

    fn draft(&mut self, len: usize) -> Result<PipeDraft<'_, 'm>, SendFail> {
        // Two reservations: a refused one must release its borrow of the producer before
        // the scratch draft takes it (room only grows in between: only we fill the ring).
        let room = match self.prod.try_reserve(len) {
            Ok(_) => true, // dropped: abandoned, nothing written
            Err(TryReserveError::Full) => false,
            Err(e) => return Err(fail(e.into())),
        };
        if room {
            let r = self.prod.try_reserve(len).map_err(|e| fail(e.into()))?;
            return Ok(PipeDraft::Ring { r, kind: self.kind, held: self.held });
        }
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        let buf = &mut self.scratch[..len];
        let (prod, wait, kind, held) = (&mut *self.prod, self.wait, self.kind, self.held);
        Ok(PipeDraft::Scratch { buf, prod, wait, kind, held })
    }
}

/// A record of a pipe being written: in the ring, or in scratch until room is found.
pub(crate) enum PipeDraft<'d, 'm> {
    Ring {
        r: Reservation<'d>,
        kind: u32,
        held: &'d RefCell<Registered<'m>>,
    },
    Scratch {
        buf: &'d mut [u8],
        prod: &'d mut Producer,
        wait: Wait,
        kind: u32,
        held: &'d RefCell<Registered<'m>>,
    },
}

impl Deref for PipeDraft<'_, '_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            PipeDraft::Ring { r, .. } => r,
            PipeDraft::Scratch { buf, .. } => buf,
        }
    }
}

impl DerefMut for PipeDraft<'_, '_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            PipeDraft::Ring { r, .. } => r,
            PipeDraft::Scratch { buf, .. } => buf,
        }
    }
}

impl Draft for PipeDraft<'_, '_> {
    type Error = SendFail;

    fn publish(self, len: usize) -> Result<(), SendFail> {
        let (mut r, kind, held) = match self {
            PipeDraft::Ring { r, kind, held } => (r, kind, held),
            PipeDraft::Scratch { buf, prod, wait, kind, held } => {
                let mut r = reserve(prod, len, wait)?;
                r.copy_from_slice(&buf[..len]);
                (r, kind, held)
            }
        };
        r.truncate(len);
        r.set_kind(kind);
        // Out of the holds table just before the commit: once the record is published the
        // block is the receiver's (a sweeper must not take it back); a kill between the
        // two stores leaks it (`holds.rs`, "What can still leak").
        held.borrow_mut().clear();
        r.commit();
        Ok(())
    }
}

/// Reserves `len` bytes, waiting per `wait`.
pub(crate) fn reserve(
    p: &mut Producer,
    len: usize,
    wait: Wait,
) -> Result<Reservation<'_>, SendFail> {
    match wait {
        Wait::Never => p.try_reserve(len).map_err(|e| fail(e.into())),
        Wait::Until(None) => p.reserve(len).map_err(|e| fail(e.into())),
        Wait::Until(Some(d)) => p.reserve_deadline(len, d).map_err(fail),
    }
}

fn fail(e: ReserveTimeoutError) -> SendFail {
    match e {
        ReserveTimeoutError::Timeout => SendFail::Timeout,
        ReserveTimeoutError::Disconnected => SendFail::Disconnected,
        ReserveTimeoutError::TooLarge { .. } => SendFail::TooLarge,
        ReserveTimeoutError::Corrupt(c) => SendFail::Corrupt(CorruptError::Pipe(c)),
    }
}

/// A pipe's heap as the overflow of its sends; `gone` says the receiver is gone (nobody
/// would ever free a block).
pub(crate) struct PipeSpill<'a, 'm, G> {
    pub(crate) map: &'m Mapping,
    pub(crate) wait: Wait,
    pub(crate) gone: G,
    /// The block being written and sent (`holds.rs`: an intent before each allocation,
    /// named by the heap from its CAS on, cleared just before the record's commit).
    pub(crate) held: &'a RefCell<Registered<'m>>,
}

impl<G: FnMut() -> bool> Overflow for PipeSpill<'_, '_, G> {
    type Error = SendFail;

    fn spill<T: Encode>(&mut self, value: &T, need: usize) -> Result<SpilledBlock, SendFail> {
        let content = Content::Value { value, first: first_block(need) };
        let map = self.map;
        spill_waiting(
            map,
            content,
            self.wait,
            &mut self.gone,
            holds::Recording { held: self.held, map },
            || crate::pipe::handle::rings_drained(map),
            "a send on a pipe",
        )
        .map_err(|e| match e {
            SpillFail::Timeout => SendFail::Timeout,
            SpillFail::Closed => SendFail::Disconnected,
            SpillFail::TooLarge => SendFail::TooLarge,
            SpillFail::Grow(e) => SendFail::Grow(e),
            SpillFail::Serialize(e) => SendFail::Serialize(e),
        })
    }

    fn give_back(&mut self, block: SpilledBlock) {
        match self.map.heap() {
            Some(heap) => self.held.borrow_mut().free_unpublished(heap, block),
            None => self.held.borrow_mut().clear(),
        }
        self.map.heap_freed();
    }
}
