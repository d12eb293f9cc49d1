//! The holds table: which process holds which spilled heap block of a channel, so that a
//! block whose holder was killed goes back to the heap instead of leaking for the life of
//! the channel. Holders: a queue consumer inside `get` or `get_with` or with a `Ref` alive,
//! a pipe receiver likewise, and a queue producer serializing into a block or waiting for
//! a slot to publish it in.
//!
//! * A **consumer** (queue or pipe) registers `(pid, offset, nonce)` just *after* claiming
//!   the block (CAS nonce → 0) and clears its entry just *before* freeing it.
//! * A **producer** registers right after allocating the block (`spill_tracked`: the claim
//!   word already holds the nonce) and clears its entry inside the slot copy, after the
//!   slot is claimed and before it is published (`queue/put.rs`), or before giving the
//!   block back.
//!
//! So while an entry names a pid, that process owns the block: claimed by it (claim word
//! 0) or not yet published by it (claim word = nonce), and not freed — never freed and
//! reused by someone else. A producer that finds the heap full **sweeps**: for each entry
//! whose pid is dead (`process::is_alive`: a zombie counts as dead) it takes the entry
//! (CAS pid → 0: one sweeper wins) and frees the block — claimed by its nonce if the
//! holder was a producer, or as it stands if the claim word is 0.
//!
//! What can still leak: a process killed in the few instructions between claiming (or
//! allocating) and registering, or between clearing and freeing (or publishing); a queue
//! consumer killed inside the slot read before its claim (the ring releases the slot; the
//! block is unreferenced); a pipe sender's block; and any block while the table is full
//! ([`HOLDS`] holders at once: the extra ones are not registered). Pid reuse only delays a
//! reclaim (the pid looks alive).

use crate::channel::mapping::Mapping;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use zeroproc_codec::spill::SpilledBlock;
use zeroproc_shm::heap::Heap;
use zeroproc_shm::Offset;

/// Entries in the table: holders that can hold a spilled block at once and be reclaimed
/// if killed.
pub(crate) const HOLDS: usize = 32;

/// Set in `pid` while the entry's owner is still writing `offset` and `nonce`.
const FILLING: u64 = 1 << 63;

/// One entry: 0 in `pid` when free.
#[repr(C)]
pub(crate) struct Hold {
    /// The holder's pid (plus [`FILLING`] while the other two words are written).
    pid: AtomicU64,
    offset: AtomicU64,
    nonce: AtomicU64,
}

impl Hold {
    /// A free entry.
    pub(crate) fn new() -> Self {
        Hold { pid: AtomicU64::new(0), offset: AtomicU64::new(0), nonce: AtomicU64::new(0) }
    }
}

/// The table, in the channel header.
#[repr(C, align(128))]
pub(crate) struct Holds(pub [Hold; HOLDS]);

/// A registered hold; [`Registered::clear`] (or drop) frees the entry. Clear it before
/// freeing the block.
pub(crate) struct Registered<'m> {
    entry: Option<&'m Hold>,
}

impl Registered<'_> {
    /// No entry (a put before it has spilled anything).
    pub(crate) fn none() -> Self {
        Registered { entry: None }
    }

    /// Frees the entry (the block is about to be freed by its holder, or its reference
    /// published).
    pub(crate) fn clear(&mut self) {
        if let Some(e) = self.entry.take() {
            // Release: the holder's reads of the block happen before a sweeper could
            // take the (now free) entry for another block; pairs with the Acquire CAS
            // that takes an entry.
            e.pid.store(0, Ordering::Release);
        }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Records that this process holds `block`: a consumer that has just claimed it (claim
/// word 0), or a producer that allocated it and has not published it (the claim word
/// holds the nonce already). Keep the result until just before the block is freed or its
/// reference published.
pub(crate) fn register_block<'m>(map: &'m Mapping, block: &SpilledBlock) -> Registered<'m> {
    let me = u64::from(zeroproc_shm::process::current_pid());
    for e in &map.header().holds.0 {
        // Acquire: pairs with the Release store that freed the entry (its last user is
        // done with it). Relaxed on failure: we only move on.
        if e.pid.compare_exchange(0, me | FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            e.offset.store(block.offset.get(), Ordering::Relaxed);
            e.nonce.store(block.nonce, Ordering::Relaxed);
            // Release: publishes offset and nonce before the entry counts as complete;
            // pairs with the sweeper's Acquire load of `pid`. Sequenced before our claim
            // CAS on the block, so a sweeper that sees the block claimed also sees this.
            e.pid.store(me, Ordering::Release);
            return Registered { entry: Some(e) };
        }
    }
    Registered { entry: None }
}

/// Sweeps run at most this often per process: each costs a liveness probe (a few
/// syscalls) per registered holder, and a producer waiting for heap room retries at every
/// freed block.
const SWEEP_EVERY: Duration = Duration::from_millis(5);

/// When this process last swept (nanoseconds since [`EPOCH`]).
static LAST_SWEEP: AtomicU64 = AtomicU64::new(0);
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Frees the blocks held by consumers that died holding them; returns how many. Does
/// nothing if this process swept less than [`SWEEP_EVERY`] ago.
pub(crate) fn sweep(map: &Mapping, heap: &Heap<'_>) -> usize {
    let now = EPOCH.elapsed().as_nanos() as u64 + 1;
    // Relaxed: a rate limit only; two threads sweeping at once is harmless (the entry CAS
    // decides who frees).
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < SWEEP_EVERY.as_nanos() as u64 {
        return 0;
    }
    LAST_SWEEP.store(now, Ordering::Relaxed);
    let mut freed = 0;
    for e in &map.header().holds.0 {
        // Acquire: pairs with the holder's Release store of its complete entry.
        let p = e.pid.load(Ordering::Acquire);
        if p == 0 {
            continue;
        }
        let pid = (p & !FILLING) as u32;
        if zeroproc_shm::process::is_alive(pid) {
            continue;
        }
        let (offset, nonce) = (e.offset.load(Ordering::Relaxed), e.nonce.load(Ordering::Relaxed));
        // AcqRel: one sweeper takes a dead holder's entry; the Release pairs with the
        // next `register`'s Acquire CAS (we are done with the entry's words first — they
        // were read above).
        if e.pid.compare_exchange(p, 0, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        if p & FILLING != 0 {
            // Died before the entry was complete: its words are not trustworthy. The
            // block leaks (a window of a few instructions).
            continue;
        }
        let block = SpilledBlock { offset: Offset::new(offset), len: 0, nonce };
        if reclaim(heap, &block) {
            freed += 1;
        }
    }
    freed
}

/// Frees a dead holder's block: claimed by its nonce if the holder was a producer that had
/// not published it, or as it stands if the holder was a consumer that had claimed it
/// (claim word 0). Anything else (a damaged entry) is left alone.
fn reclaim(heap: &Heap<'_>, block: &SpilledBlock) -> bool {
    if zeroproc_codec::payload::reclaim(heap, block) {
        return true;
    }
    // Not claimable by the nonce: claimed by the dead holder (0), or not a live block.
    if heap.usable_size(block.offset).is_err() {
        return false;
    }
    let Ok(p) = heap.ptr_len(block.offset, 8) else { return false };
    // SAFETY: `p` is the 16-byte aligned start of a live heap block of at least 16 bytes
    // in the mapping (checked just above); its first word is the claim word, only ever
    // accessed atomically.
    let word = unsafe { &*p.as_ptr().cast::<AtomicU64>() };
    // Acquire: pairs with the dead holder's AcqRel claim CAS (nonce → 0); the entry
    // (which we took) proves it had not freed the block, so nobody else owns it.
    if word.load(Ordering::Acquire) == 0 {
        return heap.free(block.offset).is_ok();
    }
    false
}
