//! The hash table engine behind [`SharedDict`](super::SharedDict) and
//! [`Namespace`](super::Namespace): open addressing with linear probing over byte keys.
//!
//! Every mutation is one [`Tx`](super::tx) with one commit word: a slot's `blob` (insert,
//! replace, remove) or the header's `table` (grow/compact, clear). `len` and `tombs` are
//! bookkeeping updated after the commit and recomputed by recovery.

use super::blob::Blob;
use super::store::{Locked, FIRST_CAPACITY};
use super::table::{table_size, DictTable, EMPTY, TOMB};
use super::ContainerError;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// Where a key is, or where it would go.
#[derive(Debug, Clone, Copy)]
enum Probe {
    Found { slot: usize, blob: u64 },
    Vacant { slot: usize, tomb: bool },
}

impl Locked<'_> {
    /// Looks `key` (with `hash`) up in `t`.
    fn probe(&self, t: &DictTable<'_>, hash: u64, key: &[u8]) -> Result<Probe, ContainerError> {
        let mask = t.slots.len() - 1;
        let mut first_tomb = None;
        let mut i = hash as usize & mask;
        for _ in 0..t.slots.len() {
            let s = &t.slots[i];
            // Acquire: pairs with the Release commit of the slot.
            match s.blob.load(Acquire) {
                EMPTY => {
                    return Ok(match first_tomb {
                        Some(slot) => Probe::Vacant { slot, tomb: true },
                        None => Probe::Vacant { slot: i, tomb: false },
                    })
                }
                TOMB => {
                    first_tomb.get_or_insert(i);
                }
                // Relaxed: the hash was written before the slot's commit (acquired above).
                b if s.hash.load(Relaxed) == hash && self.blob(b)?.key == key => {
                    return Ok(Probe::Found { slot: i, blob: b });
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
        first_tomb
            .map(|slot| Probe::Vacant { slot, tomb: true })
            .ok_or(ContainerError::Corrupt("hash table has no free slot"))
    }

    /// The entry for `key`, if any.
    pub(crate) fn map_get(
        &self,
        hash: u64,
        key: &[u8],
    ) -> Result<Option<Blob<'_>>, ContainerError> {
        let t = self.dict_table()?;
        match self.probe(&t, hash, key)? {
            Probe::Found { blob, .. } => self.blob(blob).map(Some),
            Probe::Vacant { .. } => Ok(None),
        }
    }

    /// Inserts or replaces the entry for `key`. `on_old` sees the replaced entry (before
    /// it is freed) and may refuse the mutation by returning an error.
    pub(crate) fn map_put<R>(
        &self,
        hash: u64,
        tag: u64,
        key: &[u8],
        value: &[u8],
        on_old: impl FnOnce(Option<Blob<'_>>) -> Result<R, ContainerError>,
    ) -> Result<R, ContainerError> {
        self.map_reserve(1)?;
        let t = self.dict_table()?;
        let probe = self.probe(&t, hash, key)?;
        let r = match probe {
            Probe::Found { blob, .. } => on_old(Some(self.blob(blob)?))?,
            Probe::Vacant { .. } => on_old(None)?,
        };
        let mut tx = self.tx();
        let nb = tx.write_blob(hash, tag, key, value)?;
        let h = self.header();
        match probe {
            Probe::Found { slot, blob } => {
                tx.retire(blob);
                tx.commit(&t.slots[slot].blob, nb);
            }
            Probe::Vacant { slot, tomb } => {
                // Relaxed: published by the Release commit of `blob` just below.
                t.slots[slot].hash.store(hash, Relaxed);
                tx.commit(&t.slots[slot].blob, nb);
                // Relaxed (counters): read and written under the lock only.
                h.len.fetch_add(1, Relaxed);
                if tomb {
                    h.tombs.fetch_sub(1, Relaxed);
                }
            }
        }
        Ok(r)
    }

    /// Removes the entry for `key`; `on_old` sees it before it is freed.
    pub(crate) fn map_remove<R>(
        &self,
        hash: u64,
        key: &[u8],
        on_old: impl FnOnce(Blob<'_>) -> Result<R, ContainerError>,
    ) -> Result<Option<R>, ContainerError> {
        let t = self.dict_table()?;
        let Probe::Found { slot, blob } = self.probe(&t, hash, key)? else { return Ok(None) };
        let r = on_old(self.blob(blob)?)?;
        let mut tx = self.tx();
        tx.retire(blob);
        tx.commit(&t.slots[slot].blob, TOMB);
        let h = self.header();
        // Relaxed (counters): under the lock only.
        h.len.fetch_sub(1, Relaxed);
        h.tombs.fetch_add(1, Relaxed);
        Ok(Some(r))
    }

    /// Stores what an update closure left: `Some(value)` inserts or replaces the entry,
    /// `None` removes it if there was one (`had`).
    pub(crate) fn map_store(
        &self,
        hash: u64,
        tag: u64,
        key: &[u8],
        had: bool,
        value: Option<&[u8]>,
    ) -> Result<(), ContainerError> {
        match value {
            Some(v) => self.map_put(hash, tag, key, v, |_| Ok(())),
            None if had => self.map_remove(hash, key, |_| Ok(())).map(drop),
            None => Ok(()),
        }
    }

    /// Calls `f` on every live entry, in table order.
    pub(crate) fn map_for_each(
        &self,
        mut f: impl FnMut(Blob<'_>) -> Result<(), ContainerError>,
    ) -> Result<(), ContainerError> {
        let t = self.dict_table()?;
        for s in t.slots {
            // Acquire: pairs with the Release commit of the slot.
            let b = s.blob.load(Acquire);
            if b > TOMB {
                f(self.blob(b)?)?;
            }
        }
        Ok(())
    }

    /// Live entries.
    pub(crate) fn map_len(&self) -> usize {
        // Relaxed: under the lock (recovery recomputed it if a holder died).
        self.header().len.load(Relaxed) as usize
    }

    /// Removes every entry: a fresh empty table replaces the old one, whose entries are
    /// freed after the commit.
    pub(crate) fn map_clear(&self) -> Result<(), ContainerError> {
        let old = self.dict_table()?;
        let kind = self.store.kind();
        let size = table_size(kind, FIRST_CAPACITY).expect("small");
        let mut tx = self.tx();
        let (nt, p) = tx.alloc(size)?;
        // SAFETY: a fresh block of `size` bytes owned by this mutation.
        unsafe { super::table::init_table(p, kind, FIRST_CAPACITY, size) };
        tx.retire_deep(old.off);
        tx.commit(&self.header().table, nt);
        // Relaxed (counters): under the lock only.
        self.header().len.store(0, Relaxed);
        self.header().tombs.store(0, Relaxed);
        Ok(())
    }

    /// Makes room for `extra` more entries at a load factor ≤ 3/4 (tombstones count):
    /// rebuilds the table — larger, or the same size without tombstones.
    fn map_reserve(&self, extra: u64) -> Result<(), ContainerError> {
        let t = self.dict_table()?;
        let h = self.header();
        // Relaxed: under the lock only.
        let (len, tombs) = (h.len.load(Relaxed), h.tombs.load(Relaxed));
        let cap = t.slots.len() as u64;
        if (len + tombs + extra) * 4 <= cap * 3 {
            return Ok(());
        }
        let want = ((len + extra) * 2).max(FIRST_CAPACITY).next_power_of_two();
        self.rebuild(&t, want)
    }

    /// Copies the live slots of `old` into a new table of `cap` slots and commits it.
    #[cold]
    fn rebuild(&self, old: &DictTable<'_>, cap: u64) -> Result<(), ContainerError> {
        let kind = self.store.kind();
        let size = table_size(kind, cap).ok_or(ContainerError::Full { requested: usize::MAX })?;
        let mut tx = self.tx();
        let (nt, p) = tx.alloc(size)?;
        // SAFETY: a fresh block of `size` bytes owned by this mutation.
        unsafe { super::table::init_table(p, kind, cap, size) };
        let new = self.dict_table_at(nt)?;
        let mask = new.slots.len() - 1;
        let mut len = 0;
        for s in old.slots {
            // Acquire: pairs with the slot's Release commit.
            let b = s.blob.load(Acquire);
            if b <= TOMB {
                continue;
            }
            // Relaxed: the hash preceded the commit acquired above.
            let hash = s.hash.load(Relaxed);
            if len + 1 >= cap {
                return Err(ContainerError::Corrupt("more live entries than the count says"));
            }
            let mut i = hash as usize & mask;
            // Relaxed: the new table is ours alone until committed.
            while new.slots[i].blob.load(Relaxed) != EMPTY {
                i = (i + 1) & mask;
            }
            // Relaxed (both): the new table is ours alone; the Release commit of the
            // header's `table` word (below) publishes it.
            new.slots[i].hash.store(hash, Relaxed);
            new.slots[i].blob.store(b, Relaxed);
            len += 1;
        }
        tx.retire(old.off);
        // Release (inside commit) publishes the filled table.
        tx.commit(&self.header().table, nt);
        // Relaxed (counters): under the lock only.
        self.header().len.store(len, Relaxed);
        self.header().tombs.store(0, Relaxed);
        Ok(())
    }
}
