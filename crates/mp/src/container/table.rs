//! The two table blocks, validated before use:
//!
//! ```text
//! dict / namespace:  [cap u64][reserved u64][Slot{hash u64, blob u64} × cap]   cap = 2^k
//! list:              [len u64][cap u64][item u64 × cap]                        len ≤ cap
//! ```
//!
//! A slot's `blob` is `EMPTY` (0), `TOMB` (1, a removed entry: probing continues past it)
//! or the offset of a live entry block. A list item below `len` is the offset of a live
//! entry block. Tables are only read and written by the lock holder; a table is replaced
//! (grown, compacted, cleared, or rebuilt by a list insert/remove) by allocating a new one
//! and committing its offset to the header's `table` word.

use super::header::KIND_LIST;
use super::store::Locked;
use super::ContainerError;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Acquire;
use zeroproc_shm::Offset;

/// Bytes before the slots of a dict table.
pub(crate) const DICT_TABLE_HEADER: usize = 16;
/// Bytes before the items of a list table.
pub(crate) const LIST_TABLE_HEADER: usize = 16;
/// A slot that never held an entry: ends a probe.
pub(crate) const EMPTY: u64 = 0;
/// A slot whose entry was removed: a probe continues past it.
pub(crate) const TOMB: u64 = 1;
/// Largest table capacity accepted from shared memory (2^40 slots).
const MAX_CAP: u64 = 1 << 40;

/// One hash table slot.
#[repr(C)]
pub(crate) struct Slot {
    /// The key's hash (written before `blob` is committed).
    pub hash: AtomicU64,
    /// `EMPTY`, `TOMB` or an entry block's offset: a commit word.
    pub blob: AtomicU64,
}

/// A validated view of a dict table.
pub(crate) struct DictTable<'a> {
    pub off: u64,
    pub slots: &'a [Slot],
}

/// A validated view of a list table.
pub(crate) struct ListTable<'a> {
    pub off: u64,
    /// The list's length: a commit word (push, pop).
    pub len: &'a AtomicU64,
    pub items: &'a [AtomicU64],
}

impl ListTable<'_> {
    /// The current length, checked against the capacity.
    #[inline]
    pub(crate) fn length(&self) -> Result<usize, ContainerError> {
        // Acquire: pairs with the Release commit of `len` (by this or an earlier holder).
        let n = self.len.load(Acquire);
        if n > self.items.len() as u64 {
            return Err(ContainerError::Corrupt("list length exceeds its table"));
        }
        Ok(n as usize)
    }
}

/// Initialises a fresh table block of `size` bytes for `cap` entries.
///
/// # Safety
/// `p` must point to a block of at least `size` bytes, 16-byte aligned, owned by the
/// caller alone (not yet committed anywhere).
pub(crate) unsafe fn init_table(p: NonNull<u8>, kind: u32, cap: u64, size: usize) {
    // SAFETY: the caller owns the block (size bytes): zero it (EMPTY slots, len 0), then
    // write the capacity word.
    unsafe {
        p.as_ptr().write_bytes(0, size);
        let words = p.as_ptr().cast::<u64>();
        if kind == KIND_LIST {
            words.add(1).write(cap);
        } else {
            words.write(cap);
        }
    }
}

/// Bytes of a table of `cap` entries of `kind`.
pub(crate) fn table_size(kind: u32, cap: u64) -> Option<usize> {
    let (header, entry) =
        if kind == KIND_LIST { (LIST_TABLE_HEADER, 8) } else { (DICT_TABLE_HEADER, 16) };
    (cap as usize).checked_mul(entry)?.checked_add(header)
}

impl Locked<'_> {
    /// The block at `off` as (pointer, usable bytes), if it is a live heap block.
    fn table_block(&self, off: u64) -> Result<(NonNull<u8>, usize), ContainerError> {
        let o = Offset::new(off);
        let size = self.heap().usable_size(o).map_err(|_| corrupt_table())?;
        let p = self.heap().ptr_len(o, size).map_err(|_| corrupt_table())?;
        Ok((p, size))
    }

    /// The current table of a dict or namespace.
    pub(crate) fn dict_table(&self) -> Result<DictTable<'_>, ContainerError> {
        // Acquire: pairs with the Release commit of a new table.
        self.dict_table_at(self.header().table.load(Acquire))
    }

    /// The dict table at `off`, validated.
    pub(crate) fn dict_table_at(&self, off: u64) -> Result<DictTable<'_>, ContainerError> {
        let (p, size) = self.table_block(off)?;
        if size < DICT_TABLE_HEADER {
            return Err(corrupt_table());
        }
        // SAFETY: a live block of `size ≥ 16` bytes, 16-aligned; the words are atomics.
        let cap = unsafe { &*p.as_ptr().cast::<AtomicU64>() }.load(Acquire);
        if !cap.is_power_of_two() || cap > MAX_CAP || table_size(0, cap).is_none_or(|n| n > size) {
            return Err(ContainerError::Corrupt("dict table capacity invalid"));
        }
        // SAFETY: `cap` slots of 16 bytes follow the header inside the block (checked);
        // slots are atomics, so a shared slice is sound however others use them.
        let slots = unsafe {
            std::slice::from_raw_parts(p.as_ptr().add(DICT_TABLE_HEADER).cast::<Slot>(), cap as _)
        };
        Ok(DictTable { off, slots })
    }

    /// The current table of a list.
    pub(crate) fn list_table(&self) -> Result<ListTable<'_>, ContainerError> {
        // Acquire: pairs with the Release commit of a new table.
        self.list_table_at(self.header().table.load(Acquire))
    }

    /// The list table at `off`, validated.
    pub(crate) fn list_table_at(&self, off: u64) -> Result<ListTable<'_>, ContainerError> {
        let (p, size) = self.table_block(off)?;
        if size < LIST_TABLE_HEADER {
            return Err(corrupt_table());
        }
        let words = p.as_ptr().cast::<AtomicU64>();
        // SAFETY: the block holds at least the two header words (checked), 16-aligned.
        let (len, cap) = unsafe { (&*words, (*words.add(1)).load(Acquire)) };
        if cap > MAX_CAP || table_size(KIND_LIST, cap).is_none_or(|n| n > size) {
            return Err(ContainerError::Corrupt("list table capacity invalid"));
        }
        // SAFETY: `cap` items of 8 bytes follow the header inside the block (checked).
        let items = unsafe { std::slice::from_raw_parts(words.add(2), cap as usize) };
        let t = ListTable { off, len, items };
        t.length()?;
        Ok(t)
    }
}

#[cold]
fn corrupt_table() -> ContainerError {
    ContainerError::Corrupt("table offset is not a live heap block")
}
