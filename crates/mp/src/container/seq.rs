//! The list engine behind [`SharedList`](super::SharedList): a table of entry offsets
//! whose length word lives in the table itself.
//!
//! Commit words: the table's `len` (push, pop), an item (set), or the header's `table`
//! (grow, insert, remove, clear — these build a new table and swap it in, so a crash
//! never leaves a half-shifted list).

use super::blob::Blob;
use super::header::KIND_LIST;
use super::store::{Locked, FIRST_CAPACITY};
use super::table::{init_table, table_size, ListTable};
use super::ContainerError;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

impl Locked<'_> {
    /// The list's length.
    pub(crate) fn seq_len(&self) -> Result<usize, ContainerError> {
        self.list_table()?.length()
    }

    /// The entry at `index`.
    pub(crate) fn seq_get(&self, index: usize) -> Result<Option<Blob<'_>>, ContainerError> {
        let t = self.list_table()?;
        if index >= t.length()? {
            return Ok(None);
        }
        // Acquire: pairs with the Release commit that published the item.
        self.blob(t.items[index].load(Acquire)).map(Some)
    }

    /// Calls `f` on every entry in order.
    pub(crate) fn seq_for_each(
        &self,
        mut f: impl FnMut(usize, Blob<'_>) -> Result<(), ContainerError>,
    ) -> Result<(), ContainerError> {
        let t = self.list_table()?;
        for (i, w) in t.items[..t.length()?].iter().enumerate() {
            // Acquire: as in `seq_get`.
            f(i, self.blob(w.load(Acquire))?)?;
        }
        Ok(())
    }

    /// The table, its length, and the entry offset at `index` (which must be below the
    /// length).
    fn seq_item(&self, index: usize) -> Result<(ListTable<'_>, usize, u64), ContainerError> {
        let t = self.list_table()?;
        let len = t.length()?;
        if index >= len {
            return Err(ContainerError::IndexOutOfRange { index, len });
        }
        // Acquire: pairs with the Release commit that published the item.
        let b = t.items[index].load(Acquire);
        Ok((t, len, b))
    }

    /// Appends an entry holding `value`.
    pub(crate) fn seq_push(&self, value: &[u8]) -> Result<(), ContainerError> {
        let mut t = self.list_table()?;
        let n = t.length()?;
        if n == t.items.len() {
            self.seq_regrow(&t, (n as u64 * 2).max(FIRST_CAPACITY))?;
            t = self.list_table()?;
        }
        let mut tx = self.tx();
        let nb = tx.write_blob(0, 0, &[], value)?;
        // Relaxed: beyond the length nobody reads the item; published by the commit.
        t.items[n].store(nb, Relaxed);
        tx.commit(t.len, n as u64 + 1);
        Ok(())
    }

    /// Removes the last entry; `on_old` sees it before it is freed.
    pub(crate) fn seq_pop<R>(
        &self,
        on_old: impl FnOnce(Blob<'_>) -> Result<R, ContainerError>,
    ) -> Result<Option<R>, ContainerError> {
        let t = self.list_table()?;
        let n = t.length()?;
        if n == 0 {
            return Ok(None);
        }
        // Acquire: as in `seq_get`.
        let b = t.items[n - 1].load(Acquire);
        let r = on_old(self.blob(b)?)?;
        let mut tx = self.tx();
        tx.retire(b);
        tx.commit(t.len, n as u64 - 1);
        Ok(Some(r))
    }

    /// Replaces the entry at `index`; `on_old` sees the old one before it is freed.
    pub(crate) fn seq_set<R>(
        &self,
        index: usize,
        value: &[u8],
        on_old: impl FnOnce(Blob<'_>) -> Result<R, ContainerError>,
    ) -> Result<R, ContainerError> {
        let (t, _, b) = self.seq_item(index)?;
        let r = on_old(self.blob(b)?)?;
        let mut tx = self.tx();
        let nb = tx.write_blob(0, 0, &[], value)?;
        tx.retire(b);
        tx.commit(&t.items[index], nb);
        Ok(r)
    }

    /// Inserts an entry holding `value` before `index` (`index == len` appends).
    pub(crate) fn seq_insert(&self, index: usize, value: &[u8]) -> Result<(), ContainerError> {
        let t = self.list_table()?;
        let len = t.length()?;
        if index > len {
            return Err(ContainerError::IndexOutOfRange { index, len });
        }
        let cap = t.items.len() as u64;
        let cap = if len as u64 == cap { (cap * 2).max(FIRST_CAPACITY) } else { cap };
        let mut tx = self.tx();
        let nb = tx.write_blob(0, 0, &[], value)?;
        // Acquire (item loads below): pairs with the Release commits that published them.
        let nt = self.seq_copy(&mut tx, cap, |out| {
            let old = &t.items[..len];
            out.extend(old[..index].iter().map(|w| w.load(Acquire)));
            out.push(nb);
            out.extend(old[index..].iter().map(|w| w.load(Acquire)));
        })?;
        tx.retire(t.off);
        tx.commit(&self.header().table, nt);
        Ok(())
    }

    /// Removes the entry at `index`; `on_old` sees it before it is freed.
    pub(crate) fn seq_remove<R>(
        &self,
        index: usize,
        on_old: impl FnOnce(Blob<'_>) -> Result<R, ContainerError>,
    ) -> Result<R, ContainerError> {
        let (t, len, b) = self.seq_item(index)?;
        let r = on_old(self.blob(b)?)?;
        let mut tx = self.tx();
        // Acquire (item loads below): pairs with the Release commits that published them.
        let nt = self.seq_copy(&mut tx, t.items.len() as u64, |out| {
            let old = &t.items[..len];
            out.extend(old[..index].iter().map(|w| w.load(Acquire)));
            out.extend(old[index + 1..].iter().map(|w| w.load(Acquire)));
        })?;
        tx.retire(t.off);
        tx.retire(b);
        tx.commit(&self.header().table, nt);
        Ok(r)
    }

    /// Removes every entry.
    pub(crate) fn seq_clear(&self) -> Result<(), ContainerError> {
        let t = self.list_table()?;
        let mut tx = self.tx();
        let nt = self.seq_copy(&mut tx, FIRST_CAPACITY, |_| {})?;
        tx.retire_deep(t.off);
        tx.commit(&self.header().table, nt);
        Ok(())
    }

    /// Replaces the table by one of `cap` items holding the same entries.
    #[cold]
    fn seq_regrow(&self, t: &ListTable<'_>, cap: u64) -> Result<(), ContainerError> {
        let len = t.length()?;
        let mut tx = self.tx();
        // Acquire (item loads below): pairs with the Release commits that published them.
        let nt = self.seq_copy(&mut tx, cap, |out| {
            out.extend(t.items[..len].iter().map(|w| w.load(Acquire)));
        })?;
        tx.retire(t.off);
        tx.commit(&self.header().table, nt);
        Ok(())
    }

    /// Allocates (in `tx`) a list table of `cap` items holding the offsets `fill` lists.
    fn seq_copy(
        &self,
        tx: &mut super::tx::Tx<'_, '_>,
        cap: u64,
        fill: impl FnOnce(&mut Vec<u64>),
    ) -> Result<u64, ContainerError> {
        let mut offs = Vec::new();
        fill(&mut offs);
        debug_assert!(offs.len() as u64 <= cap);
        let size =
            table_size(KIND_LIST, cap).ok_or(ContainerError::Full { requested: usize::MAX })?;
        let (nt, p) = tx.alloc(size)?;
        // SAFETY: a fresh block of `size` bytes owned by this mutation.
        unsafe { init_table(p, KIND_LIST, cap, size) };
        let new = self.list_table_at(nt)?;
        for (w, o) in new.items.iter().zip(&offs) {
            // Relaxed: the table is ours alone until committed (Release in commit).
            w.store(*o, Relaxed);
        }
        new.len.store(offs.len() as u64, Relaxed);
        Ok(nt)
    }
}
