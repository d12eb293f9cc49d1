//! The per-class Treiber free lists and the bump pointer: every state change is one CAS.
//!
//! A list head is one 64-bit word, `tag << idx_bits | idx`: `idx` is the block's header
//! position in 16-byte units from the region start (0, the heap header, means "empty"), and
//! `tag` is incremented by every successful push and pop. A pop that read `head` and the
//! head block's `link` can only succeed if no other push or pop happened in between, so a
//! block that was popped and pushed back meanwhile (ABA) makes its CAS fail instead of
//! installing a stale `link`. The tag has `64 - idx_bits` bits (at least 24): a pop is only
//! fooled if it stalls between its load and its CAS while exactly a multiple of
//! `2^(64-idx_bits)` operations hit the same class.

use super::block::{self, ALLOC, FREE};
use super::class::{block_bytes, UNIT};
use super::failpoint::{self, Failpoint};
use super::{AllocError, Heap};
use crate::atomic::AtomicU64;
use crate::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::extent;

/// What the first half of a pop attempt found.
pub(crate) enum PopRead {
    /// The list is empty.
    Empty,
    /// The head block's link: what the commit installs.
    Next(u64),
    /// The head moved on; retry from this value.
    Retry(u64),
}

impl Heap<'_> {
    #[inline]
    pub(crate) fn idx_mask(&self) -> u64 {
        (1u64 << self.idx_bits) - 1
    }

    /// `head` with index `idx` and the tag after `head`'s.
    #[inline]
    fn next_head(&self, head: u64, idx: u64) -> u64 {
        let tag = (head >> self.idx_bits).wrapping_add(1);
        // Bits of the tag shifted out at the top are dropped: the tag wraps.
        (tag << self.idx_bits) | idx
    }

    /// Whether a header at unit index `idx` lies in the block area (its 16 bytes in bounds).
    #[inline]
    pub(crate) fn idx_in_blocks(&self, idx: u64) -> bool {
        // The current length (Acquire inside `get`): headers below it are backed.
        idx >= self.blocks_start / UNIT && idx < self.region_len() / UNIT
    }

    /// Pushes the block whose header is at `idx` (already marked FREE, class `c`) onto the
    /// free list of class `c`.
    pub(crate) fn push(&self, c: u32, idx: u64) {
        let slot = self.slot(c);
        let b = self.block(idx);
        // Relaxed: nothing is read through this value; the CAS below validates it.
        let mut head = slot.head.load(Relaxed);
        loop {
            // Relaxed: published by the Release CAS below.
            b.link.store(head & self.idx_mask(), Relaxed);
            // Release: publishes `link`, the FREE header word and every write the block's
            // last owner made to it. Pairs with the Acquire load/CAS in `pop`; all later
            // head changes are CASes, so they continue this release sequence.
            match slot.head.compare_exchange_weak(head, self.next_head(head, idx), Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Pops a block of class `c` and marks it ALLOC; `Ok(None)` when the list is empty.
    #[inline]
    pub(crate) fn pop(&self, c: u32) -> Result<Option<u64>, AllocError> {
        self.pop_noted(c, None)
    }

    /// [`pop`](Self::pop), storing the block's payload offset in `note` (if given) as the
    /// first thing after the CAS that took it, before its header says ALLOC: from there on
    /// a process that dies holding the block leaves it named (`alloc_noted`, the README's
    /// "Noted blocks").
    #[inline]
    pub(crate) fn pop_noted(
        &self,
        c: u32,
        note: Option<&AtomicU64>,
    ) -> Result<Option<u64>, AllocError> {
        let slot = self.slot(c);
        // Acquire: pairs with the Release CAS in `push` that made this block the head, so
        // its `link` (read next) is the one written before that push.
        let mut head = slot.head.load(Acquire);
        let idx = loop {
            let next = match self.pop_read(c, head)? {
                PopRead::Empty => return Ok(None),
                PopRead::Next(next) => next,
                PopRead::Retry(now) => {
                    head = now;
                    continue;
                }
            };
            // The offset is worked out before the CAS: between the CAS and the note's
            // store there is nothing but the store (the window a kill still leaks in).
            let payload = self.region_off + ((head & self.idx_mask()) + 1) * UNIT;
            match self.pop_commit(c, head, next) {
                Ok(idx) => {
                    if let Some(n) = note {
                        // Relaxed: read by a reclaimer only after this process died (it
                        // learns that by a system call that observes the exit, after
                        // every store of ours), as for the holds table's other words.
                        n.store(payload, Relaxed);
                    }
                    break idx;
                }
                Err(now) => head = now,
            }
        };
        failpoint::hit(Failpoint::Popped);
        let b = self.block(idx);
        // Relaxed: this word was written before the push we synchronised with.
        if b.word.load(Relaxed) != block::word(self.salt, idx, FREE, c) {
            // Overwritten by a buffer overrun; it stays out of circulation (leaked).
            return Err(self.corrupted(c, idx));
        }
        // Relaxed: the block is exclusively ours; the caller hands its offset to others
        // through its own synchronisation, which orders this store before their `free`.
        b.word.store(block::word(self.salt, idx, ALLOC, c), Relaxed);
        Ok(Some(idx))
    }

    /// First half of a pop attempt: reads the `link` of the block at `head` (a value the
    /// caller Acquire-loaded from class `c`'s head).
    pub(crate) fn pop_read(&self, c: u32, head: u64) -> Result<PopRead, AllocError> {
        let idx = head & self.idx_mask();
        if idx == 0 {
            return Ok(PopRead::Empty);
        }
        if !self.idx_in_blocks(idx) {
            return Err(self.corrupted(c, idx));
        }
        // Relaxed: ordered after the caller's Acquire of `head`. If another thread popped
        // this block meanwhile the value may be stale, but then the tag moved and the
        // commit's CAS fails.
        let next = self.block(idx).link.load(Relaxed);
        if next == 0 || self.idx_in_blocks(next) {
            return Ok(PopRead::Next(next));
        }
        // Either a stale read (the head moved on: retry) or a damaged header. Then the rest
        // of the list is unreachable: cut it off (leaking it) so that the class keeps
        // working, and report the damage.
        let cut = self.next_head(head, 0);
        // Acquire (both outcomes): as in `pop_commit`.
        match self.slot(c).head.compare_exchange(head, cut, Acquire, Acquire) {
            Ok(_) => Err(self.corrupted(c, idx)),
            Err(now) => Ok(PopRead::Retry(now)),
        }
    }

    /// Second half of a pop attempt: the CAS from `head` to `next` with the tag advanced.
    /// Returns the popped block's index, or the current head when `head` is no longer it.
    pub(crate) fn pop_commit(&self, c: u32, head: u64, next: u64) -> Result<u64, u64> {
        // Acquire (both outcomes): on success we own the block and must see its last
        // owner's writes; on failure the caller reads `link` of the new head next. Pairs
        // with the Release CAS in `push`.
        match self.slot(c).head.compare_exchange_weak(
            head,
            self.next_head(head, next),
            Acquire,
            Acquire,
        ) {
            Ok(_) => Ok(head & self.idx_mask()),
            Err(now) => Err(now),
        }
    }

    fn corrupted(&self, c: u32, idx: u64) -> AllocError {
        AllocError::Corrupt { class: c, header: self.region_off + idx * UNIT }
    }

    /// Carves a fresh block of class `c` from the bump area, marked ALLOC; `None` when the
    /// area is exhausted.
    pub(crate) fn carve(&self, c: u32) -> Option<u64> {
        let hd = self.header();
        // One CAS on the bump pointer, below the current length (Relaxed CAS: it only hands
        // out disjoint ranges; the length is read with Acquire, so the range is backed).
        let cur = extent::claim(&hd.bump, &hd.len, block_bytes(c))?;
        let idx = cur / UNIT;
        let b = self.block(idx);
        // Relaxed: fresh memory owned by us alone; handed to others as in `pop`.
        b.link.store(0, Relaxed);
        // Relaxed: as above.
        b.word.store(block::word(self.salt, idx, ALLOC, c), Relaxed);
        // Relaxed: a statistic and the bound of free-list walks; a process killed before
        // this line leaves the block uncounted (reported as `HeapStats::unaccounted`).
        self.slot(c).carved.fetch_add(1, Relaxed);
        Some(idx)
    }
}
