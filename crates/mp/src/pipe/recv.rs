//! The receiving half of a pipe end: one SPSC ring's consumer side, claimed on first use.
//! Typed messages are validated in their ring record (or claimed from the heap when
//! spilled); `poll` and a message of the other kind park the next record in a local
//! stash so that nothing is lost. Every receive form reduces to one `*_wait` function.

use crate::channel::error::CorruptError;
use crate::channel::holds;
use crate::channel::mapping::Mapping;
use crate::channel::message::{deserialize, Message, Wait};
use crate::channel::Ref;
use crate::pipe::error::RecvTimeoutError;
use crate::pipe::send::{KIND_BYTES, KIND_BYTES_SPILLED, KIND_VALUE};
use rkyv::util::AlignedVec;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_codec::envelope::{self, DecodeError, Header};
use zeroproc_codec::payload::{claim, decode_spilled_then};
use zeroproc_ring::spsc::{self, Consumer, RecordGuard, RingError, TryRecvError};
use zeroproc_shm::wait::WaitStrategy;

/// A record taken off the ring but not handed out yet (by `poll`, or because the caller
/// asked for the other kind).
struct Stash {
    kind: u32,
    bytes: AlignedVec<16>,
    /// A spilled record's block, registered in the holds table while it sits here.
    _hold: Option<StashHold>,
}

/// The holds-table entry (`channel/holds.rs`) of a stashed spilled record's block, not
/// claimed yet: while this process lives a sender waiting for heap room knows a block is
/// held (the stuck rule of `channel/heap_wait.rs` would otherwise see empty rings and
/// nothing held, and give up with `TooLarge` on a block the receiver is about to free);
/// if it dies, a sweeper claims the block by its nonce and frees it. Cleared on drop:
/// after a receive has claimed and registered the block itself, or before the end's drop
/// frees it.
struct StashHold {
    map: Arc<Mapping>,
    entry: usize,
}

impl Drop for StashHold {
    fn drop(&mut self) {
        holds::clear_at(&self.map, self.entry);
    }
}

impl Stash {
    /// Copies the record out of the ring and releases it; a spilled one's block is then
    /// registered as held by this process (after the release: while the record is in the
    /// ring, a receiver that attaches this end again must find its block unclaimed and
    /// unreclaimed, see `recv_wait`).
    fn of(rec: RecordGuard<'_>, map: &Arc<Mapping>) -> Stash {
        let mut bytes = AlignedVec::<16>::with_capacity(rec.len());
        bytes.extend_from_slice(&rec);
        let kind = rec.kind();
        drop(rec);
        let spilled = kind == KIND_VALUE || kind == KIND_BYTES_SPILLED;
        let block = if spilled { holds::spilled_block(&bytes) } else { None };
        let hold = block
            .and_then(|b| holds::register_block_at(map, &b))
            .map(|entry| StashHold { map: Arc::clone(map), entry });
        Stash { kind, bytes, _hold: hold }
    }
}

/// The next record: from the stash, or still in the ring.
enum Next<'a> {
    Stashed(Stash),
    Record(RecordGuard<'a>),
}

impl Next<'_> {
    fn kind(&self) -> u32 {
        match self {
            Next::Stashed(s) => s.kind,
            Next::Record(r) => r.kind(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Next::Stashed(s) => &s.bytes,
            Next::Record(r) => r,
        }
    }

    fn into_stash(self, map: &Arc<Mapping>) -> Stash {
        match self {
            Next::Stashed(s) => s,
            Next::Record(r) => Stash::of(r, map),
        }
    }
}

fn claim_fail(e: RingError) -> RecvTimeoutError {
    match e {
        RingError::Claimed { pid } => RecvTimeoutError::InUse { pid },
        // Closed: this side was used and dropped before; nothing more will be read here.
        RingError::Closed => RecvTimeoutError::Disconnected,
        RingError::Corrupt(c) => RecvTimeoutError::Corrupt(CorruptError::Pipe(c)),
        _ => RecvTimeoutError::Corrupt(CorruptError::Pipe(spsc::CorruptError {
            pos: 0,
            what: "ring header rejected on claim",
        })),
    }
}

fn corrupt(e: DecodeError) -> RecvTimeoutError {
    RecvTimeoutError::Corrupt(CorruptError::Decode(e))
}

/// The pieces of an [`RxHalf`] a receive works with.
struct Parts<'a> {
    map: &'a Arc<Mapping>,
    cons: &'a mut Consumer,
    stash: &'a mut Option<Stash>,
}

/// The next record per `wait`: the stashed one first, else one from the ring.
fn next<'c>(
    c: &'c mut Consumer,
    stash: &mut Option<Stash>,
    wait: Wait,
) -> Result<Next<'c>, RecvTimeoutError> {
    if let Some(s) = stash.take() {
        return Ok(Next::Stashed(s));
    }
    let rec = match wait {
        Wait::Never => c.try_recv().map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            TryRecvError::Corrupt(c) => RecvTimeoutError::Corrupt(CorruptError::Pipe(c)),
        }),
        Wait::Until(d) => {
            let r = match d {
                None => c.recv().map_err(spsc::RecvTimeoutError::from),
                Some(d) => c.recv_deadline(d),
            };
            r.map_err(|e| match e {
                spsc::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
                spsc::RecvTimeoutError::Disconnected => RecvTimeoutError::Disconnected,
                spsc::RecvTimeoutError::Corrupt(c) => {
                    RecvTimeoutError::Corrupt(CorruptError::Pipe(c))
                }
            })
        }
    }?;
    Ok(Next::Record(rec))
}

/// The consumer side of one ring of a pipe.
pub(crate) struct RxHalf<T> {
    pub(crate) map: Arc<Mapping>,
    ring: spsc::Ring,
    /// Which of the pipe's rings this is.
    index: usize,
    cons: Option<Consumer>,
    stash: Option<Stash>,
    strategy: WaitStrategy,
    /// See `TxHalf::handed_out`.
    pub(crate) handed_out: std::cell::Cell<bool>,
    /// The process this half was made in: a forked child's copy closes nothing on drop.
    made_by: u32,
    /// The process that claimed the consumer (meaningful while `cons` is `Some`).
    claimed_by: u32,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> RxHalf<T> {
    pub(crate) fn new(map: Arc<Mapping>, ring: spsc::Ring, index: usize) -> Self {
        RxHalf {
            map,
            ring,
            index,
            cons: None,
            stash: None,
            strategy: WaitStrategy::default(),
            handed_out: std::cell::Cell::new(false),
            made_by: zeroproc_shm::process::current_pid(),
            claimed_by: 0,
            _t: PhantomData,
        }
    }

    /// Claims the consumer side now (attach does, so errors show up there).
    ///
    /// A consumer claimed by another process is refused, as `TxHalf::claim` explains (two
    /// readers of one SPSC ring: a message received twice, or never).
    pub(crate) fn claim(&mut self) -> Result<(), RingError> {
        let me = zeroproc_shm::process::current_pid();
        if self.cons.is_some() {
            if self.claimed_by != me {
                return Err(RingError::Claimed { pid: self.claimed_by });
            }
        } else {
            self.cons = Some(self.ring.consumer()?.with_wait_strategy(self.strategy));
            self.claimed_by = me;
            // Relaxed: a liveness hint for senders waiting for heap space (pipe/send.rs).
            let pid = me;
            self.map.header().sides.0[2 * self.index + 1].store(pid, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.strategy = s;
        if let Some(c) = &mut self.cons {
            c.set_wait_strategy(s);
        }
    }

    /// Claims the consumer if needed and splits `self` into the parts a receive uses
    /// (disjoint borrows: a record borrows only the consumer).
    fn parts(&mut self) -> Result<Parts<'_>, RecvTimeoutError> {
        self.claim().map_err(claim_fail)?;
        let RxHalf { map, cons, stash, .. } = self;
        Ok(Parts { map, cons: cons.as_mut().expect("claimed above"), stash })
    }

    /// Whether a receive would return at once: a message is ready, or the sender is gone
    /// (or the end is unusable). Waits up to `wait` for one; a record found is stashed.
    pub(crate) fn poll_wait(&mut self, wait: Wait) -> bool {
        if self.stash.is_some() {
            return true;
        }
        let p = match self.parts() {
            Ok(p) => p,
            Err(_) => return true,
        };
        match next(p.cons, p.stash, wait) {
            Ok(n) => {
                *p.stash = Some(n.into_stash(p.map));
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(_) => true,
        }
    }

    /// Receives raw bytes sent with `send_bytes`.
    pub(crate) fn recv_bytes_wait(&mut self, wait: Wait) -> Result<Vec<u8>, RecvTimeoutError> {
        let Parts { map, cons, stash } = self.parts()?;
        let n = next(cons, stash, wait)?;
        match n.kind() {
            KIND_BYTES => Ok(n.bytes().to_vec()),
            KIND_BYTES_SPILLED => {
                let heap = map.heap().ok_or(corrupt(DecodeError::BadSpill("no spill heap")))?;
                let (_, block, bytes) = claim(n.bytes(), heap).map_err(corrupt)?;
                let mut reg = holds::register_block(map, &block);
                reg.claimed();
                let v = bytes.to_vec();
                drop(n);
                reg.clear(); // before the free (`holds.rs`)
                let _ = block.free(heap);
                map.heap_freed();
                Ok(v)
            }
            _ => {
                *stash = Some(n.into_stash(map));
                Err(RecvTimeoutError::WrongKind)
            }
        }
    }
}

impl<T: Message> RxHalf<T> {
    /// Receives and deserializes a message sent with `send`.
    pub(crate) fn recv_wait(&mut self, wait: Wait) -> Result<T, RecvTimeoutError> {
        let Parts { map, cons, stash } = self.parts()?;
        let n = next(cons, stash, wait)?;
        if n.kind() != KIND_VALUE {
            *stash = Some(n.into_stash(map));
            return Err(RecvTimeoutError::WrongKind);
        }
        let bytes = n.bytes();
        let h = Header::read(bytes).map_err(corrupt)?;
        if !h.is_spilled() {
            let (_, a) = envelope::decode::<T>(bytes).map_err(corrupt)?;
            return deserialize::<T>(a).map_err(|e| corrupt(DecodeError::Invalid(e)));
        }
        let heap = map.heap().ok_or(corrupt(DecodeError::BadSpill("no spill heap")))?;
        // Ours once claimed: reclaimed if we are killed holding it (`holds.rs`; registered
        // at the claim, not before as a queue consumer does: until the record is released,
        // a receiver that attaches this end again must find the block unclaimed to read it).
        let mut reg = holds::Registered::none();
        let (_, g) = decode_spilled_then::<T>(bytes, heap, |o| reg.owned_claim(map, bytes, o))
            .map_err(corrupt)?;
        drop(n); // release the record: the value is in the heap
        let r = deserialize::<T>(&g);
        reg.clear(); // before the guard frees the block
        drop(g);
        map.heap_freed();
        r.map_err(|e| corrupt(DecodeError::Invalid(e)))
    }

    /// Receives a message sent with `send` as a validated archive read in place.
    pub(crate) fn recv_ref_wait(&mut self, wait: Wait) -> Result<Ref<'_, T>, RecvTimeoutError> {
        let Parts { map, cons, stash } = self.parts()?;
        let n = next(cons, stash, wait)?;
        if n.kind() != KIND_VALUE {
            *stash = Some(n.into_stash(map));
            return Err(RecvTimeoutError::WrongKind);
        }
        let h = Header::read(n.bytes()).map_err(corrupt)?;
        if !h.is_spilled() {
            return match n {
                Next::Record(rec) => Ref::record(rec),
                Next::Stashed(s) => Ref::owned(s.bytes),
            }
            .map_err(corrupt);
        }
        let heap = map.heap().ok_or(corrupt(DecodeError::BadSpill("no spill heap")))?;
        // Registered at the claim: see `recv_wait`.
        let mut reg = holds::Registered::none();
        let (_, g) =
            decode_spilled_then::<T>(n.bytes(), heap, |o| reg.owned_claim(map, n.bytes(), o))
                .map_err(corrupt)?;
        drop(n);
        Ok(Ref::spilled(g, reg, map))
    }
}

impl<T> Drop for RxHalf<T> {
    fn drop(&mut self) {
        // A forked child's copy of its parent's end (see `TxHalf`'s drop): closing the side
        // or freeing the stashed message's block would take them from the parent.
        if self.made_by != zeroproc_shm::process::current_pid() {
            std::mem::forget(self.cons.take());
            std::mem::forget(self.stash.take());
            return;
        }
        // See `TxHalf`'s drop: an unused end that never left this process is closed.
        if self.cons.is_none() && !self.handed_out.get() {
            let _ = self.ring.consumer();
        }
        // A stashed spilled record would leak its block: free it.
        if let (Some(s), Some(heap)) = (self.stash.take(), self.map.heap()) {
            let Stash { kind, bytes, _hold } = s;
            drop(_hold); // the entry is cleared before the free (`holds.rs`)
            if kind == KIND_VALUE || kind == KIND_BYTES_SPILLED {
                let _ = zeroproc_codec::payload::discard(&bytes, heap);
            }
        }
    }
}
