//! The consumer side of the slot protocol: claim (FULL → READING), read, release
//! (→ EMPTY of the next lap), tombstones, dead producers, corrupted slots, and `Closed`.

use super::error::{CorruptError, TryPopError};
use super::layout::Slot;
use super::protocol::{model_sc_fence, slot_addr, Core, PopClaim};
use super::recovery::{claimant_is_dead, claimant_is_dead_now, my_pid};
use super::storage::Storage;
use super::word::{classify, pack, State, View, DATA, TOMBSTONE};
use zeroproc_shm::atomic::Ordering;

impl<S: Storage> Core<S> {
    /// Claims the slot of the oldest published record (FULL → READING, carrying our pid),
    /// skipping tombstones.
    #[inline]
    pub(crate) fn claim_pop(&self) -> Result<PopClaim, TryPopError> {
        self.claim_pop_inner(true)
    }

    /// [`claim_pop`](Self::claim_pop) for a `try_` operation: before reporting Empty it
    /// looks once whether the head slot's writer is dead, and passes it (a tombstone, the
    /// record to the lost-record hook) instead of waiting for the stuck watch, which only
    /// an operation that looks again can see come due (`claimant_is_dead_now`).
    #[inline]
    pub(crate) fn try_claim_pop(&self) -> Result<PopClaim, TryPopError> {
        match self.claim_pop() {
            // Under loom the watch is always due: `claim_*` made this very check.
            Err(TryPopError::Empty) if !cfg!(loom) => self.claim_pop_past_dead_writers(),
            r => r,
        }
    }

    /// The slow half of [`try_claim_pop`](Self::try_claim_pop): while the head slot is
    /// WRITING by a dead producer, tombstones it and claims again. Each round replaces a
    /// stuck word or returns, so it ends within a lap.
    #[cold]
    #[inline(never)]
    fn claim_pop_past_dead_writers(&self) -> Result<PopClaim, TryPopError> {
        loop {
            // Acquire (both): as in `claim_pop_inner`.
            let pos = self.control().head.load(Ordering::Acquire);
            let slot = self.s.slot(pos);
            let w = slot.load(Ordering::Acquire);
            match classify(w, pos, self.cap) {
                View::Here(State::Writing, pid) if claimant_is_dead_now(pid) => {
                    self.tombstone_dead_writer(slot, w, pos);
                }
                _ => return Err(TryPopError::Empty),
            }
            match self.claim_pop() {
                Err(TryPopError::Empty) => {}
                r => return r,
            }
        }
    }

    /// [`claim_pop`](Self::claim_pop); `advance_hint = false` only in the loom models, to
    /// simulate a consumer that dies between its claim and advancing `head`.
    #[inline(always)]
    pub(crate) fn claim_pop_inner(&self, advance_hint: bool) -> Result<PopClaim, TryPopError> {
        let c = self.control();
        let me = my_pid();
        // Acquire: pairs with the AcqRel CAS that set this value (`advance`).
        let mut pos = c.head.load(Ordering::Acquire);
        let mut skips = 0u64;
        loop {
            let slot = self.s.slot(pos);
            // Acquire: pairs with the Release store / AcqRel CAS that wrote this word.
            let w = slot.load(Ordering::Acquire);
            match classify(w, pos, self.cap) {
                View::Here(State::Full, DATA) => {
                    // Acquire: pairs with the producer's Release store of FULL: payload and
                    // len are visible. Failure: the word is re-loaded with Acquire.
                    let mine = pack(pos, State::Reading, me);
                    if slot.compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed).is_err()
                    {
                        continue;
                    }
                    if advance_hint {
                        self.advance(&c.head, pos);
                    }
                    // Relaxed: ordered by the Acquire claim above.
                    let len = slot.len().load(Ordering::Relaxed);
                    if len > self.slot_size as u64 {
                        return Err(self.corrupt_len(pos, len));
                    }
                    return Ok(PopClaim { pos, len: len as usize });
                }
                View::Here(State::Full, _tombstone) => {
                    // AcqRel: Acquire pairs with the Release that wrote the tombstone;
                    // Release pairs with the Acquire claim of the producer of pos + cap.
                    let free = pack(pos + self.cap, State::Empty, 0);
                    if slot.compare_exchange(w, free, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                        // Relaxed: a statistics counter.
                        c.stats.tombstones_skipped.fetch_add(1, Ordering::Relaxed);
                        pos = self.advance(&c.head, pos);
                        c.not_full.notify_one();
                    }
                    continue;
                }
                // Nothing published at `pos` yet (the slot may still finish the previous
                // lap's read).
                View::Here(State::Empty, _) | View::Behind(State::Reading, _) => {
                    // Acquire: as for the first load of `head`.
                    let h = c.head.load(Ordering::Acquire);
                    if h != pos {
                        pos = h;
                        continue;
                    }
                    return match self.closed_and_unclaimed(slot, w) {
                        Some(true) => {
                            // Pass it on: other consumers may sleep waiting for a record
                            // that will never come.
                            c.not_empty.notify_all();
                            Err(TryPopError::Closed)
                        }
                        Some(false) => continue,
                        None => Err(TryPopError::Empty),
                    };
                }
                View::Here(State::Writing, pid) => {
                    if claimant_is_dead(slot_addr(slot.ctl()), w, pid) {
                        self.tombstone_dead_writer(slot, w, pos);
                        continue;
                    }
                    return Err(TryPopError::Empty);
                }
                // Claimed by another consumer (maybe dead before advancing the hint): help.
                View::Here(State::Reading, _) | View::Ahead => pos = self.advance(&c.head, pos),
                // Behind in another state, Stale, Corrupt: a stale `pos`, or corruption
                // (impossible while the hint still equals `pos`).
                _ => {
                    // Acquire: as for the first load of `head`.
                    let h = c.head.load(Ordering::Acquire);
                    if h != pos {
                        pos = h;
                        continue;
                    }
                    match self.reset_corrupt(slot, w, pos) {
                        Some(e) => return Err(TryPopError::Corrupt(e)),
                        None => {
                            skips += 1;
                            if skips > self.cap {
                                // The word keeps changing under us: garbage being written.
                                return Err(TryPopError::Empty);
                            }
                            // Acquire: as for the first load of `head`.
                            pos = c.head.load(Ordering::Acquire);
                        }
                    }
                }
            }
        }
    }

    /// For a consumer that found nothing at the head: `None` if the ring is open,
    /// `Some(true)` if it is closed and the slot still holds the same unclaimed word (so no
    /// producer will publish there), `Some(false)` if the slot changed meanwhile.
    #[inline]
    fn closed_and_unclaimed(&self, slot: Slot<'_>, w: u64) -> Option<bool> {
        // SeqCst: the consumer's half of the close protocol's Dekker pair (see
        // `closed_after_claim`): if we see `closed`, a producer that has not yet claimed
        // this slot will see it too after claiming, and abort.
        if self.control().meta.closed.load(Ordering::SeqCst) == 0 {
            return None;
        }
        model_sc_fence();
        // SeqCst: second access of the Dekker pair.
        Some(slot.load(Ordering::SeqCst) == w)
    }

    /// The producer of `pos` died holding its claim: turn the slot into a tombstone.
    #[cold]
    #[inline(never)]
    fn tombstone_dead_writer(&self, slot: Slot<'_>, w: u64, pos: u64) {
        // AcqRel: Release pairs with the AcqRel CAS of the consumer that skips the
        // tombstone; the dead writer's partial writes are ordered before by its death,
        // which `is_alive` observed. Only the exact stuck word is replaced.
        // The (possibly partial) record, for the lost-record hook: the whole payload area,
        // as the dead writer never stored its length. Copied while the slot still carries
        // the dead writer's word (nobody writes it then), used only if our CAS below
        // proves that word never changed meanwhile.
        let record = self.lost.as_ref().map(|_| {
            // SAFETY: the slot is WRITING by a dead process, so nobody writes it until the
            // word changes; `slot_size` is the payload area's length.
            unsafe { self.s.with_payload(pos, self.slot_size, <[u8]>::to_vec) }
        });
        let tomb = pack(pos, State::Full, TOMBSTONE);
        if slot.compare_exchange(w, tomb, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            // Relaxed: a statistics counter.
            self.control().stats.dead_writers.fetch_add(1, Ordering::Relaxed);
            if let (Some(hook), Some(record)) = (&self.lost, record) {
                hook(&record);
            }
        }
    }

    /// Reports an invalid word at the head and resets the slot to what the next lap
    /// expects (`pos + cap`, EMPTY), so the ring keeps working. The CAS replaces exactly
    /// the invalid word, so a valid state written meanwhile is never overwritten.
    #[cold]
    #[inline(never)]
    fn reset_corrupt(&self, slot: Slot<'_>, w: u64, pos: u64) -> Option<CorruptError> {
        let free = pack(pos + self.cap, State::Empty, 0);
        // AcqRel: Release pairs with the Acquire claim of the producer of pos + cap.
        if slot.compare_exchange(w, free, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return None;
        }
        let c = self.control();
        self.advance(&c.head, pos);
        // Relaxed: a statistics counter.
        c.stats.corrupt_slots.fetch_add(1, Ordering::Relaxed);
        c.not_full.notify_one();
        // The word as it is in memory (what a dump of the segment shows), not as read.
        Some(CorruptError::State { index: self.index(pos), word: slot.in_memory(w) })
    }

    /// We claimed a record whose length is impossible: release it unread and report.
    #[cold]
    #[inline(never)]
    fn corrupt_len(&self, pos: u64, len: u64) -> TryPopError {
        self.release_pop(pos);
        // Relaxed: a statistics counter.
        self.control().stats.corrupt_slots.fetch_add(1, Ordering::Relaxed);
        TryPopError::Corrupt(CorruptError::Len { index: self.index(pos), len })
    }

    /// Releases the slot of `pos` for the producer of the next lap (READING → EMPTY).
    #[inline]
    pub(crate) fn release_pop(&self, pos: u64) {
        let c = self.control();
        // Release: pairs with the Acquire claim CAS of the producer of pos + cap: our
        // payload reads happen-before its writes. A plain store: only the claimant (alive)
        // or a recoverer (only once the claimant is dead) changes a READING word.
        self.s.slot(pos).store(pack(pos + self.cap, State::Empty, 0), Ordering::Release);
        c.not_full.notify_one();
    }

    /// Runs `f` on the claimed record and releases the slot. A panic in `f` releases the
    /// slot (the record is lost to this consumer's panic) and propagates.
    ///
    /// # Safety
    /// `claim` was returned by `self.claim_pop()`.
    #[inline]
    pub(crate) unsafe fn complete_pop<R>(&self, claim: PopClaim, f: impl FnOnce(&[u8]) -> R) -> R {
        let guard = ReleaseOnUnwind { core: self, pos: claim.pos };
        // SAFETY: we hold the READING claim (contract); `claim_pop` checked
        // len <= slot_size.
        let r = unsafe { self.s.with_payload(claim.pos, claim.len, f) };
        std::mem::forget(guard);
        self.release_pop(claim.pos);
        r
    }

    /// Pops the oldest record, handing its bytes to `f`.
    #[inline]
    pub(crate) fn try_pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TryPopError> {
        let c = self.try_claim_pop()?;
        // SAFETY: `c` is a fresh claim of this ring.
        Ok(unsafe { self.complete_pop(c, f) })
    }

    /// For a consumer that slept and then claimed `claim`: wakes one more consumer if
    /// records are waiting behind it. Publishes notify one sleeper each, but a sleeper
    /// woken while the head slot was still being written goes back to sleep; once that
    /// slot is published, records may be queued behind it with only one consumer awake.
    /// Each consumer woken this way passes it on while records remain.
    #[cold]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn pass_on_records(&self, claim: &PopClaim) {
        let c = self.control();
        // Relaxed: a heuristic on a hint; the notify has its own fence, and a missed
        // wake-up here is still caught by the sleeper's time slice.
        if c.tail.load(Ordering::Relaxed) > claim.pos.wrapping_add(1) {
            c.not_empty.notify_one();
        }
    }
}

/// Releases a pop claim whose read closure panicked.
struct ReleaseOnUnwind<'a, S: Storage> {
    core: &'a Core<S>,
    pos: u64,
}

impl<S: Storage> Drop for ReleaseOnUnwind<'_, S> {
    fn drop(&mut self) {
        self.core.release_pop(self.pos);
    }
}
