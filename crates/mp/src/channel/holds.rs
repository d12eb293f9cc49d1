//! The holds table: which process holds which spilled heap block of a channel, so that a
//! block whose holder was killed goes back to the heap instead of leaking for the life of
//! the channel. Holders: a queue consumer inside `get` or `get_with` or with a `Ref` alive,
//! a pipe receiver likewise, and a queue producer serializing into a block or waiting for
//! a slot to publish it in.
//!
//! * A **queue consumer** registers `(pid, offset, nonce)` from the envelope just *before*
//!   claiming the block (CAS nonce → 0), marks the entry [`CLAIMED`] right after the claim
//!   (`decode_spilled_then`), and clears it just *before* freeing the block (also a block
//!   whose archive failed validation).
//!   A **pipe receiver** registers (marked claimed) just after its claim: a pipe record is
//!   released only after the claim, and a receiver that attaches the end again reads it
//!   again, so the block must stay unclaimed and unfreed until then.
//! * A **producer** registers right after allocating the block (`spill_tracked`: the claim
//!   word already holds the nonce) and clears its entry inside the slot copy, after the
//!   slot is claimed and before it is published (`queue/put.rs`), or before giving the
//!   block back.
//!
//! So while an entry names a pid, the block is not freed by that process (never freed and
//! reused by someone else): marked claimed, it is claimed by it (claim word 0); unmarked,
//! it is ours to take only if its claim word still holds the nonce (a producer's
//! unpublished block; a consumer's that it died before claiming — the ring then releases
//! the slot unread). A producer that finds the heap full **sweeps**: for each entry whose
//! pid is dead (`process::is_alive`: a zombie counts as dead) it takes the entry over (CAS
//! to its own pid, keeping the mark: one sweeper wins, and a sweeper killed meanwhile
//! leaves the entry to the next) and frees the block — as it stands if marked claimed (and
//! its claim word is 0), else only by claiming it with its nonce (then marking the entry),
//! clearing the entry just before the free. A block named by a damaged
//! record is never freed: its nonce does not match, and it was never marked claimed.
//!
//! What can still leak: a process killed in the few instructions between a queue
//! consumer's claim and its mark, a pipe receiver's claim and its registration, a producer's allocation and its registration, or between clearing
//! and freeing (or publishing); a pipe sender's block; and any block while the table is full
//! ([`HOLDS`] holders at once: the extra ones are not registered). Pid reuse only delays a
//! reclaim (the pid looks alive).

use crate::channel::mapping::Mapping;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{Header, HEADER_LEN};
use zeroproc_codec::spill::{SpilledBlock, SPILL_BODY_LEN};
use zeroproc_shm::heap::Heap;
use zeroproc_shm::Offset;

/// Entries in the table: holders that can hold a spilled block at once and be reclaimed
/// if killed.
pub(crate) const HOLDS: usize = 32;

/// Set in `pid` while the entry's owner is still writing `offset` and `nonce`.
const FILLING: u64 = 1 << 63;
/// Set in `pid` once the holder has claimed the block (claim word 0): only then may a
/// sweeper free it without its nonce.
const CLAIMED: u64 = 1 << 62;

/// One entry: 0 in `pid` when free.
#[repr(C)]
pub(crate) struct Hold {
    /// The holder's pid (plus [`FILLING`] while the other two words are written, and
    /// [`CLAIMED`] once a consumer has claimed the block).
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

impl Registered<'_> {
    /// For `decode_spilled_then`: `true` once the block is claimed ([`claimed`](Self::claimed)),
    /// `false` before an invalid one is freed ([`clear`](Self::clear)).
    pub(crate) fn owned(&mut self, owned: bool) {
        if owned {
            self.claimed();
        } else {
            self.clear();
        }
    }

    /// The consumer has claimed the block (CAS nonce → 0): from now on a sweeper frees it
    /// as it stands if we die.
    pub(crate) fn claimed(&self) {
        if let Some(e) = self.entry {
            let me = u64::from(zeroproc_shm::process::current_pid());
            // Release: after our claim CAS; pairs with the sweeper's Acquire load of
            // `pid`, so a sweeper that sees CLAIMED sees the claim word 0.
            e.pid.store(me | CLAIMED, Ordering::Release);
        }
    }
}

impl<'m> Registered<'m> {
    /// For a pipe receiver's `decode_spilled_then`: registers the block the spilled
    /// envelope `bytes` names, marked claimed, once it is claimed (`true`); clears the
    /// entry before an invalid one is freed (`false`).
    pub(crate) fn owned_claim(&mut self, map: &'m Mapping, bytes: &[u8], owned: bool) {
        if owned {
            *self = register(map, bytes);
            self.claimed();
        } else {
            self.clear();
        }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The block a spilled envelope names (None for anything else: an inline envelope or a
/// malformed one, which the decode then reports).
fn block_of(bytes: &[u8]) -> Option<SpilledBlock> {
    let h = Header::read(bytes).ok()?;
    if !h.is_spilled() || bytes.len() < HEADER_LEN + SPILL_BODY_LEN {
        return None;
    }
    let body = &bytes[HEADER_LEN..HEADER_LEN + SPILL_BODY_LEN];
    let word = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let (offset, len, nonce) = (word(0), word(8), word(16));
    if nonce == 0 {
        return None;
    }
    Some(SpilledBlock { offset: Offset::new(offset), len: usize::try_from(len).ok()?, nonce })
}

/// Records that this queue consumer is about to claim the block named by the spilled
/// envelope `bytes` (call it before the claim and [`Registered::claimed`] after). An empty
/// registration when the table is full or `bytes` names no block.
pub(crate) fn register<'m>(map: &'m Mapping, bytes: &[u8]) -> Registered<'m> {
    match block_of(bytes) {
        Some(block) => register_block(map, &block),
        None => Registered { entry: None },
    }
}

/// Records that this process holds `block`: a consumer about to claim it or that has
/// just claimed it (then mark it [`Registered::claimed`]), or a producer that allocated it
/// and has not published it (the claim word holds the nonce already). Keep the result
/// until just before the block is freed or its reference published.
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
    let me = u64::from(zeroproc_shm::process::current_pid());
    let mut freed = 0;
    for e in &map.header().holds.0 {
        // Acquire: pairs with the holder's Release store of its complete entry.
        let p = e.pid.load(Ordering::Acquire);
        if p == 0 {
            continue;
        }
        let pid = (p & !(FILLING | CLAIMED)) as u32;
        if zeroproc_shm::process::is_alive(pid) {
            continue;
        }
        let (offset, nonce) = (e.offset.load(Ordering::Relaxed), e.nonce.load(Ordering::Relaxed));
        // The entry becomes ours (keeping its CLAIMED mark) rather than free: if we are
        // killed while reclaiming, the next sweeper finds it under our dead pid and
        // carries on. AcqRel: one sweeper takes a dead holder's entry.
        let claimed = p & CLAIMED;
        if e.pid.compare_exchange(p, me | claimed, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        let mut entry = Registered { entry: Some(e) }; // cleared on every path below
        if p & FILLING != 0 {
            // Died before the entry was complete: its words are not trustworthy. The
            // block leaks (a window of a few instructions).
            continue;
        }
        if reclaim(heap, &mut entry, Offset::new(offset), nonce, claimed != 0) {
            freed += 1;
        }
    }
    freed
}

/// Frees a dead holder's block whose entry `entry` we took over: if unmarked (a producer's
/// unpublished block, or one a consumer died before claiming), only by claiming it with
/// its nonce — marking the entry claimed before freeing, so a sweeper that takes over
/// after our death frees it too —; if marked claimed, as it stands (claim word 0).
/// Anything else (a damaged entry) is left alone. The entry is cleared before the free.
fn reclaim(
    heap: &Heap<'_>,
    entry: &mut Registered<'_>,
    offset: Offset<u8>,
    nonce: u64,
    claimed: bool,
) -> bool {
    if heap.usable_size(offset).is_err() {
        return false;
    }
    let Ok(p) = heap.ptr_len(offset, 8) else { return false };
    // SAFETY: `p` is the 16-byte aligned start of a live heap block of at least 16 bytes
    // in the mapping (checked just above); its first word is the claim word, only ever
    // accessed atomically.
    let word = unsafe { &*p.as_ptr().cast::<AtomicU64>() };
    if claimed {
        // Acquire: pairs with the dead holder's AcqRel claim CAS (nonce → 0), ordered
        // before its CLAIMED mark; the entry proves it had not freed the block, so nobody
        // else owns it.
        if word.load(Ordering::Acquire) != 0 {
            return false;
        }
    } else {
        // AcqRel: as a reader's claim (`payload::claim`): exactly one claimant of a nonce
        // wins; a block that was published and claimed, or freed and reused, has another
        // word and is left alone.
        if word.compare_exchange(nonce, 0, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        entry.claimed();
    }
    entry.clear(); // before the free, as every holder does (a later drop does nothing)
    heap.free(offset).is_ok()
}
