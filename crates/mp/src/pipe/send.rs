//! The sending half of a pipe end: one SPSC ring's producer side, claimed on first use,
//! with values archived **in place into the ring record** (a record is only ever
//! abandoned, never half-published) and values larger than the largest record spilled
//! into the pipe's heap. Every send form reduces to [`TxHalf::send_wait`] or
//! [`TxHalf::send_bytes_wait`].

use crate::channel::error::CorruptError;
use crate::channel::heap_wait::{spill_waiting, Content, SpillFail};
use crate::channel::holds::{self, Registered};
use crate::channel::mapping::Mapping;
use crate::channel::message::{with_scratch, Message, Wait, HEADER};
use crate::pipe::error::SendTimeoutError;
use crate::pipe::records::{reserve, PipeRecords, PipeSpill};
use rkyv::rancor;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_codec::envelope::HEADER_LEN;
use zeroproc_codec::send::{self, SendError};
use zeroproc_codec::spill::{write_spilled_envelope, SpilledBlock, SPILL_BODY_LEN};
use zeroproc_ring::spsc::{self, Producer, RingError};
use zeroproc_shm::process::{current_pid, is_alive};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::GrowError;

/// Record kind of an envelope (inline or spilled) sent with `send`.
pub(crate) const KIND_VALUE: u32 = 1;
/// Record kind of raw bytes sent with `send_bytes`, inline.
pub(crate) const KIND_BYTES: u32 = 2;
/// Record kind of raw bytes sent with `send_bytes`, spilled (the record is a spilled
/// envelope whose block holds the bytes, not an archive).
pub(crate) const KIND_BYTES_SPILLED: u32 = 3;

/// Why a send failed, before the value is attached to the error.
pub(crate) enum SendFail {
    Timeout,
    Disconnected,
    TooLarge,
    Grow(GrowError),
    InUse(u32),
    Serialize(rancor::Error),
    Corrupt(CorruptError),
}

impl SendFail {
    fn with<T>(self, v: T) -> SendTimeoutError<T> {
        match self {
            SendFail::Timeout => SendTimeoutError::Timeout(v),
            SendFail::Disconnected => SendTimeoutError::Disconnected(v),
            SendFail::TooLarge => SendTimeoutError::TooLarge(v),
            SendFail::Grow(e) => SendTimeoutError::Grow(v, e),
            SendFail::InUse(p) => SendTimeoutError::InUse(v, p),
            SendFail::Serialize(e) => SendTimeoutError::Serialize(v, e),
            SendFail::Corrupt(c) => SendTimeoutError::Corrupt(v, c),
        }
    }
}

/// Claiming a ring side failed.
pub(crate) fn claim_fail(e: RingError) -> SendFail {
    match e {
        RingError::Claimed { pid } => SendFail::InUse(pid),
        // Closed: this side was used and dropped before; nobody can send on it again.
        RingError::Closed => SendFail::Disconnected,
        RingError::Corrupt(c) => SendFail::Corrupt(CorruptError::Pipe(c)),
        _ => SendFail::Corrupt(CorruptError::Pipe(spsc::CorruptError {
            pos: 0,
            what: "ring header rejected on claim",
        })),
    }
}

/// The producer side of one ring of a pipe.
pub(crate) struct TxHalf<T> {
    pub(crate) map: Arc<Mapping>,
    ring: spsc::Ring,
    /// Which of the pipe's rings this is.
    index: usize,
    prod: Option<Producer>,
    strategy: WaitStrategy,
    /// A handle to this end was made: do not close it on drop if it was never used here
    /// (another process may be using it).
    pub(crate) handed_out: std::cell::Cell<bool>,
    /// The process this half was made in: a forked child's copy closes nothing on drop.
    made_by: u32,
    /// The process that claimed the producer (meaningful while `prod` is `Some`).
    claimed_by: u32,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> TxHalf<T> {
    pub(crate) fn new(map: Arc<Mapping>, ring: spsc::Ring, index: usize) -> Self {
        TxHalf {
            map,
            ring,
            index,
            prod: None,
            strategy: WaitStrategy::default(),
            handed_out: std::cell::Cell::new(false),
            made_by: current_pid(),
            claimed_by: 0,
            _t: PhantomData,
        }
    }

    /// Claims the producer side now (attach does, so errors show up there).
    ///
    /// A producer claimed by another process is refused (`Claimed` with that process's
    /// pid): this is a forked child's copy of its parent's end, whose ring the parent
    /// still writes. Used, the copy wrote its own messages over the parent's (two writers
    /// on one SPSC ring): lost and repeated messages, with no error.
    pub(crate) fn claim(&mut self) -> Result<(), RingError> {
        if self.prod.is_some() {
            if self.claimed_by != current_pid() {
                return Err(RingError::Claimed { pid: self.claimed_by });
            }
        } else {
            self.prod = Some(self.ring.producer()?.with_wait_strategy(self.strategy));
            self.claimed_by = current_pid();
            // Relaxed: a liveness hint for senders waiting for heap space, nothing more.
            self.map.header().sides.0[2 * self.index].store(current_pid(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Gives up this handle's claim without closing the side (see `claim_both`).
    pub(crate) fn forget_claim(&mut self) {
        self.handed_out.set(true);
        if let Some(p) = self.prod.take() {
            std::mem::forget(p);
        }
    }

    fn producer(&mut self) -> Result<&mut Producer, SendFail> {
        self.claim().map_err(claim_fail)?;
        Ok(self.prod.as_mut().expect("claimed above"))
    }

    pub(crate) fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.strategy = s;
        if let Some(p) = &mut self.prod {
            p.set_wait_strategy(s);
        }
    }

    pub(crate) fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Largest inline record payload.
    pub(crate) fn max_record(&self) -> usize {
        self.ring.max_payload()
    }

    /// Sends raw bytes: inline up to the largest record, spilled beyond.
    pub(crate) fn send_bytes_wait<'p>(
        &mut self,
        bytes: &'p [u8],
        wait: Wait,
    ) -> Result<(), SendTimeoutError<&'p [u8]>> {
        let r = (|| {
            let p = self.producer()?;
            if bytes.len() <= p.max_payload() {
                let mut r = reserve(p, bytes.len(), wait)?;
                r.copy_from_slice(bytes);
                r.set_kind(KIND_BYTES);
                r.commit();
                return Ok(());
            }
            let block = self.spill(Content::<()>::Bytes(bytes), wait)?;
            self.send_reference(block, KIND_BYTES_SPILLED, wait)
        })();
        r.map_err(|f| f.with(bytes))
    }

    /// Gets a heap block for `content` (waiting per `wait` while the heap is full).
    fn spill<C: zeroproc_codec::envelope::Encode>(
        &mut self,
        content: Content<'_, C>,
        wait: Wait,
    ) -> Result<SpilledBlock, SendFail> {
        let TxHalf { map, ring, index, .. } = self;
        let consumer = &map.header().sides.0[2 * *index + 1];
        let gone = || receiver_gone(ring, consumer);
        let drained = || crate::pipe::handle::rings_drained(map);
        let track = zeroproc_codec::spill::Unnoted(|_: zeroproc_codec::spill::Record<'_>| {});
        spill_waiting(map, content, wait, gone, track, drained, "a send on a pipe").map_err(|e| {
            match e {
                SpillFail::Timeout => SendFail::Timeout,
                SpillFail::Closed => SendFail::Disconnected,
                SpillFail::TooLarge => SendFail::TooLarge,
                SpillFail::Grow(e) => SendFail::Grow(e),
                SpillFail::Serialize(e) => SendFail::Serialize(e),
            }
        })
    }

    /// Sends the 48-byte reference to a spilled block; frees the block if that fails.
    fn send_reference(
        &mut self,
        block: SpilledBlock,
        kind: u32,
        wait: Wait,
    ) -> Result<(), SendFail> {
        let TxHalf { map, prod, .. } = self;
        let map: &Mapping = map;
        // Held in the holds table while the reference waits for room in the ring (its
        // claim word holds the nonce: a sweeper takes it back by it if we are killed);
        // cleared just before the commit. (From the allocation to here it is not: raw
        // bytes are copied in by `spill_bytes`, which names the block nowhere.)
        let mut reg = holds::register_block(map, &block);
        let p = prod.as_mut().expect("claimed before spilling");
        match reserve(p, HEADER_LEN + SPILL_BODY_LEN, wait) {
            Ok(mut r) => {
                let n = write_spilled_envelope(&mut r, HEADER, &block);
                r.truncate(n);
                r.set_kind(kind);
                reg.clear();
                r.commit();
                Ok(())
            }
            Err(e) => {
                match map.heap() {
                    Some(heap) => reg.free_unpublished(heap, block),
                    None => reg.clear(),
                }
                map.heap_freed();
                Err(e)
            }
        }
    }
}

impl<T: Message> TxHalf<T> {
    /// Sends `value`. Fast path: archived straight into a [`SEND_HINT`]-byte reservation
    /// of the ring (no copy). When that reservation is refused (ring nearly full) or too
    /// small, the value is encoded into a scratch buffer first, so that exactly its
    /// length is waited for; beyond the largest record it is spilled into the heap.
    pub(crate) fn send_wait(&mut self, value: T, wait: Wait) -> Result<(), SendTimeoutError<T>> {
        match self.send_ref(&value, wait) {
            Ok(()) => Ok(()),
            Err(f) => Err(f.with(value)),
        }
    }

    /// The one send path ([`zeroproc_codec::send`]) into this end's ring and heap.
    fn send_ref(&mut self, value: &T, wait: Wait) -> Result<(), SendFail> {
        self.producer()?;
        let TxHalf { map, ring, prod, index, .. } = self;
        let prod = prod.as_mut().expect("claimed above");
        let consumer = &map.header().sides.0[2 * *index + 1];
        let gone = || receiver_gone(ring, consumer);
        let map: &Mapping = map;
        // The spilled block this send holds, in the holds table until just before its
        // record is committed, so that a sender killed meanwhile (e.g. waiting for room in
        // the ring) does not leak it (`holds.rs`).
        let held = RefCell::new(Registered::none());
        let mut spill = PipeSpill { map, wait, gone, held: &held };
        with_scratch(|scratch| {
            let mut records = PipeRecords { prod, scratch, wait, kind: KIND_VALUE, held: &held };
            match send::send(&mut records, &mut spill, HEADER, value) {
                Ok(_) => Ok(()),
                Err(SendError::Records(f) | SendError::Overflow(f)) => Err(f),
                Err(SendError::Serialize(e)) => Err(SendFail::Serialize(e)),
            }
        })
    }
}

/// The receiver closed its end, or its process died: nobody will ever free a block.
fn receiver_gone(ring: &spsc::Ring, consumer: &std::sync::atomic::AtomicU32) -> bool {
    // Relaxed: see `claim`.
    let pid = consumer.load(Ordering::Relaxed);
    ring.consumer_closed() || (pid != 0 && !is_alive(pid))
}

impl<T> Drop for TxHalf<T> {
    fn drop(&mut self) {
        // A forked child's copy of its parent's end: the side is the parent's, whose own
        // end goes on (as a Python child's close of an inherited connection leaves the
        // parent's open). Dropping the producer would close the side and publish this
        // copy's view of the tail; claiming an unused one would close it for good.
        if self.made_by != current_pid() {
            std::mem::forget(self.prod.take());
            return;
        }
        // An end that was never used nor handed out is closed now, so the peer learns it
        // is gone (Disconnected) instead of waiting for a sender that will never come.
        if self.prod.is_none() && !self.handed_out.get() {
            let _ = self.ring.producer(); // dropped at once: closes this side
        }
    }
}
