//! The producer side of the slot protocol: claim (EMPTY → WRITING), write, publish
//! (→ FULL), abort (→ tombstone), and releasing slots of dead consumers.

use super::error::TryPushError;
use super::layout::Slot;
use super::protocol::{model_sc_fence, slot_addr, Core, PushClaim, PushFail};
use super::recovery::{claimant_is_dead, claimant_is_dead_now, my_pid};
use super::storage::Storage;
use super::word::{classify, pack, State, View, DATA, TOMBSTONE};
use zeroproc_shm::atomic::Ordering;

impl<S: Storage> Core<S> {
    /// The authoritative close check of a producer that holds a fresh claim.
    #[inline]
    fn closed_after_claim(&self) -> bool {
        model_sc_fence();
        // SeqCst: with the SeqCst claim CAS before it, one half of the close protocol's
        // Dekker pair; the other is the consumer's SeqCst load of `closed` followed by its
        // SeqCst re-load of the slot word (`closed_and_unclaimed`).
        self.control().meta.closed.load(Ordering::SeqCst) != 0
    }

    /// Claims the slot of the next free position (EMPTY → WRITING, carrying our pid).
    #[inline]
    pub(crate) fn claim_push(&self) -> Result<PushClaim, PushFail> {
        self.claim_push_inner(true)
    }

    /// [`claim_push`](Self::claim_push) for a `try_` operation: before reporting Full it
    /// looks once whether the slot it needs is held by a dead consumer, and releases it
    /// (the record to the lost-record hook) instead of waiting for the stuck watch
    /// (`claimant_is_dead_now`; the mirror of `try_claim_pop`).
    #[inline]
    pub(crate) fn try_claim_push(&self) -> Result<PushClaim, PushFail> {
        match self.claim_push() {
            // Under loom the watch is always due: `claim_*` made this very check.
            Err(PushFail::Full) if !cfg!(loom) => self.claim_push_past_dead_readers(),
            r => r,
        }
    }

    /// The slow half of [`try_claim_push`](Self::try_claim_push): while the slot of the
    /// next position is READING (previous lap) by a dead consumer, releases it and claims
    /// again. Each round replaces a stuck word or returns, so it ends within a lap.
    #[cold]
    #[inline(never)]
    fn claim_push_past_dead_readers(&self) -> Result<PushClaim, PushFail> {
        loop {
            // Acquire (both): as in `claim_push_inner`.
            let pos = self.control().tail.load(Ordering::Acquire);
            let slot = self.s.slot(pos);
            let w = slot.load(Ordering::Acquire);
            match classify(w, pos, self.cap) {
                View::Behind(State::Reading, pid) if claimant_is_dead_now(pid) => {
                    self.release_dead_reader(slot, w, pos);
                }
                _ => return Err(PushFail::Full),
            }
            match self.claim_push() {
                Err(PushFail::Full) => {}
                r => return r,
            }
        }
    }

    /// [`claim_push`](Self::claim_push); `advance_hint = false` only in the loom models,
    /// to simulate a producer that dies between its claim and advancing `tail`.
    #[inline(always)]
    pub(crate) fn claim_push_inner(&self, advance_hint: bool) -> Result<PushClaim, PushFail> {
        let c = self.control();
        // Relaxed: an early refusal only; the authoritative check follows the claim.
        if c.meta.closed.load(Ordering::Relaxed) != 0 {
            return Err(PushFail::Closed);
        }
        let me = my_pid();
        // Acquire: pairs with the AcqRel CAS that set this value (`advance`): the slot
        // states its writers observed are visible, so our view of the slot of `pos` is at
        // most one lap old.
        let mut pos = c.tail.load(Ordering::Acquire);
        let mut skips = 0u64;
        loop {
            let slot = self.s.slot(pos);
            // Acquire: pairs with the Release store / AcqRel CAS that wrote this word.
            let w = slot.load(Ordering::Acquire);
            match classify(w, pos, self.cap) {
                View::Here(State::Empty, _) => {
                    // SeqCst: Acquire half pairs with the Release that made the slot EMPTY
                    // (the previous consumer's reads happen-before our writes); SeqCst for
                    // the close protocol (`closed_after_claim`). Failure: the word is
                    // re-loaded with Acquire.
                    let mine = pack(pos, State::Writing, me);
                    if slot.compare_exchange(w, mine, Ordering::SeqCst, Ordering::Relaxed).is_err()
                    {
                        continue;
                    }
                    if advance_hint {
                        self.advance(&c.tail, pos);
                    }
                    if self.closed_after_claim() {
                        self.abort_push(pos);
                        return Err(PushFail::Closed);
                    }
                    return Ok(PushClaim { pos });
                }
                // Claimed by another producer (maybe dead before advancing the hint): help.
                View::Here(..) | View::Ahead => pos = self.advance(&c.tail, pos),
                View::Behind(st, pid) if st != State::Empty => {
                    // The previous lap's record is still in the slot: full, unless the hint
                    // moved meanwhile or a dead consumer holds the slot.
                    // Acquire: as for the first load of `tail`.
                    let t = c.tail.load(Ordering::Acquire);
                    if t != pos {
                        pos = t;
                        continue;
                    }
                    if st == State::Reading && claimant_is_dead(slot_addr(slot.ctl()), w, pid) {
                        self.release_dead_reader(slot, w, pos);
                        continue;
                    }
                    // Relaxed: only chooses which refusal to report.
                    return Err(if c.meta.closed.load(Ordering::Relaxed) != 0 {
                        PushFail::Closed
                    } else {
                        PushFail::Full
                    });
                }
                // Behind(EMPTY), Stale, Corrupt: a stale `pos`, or corruption (impossible
                // while the hint still equals `pos`); consumers report and reset such a
                // slot, producers pass over it.
                _ => {
                    // Acquire: as for the first load of `tail`.
                    let t = c.tail.load(Ordering::Acquire);
                    if t != pos {
                        pos = t;
                        continue;
                    }
                    skips += 1;
                    if skips > self.cap {
                        // Every slot is garbage: report "full" rather than spin.
                        return Err(PushFail::Full);
                    }
                    pos = self.advance(&c.tail, pos);
                }
            }
        }
    }

    /// Writes the payload through `f` and publishes the slot (WRITING → FULL).
    /// A panic in `f` turns the slot into a tombstone and propagates.
    ///
    /// # Safety
    /// `claim` was returned by `self.claim_push()`.
    #[inline]
    pub(crate) unsafe fn complete_push<R>(
        &self,
        claim: PushClaim,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        let pos = claim.pos;
        let guard = AbortOnUnwind { core: self, pos };
        assert!(len <= self.slot_size, "payload length {len} exceeds the slot size");
        // SAFETY: we hold the WRITING claim on this slot (contract) and len <= slot_size.
        let r = unsafe { self.s.with_payload_mut(pos, len, f) };
        std::mem::forget(guard);
        let slot = self.s.slot(pos);
        // Relaxed: published by the Release store of FULL below.
        slot.len().store(len as u64, Ordering::Relaxed);
        // Release: pairs with the Acquire claim CAS of the consumer of `pos`; the payload
        // and `len` are visible to it. A plain store: only the claimant (alive) or a
        // recoverer (only once the claimant is dead) changes a WRITING word.
        slot.store(pack(pos, State::Full, DATA), Ordering::Release);
        self.control().not_empty.notify_one();
        r
    }

    /// Gives up a claim: the slot becomes a tombstone consumers skip.
    #[cold]
    fn abort_push(&self, pos: u64) {
        // Release: pairs with the AcqRel CAS of the consumer that skips the tombstone.
        self.s.slot(pos).store(pack(pos, State::Full, TOMBSTONE), Ordering::Release);
        // Consumers may sleep waiting for this very slot.
        self.control().not_empty.notify_all();
    }

    /// The slot of `pos` is still READING from the previous lap by a dead consumer:
    /// release it as that consumer would have (its record is lost).
    #[cold]
    #[inline(never)]
    fn release_dead_reader(&self, slot: Slot<'_>, w: u64, pos: u64) {
        // AcqRel: Release pairs with the Acquire claim of the producer of `pos` (ours,
        // next); the dead reader's accesses are ordered before by its death, which
        // `is_alive` observed. Only the exact stuck word is replaced.
        // The record, for the lost-record hook: copied while the slot still carries the
        // dead reader's word (nobody writes it then), used only if our CAS below proves
        // that word never changed meanwhile.
        let record = self.lost.as_ref().map(|_| {
            // Relaxed: written before the FULL store the dead reader's claim acquired, and
            // not changed since (the slot stayed READING).
            let len = (slot.len().load(Ordering::Relaxed) as usize).min(self.slot_size);
            // SAFETY: the slot is READING by a dead process, so no producer writes it
            // until the word changes; `len <= slot_size`.
            unsafe { self.s.with_payload(pos, len, <[u8]>::to_vec) }
        });
        let free = pack(pos, State::Empty, 0);
        if slot.compare_exchange(w, free, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            // Relaxed: a statistics counter.
            self.control().stats.dead_readers.fetch_add(1, Ordering::Relaxed);
            self.control().not_full.notify_all();
            if let (Some(hook), Some(record)) = (&self.lost, record) {
                hook(&record);
            }
        }
    }

    /// Copies `item` into the next free slot.
    #[inline]
    pub(crate) fn try_push<T: AsRef<[u8]>>(&self, item: T) -> Result<(), TryPushError<T>> {
        let len = item.as_ref().len();
        if len > self.slot_size {
            return Err(TryPushError::TooLarge(item));
        }
        match self.try_claim_push() {
            Ok(c) => {
                // SAFETY: `c` is a fresh claim of this ring.
                unsafe { self.complete_push(c, len, |b| b.copy_from_slice(item.as_ref())) };
                Ok(())
            }
            Err(PushFail::Full) => Err(TryPushError::Full(item)),
            Err(PushFail::Closed) => Err(TryPushError::Closed(item)),
        }
    }

    /// Lets `f` write `len` bytes in place in the next free slot.
    #[inline]
    pub(crate) fn try_push_with<F: FnOnce(&mut [u8])>(
        &self,
        len: usize,
        f: F,
    ) -> Result<(), TryPushError<F>> {
        if len > self.slot_size {
            return Err(TryPushError::TooLarge(f));
        }
        match self.try_claim_push() {
            Ok(c) => {
                // SAFETY: `c` is a fresh claim of this ring.
                unsafe { self.complete_push(c, len, f) };
                Ok(())
            }
            Err(PushFail::Full) => Err(TryPushError::Full(f)),
            Err(PushFail::Closed) => Err(TryPushError::Closed(f)),
        }
    }

    /// For a producer that slept and then claimed `claim`: wakes one more producer if free
    /// slots remain after it (the mirror of [`pass_on_records`](Self::pass_on_records)).
    #[cold]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn pass_on_space(&self, claim: &PushClaim) {
        let c = self.control();
        // Relaxed: as in `pass_on_records`.
        if c.head.load(Ordering::Relaxed).wrapping_add(self.cap) > claim.pos.wrapping_add(1) {
            c.not_full.notify_one();
        }
    }
}

/// Tombstones a push claim whose write closure panicked.
struct AbortOnUnwind<'a, S: Storage> {
    core: &'a Core<S>,
    pos: u64,
}

impl<S: Storage> Drop for AbortOnUnwind<'_, S> {
    fn drop(&mut self) {
        self.core.abort_push(self.pos);
    }
}
