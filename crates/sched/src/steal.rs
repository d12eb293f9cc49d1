//! Taking the unstarted items of an automatic batch of `Pool::map` while its worker is
//! still inside a slow item: an asymmetric Dekker handshake on two words of the worker's
//! control block, whose worker half costs no atomic read-modify-write and no fence.
//!
//! ```text
//! claim word  = job id << 16 | items claimed     (WorkerControl::batch_claim; worker writes)
//! hand_back   = job id: stop at your next claim  (WorkerControl::hand_back; supervisor writes)
//!
//! worker, before item i (i = 0, 1, …, n-1 of batch `id`):
//!     store claim = id << 16 | i + 1                        (Relaxed)
//!     compiler_fence(SeqCst)                                 (no instruction)
//!     if i ≥ 1 and load hand_back == id: stop; items i.. are not run   (Relaxed)
//!
//! supervisor (thief), once for a batch found running at two ticks:
//!     w0 = load claim; go on only if w0 names `id` and c0 = w0 & 0xffff ≥ 1
//!     store hand_back = id                                   (Relaxed)
//!     membarrier(GLOBAL_EXPEDITED)   (a full barrier on every CPU running a registered
//!                                     process: the worker's, if it runs, executes one)
//!     w1 = load claim
//!     w1 == w0  ⇒  stolen at c0: items c0.. are the map's to place again, now
//!     w1 != w0  ⇒  nothing taken: the worker stops at its next claim (handback in its
//!                  result, as before this file)
//! ```
//!
//! **Why a stolen item never runs** (w1 == w0). Each claim value is stored once (ids are
//! never reused, the count rises within a batch), so w1 == w0 is the very store S the
//! thief read first, which the worker executed before the membarrier started. The
//! membarrier executes a full barrier B in the worker (or the worker is not running, and
//! its next context switch is one) between the thief's store of `hand_back` and its
//! second load; everything the worker stored before B is visible to that load. The load
//! returned S, so no later claim store was made before B: the claim of item c0 (value
//! c0 + 1) comes after B, and so does the load of `hand_back` after it — which therefore
//! sees `id` (stored before the membarrier) and stops the worker before item c0. The
//! worker's `compiler_fence` keeps the compiler from moving that load above the store;
//! the CPU may not move it above B. So the worker runs at most items 0..c0: it stops at
//! c0, or at c0 - 1 if it had already seen the request at its claim of c0 - 1 (then the
//! result hands item c0 - 1 back: it ran `c0 - 1` or `c0` items, never more).
//!
//! **Why no item is lost** (w1 != w0). The worker stored a later claim: the thief takes
//! nothing, and the request stands, so the worker stops at its next claim and hands the
//! rest back in its result, or runs to the end of its items: every item is run by it or
//! handed back, as without the steal. A steal told to the map after the batch's result
//! was taken (the item ended meanwhile) finds the batch gone and is dropped: the result's
//! handback placed those items.
//!
//! **States of an item** of a batch of n: unclaimed → run by the worker (claimed, no
//! request seen) | handed back in the batch's result (claimed or not, with a request
//! seen: the map places it again when it takes the result) | taken (at or after c0 of
//! a steal, c0 < n: the map places it again when its thread takes the steal,
//! `Map::take_stolen`, cutting the batch's kept items at c0). A steal of the last
//! item's claim (c0 = n: the slow item is the batch's last) takes nothing: the map
//! drops it. The map reconciles in either order: a steal taken before the result cuts
//! the kept items, so the result (which covers at most c0 items) places again at most
//! item c0 - 1; a steal taken after the result finds the batch gone (the result's
//! handback placed the items). A worker that dies after a steal leaves its claims: the
//! items it claimed fail, those between its claims and c0 are placed again, those from
//! c0 were placed by the steal (`Map::died_in` over the cut kept items).
//!
//! **Why item 0 is never stolen**: the worker does not look before item 0 (a batch whose
//! spilled arguments take a tick to read would otherwise hand everything back, again and
//! again), so the thief needs c0 ≥ 1 — the worker's next claim then looks.
//!
//! Only a worker that registered (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`, at its
//! first batch: [`ensure_registered`]) is stolen from (`WorkerControl::fenced`): an unregistered
//! worker gets no barrier, and a kernel without the command leaves today's handback.
//! Modelled with loom in `crates/ring/tests/loom_steal.rs` (the membarrier as a SeqCst
//! fence on both sides, which is what it gives: a fence in the thief and one in the
//! worker between the thief's store and load).

use zeroproc_shm::atomic::{AtomicU64, Ordering};

/// Bits of the claim word that count items.
pub(crate) const COUNT_BITS: u32 = 16;

/// Items a batch may have for its claims to be published (more: none are, and nothing
/// is stolen from it or re-placed after a death in it).
pub(crate) const MAX_ITEMS: usize = (1 << COUNT_BITS) - 2;

/// The claim word of batch `id` with `claimed` items claimed; `None` if `id` does not fit
/// above the count (a pool would need 2^48 jobs).
#[inline]
pub(crate) fn claim_value(id: u64, claimed: u64) -> Option<u64> {
    (id >> (64 - COUNT_BITS) == 0).then_some(id << COUNT_BITS | claimed)
}

/// The items of batch `id` claimed, if the word is that batch's.
#[inline]
pub(crate) fn claimed_of(w: u64, id: u64) -> Option<u64> {
    (id != 0 && w >> COUNT_BITS == id).then_some(w & ((1 << COUNT_BITS) - 1))
}

/// Worker, before item `i` of the batch whose claim word for 0 items is `base`
/// (`claim_value(id, 0)`): claims it, and says whether to stop there instead (the
/// supervisor asked job `id` to hand back, seen at an item after the first).
#[inline(always)]
pub(crate) fn claim_item(
    word: &AtomicU64,
    hand_back: &AtomicU64,
    base: u64,
    id: u64,
    i: usize,
) -> bool {
    // Relaxed: read by the thief around its membarrier (see the module) and after a
    // death (the worker is reaped); no data is published through it.
    word.store(base + i as u64 + 1, Ordering::Relaxed);
    worker_side_fence();
    // Relaxed: ordered after the store above by the barrier the thief's membarrier puts
    // in this thread (the module's proof).
    i > 0 && hand_back.load(Ordering::Relaxed) == id
}

/// The worker's half of the fence pair: nothing at run time (the membarrier executes
/// the barrier when a thief needs one), a SeqCst fence in the loom model.
#[inline(always)]
fn worker_side_fence() {
    #[cfg(not(loom))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(loom)]
    zeroproc_shm::atomic::fence(Ordering::SeqCst);
}

/// What the thief's [`steal_words`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steal {
    /// The job is not a batch that has claimed an item (yet): only asked to hand back.
    NotYet,
    /// Asked to hand back; nothing taken (the worker claimed on, or no barrier could be
    /// made): the worker stops at its next claim.
    Asked,
    /// Items from this one on will never be run by the worker: the map's to place.
    Took(u64),
}

/// Thief (the supervisor), for job `id` found running long: asks it to hand back
/// (`hand_back`, stored unless it holds `id` already) and, if the job is a batch that
/// has claimed an item and `barrier` (the membarrier) succeeds, tries the steal.
pub(crate) fn steal_words(
    word: &AtomicU64,
    hand_back: &AtomicU64,
    id: u64,
    barrier: impl FnOnce() -> bool,
) -> Steal {
    // Relaxed: see `claim_item`.
    let w0 = word.load(Ordering::Relaxed);
    // Relaxed (both): the request; ordered before the second load of `word` by the
    // barrier. Stored once per job (the word shares the worker's cache lines).
    if hand_back.load(Ordering::Relaxed) != id {
        hand_back.store(id, Ordering::Relaxed);
    }
    let Some(c0) = claimed_of(w0, id).filter(|&c| c >= 1) else { return Steal::NotYet };
    if !barrier() {
        return Steal::Asked;
    }
    // Relaxed: ordered after the store of `hand_back` by the barrier (the module's proof).
    match word.load(Ordering::Relaxed) == w0 {
        true => Steal::Took(c0),
        false => Steal::Asked,
    }
}

#[cfg(not(loom))]
mod membarrier {
    /// `MEMBARRIER_CMD_GLOBAL_EXPEDITED` (linux/membarrier.h).
    const GLOBAL_EXPEDITED: libc::c_long = 1 << 1;
    /// `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`.
    const REGISTER_GLOBAL_EXPEDITED: libc::c_long = 1 << 2;

    fn call(cmd: libc::c_long) -> bool {
        // SAFETY: membarrier takes (cmd, flags, cpu_id) by value and touches no memory of
        // ours; an unknown command or kernel fails with EINVAL/ENOSYS.
        unsafe {
            libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long, 0 as libc::c_long) == 0
        }
    }

    /// Worker (at its first batch: `ensure_registered`): registers this process for the thief's barriers; false if
    /// the kernel (or a seccomp filter) refuses — then nothing is stolen from it.
    pub(crate) fn register() -> bool {
        call(REGISTER_GLOBAL_EXPEDITED)
    }

    /// Thief: a full memory barrier on every CPU running a registered process (~6 µs);
    /// false if it could not be made.
    pub(crate) fn global() -> bool {
        call(GLOBAL_EXPEDITED)
    }
}

#[cfg(not(loom))]
pub(crate) use membarrier::global;

/// Worker, before a batch that may be stolen from: registers this process for the
/// thief's barriers the first time (`WorkerControl::fenced`: 0 at the worker's start, 1
/// once registered, 2 if refused — then nothing is stolen from it). At the first batch,
/// not at the worker's start (review36): the registration of a process with more than
/// one thread waits for an RCU grace period (~12 ms here, up to 20; 0.01 ms with one
/// thread), and a worker in a test binary runs on libtest's thread — every start,
/// respawn and retirement waited for it, also in pools that never batch.
#[cfg(not(loom))]
#[inline]
pub(crate) fn ensure_registered(fenced: &AtomicU64) {
    // Relaxed: written only by this worker (0 at its start, before `READY`).
    if fenced.load(Ordering::Relaxed) == 0 {
        register_now(fenced);
    }
}

#[cfg(not(loom))]
#[cold]
fn register_now(fenced: &AtomicU64) {
    let v = if membarrier::register() { 1 } else { 2 };
    // Release: pairs with the supervisor's Acquire load before its `global()`, so that
    // a thief that sees 1 issues its barrier after the registration took effect.
    fenced.store(v, Ordering::Release);
}
