//! Merging free neighbours when the heap is at its maximum: the last resort of `alloc`.
//!
//! Blocks never split or coalesce on their own (every alloc/free stays one CAS). When an
//! allocation finds its class empty, no room to carve and no larger free block, it takes
//! the heap's **merge lock** and runs one merge pass:
//!
//! ```text
//! lock:    CAS merge_owner 0 → me (me = thread token << 32 | pid); held by a dead pid:
//!          CAS it → me and recover its stash first (below); held by a live one: sleep, retry;
//!          held by a *halted* one (stopped or traced, looked at after 10 ms of waiting and
//!          every 10 ms after that): no pass, OutOfMemory (the caller's wait retries)
//! carve:   carve the rest of the bump area into the largest blocks that fit → stash
//! drain:   pop every free list empty (at most `carved` pops per class) → stash
//! pick:    read the stash, sort by position, find the shortest window of physically
//!          adjacent blocks whose sizes add up to the request
//! return:  pop the stash block by block; blocks outside the window → their free lists,
//!          blocks inside it → held by this process only
//! rewrite: per window block: carved[class] -= 1, header word → 0; then the requested
//!          block at the window start (ALLOC, carved += 1) and the rest cut into free
//!          blocks (header FREE, carved += 1, push)
//! unlock:  merge_owner → 0 (Release)
//! ```
//!
//! **The stash** is a list (through `link`, like a free list) headed by the header's
//! `stash` word, touched only by the lock's owner. (`release_free_pages`, `trim.rs`, takes
//! the lock too and holds the large free blocks on the stash while their pages go.) It holds every block the pass took, so a
//! merger killed with them is not a leak: whoever takes the lock from the dead owner first
//! pushes every stash block back to its class list (validating each header; a damaged one
//! cuts the list there). What a killed merger can leak is what any killed allocator can:
//! the one block between a pop (or carve) and the stash store, the one between the stash
//! pop and the push back, and the window it holds during the rewrite (as large as the
//! request plus at most one block). Class counters are lowered before a window block's
//! header is destroyed and raised only after a new header is written, so after a crash
//! they undercount (the bytes show as `HeapStats::unaccounted`, as for a killed carve)
//! and never claim a block that does not exist: `check()` stays exact.
//!
//! Other allocators are not blocked by a pass: they find the lists drained and come here,
//! and wait for the lock; frees go on pushing to the class lists.
//!
//! **A holder that stops** (SIGSTOP, a debugger) keeps the lock, and with it every free
//! block it drained into its stash, until it resumes: nobody may take either from a live
//! process, which would go on using them. Allocations that need a merge (or any block
//! that is in its stash) meanwhile find no room. So as not to wait inside `alloc` for as
//! long as the stop lasts (a caller with a deadline could not keep it), a waiter that finds
//! the holder halted gives up with `OutOfMemory`; [`Heap::merge_holder`] names the holder
//! for a caller that wants to say why it waits.

use super::block::{self, FREE};
use super::class::{class_for_units, units, UNIT};
use super::Heap;
use crate::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::process::is_halted;
use crate::process::{current_pid, is_alive};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Units this process's merges left unusable (`cut_free`: a window one unit longer than
/// the request where no class is one unit larger; see the module docs).
static LOST_UNITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bytes that merges in this process left unusable, in all heaps: a merge that found no
/// run of free neighbours but one a single unit (16 bytes) longer than the request, where
/// no block class is that unit larger, gives the request its block and leaves the unit
/// out of every block (merge.rs module docs). Those bytes show in
/// [`HeapStats::unaccounted`](super::HeapStats::unaccounted) with those of processes
/// killed mid-carve; this tells the two apart in one process.
///
/// ```
/// assert_eq!(zeroproc_shm::heap::lost_merge_bytes() % 16, 0);
/// ```
pub fn lost_merge_bytes() -> u64 {
    // Relaxed: a statistic.
    LOST_UNITS.load(Ordering::Relaxed) * UNIT
}

/// How long a waiter sleeps between looks at a merge lock held by a live process.
const LOCK_NAP: Duration = Duration::from_micros(50);

/// How long a waiter waits for a live holder of the merge lock before it first looks
/// whether the holder is halted (a pass takes well under a millisecond per thousand free
/// blocks), and how often it looks again (one `/proc` read each).
const HALT_PROBE_EVERY: Duration = Duration::from_millis(10);

/// A number unique to this thread in this process (1, 2, …), so that two threads of one
/// process never both believe they hold the merge lock.
fn thread_token() -> u64 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        // Relaxed: only uniqueness matters.
        static TOKEN: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t as u64)
}

/// Releases the merge lock when dropped.
pub(crate) struct MergeGuard<'h>(&'h crate::atomic::AtomicU64);

impl Drop for MergeGuard<'_> {
    fn drop(&mut self) {
        // Release: everything the pass wrote (headers, pushes, the emptied stash) happens
        // before the next owner's Acquire CAS.
        self.0.store(0, Release);
    }
}

/// The merge lock's owner word for the calling thread.
fn owner_word() -> u64 {
    (thread_token() << 32) | current_pid() as u64
}

/// How `units` units (at least 2) are cut into blocks: the largest class of at most
/// `max_class` first, never leaving a remainder of 1 unit (no block is that small). Returns
/// the classes in order; a final unit that cannot be used at all is left out.
pub(crate) fn cut(mut rest: u64, max_class: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while rest >= 2 {
        // class_for_units rounds up: step back to the largest class that fits.
        let mut c = class_for_units(rest).map_or(max_class, |c| c.min(max_class));
        while units(c) > rest || rest - units(c) == 1 {
            if c == 0 {
                return out;
            }
            c -= 1;
        }
        out.push(c);
        rest -= units(c);
    }
    out
}

impl Heap<'_> {
    /// One merge pass for a block of `class` (see the module docs): the index and class of
    /// a block of that class (or, when a single unit would be left over, of the class one
    /// unit larger), marked ALLOC and owned by the caller, or `None` when no run of free
    /// neighbours is long enough.
    pub(crate) fn merge_for(&self, class: u32, note: Option<&AtomicU64>) -> Option<(u64, u32)> {
        // A halted holder: no pass now (see the module docs).
        let _lock = self.merge_lock(owner_word())?;
        // The pass that held the lock while we waited may have handed back what we need.
        if let Ok(Some(idx)) = self.pop_noted(class, note) {
            return Some((idx, class));
        }
        for c in class + 1..self.num_classes {
            if let Ok(Some(idx)) = self.pop(c) {
                return Some((idx, self.split(idx, c, class, note)));
            }
        }
        // Fewer free bytes than the block: no run can be long enough, so spare the heap a
        // pass (which would move every free block out and back, each move a window in
        // which a kill leaks that block). A read-only count: a concurrent pop or push can
        // make it wrong by a block; a pass skipped that way is retried by the caller after
        // the next free, as for any full heap.
        // The room a growable heap may still grow into counts (the pass grows into it).
        let growable =
            if self.fd >= 0 { self.max_len.saturating_sub(self.region_len()) } else { 0 };
        if self.free_bytes_estimate().saturating_add(growable) < units(class) * UNIT {
            return None;
        }
        self.merge_pass(class, note)
    }

    /// Takes the merge lock for this thread (as [`merge_lock`](Self::merge_lock)): for
    /// another holder of free blocks than a merge pass, which keeps them on the stash so
    /// that they come back if its process dies (`trim.rs`).
    pub(crate) fn stash_lock(&self) -> Option<MergeGuard<'_>> {
        self.merge_lock(owner_word())
    }

    /// Takes the merge lock for `me`, recovering a dead owner's stash; released when the
    /// guard drops (also on unwinding, so a panicking thread of a live process cannot keep
    /// it). `None` when the holder is halted (stopped or traced): it keeps the lock until it
    /// resumes, which may be never.
    fn merge_lock(&self, me: u64) -> Option<MergeGuard<'_>> {
        let lock = &self.header().merge_owner;
        let mut probe_at = None;
        loop {
            // Acquire: pairs with the Release unlock, so the previous pass's writes (and
            // an empty stash) are visible.
            match lock.compare_exchange(0, me, Acquire, Relaxed) {
                Ok(_) => return Some(MergeGuard(lock)),
                Err(owner) if !is_alive(owner as u32) => {
                    // Acquire: as above; a dead owner's stores were made before it died.
                    if lock.compare_exchange(owner, me, Acquire, Relaxed).is_ok() {
                        self.recover_stash();
                        return Some(MergeGuard(lock));
                    }
                }
                Err(owner) => {
                    let now = Instant::now();
                    let at = *probe_at.get_or_insert(now + HALT_PROBE_EVERY);
                    if now >= at {
                        if is_halted(owner as u32) {
                            return None;
                        }
                        probe_at = Some(now + HALT_PROBE_EVERY);
                    }
                    std::thread::sleep(LOCK_NAP);
                }
            }
        }
    }

    /// The pid of the process holding the heap's merge lock (running a merge pass, see
    /// the module docs), if any: a diagnostic for a caller whose allocation keeps failing
    /// while the heap is at its maximum — a holder that is stopped keeps every free block
    /// it took until it resumes.
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-holder", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// assert_eq!(heap.merge_holder(), None); // no pass running
    /// ```
    pub fn merge_holder(&self) -> Option<u32> {
        // Relaxed: a snapshot for reporting; the owner word's low half is the pid.
        match self.header().merge_owner.load(Relaxed) {
            0 => None,
            owner => Some(owner as u32),
        }
    }

    /// Pushes every block of a dead merger's stash back to its class list. Called with the
    /// merge lock held.
    fn recover_stash(&self) {
        while let Some((idx, c)) = self.stash_pop() {
            self.push(c, idx);
        }
    }

    /// Puts block `idx` of class `c` (owned by the caller, which holds the merge lock) on
    /// the stash, marked FREE.
    pub(crate) fn stash_push(&self, idx: u64, c: u32) {
        let hd = self.header();
        let b = self.block(idx);
        // Relaxed (word, link): published by the Release store of `stash` below.
        b.word.store(block::word(self.salt, idx, FREE, c), Relaxed);
        b.link.store(hd.stash.load(Relaxed), Relaxed);
        // Release: the block's header is complete before it is reachable from `stash` (for
        // a process that recovers the stash after we die).
        hd.stash.store(idx, Release);
    }

    /// Takes the first block off the stash: its index and class. A damaged header ends the
    /// stash there (the rest is leaked, as a damaged free list is cut).
    pub(crate) fn stash_pop(&self) -> Option<(u64, u32)> {
        let hd = self.header();
        // Acquire: pairs with the Release store in `stash_push`.
        let idx = hd.stash.load(Acquire);
        if idx == 0 {
            return None;
        }
        let valid = self.idx_in_blocks(idx) && {
            // Relaxed: ordered by the Acquire above.
            let w = self.block(idx).word.load(Relaxed);
            let c = block::class_of(w);
            c < self.num_classes && w == block::word(self.salt, idx, FREE, c)
        };
        if !valid {
            hd.stash.store(0, Release);
            return None;
        }
        let b = self.block(idx);
        // Relaxed: as above.
        let c = block::class_of(b.word.load(Relaxed));
        let next = b.link.load(Relaxed);
        let next = if next == 0 || self.idx_in_blocks(next) { next } else { 0 };
        // Release: a recovering process never sees `idx` in the stash once we hand it on.
        hd.stash.store(next, Release);
        Some((idx, c))
    }

    /// The pass itself, with the merge lock held and the stash empty.
    fn merge_pass(&self, class: u32, note: Option<&AtomicU64>) -> Option<(u64, u32)> {
        let need = units(class);
        // Grow to the maximum first: a growable heap refuses to grow for a block that does
        // not fit after the bump pointer, yet the free blocks carved last and the room past
        // them may together hold it (a heap that carried 200 then 400 MiB refused 800 MiB
        // under a 1 GiB maximum, all its blocks free). A failed growth (the system refused
        // the memory) leaves the region as it is.
        let _ = self.grow_to_limit();
        // Carve the rest of the bump area: those bytes are free too, and neighbours of the
        // last blocks.
        loop {
            // Relaxed: a hint; `carve` re-checks under the extent.
            let rest = self.carve_remaining() / UNIT;
            let Some(&c) = cut(rest, self.num_classes - 1).first() else { break };
            let Some(idx) = self.carve(c) else { break };
            self.stash_push(idx, c);
        }
        // Drain every free list (bounded: blocks freed meanwhile may keep a list busy).
        for c in 0..self.num_classes {
            // Relaxed: a bound only.
            let bound = self.slot(c).carved.load(Relaxed);
            for _ in 0..bound {
                match self.pop(c) {
                    Ok(Some(idx)) => self.stash_push(idx, c),
                    _ => break,
                }
            }
        }
        let window = self.pick_window(need);
        // Hand every block back except the window's, which stays ours alone.
        let mut held = Vec::new();
        while let Some((idx, c)) = self.stash_pop() {
            if window.is_some_and(|(s, e)| idx >= s && idx < e) {
                held.push((idx, c));
            } else {
                self.push(c, idx);
            }
        }
        let (s, e) = window?;
        for &(idx, c) in &held {
            // Relaxed (both): the block is ours; lowering the count first keeps it from
            // ever counting a block that no longer exists (see the module docs). Every
            // block that reaches a list or the stash was counted, so this never goes below
            // zero; saturate anyway rather than wrap.
            let _ = self.slot(c).carved.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
            self.block(idx).word.store(0, Relaxed);
        }
        // A window one unit longer than the request: the class one unit larger, if any,
        // takes it all (otherwise that unit is lost, see `cut_free`).
        let class = match class + 1 {
            c if e - s == need + 1 && c < self.num_classes && units(c) == need + 1 => c,
            _ => class,
        };
        let b = self.block(s);
        // Relaxed: ours; handed to others through the caller's synchronisation, as a pop.
        b.link.store(0, Relaxed);
        b.word.store(block::word(self.salt, s, block::ALLOC, class), Relaxed);
        self.note(note, s);
        self.slot(class).carved.fetch_add(1, Relaxed);
        self.cut_free(s + units(class), e);
        Some((s, class))
    }

    /// The shortest run of physically adjacent stash blocks, first by position, whose
    /// sizes add up to `need` units or at least `need + 2` (the rest is cut into blocks,
    /// and none is 1 unit): `(first header, end)` in units. Failing that, a run of exactly
    /// `need + 1`: its last unit is then lost (see the module docs).
    fn pick_window(&self, need: u64) -> Option<(u64, u64)> {
        let mut blocks = Vec::new();
        // Acquire: pairs with `stash_push`; the stash is ours.
        let mut idx = self.header().stash.load(Acquire);
        while idx != 0 && self.idx_in_blocks(idx) {
            let b = self.block(idx);
            // Relaxed: written by this thread.
            blocks.push((idx, units(block::class_of(b.word.load(Relaxed)))));
            idx = b.link.load(Relaxed);
        }
        blocks.sort_unstable();
        let mut fallback = None;
        let mut lo = 0;
        let mut total = 0;
        for hi in 0..blocks.len() {
            if hi > lo && blocks[hi - 1].0 + blocks[hi - 1].1 != blocks[hi].0 {
                lo = hi;
                total = 0;
            }
            total += blocks[hi].1;
            while total - blocks[lo].1 >= need && total - blocks[lo].1 != need + 1 {
                total -= blocks[lo].1;
                lo += 1;
            }
            let window = (blocks[lo].0, blocks[hi].0 + blocks[hi].1);
            if total == need || total >= need + 2 {
                return Some(window);
            }
            if total == need + 1 && fallback.is_none() {
                fallback = Some(window);
            }
        }
        fallback
    }

    /// Takes block `idx` of class `from` (owned by the caller: just popped) down to class
    /// `to`: its first `units(to)` units become the caller's block (ALLOC), the rest is cut
    /// into free blocks pushed to their lists. Counters as in the merge's rewrite: lowered
    /// before a header goes, raised after one is written, so a process killed in between
    /// leaks the pieces (as unaccounted bytes) and never leaves a count too high.
    ///
    /// Returns the class the caller's block has: `from` itself (nothing split) when the
    /// rest would be a single unit, which no block can hold.
    pub(crate) fn split(&self, idx: u64, from: u32, to: u32, note: Option<&AtomicU64>) -> u32 {
        debug_assert!(to < from);
        if units(from) - units(to) == 1 {
            self.note(note, idx);
            return from;
        }
        // Relaxed (counters, headers): the block is ours; the pieces are published by the
        // Release CAS in `push`, the caller's block through the caller's synchronisation.
        let _ = self.slot(from).carved.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        let b = self.block(idx);
        b.link.store(0, Relaxed);
        b.word.store(block::word(self.salt, idx, block::ALLOC, to), Relaxed);
        // Named once its header is the request's: a kill while the rest is cut leaks only
        // the pieces not yet pushed (unaccounted bytes), not the block.
        self.note(note, idx);
        self.slot(to).carved.fetch_add(1, Relaxed);
        self.cut_free(idx + units(to), idx + units(from));
        to
    }

    /// Names the block whose header is at `idx` in `note` (its payload offset), if given.
    #[inline]
    pub(crate) fn note(&self, note: Option<&AtomicU64>, idx: u64) {
        if let Some(n) = note {
            // Relaxed: as in `pop_noted`.
            n.store(self.region_off + (idx + 1) * UNIT, Relaxed);
        }
    }

    /// Cuts the units `at..end` (owned by the caller, no valid header inside but at `at`
    /// itself possibly) into free blocks, counts them and pushes them.
    fn cut_free(&self, mut at: u64, end: u64) {
        for c in cut(end - at, self.num_classes - 1) {
            // Relaxed: published by the Release CAS in `push`.
            self.block(at).word.store(block::word(self.salt, at, FREE, c), Relaxed);
            self.slot(c).carved.fetch_add(1, Relaxed);
            self.push(c, at);
            at += units(c);
        }
        if at < end {
            // The one unit no block can use: no header may be left valid there.
            self.block(at).word.store(0, Relaxed);
            // Relaxed: a statistic.
            LOST_UNITS.fetch_add(end - at, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_covers_every_length_without_one_unit_remainders() {
        for n in 2..2000u64 {
            let cs = cut(n, 40);
            let sum: u64 = cs.iter().map(|&c| units(c)).sum();
            assert_eq!(sum, n, "length {n}: {cs:?}");
        }
        assert!(cut(1, 40).is_empty());
        assert_eq!(cut(7, 40), vec![5], "one block of 7 units");
        assert_eq!(cut(9, 40), vec![5, 0], "8 + 1 would leave a unit over");
        assert_eq!(cut(1000, 3), vec![3; 200], "capped at the largest class");
    }
}
