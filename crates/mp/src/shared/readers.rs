//! Reader leases: a process reading the array holds a slot (its pid, start time and lease
//! count: `crate::proc_word`), so the owner can tell whether anyone still reads before it
//! lets writers in. A slot of a dead process holds nothing and is reclaimed by whoever
//! finds it. The start time tells a dead reader from a later process that got its pid:
//! with `pid << 32 | count`, that process continued the dead one's lease (and its release
//! left the dead count behind), and the lease looked alive — the owner's writes were
//! refused (`ReadersActive`) for as long as that process lived.
//!
//! Readers announce themselves (slot RMW, SeqCst) *before* checking the split state
//! (SeqCst load); the owner changes the state (SeqCst store) *before* scanning the slots
//! (SeqCst loads). With all four SeqCst, at least one side sees the other: a reader never
//! reads while a writer writes (see `README.md`).

use super::header::{ArrayHeader, READER_SLOTS};
use super::SharedError;
use crate::proc_word::{alive, count_of, me, owner_of, pid_of, word, COUNT_MAX};
use std::sync::atomic::Ordering::SeqCst;

/// Takes a lease for this process; returns its slot.
///
/// The search starts at a slot spread by pid (the readers of a wide pool do not all scan
/// and contend on the first slots) and takes the first slot that is this process's own
/// with room in its count (threads of one process share it) or free. A process may so
/// hold several slots (a full count, or a free slot met before its own): each lease is
/// released at the slot it was taken at, and the owner's scans count them all.
pub(crate) fn acquire(h: &ArrayHeader) -> Result<usize, SharedError> {
    let me = me();
    let start = pid_of(me) as usize % READER_SLOTS;
    for round in 0..2 {
        for i in (start..READER_SLOTS).chain(0..start) {
            let s = &h.readers[i];
            // SeqCst: see the module docs.
            let v = s.load(SeqCst);
            let next =
                if owner_of(v) == me && count_of(v) != 0 && u64::from(count_of(v)) < COUNT_MAX {
                    v + 1
                } else if count_of(v) == 0 {
                    // A slot with count 0 is free, whatever it shows.
                    word(me, 1)
                } else {
                    continue;
                };
            // SeqCst (both): the announcement the owner's scan must see.
            if s.compare_exchange(v, next, SeqCst, SeqCst).is_ok() {
                return Ok(i);
            }
        }
        if round == 0 {
            reclaim_dead(h);
        }
    }
    Err(SharedError::NoReaderSlot)
}

/// Returns a lease taken by [`acquire`].
pub(crate) fn release(h: &ArrayHeader, slot: usize) {
    let s = &h.readers[slot];
    let me = me();
    // SeqCst (≥ Release): our reads of the elements happen before an owner that sees the
    // count drop (its SeqCst scan) starts writing. Only a lease of this process: a forked
    // child's copy of its parent's guard finds the parent's pid here (or, once the parent
    // released it, whoever's took the slot since) and must not end a lease it never took —
    // the owner would start writing while the parent still reads.
    let r =
        s.fetch_update(SeqCst, SeqCst, |v| (owner_of(v) == me && count_of(v) != 0).then(|| v - 1));
    if let Ok(v) = r {
        if count_of(v) == 1 {
            // SeqCst: clear the pid too, unless another thread of ours took the slot again.
            let _ = s.compare_exchange(v - 1, 0, SeqCst, SeqCst);
        }
    }
}

/// A live process holding a lease, if any (dead ones are cleared on the way).
pub(crate) fn live_reader(h: &ArrayHeader) -> Option<u32> {
    for s in &h.readers {
        // SeqCst: pairs with the readers' SeqCst announcements (module docs).
        let v = s.load(SeqCst);
        if count_of(v) == 0 {
            continue;
        }
        if alive(v) {
            return Some(pid_of(v));
        }
        // SeqCst: only clears this exact dead lease.
        let _ = s.compare_exchange(v, 0, SeqCst, SeqCst);
    }
    None
}

/// Clears the leases of dead processes.
fn reclaim_dead(h: &ArrayHeader) {
    for s in &h.readers {
        // SeqCst: as in `live_reader`.
        let v = s.load(SeqCst);
        if count_of(v) != 0 && !alive(v) {
            // SeqCst: only clears this exact dead lease.
            let _ = s.compare_exchange(v, 0, SeqCst, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::header::KIND_ARRAY;
    use zeroproc_shm::process::{current_pid, current_start_time};

    /// A process that got the pid of a reader that died holding a lease. Before, with
    /// `pid << 32 | count`, it continued the dead lease (slot 0, count 2; its release left
    /// 1) and `live_reader` named it for as long as it lived: the owner could not write.
    #[test]
    fn a_dead_readers_lease_is_not_continued_under_its_reused_pid() {
        let h = Box::new(ArrayHeader::new(KIND_ARRAY, 8, 8, 0, 1, 1, 0, 0));
        let dead = crate::proc_word::word_of(current_pid(), current_start_time() + 1, 1);
        let first = current_pid() as usize % READER_SLOTS; // where acquire looks first
        h.readers[first].store(dead, SeqCst);
        let slot = acquire(&h).unwrap();
        assert_ne!(slot, first, "the dead reader's lease was continued");
        assert_eq!(live_reader(&h), Some(current_pid()), "this process's own lease");
        release(&h, slot);
        assert_eq!(live_reader(&h), None, "the dead lease still counts");
        assert_eq!(h.readers[first].load(SeqCst), 0, "the dead lease is cleared");
    }

    /// Every slot can be leased at once, and the next lease is refused (by a live
    /// process's leases: none is reclaimed).
    #[test]
    fn every_slot_is_used_before_no_reader_slot() {
        let h = Box::new(ArrayHeader::new(KIND_ARRAY, 8, 8, 0, 1, 1, 0, 0));
        let me = crate::proc_word::me();
        for s in h.readers.iter() {
            s.store(crate::proc_word::word(me, COUNT_MAX), SeqCst); // full counts
        }
        let last = (current_pid() as usize + READER_SLOTS - 1) % READER_SLOTS;
        h.readers[last].store(0, SeqCst);
        assert_eq!(acquire(&h).unwrap(), last, "the one free slot is found");
        h.readers[last].store(crate::proc_word::word(me, COUNT_MAX), SeqCst);
        let e = acquire(&h).unwrap_err();
        assert!(matches!(e, SharedError::NoReaderSlot), "{e:?}");
        assert!(e.to_string().contains(&format!("all {READER_SLOTS} reader slots")), "{e}");
    }
}
