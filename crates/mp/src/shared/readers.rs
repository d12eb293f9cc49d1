//! Reader leases: a process reading the array holds a slot `pid << 32 | count`, so the
//! owner can tell whether anyone still reads before it lets writers in. A slot of a dead
//! process holds nothing and is reclaimed by whoever finds it.
//!
//! Readers announce themselves (slot RMW, SeqCst) *before* checking the split state
//! (SeqCst load); the owner changes the state (SeqCst store) *before* scanning the slots
//! (SeqCst loads). With all four SeqCst, at least one side sees the other: a reader never
//! reads while a writer writes (see `README.md`).

use super::header::ArrayHeader;
use super::SharedError;
use std::sync::atomic::Ordering::SeqCst;
use zeroproc_shm::process::{current_pid, is_alive};

const COUNT: u64 = 0xffff_ffff;

/// Takes a lease for this process; returns its slot.
pub(crate) fn acquire(h: &ArrayHeader) -> Result<usize, SharedError> {
    let me = current_pid() as u64;
    for round in 0..2 {
        // Our own slot first (threads of one process share it).
        for (i, s) in h.readers.iter().enumerate() {
            // SeqCst: see the module docs.
            let v = s.load(SeqCst);
            // SeqCst (both): the announcement the owner's scan must see.
            if v >> 32 == me
                && v & COUNT != 0
                && s.compare_exchange(v, v + 1, SeqCst, SeqCst).is_ok()
            {
                return Ok(i);
            }
        }
        for (i, s) in h.readers.iter().enumerate() {
            // SeqCst: see the module docs.
            let v = s.load(SeqCst);
            // SeqCst (both): as above. A slot with count 0 is free, whatever pid it shows.
            if v & COUNT == 0 && s.compare_exchange(v, me << 32 | 1, SeqCst, SeqCst).is_ok() {
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
    let me = current_pid() as u64;
    // SeqCst (≥ Release): our reads of the elements happen before an owner that sees the
    // count drop (its SeqCst scan) starts writing. Only a lease of this process: a forked
    // child's copy of its parent's guard finds the parent's pid here (or, once the parent
    // released it, whoever's took the slot since) and must not end a lease it never took —
    // the owner would start writing while the parent still reads.
    let r = s.fetch_update(SeqCst, SeqCst, |v| (v >> 32 == me && v & COUNT != 0).then(|| v - 1));
    if let Ok(v) = r {
        if v & COUNT == 1 {
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
        if v & COUNT == 0 {
            continue;
        }
        let pid = (v >> 32) as u32;
        if is_alive(pid) {
            return Some(pid);
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
        if v & COUNT != 0 && !is_alive((v >> 32) as u32) {
            // SeqCst: only clears this exact dead lease.
            let _ = s.compare_exchange(v, 0, SeqCst, SeqCst);
        }
    }
}
