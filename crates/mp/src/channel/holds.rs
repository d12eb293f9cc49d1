//! The holds table: which process holds which spilled heap block of a channel, so that a
//! block whose holder was killed goes back to the heap instead of leaking for the life of
//! the channel. Holders: a queue consumer inside `get` or `get_with` or with a `Ref` alive,
//! a pipe receiver likewise, and a queue producer or a pipe sender from just before it
//! allocates a block until it publishes it.
//!
//! # States of an entry, and what a sweeper does with a dead holder's
//!
//! An entry is three words: `pid` (plus state bits), `offset`, `nonce`. A producer that
//! finds the heap full **sweeps**: for each entry whose pid is dead (`process::is_alive`:
//! a zombie counts as dead) it takes the entry over (CAS of `pid` to its own, keeping the
//! state bits: one sweeper wins, and a sweeper killed meanwhile leaves the entry to the
//! next), then acts by state; the heap clears the entry's offset inside each free (after
//! its CAS, before the push: an entry names a block only while it is out of every list),
//! and the entry is cleared after:
//!
//! | state (`pid` bits) | meaning | sweeper |
//! |---|---|---|
//! | `0` | free | — |
//! | `FILLING` | being registered; words not trustworthy | clears it (the holder had no block yet, except a pipe receiver: see below) |
//! | `ALLOCATING`, offset 0 | a producer's intent: it is about to allocate | clears it |
//! | `ALLOCATING`, offset O | the heap took O for the producer (its header ALLOC, or still FREE if it died right after the pop CAS); claim word not stamped | O is the dead producer's, never published: stamps our owner token in it, turns the entry into a plain one of ours (so a sweeper after our death frees it by that token), frees it (`reclaim_noted`), clears |
//! | plain (O, nonce) | a producer's stamped unpublished block, or a queue consumer's block, before or after its claim, or either of them inside `free_noted` (header FREE, in no list) | CAS of the claim word from the nonce (unpublished, or not yet claimed) or from the dead holder's owner token (claimed by it) to our own token; then frees (`reclaim_noted`: ALLOC or FREE) and clears. Any other word: not the dead holder's (left alone) |
//! | plain (offset 0) | the heap's free cleared the offset: the block is going back, or back | clears it |
//! | `CLAIMED` (O) | a pipe receiver's claimed block (claim word 0) | frees it if its claim word is 0 |
//!
//! * A **producer** (`queue/put.rs`, and a pipe sender's `pipe/records.rs`, via
//!   `spill_noted` and [`Recording`]) registers an intent (`ALLOCATING`, offset 0) before
//!   every allocation; the **heap** stores the offset in the entry right after the CAS
//!   that takes the block (`Heap::alloc_noted`: the entry's offset word is the heap's
//!   *note*); it stores the nonce and leaves `ALLOCATING` once the claim word holds it;
//!   a block that was too small, or whose reference could not be sent, is freed with
//!   `Heap::free_noted` (the heap clears the offset after its CAS, before the push) and
//!   then the entry cleared; when the heap had no block the entry is cleared, so none is
//!   held while waiting for room. A queue producer clears the entry inside the slot copy,
//!   after the record is complete in the slot and before it is published: if it dies
//!   between, the ring's recovery tombstones the slot and hands the record to the queue's
//!   lost-record hook ([`reclaim_lost`]), which claims the block by its nonce and frees
//!   it. A pipe sender clears it just before the record's commit (an SPSC record never
//!   committed is not recovered: a kill between the two stores leaks the block); a raw
//!   `send_bytes` block is registered only once its bytes are in (`pipe/send.rs`).
//! * A **queue consumer** (`queue/get.rs`) registers `(pid, offset, nonce)` from the
//!   envelope before claiming the block, claims it with its **owner token**
//!   (`spill::owner_token`: CAS nonce → token, so the block itself names its holder from
//!   the claim on, with no second store to be killed before), and clears the entry just
//!   before freeing the block. Killed after popping the ring slot and before registering,
//!   the ring's recovery releases the slot and hands the record to the lost-record hook,
//!   which claims the block by its nonce (failing harmlessly if a registered consumer or a
//!   sweeper got there first: one claimant of a nonce wins). It frees the block with
//!   `Heap::free_noted` ([`Registered::free_claimed`]) and clears the entry after: a kill
//!   between the heap's CAS and its clear of the offset leaves the block named (FREE, in
//!   no list; its claim word still our token), and a sweeper pushes it
//!   (`Heap::reclaim_noted`).
//! * A **pipe receiver** registers (marked `CLAIMED`) just after its claim: a pipe record
//!   is released only after the claim, and a receiver that attaches the end again reads
//!   it again, so the block must stay unclaimed and unfreed until then. A record it takes
//!   off the ring without receiving it (`poll`, or a message of the other kind: the end's
//!   stash, `pipe/recv.rs`) is registered plain `(pid, offset, nonce)` just after its
//!   release, as a queue consumer's before its claim, and cleared once a receive has
//!   claimed and registered the block (or before the end's drop frees it).
//!
//! Why the owner token cannot be stale: an entry names a block only while its holder
//! holds it (cleared before every free), and a nonce is stamped by the block's producer
//! before any record names it; so a dead holder's token in the block named by its entry
//! was put there by that holder. A block named by a damaged record is never freed: its
//! nonce does not match.
//!
//! A sweeper frees through the heap too (`reclaim_named`: `Heap::reclaim_noted` with the
//! entry it took over as the note, then the clear): killed between, it leaves the block
//! named by an entry under its own dead pid, its token in the claim word, for the next.
//!
//! # What can still leak
//!
//! A process killed at the one store after the heap's pop CAS (the note's; before
//! 2026-12-07 this window ran to the offset's store after `alloc` returned: the ALLOC
//! store, the return, the caller's code), or from the heap's clear of the note in a
//! free to the push's CAS (a load and a store; before, from the entry's clear through the
//! free's checks); on the heap's slow paths (carve, split, merge) from its CAS to the
//! header write; a pipe sender between its entry's clear and the record's commit, or a
//! `send_bytes` sender between its allocation and its registration; a pipe receiver
//! killed between its claim and its registration (or between a stashed record's release
//! and its registration); a sweeper killed between its takeover CAS and its claim-word
//! CAS (a claimed consumer's block: the claim word keeps the first holder's token, which
//! the next sweeper does not know; the word is found before the takeover, so only the two
//! CASes apart); and any block while the table is full ([`HOLDS`] holders at once: the
//! extra ones are not registered; a lost-record hook then claims and frees unregistered).
//! The lost-record hook holds its block as a consumer does ([`reclaim_lost`]). The
//! first two cannot be closed without a second CAS on the heap's fast path: a block
//! leaves a free list only through a CAS of the list's head, and the note is another
//! word (the heap's README, "Noted blocks"). Pid reuse only delays a reclaim (the pid
//! looks alive).

use crate::channel::mapping::Mapping;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{Header, HEADER_LEN};
use zeroproc_codec::spill::{
    claim_word, owner_token, Record, Recorder, SpilledBlock, SPILL_BODY_LEN,
};
use zeroproc_shm::heap::Heap;
use zeroproc_shm::Offset;

/// Entries in the table: holders that can hold a spilled block at once and be reclaimed
/// if killed.
pub(crate) const HOLDS: usize = 32;

/// Set in `pid` while the entry's owner is still writing `offset` and `nonce`.
const FILLING: u64 = 1 << 63;
/// Set in `pid` once the holder has claimed the block (claim word 0): only then may a
/// sweeper free it without its nonce. Pipe receivers only (queue consumers claim with
/// their owner token instead).
const CLAIMED: u64 = 1 << 62;
/// Set in `pid` while a producer allocates: `offset` is 0 (nothing allocated yet) or the
/// block the heap just returned, whose claim word holds anything yet.
const ALLOCATING: u64 = 1 << 61;
/// All the state bits of `pid`.
const STATE: u64 = FILLING | CLAIMED | ALLOCATING;

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

impl<'m> Registered<'m> {
    /// The entry's offset word, for the heap to name the block in as it hands it out
    /// (`Heap::alloc_noted`) and to clear as it takes it back (`Heap::free_noted`).
    pub(crate) fn note(&self) -> Option<&'m AtomicU64> {
        self.entry.map(|e| &e.offset)
    }

    /// Frees the claimed block `g` holds and then the entry: the heap clears the entry's
    /// offset right after the CAS that ends our ownership and before the block goes back
    /// to its list (`Heap::free_noted`), so a kill anywhere in between leaves the block
    /// named for a sweeper (before 2026-12-07 the entry was cleared first and a kill in
    /// the free's checks leaked the block). Without an entry: a plain free.
    pub(crate) fn free_claimed<T: rkyv::Archive>(
        &mut self,
        g: zeroproc_codec::payload::SpillGuard<'_, T>,
    ) {
        match self.note() {
            Some(note) => {
                let heap = g.heap();
                let _ = heap.free_noted(g.into_block().offset, note);
                self.clear();
            }
            None => {
                self.clear(); // (no entry: nothing to clear)
                drop(g);
            }
        }
    }

    /// Frees a block this producer allocated and never published (its reference could not
    /// be sent), then the entry: the heap clears the entry's offset right after its CAS
    /// (`Heap::free_noted`), so a kill in the free's checks leaves the block named for a
    /// sweeper. Without an entry: a plain free.
    pub(crate) fn free_unpublished(&mut self, heap: &Heap<'_>, block: SpilledBlock) {
        match self.note() {
            Some(note) => {
                let _ = heap.free_noted(block.offset, note);
            }
            None => {
                let _ = block.free(heap);
            }
        }
        self.clear();
    }

    /// For a producer's `spill_recorded`: keeps this entry in step with the block it holds
    /// (see the module docs: an intent before the allocation, the offset as the first
    /// thing after it, the nonce once stamped, cleared before a too-small block's free).
    pub(crate) fn record(&mut self, map: &'m Mapping, r: Record<'_>) {
        match r {
            Record::Allocating => {
                self.clear();
                *self = intent(map);
            }
            Record::Allocated(offset) => {
                if let Some(e) = self.entry {
                    // Relaxed: read by a sweeper only once we are dead (our death orders
                    // our stores before its reads, as for the ring's recovery).
                    e.offset.store(offset.get(), Ordering::Relaxed);
                }
            }
            Record::Stamped(b) => {
                if let Some(e) = self.entry {
                    let me = u64::from(zeroproc_shm::process::current_pid());
                    e.nonce.store(b.nonce, Ordering::Relaxed);
                    // Release: the nonce before the entry leaves ALLOCATING (a sweeper
                    // then claims by it); pairs with the sweeper's Acquire load.
                    e.pid.store(me, Ordering::Release);
                }
            }
            Record::Released => self.clear(),
        }
    }
}

/// A producer's holds-table registration as the [`Recorder`] of its spill: each record
/// goes to [`Registered::record`], and the heap names the block in the entry's offset
/// word ([`Registered::note`]) from the CAS that takes it.
pub(crate) struct Recording<'a, 'm> {
    pub(crate) held: &'a std::cell::RefCell<Registered<'m>>,
    pub(crate) map: &'m Mapping,
}

impl Recorder for Recording<'_, '_> {
    fn record(&mut self, r: Record<'_>) {
        self.held.borrow_mut().record(self.map, r);
    }
    fn note(&self) -> Option<&AtomicU64> {
        self.held.borrow().note()
    }
}

impl Registered<'_> {
    /// For a queue consumer's `decode_spilled_as` (which claims with our owner token:
    /// nothing to mark): `false` before an invalid block is freed ([`clear`](Self::clear)).
    pub(crate) fn owned(&mut self, owned: bool) {
        if !owned {
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
    let entry = register_block_at(map, block).map(|i| &map.header().holds.0[i]);
    Registered { entry }
}

/// [`register_block`] for a holder that cannot borrow the mapping (a pipe receiver's
/// stash, kept beside the mapping's `Arc`): the entry's index, for [`clear_at`]; `None`
/// when the table is full.
pub(crate) fn register_block_at(map: &Mapping, block: &SpilledBlock) -> Option<usize> {
    let me = u64::from(zeroproc_shm::process::current_pid());
    for (i, e) in map.header().holds.0.iter().enumerate() {
        // Acquire: pairs with the Release store that freed the entry (its last user is
        // done with it). Relaxed on failure: we only move on.
        if e.pid.compare_exchange(0, me | FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            e.offset.store(block.offset.get(), Ordering::Relaxed);
            e.nonce.store(block.nonce, Ordering::Relaxed);
            // Release: publishes offset and nonce before the entry counts as complete;
            // pairs with the sweeper's Acquire load of `pid`. Sequenced before our claim
            // CAS on the block, so a sweeper that sees the block claimed also sees this.
            e.pid.store(me, Ordering::Release);
            return Some(i);
        }
    }
    None
}

/// Frees entry `i` registered by [`register_block_at`] (as [`Registered::clear`]), if it
/// is still this process's: a forked child's copy of the holder leaves its parent's entry
/// (or whoever's reuses it after the parent cleared it) alone.
pub(crate) fn clear_at(map: &Mapping, i: usize) {
    let me = u64::from(zeroproc_shm::process::current_pid());
    if let Some(e) = map.header().holds.0.get(i) {
        // Release: as in `Registered::clear`. Relaxed on failure: not ours, nothing to do.
        let _ = e.pid.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// The block a spilled envelope names, for a holder that registers it apart from a claim.
pub(crate) fn spilled_block(bytes: &[u8]) -> Option<SpilledBlock> {
    block_of(bytes)
}

/// Takes back the block named by a spilled record that the ring's crash recovery dropped
/// (`Ring::set_lost_record_hook`): its consumer died holding the slot, or its producer
/// died holding it after the copy. Claims the block by the record's nonce and frees it;
/// false (nothing touched) for an inline or partial record, or a block already claimed
/// (its holder registered it: the sweep's business) or reclaimed by a sweeper.
///
/// The hook holds the block as a queue consumer does: registered before its claim, claimed
/// with its owner token, freed with `Heap::free_noted`, so that a recoverer killed inside
/// the hook leaves the block to a sweeper (before 2026-12-07 it claimed to 0 and freed
/// unregistered: a kill between the two leaked the block).
pub(crate) fn reclaim_lost(map: &Mapping, record: &[u8]) -> bool {
    let (Some(heap), Some(block)) = (map.heap(), block_of(record)) else { return false };
    let mut reg = register_block(map, &block);
    let Some(note) = reg.note() else {
        // The table is full: claim and free unregistered.
        return zeroproc_codec::payload::reclaim(heap, &block);
    };
    let Some(word) = claim_word(heap, block.offset) else { return false };
    // AcqRel: as a consumer's claim (`payload::claim`): one claimant of the nonce wins (a
    // consumer that registered and claimed the block, or a sweeper, makes this fail).
    let mine = word.compare_exchange(block.nonce, my_token(), Ordering::AcqRel, Ordering::Relaxed);
    let freed = mine.is_ok() && heap.free_noted(block.offset, note).is_ok();
    reg.clear(); // after the heap's CAS and its clear of the offset
    freed
}

/// Records that this producer is about to allocate a block (an empty registration when
/// the table is full): `ALLOCATING` with no offset, until [`Registered::record`] fills it.
pub(crate) fn intent(map: &Mapping) -> Registered<'_> {
    let me = u64::from(zeroproc_shm::process::current_pid());
    for e in &map.header().holds.0 {
        // Acquire: as in `register_block`.
        if e.pid.compare_exchange(0, me | FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            e.offset.store(0, Ordering::Relaxed);
            e.nonce.store(0, Ordering::Relaxed);
            // Release: publishes the zero offset before the entry counts as complete.
            e.pid.store(me | ALLOCATING, Ordering::Release);
            return Registered { entry: Some(e) };
        }
    }
    Registered { entry: None }
}

/// Whether some live process holds a block or is about to allocate one (an entry whose
/// pid is alive; dead holders' entries are the sweep's): a block may yet be freed.
pub(crate) fn any_live(map: &Mapping) -> bool {
    map.header().holds.0.iter().any(|e| {
        // Relaxed: a snapshot; a waiter looks again at every attempt.
        let p = e.pid.load(Ordering::Relaxed);
        p != 0 && zeroproc_shm::process::is_alive((p & !STATE) as u32)
    })
}

/// This process's owner token: what a queue consumer's claim stores in a block's claim
/// word (`decode_spilled_as`), naming it as the holder.
pub(crate) fn my_token() -> u64 {
    owner_token(zeroproc_shm::process::current_pid())
}

/// Sweeps of one channel run at most this often per process: each costs a liveness probe
/// (a few syscalls) per registered holder, and a producer waiting for heap room retries at
/// every freed block.
const SWEEP_EVERY: Duration = Duration::from_millis(5);

/// The origin of the sweep times kept in [`Mapping::last_sweep`] (nanoseconds since).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Frees the blocks held by consumers that died holding them; returns how many. Does
/// nothing if this process swept this channel less than [`SWEEP_EVERY`] ago. (The limit
/// was once per process: a process whose busy channel swept every few milliseconds never
/// swept its others.)
pub(crate) fn sweep(map: &Mapping, heap: &Heap<'_>) -> usize {
    let now = EPOCH.elapsed().as_nanos() as u64 + 1;
    // Relaxed: a rate limit only; two threads sweeping at once is harmless (the entry CAS
    // decides who frees).
    let last = map.last_sweep.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < SWEEP_EVERY.as_nanos() as u64 {
        return 0;
    }
    map.last_sweep.store(now, Ordering::Relaxed);
    sweep_now(map, heap)
}

/// [`sweep`] without its rate limit.
pub(crate) fn sweep_now(map: &Mapping, heap: &Heap<'_>) -> usize {
    let me = u64::from(zeroproc_shm::process::current_pid());
    let mut freed = 0;
    for e in &map.header().holds.0 {
        // Acquire: pairs with the holder's Release store of its complete entry.
        let p = e.pid.load(Ordering::Acquire);
        if p == 0 {
            continue;
        }
        let pid = (p & !STATE) as u32;
        if zeroproc_shm::process::is_alive(pid) {
            continue;
        }
        let (offset, nonce) = (e.offset.load(Ordering::Relaxed), e.nonce.load(Ordering::Relaxed));
        let offset = Offset::new(offset);
        // The block's claim word, found (validated against the heap: a few dozen
        // instructions) before the takeover: a sweeper killed between its takeover and its
        // CAS of the claim word leaves a claimed consumer's block under its own dead pid,
        // whose token is not in the word (leaked), so that gap is kept to the two CASes.
        let word = if p & FILLING == 0 { noted_claim_word(heap, offset) } else { None };
        // The entry becomes ours (keeping its CLAIMED / ALLOCATING mark) rather than free:
        // if we are killed while reclaiming, the next sweeper finds it under our dead pid
        // and carries on. AcqRel: one sweeper takes a dead holder's entry.
        let kept = p & (CLAIMED | ALLOCATING);
        if e.pid.compare_exchange(p, me | kept, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        let mut entry = Registered { entry: Some(e) }; // cleared on every path below
        if p & FILLING != 0 {
            // Died before the entry was complete: its words are not trustworthy. A
            // producer's intent or a queue consumer's registration had no block yet; a
            // pipe receiver's claimed block leaks (a window of a few instructions).
            continue;
        }
        let Some(word) = word else { continue };
        let done = if p & ALLOCATING != 0 {
            reclaim_allocated(heap, &mut entry, word, offset)
        } else {
            reclaim(heap, &mut entry, word, (offset, nonce), pid, kept != 0)
        };
        if done {
            freed += 1;
        }
    }
    freed
}

/// Frees a dead holder's block whose entry `entry` we took over (see the module docs):
/// * marked claimed (a pipe receiver): as it stands, if its claim word is 0;
/// * else if its claim word still holds the nonce (a producer's unpublished block, or
///   one a consumer died before claiming), or the dead holder's owner token (a queue
///   consumer that claimed it): by a CAS of that word to our own token — the entry now
///   names us, so a sweeper that takes over after our death frees it too.
///
/// Anything else (a block claimed by someone else, freed and reused, a damaged entry) is
/// left alone. The entry is cleared before the free.
fn reclaim(
    heap: &Heap<'_>,
    entry: &mut Registered<'_>,
    word: &AtomicU64,
    (offset, nonce): (Offset<u8>, u64),
    dead: u32,
    claimed: bool,
) -> bool {
    if claimed {
        // Acquire: pairs with the dead holder's AcqRel claim CAS (nonce → 0), ordered
        // before its CLAIMED mark; the entry proves it had not freed the block, so nobody
        // else owns it.
        if word.load(Ordering::Acquire) != 0 {
            return false;
        }
    } else {
        // AcqRel: as a reader's claim (`payload::claim`): exactly one claimant of a nonce
        // (or of the dead holder's token) wins; a block that was published and claimed by
        // someone else, or freed and reused, has another word and is left alone. The dead
        // holder's token cannot be stale: its entry names the block only while it held it.
        let me = my_token();
        let take = |from: u64| {
            from != 0
                && word.compare_exchange(from, me, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        };
        if !(take(nonce) || take(owner_token(dead))) {
            return false;
        }
    }
    reclaim_named(heap, entry, offset)
}

/// Frees `offset`, named by `entry` (taken over from a dead holder; its claim word ours
/// or 0), then clears the entry: the heap clears the entry's offset after its CAS and
/// before the push, so a sweeper killed anywhere here leaves the block named by an entry
/// under its own (dead) pid, its token in the claim word, and the next sweeper finishes.
fn reclaim_named(heap: &Heap<'_>, entry: &mut Registered<'_>, offset: Offset<u8>) -> bool {
    let Some(note) = entry.note() else { return false };
    // SAFETY: the entry named `offset` when its holder died (an entry names a block only
    // while it is out of every list: holders clear it, or the heap clears the offset,
    // before a block goes back); we took the entry over by CAS, and won the claim word:
    // nobody else acts on this block. ALLOC, or FREE in no list (the holder died inside
    // `alloc_noted` or `free_noted`).
    let freed = unsafe { heap.reclaim_noted(offset, note) }.is_ok();
    entry.clear();
    freed
}

/// The claim word of the block at `offset` named by a dead holder's entry: a live block,
/// or one its holder's `free_noted` had marked FREE but not yet put back in a list (its
/// payload untouched since).
fn noted_claim_word<'h>(heap: &Heap<'h>, offset: Offset<u8>) -> Option<&'h AtomicU64> {
    if heap.noted_size(offset).ok()? < zeroproc_codec::spill::BLOCK_PREFIX {
        return None;
    }
    let p = heap.ptr_len(offset, 8).ok()?;
    // SAFETY: the 16-byte aligned start of a block of at least 16 bytes (checked above)
    // in a mapping that lives for 'h; claim words are only ever accessed atomically.
    Some(unsafe { &*p.as_ptr().cast::<AtomicU64>() })
}

/// Frees the block a producer died holding between its allocation and its stamp
/// (`ALLOCATING` with an offset, entry taken over): it is the dead producer's, never
/// published, whatever its claim word holds. Stamped with our token and turned into a
/// plain entry of ours first, so that a sweeper that takes over after our death frees it
/// by that token.
fn reclaim_allocated(
    heap: &Heap<'_>,
    entry: &mut Registered<'_>,
    word: &AtomicU64,
    offset: Offset<u8>,
) -> bool {
    let Some(e) = entry.entry else { return false };
    // Release: the token before the entry leaves ALLOCATING (below).
    word.store(my_token(), Ordering::Release);
    // Release: pairs with a later sweeper's Acquire load of `pid`.
    e.pid.store(u64::from(zeroproc_shm::process::current_pid()), Ordering::Release);
    reclaim_named(heap, entry, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Queue;

    /// A pid that belongs to no process: an exited, reaped child.
    fn dead_pid() -> u64 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        u64::from(c.id())
    }

    /// Registers, in `q`'s holds table, an unclaimed block of its heap as held by a
    /// process that has died.
    fn dead_holder(q: &Queue<Vec<u8>>) {
        let heap = q.map.heap().expect("a spill heap");
        let b = zeroproc_codec::spill::spill_bytes(heap, &[7; 4096]).unwrap();
        let i = register_block_at(&q.map, &b).expect("a free entry");
        // Relaxed: single-threaded test setup (the entry is complete).
        q.map.header().holds.0[i].pid.store(dead_pid(), Ordering::Relaxed);
    }

    #[test]
    fn clear_at_leaves_an_entry_that_is_no_longer_this_process_s() {
        // A forked child's copy of a pipe end's stash hold must not clear the entry its
        // parent registered, nor one that another process reuses after the parent's clear.
        let q = Queue::<Vec<u8>>::new(4).unwrap();
        let heap = q.map.heap().expect("a spill heap");
        let b = zeroproc_codec::spill::spill_bytes(heap, &[7; 4096]).unwrap();
        let i = register_block_at(&q.map, &b).expect("a free entry");
        let e = &q.map.header().holds.0[i];
        // Relaxed (test): as if another process had taken the entry.
        e.pid.store(dead_pid(), Ordering::Relaxed);
        clear_at(&q.map, i);
        assert_ne!(e.pid.load(Ordering::Relaxed), 0, "another process's entry was cleared");
        // Relaxed (test): ours again.
        e.pid.store(u64::from(zeroproc_shm::process::current_pid()), Ordering::Relaxed);
        clear_at(&q.map, i);
        assert_eq!(e.pid.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn sweeping_one_channel_does_not_postpone_the_sweep_of_another() {
        // The rate limit was one per process: a process whose busy queue swept every few
        // milliseconds never swept its other queue, whose put then saw no live holder and
        // gave up with TooLarge (after 1 s) on a block a sweep would have freed.
        let (a, b) = (Queue::<Vec<u8>>::new(4).unwrap(), Queue::<Vec<u8>>::new(4).unwrap());
        dead_holder(&a);
        dead_holder(&b);
        assert_eq!(sweep(&a.map, a.map.heap().unwrap()), 1);
        assert_eq!(sweep(&b.map, b.map.heap().unwrap()), 1, "b's dead holder was not swept");
        assert_eq!(b.heap_stats().unwrap().in_use_blocks(), 0);
    }
}
