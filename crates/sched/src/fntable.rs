//! The pool's function table: the trampoline ids the controller has submitted to this
//! pool. A worker calls a job's function only if its id is in the table (and, as for
//! every worker, the build fingerprint matched at start-up), so a garbage id in a
//! submission record is answered with an error instead of a jump to an arbitrary address.
//!
//! * [`FnTable`] lives in the pool segment (inside `PoolHeader`): a count and up to
//!   [`FN_TABLE_SLOTS`] ids, append-only. Single writer: the controller, under the pool
//!   lock; each id is stored before the count that publishes it (Release).
//! * [`Registry`] is the controller's side (in the pool lock's `Core`): a direct-mapped
//!   cache of registered ids checked on every placement (one load and compare on a hit),
//!   a set behind it, and the table's length kept locally (never re-read from shared
//!   memory, which any process of the user could damage).
//! * [`Validated`] is the worker's side: the same kind of cache; on a miss it merges the
//!   table entries it has not seen yet into a local set and looks again.
//!
//! This is a corruption check, not a defence against a hostile process of the same user
//! (which can write the table as easily as the record): see docs/reliability.md.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

/// Distinct functions one pool can run over its life: submitting a new one beyond this
/// fails without running, with [`JobError::Decode`](crate::JobError::Decode) whose message
/// (printed alone) says "the pool's function table is full" (see
/// [`Pool::submit`](crate::Pool::submit)).
///
/// ```
/// assert_eq!(zeroproc_sched::FN_TABLE_SLOTS, 4096);
/// ```
pub const FN_TABLE_SLOTS: usize = 4096;

/// Entries of the direct-mapped caches (controller and worker).
const CACHE: usize = 256;

/// The shared table (all atomics: valid for any bits).
#[repr(C, align(64))]
pub struct FnTable {
    /// Ids in use. Writer: the controller (Release, after the id it publishes).
    count: AtomicU32,
    /// Registered trampoline ids, in registration order.
    ids: [AtomicU32; FN_TABLE_SLOTS],
}

/// The table already holds [`FN_TABLE_SLOTS`] ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull;

/// How [`TableFull`]'s message starts: the errors that carry it as their `message`
/// (`JobError::Decode`, `TrySubmitError::Encode`, `SubmitTimeoutError::Encode`) print it
/// alone instead of under their own "job data invalid" / "arguments not encodable"
/// (the job's data was fine: the function could not be registered).
pub(crate) const TABLE_FULL: &str = "the pool's function table is full";

/// Whether an error `message` is [`TableFull`]'s (see [`TABLE_FULL`]).
pub(crate) fn is_table_full(message: &str) -> bool {
    message.starts_with(TABLE_FULL)
}

impl std::fmt::Display for TableFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{TABLE_FULL}: {FN_TABLE_SLOTS} distinct functions were submitted to this pool \
             already, and a pool runs at most that many; the job was not run (its \
             arguments were not the problem). Submit fewer distinct functions (one \
             function taking a tag or an enum in its arguments instead of many), or use \
             another pool"
        )
    }
}

/// Cache slot of `id` (ids are code offsets: the low bits are mostly alignment).
#[inline(always)]
fn slot_of(id: u32) -> usize {
    (id.wrapping_mul(0x9e37_79b9) >> 24) as usize % CACHE
}

/// A cache entry: the id with a presence bit (so that id 0 is not "cached" by default).
#[inline(always)]
fn entry(id: u32) -> u64 {
    u64::from(id) | 1 << 32
}

/// Controller side (lives in `Core`, behind the pool lock).
pub(crate) struct Registry {
    cache: Box<[u64; CACHE]>,
    known: HashSet<u32>,
    /// Entries written to the shared table (the controller's own count).
    len: usize,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry { cache: Box::new([0; CACHE]), known: HashSet::new(), len: 0 }
    }

    /// Makes sure `id` is in `table` before a record naming it is committed. A few
    /// nanoseconds when it already is (the hot path).
    #[inline]
    pub(crate) fn ensure(&mut self, table: &FnTable, id: u32) -> Result<(), TableFull> {
        let s = slot_of(id);
        if self.cache[s] == entry(id) {
            return Ok(());
        }
        self.register(table, id, s)
    }

    #[cold]
    fn register(&mut self, table: &FnTable, id: u32, s: usize) -> Result<(), TableFull> {
        if !self.known.contains(&id) {
            if self.len >= FN_TABLE_SLOTS {
                return Err(TableFull);
            }
            // Relaxed: published by the Release store of the count below.
            table.ids[self.len].store(id, Ordering::Relaxed);
            self.len += 1;
            // Release: pairs with the Acquire load in `Validated::refresh`. The job record
            // naming `id` is committed after this (Release on the ring's tail), so a worker
            // that reads the record sees the id here.
            table.count.store(self.len as u32, Ordering::Release);
            self.known.insert(id);
        }
        self.cache[s] = entry(id);
        Ok(())
    }
}

/// Worker side: the ids this worker has validated against the table.
pub(crate) struct Validated {
    cache: Box<[u64; CACHE]>,
    known: HashSet<u32>,
    /// Table entries merged into `known` so far.
    seen: usize,
}

impl Validated {
    pub(crate) fn new() -> Validated {
        Validated { cache: Box::new([0; CACHE]), known: HashSet::new(), seen: 0 }
    }

    /// True if `id` is in the pool's function table. A load and a compare when this
    /// worker has met `id` before.
    #[inline]
    pub(crate) fn contains(&mut self, table: &FnTable, id: u32) -> bool {
        let s = slot_of(id);
        if self.cache[s] == entry(id) {
            return true;
        }
        self.miss(table, id, s)
    }

    #[cold]
    fn miss(&mut self, table: &FnTable, id: u32, s: usize) -> bool {
        if !self.known.contains(&id) {
            self.refresh(table);
            if !self.known.contains(&id) {
                return false;
            }
        }
        self.cache[s] = entry(id);
        true
    }

    /// Merges the entries registered since the last look.
    fn refresh(&mut self, table: &FnTable) {
        // Acquire: pairs with the Release store in `Registry::register`. A damaged count
        // is clamped to the table's size.
        let n = (table.count.load(Ordering::Acquire) as usize).min(FN_TABLE_SLOTS);
        for slot in table.ids.iter().take(n).skip(self.seen) {
            // Relaxed: ordered by the Acquire load of the count.
            self.known.insert(slot.load(Ordering::Relaxed));
        }
        self.seen = self.seen.max(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Box<FnTable> {
        // SAFETY: FnTable is all atomics; all-zero bits are a valid, empty table.
        unsafe { Box::new(std::mem::zeroed()) }
    }

    #[test]
    fn only_registered_ids_are_valid() {
        let t = table();
        let (mut reg, mut w) = (Registry::new(), Validated::new());
        assert!(!w.contains(&t, 0), "id 0 is not cached by default");
        assert!(!w.contains(&t, 0x1230));
        reg.ensure(&t, 0x1230).unwrap();
        reg.ensure(&t, 0x1230).unwrap();
        assert_eq!(t.count.load(Ordering::Relaxed), 1, "registered once");
        assert!(w.contains(&t, 0x1230));
        assert!(w.contains(&t, 0x1230), "cached");
        assert!(!w.contains(&t, 0x1240));
        // Ids colliding in the caches are both kept (the sets behind the caches).
        let other = (1..u32::MAX).find(|&i| slot_of(i) == slot_of(0x1230) && i != 0x1230).unwrap();
        reg.ensure(&t, other).unwrap();
        assert!(w.contains(&t, other));
        assert!(w.contains(&t, 0x1230));
        assert_eq!(t.count.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_table_is_an_error_and_a_damaged_count_is_clamped() {
        let t = table();
        let mut reg = Registry::new();
        for i in 0..FN_TABLE_SLOTS as u32 {
            reg.ensure(&t, i * 16).unwrap();
        }
        assert_eq!(reg.ensure(&t, 7), Err(TableFull));
        assert_eq!(reg.ensure(&t, 16), Ok(()), "registered ids still pass");
        t.count.store(u32::MAX, Ordering::Relaxed);
        let mut w = Validated::new();
        assert!(w.contains(&t, 16 * (FN_TABLE_SLOTS as u32 - 1)));
        assert!(!w.contains(&t, 7));
    }

    #[test]
    fn a_full_table_is_not_reported_as_invalid_data() {
        // The 4,097th function's submission fails with the table's message carried by
        // JobError::Decode (submit) or the Encode variants (try_submit, submit_timeout),
        // as `pool/submit.rs` maps it. Before, they printed "job data invalid: …" /
        // "arguments not encodable: …": the data was fine.
        use crate::{JobError, Never, SubmitTimeoutError, TrySubmitError};
        let t = table();
        let mut reg = Registry::new();
        for i in 0..FN_TABLE_SLOTS as u32 {
            reg.ensure(&t, i * 16).unwrap();
        }
        let message = reg.ensure(&t, 7).unwrap_err().to_string();
        let shown = [
            JobError::<Never>::Decode { message: message.clone() }.to_string(),
            TrySubmitError::Encode((), message.clone()).to_string(),
            SubmitTimeoutError::Encode((), message.clone()).to_string(),
        ];
        for m in shown {
            assert!(m.starts_with("the pool's function table is full: 4096 distinct"), "{m}");
            assert!(!m.contains("invalid") && !m.contains("not encodable"), "{m}");
            assert!(m.contains("the job was not run"), "{m}");
        }
        // Other Decode messages keep their prefix.
        let other = JobError::<Never>::Decode { message: "bad archive".into() }.to_string();
        assert_eq!(other, "job data invalid: bad archive");
    }
}
