//! Mutations as transactions over one commit word, and recovery (the protocol is in
//! `README.md` beside this file).
//!
//! A [`Tx`] records every block it allocates (`intent.new`) and every block it retires
//! (`intent.old`) before the one store that makes the mutation visible — the **commit
//! word** — whose address and new value go into the intent just before that store. After
//! the commit the retired blocks are freed and the intent is cleared. Whoever takes the
//! lock next and finds an intent (the holder died, or panicked in this process) decides by
//! reading the commit word: it holds the new value → finish (free the retired blocks);
//! otherwise → undo (free the new blocks). Frees are idempotent here: freeing a block twice
//! is refused by the heap (`DoubleFree`), and nothing else allocates in between, because
//! only the lock holder allocates or frees in a container's heap.

use super::blob::{blob_size, write_blob};
use super::header::{Intent, KIND_LIST};
use super::store::{Locked, Store};
use super::table::{EMPTY, TOMB};
use super::ContainerError;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use zeroproc_shm::heap::AllocError;
use zeroproc_shm::Offset;

/// One mutation in progress, holding the lock through `l`.
pub(crate) struct Tx<'l, 's> {
    l: &'l Locked<'s>,
    n_new: usize,
    n_old: usize,
    done: bool,
}

impl<'s> Locked<'s> {
    /// Starts a mutation (the intent must be clear: it is, after `Store::lock`).
    pub(crate) fn tx(&self) -> Tx<'_, 's> {
        Tx { l: self, n_new: 0, n_old: 0, done: false }
    }

    fn intent(&self) -> &Intent {
        &self.header().intent
    }

    /// Whether an earlier holder left a mutation unfinished.
    #[inline]
    pub(crate) fn intent_pending(&self) -> bool {
        let i = self.intent();
        // Acquire: pairs with the Release stores of a holder that died in this process's
        // view only through the lock; cheap insurance for the rare check.
        i.commit_at.load(Acquire) | i.new[0].load(Acquire) | i.old[0].load(Acquire) != 0
    }

    /// Finishes or undoes the mutation a dead (or panicked) holder left, then recomputes
    /// the bookkeeping counters from the table. Idempotent: a recoverer that dies halfway
    /// leaves work its successor redoes.
    #[cold]
    pub(crate) fn recover(&self) {
        let i = self.intent();
        // Acquire (intent and commit word): pair with the dead holder's Release stores in
        // `Tx::alloc`/`retire`/`commit`, ordered for us by taking the lock after it.
        let at = i.commit_at.load(Acquire);
        let committed = at != 0
            && self.word_at(at).is_some_and(|w| w.load(Acquire) == i.commit_val.load(Acquire));
        if committed {
            self.finish_committed();
        } else {
            self.undo();
        }
        self.recount();
        // Relaxed: a statistic.
        self.header().recoveries.fetch_add(1, Relaxed);
    }

    /// The commit word at segment offset `at`, if it is an in-bounds aligned word.
    fn word_at(&self, at: u64) -> Option<&AtomicU64> {
        let p = self.store.segment().resolve(Offset::<AtomicU64>::new(at), 1).ok()?;
        // SAFETY: in bounds and aligned (checked by `resolve`); an atomic may be shared.
        Some(unsafe { p.as_ref() })
    }

    /// After the commit: frees the retired blocks (a deep-retired table's entries first),
    /// then clears the intent.
    fn finish_committed(&self) {
        let i = self.intent();
        // Acquire (intent loads here and below): pair with the Release stores recording it.
        if i.deep.load(Acquire) == 1 {
            self.free_entries(i.old[0].load(Acquire));
            // Release: the entries are freed before the table may be (a recoverer that
            // sees 0 will not walk a table that might already be freed).
            i.deep.store(0, Release);
        }
        for o in &i.old {
            let off = o.load(Acquire);
            if off > TOMB {
                // A DoubleFree (a recovery repeating a free) is expected and harmless.
                Store::free_block(self.heap(), Offset::new(off));
            }
        }
        self.clear_intent();
    }

    /// Without a commit: frees the new blocks, then clears the intent.
    fn undo(&self) {
        for n in &self.intent().new {
            // Acquire: pairs with the Release record in `Tx::alloc`.
            let off = n.load(Acquire);
            if off > TOMB {
                Store::free_block(self.heap(), Offset::new(off));
            }
        }
        self.clear_intent();
    }

    /// Clears the intent: new blocks first (so that a crash here can never make a later
    /// recovery free a committed block), then the retired ones, then the commit record.
    fn clear_intent(&self) {
        let i = self.intent();
        // Release (all): program order is what a recoverer relies on.
        for n in &i.new {
            n.store(0, Release);
        }
        for o in &i.old {
            o.store(0, Release);
        }
        i.deep.store(0, Release);
        i.commit_val.store(0, Release);
        i.commit_at.store(0, Release);
    }

    /// Frees every entry block of the (intact, retired) table at `off`.
    fn free_entries(&self, off: u64) {
        // Acquire (entry offsets below): pair with the Release commits that published them.
        let offs: Vec<u64> = if self.store.kind() == KIND_LIST {
            match self.list_table_at(off) {
                Ok(t) => {
                    let n = t.length().unwrap_or(0);
                    t.items[..n].iter().map(|w| w.load(Acquire)).collect()
                }
                Err(_) => return,
            }
        } else {
            match self.dict_table_at(off) {
                Ok(t) => t.slots.iter().map(|s| s.blob.load(Acquire)).collect(),
                Err(_) => return,
            }
        };
        for b in offs.into_iter().filter(|&b| b > TOMB) {
            Store::free_block(self.heap(), Offset::new(b));
        }
    }

    /// Recomputes `len` and `tombs` of a dict or namespace from its table.
    fn recount(&self) {
        if self.store.kind() == KIND_LIST {
            return; // a list's length lives in its table
        }
        let (mut len, mut tombs) = (0, 0);
        if let Ok(t) = self.dict_table() {
            for s in t.slots {
                // Acquire: pairs with the slot's Release commit.
                match s.blob.load(Acquire) {
                    EMPTY => {}
                    TOMB => tombs += 1,
                    _ => len += 1,
                }
            }
        }
        // Relaxed: read and written only under the lock.
        self.header().len.store(len, Relaxed);
        self.header().tombs.store(tombs, Relaxed);
    }
}

impl<'s> Tx<'_, 's> {
    /// Allocates a block of `size` bytes (16-aligned) for this mutation and records it.
    pub(crate) fn alloc(&mut self, size: usize) -> Result<(u64, NonNull<u8>), ContainerError> {
        assert!(self.n_new < 2, "a mutation allocates at most two blocks");
        let heap = self.l.heap();
        let off = heap.alloc(size, 16).map_err(|e| match e {
            AllocError::GrowFailed { error, .. } => ContainerError::Grow(error),
            _ => ContainerError::Full { requested: size },
        })?;
        // Release: recorded before anything refers to the block (program order for a
        // recoverer).
        self.l.header().intent.new[self.n_new].store(off.get(), Release);
        self.n_new += 1;
        let p = heap
            .ptr_len(off, size)
            .map_err(|_| ContainerError::Corrupt("allocated block out of bounds"))?;
        Ok((off.get(), p))
    }

    /// Allocates and writes an entry block; returns its offset.
    pub(crate) fn write_blob(
        &mut self,
        hash: u64,
        tag: u64,
        key: &[u8],
        value: &[u8],
    ) -> Result<u64, ContainerError> {
        let size = blob_size(key.len(), value.len())
            .filter(|_| key.len() <= u32::MAX as usize && value.len() <= u32::MAX as usize)
            .ok_or(ContainerError::Full { requested: usize::MAX })?;
        let (off, p) = self.alloc(size)?;
        // SAFETY: a fresh block of `size` bytes, 16-aligned, owned by this mutation alone.
        unsafe { write_blob(p.as_ptr(), hash, tag, key, value) };
        Ok(off)
    }

    /// Records a block to free once the mutation has committed.
    pub(crate) fn retire(&mut self, off: u64) {
        assert!(self.n_old < 2, "a mutation retires at most two blocks");
        // Release: recorded before the commit.
        self.l.header().intent.old[self.n_old].store(off, Release);
        self.n_old += 1;
    }

    /// Records a table to free, with every entry it refers to, once committed (clear).
    pub(crate) fn retire_deep(&mut self, table: u64) {
        assert_eq!(self.n_old, 0, "a deep retire is the mutation's only retire");
        self.retire(table);
        // Release: recorded before the commit, after `old[0]`.
        self.l.header().intent.deep.store(1, Release);
    }

    /// Makes the mutation visible by storing `val` into `word` (which must lie in the
    /// container's segment), then frees what it retired and clears the intent.
    pub(crate) fn commit(mut self, word: &AtomicU64, val: u64) {
        let seg = self.l.store.segment();
        let at = (word as *const AtomicU64 as usize).wrapping_sub(seg.base() as usize) as u64;
        debug_assert!((at as usize) < seg.len(), "commit word outside the segment");
        let i = &self.l.header().intent;
        // Release (both): the commit record precedes the commit in program order.
        i.commit_val.store(val, Release);
        i.commit_at.store(at, Release);
        // The commit point. Release: the new blocks' contents precede it; pairs with the
        // Acquire loads of the next holder (the lock orders them too).
        word.store(val, Release);
        // Relaxed: a statistic.
        self.l.header().mutations.fetch_add(1, Relaxed);
        self.done = true;
        self.l.finish_committed();
    }
}

impl Drop for Tx<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            // Not committed (an error, or a panic unwinding): give back the new blocks.
            self.l.undo();
        }
    }
}
