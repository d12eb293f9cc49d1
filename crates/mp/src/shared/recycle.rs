//! Segments of dropped arrays, kept for the next array of the same shape.
//!
//! Creating a large array is dominated by the kernel handing out fresh pages (zeroed,
//! inserted into the page cache, mapped: ~3 µs per 4 KiB page here, 110 of the 117 ms of
//! a 256 MiB `from_slice`; docs/performance.md, W3 copy-in). An array dropped and created
//! again with the same element type, length and claim table — the shape of an iterative
//! computation — reuses the old segment instead: the new elements are copied over the old
//! ones at `memcpy` speed, and the workers' cached mappings stay valid (no page faults on
//! their first access either).
//!
//! # How a segment is kept (owner side, in the array's `Drop`)
//!
//! 1. Bump `generation` (SeqCst). Handles carry the generation they were made for;
//!    `ArrayHandle::mapping` and `read` refuse a different one with `SharedError::Dropped`.
//!    Done for every drop in the creating process, kept or not: the array is gone.
//! 2. Close the current split (`abandon`): every unclaimed chunk, or one of a dead
//!    writer, becomes CLOSED. A chunk claimed by a live writer → not kept.
//! 3. Enter the owner write mode (`begin_owner_write`: the state word's SeqCst store, then
//!    the reader-slot scan). A live reader → not kept.
//!
//! A segment not kept is dropped (`Mapping::discard`: its elements' pages are freed if no
//! reader or writer is live, `dropped` = 1, then unmapped). A kept one
//! stays in owner write mode, `dropped` = 0 (other processes keep their mappings), until
//! [`take`] gives it to a new array (`Mapping::refill` writes the elements, then ends the
//! write mode: Idle, SeqCst) or it is evicted (`dropped` = 1, unmapped).
//!
//! # Why an old handle never sees the new array
//!
//! * **Readers.** A reader takes a lease (SeqCst RMW), checks the state (SeqCst load), and
//!   then the generation (SeqCst load). Step 3 is the owner side of the lease handshake
//!   (`readers.rs`): either the owner sees the lease (the segment is not kept), or the
//!   reader's state load comes after the owner-mode store in the SeqCst order. It then
//!   reads Owner, or the Idle that ends the refill (or a later state). Each of those
//!   stores comes after step 1 (same thread, or the table's mutex in between) and the
//!   reader's load synchronizes with it, so its generation load sees the bump: `Dropped`
//!   (checked before the state's own verdict, so a reader that meets a drop in progress
//!   is not told `OwnerWriting`, which means "try again").
//! * **Chunk writers.** After step 2 every claim word of the last split is terminal, and
//!   a claim needs a FREE word of the handle's epoch; FREE words are only made by a new
//!   split, whose epoch is later than any old handle's (the state's epoch carries on
//!   across generations). Step 2's CAS and a writer's claim CAS on the same word: exactly
//!   one wins; a writer that wins is a live writer, and the segment is not kept.
//! * **A forked child** inherits the table but not the segment's identity (its id names
//!   the parent's pid and descriptor): only the process that created a segment keeps or
//!   takes it (`owner_pid`). The child's copy of a `SharedArray` records its generation
//!   like a handle: once the parent dropped the array, the copy's operations and the
//!   handles it makes are `Dropped` (checked, not locked: a copy used *while* its parent
//!   drops the array can race that drop, as it could race the parent's own writes before
//!   reuse existed), and dropping the copy leaves the parent's segment alone.
//!
//! # Limits
//!
//! At most [`MAX_KEPT`] segments and [`cache::set_reuse_limit`](super::cache::set_reuse_limit)
//! bytes in all (default [`DEFAULT_LIMIT`]); the oldest is freed first, and an array
//! larger than the limit is never kept. [`cache::release_dropped`](super::cache::release_dropped)
//! frees them all, and a failed creation does too before it retries; so does a clean exit
//! of the process (an `atexit` hook), so that other processes unmap their copies.

use super::mapping::{Geometry, Mapping};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, TryLockError};
use zeroproc_shm::fork::ForkLocal;
use zeroproc_shm::process::current_pid;

/// Most segments kept at once.
pub const MAX_KEPT: usize = 8;
/// Default byte limit of the kept segments (all of them together).
pub const DEFAULT_LIMIT: usize = 1 << 30;

/// The byte limit. Relaxed: a setting; stored under the kept table's lock and read again
/// under it before a segment is kept, so no segment is kept beyond a limit once it is set.
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

/// Kept segments, oldest first; per fork generation (`zeroproc_shm::fork`): a child forked
/// while another thread held the list starts with an empty one instead of waiting on it.
static KEPT: ForkLocal<Mutex<Vec<Arc<Mapping>>>> = ForkLocal::new(|| Mutex::new(Vec::new()));

fn kept() -> MutexGuard<'static, Vec<Arc<Mapping>>> {
    // A panic while holding the lock cannot leave the vector half-updated (single calls).
    KEPT.get().lock().unwrap_or_else(|p| p.into_inner())
}

fn bytes(m: &Mapping) -> usize {
    m.geo().end()
}

/// Sets the byte limit (0: never keep a dropped array's segment) and frees kept segments
/// beyond it.
pub(crate) fn set_limit(limit: usize) {
    let freed = {
        let mut k = kept();
        // Relaxed: see `LIMIT`; stored under the table's lock so that a drop racing this
        // either sees the new limit when it pushes (`keep`) or is trimmed here.
        LIMIT.store(limit, Ordering::Relaxed);
        trim(&mut k, limit, 0)
    };
    free(freed); // outside the lock
}

/// Frees every kept segment; returns how many.
pub(crate) fn release_all() -> usize {
    let freed = std::mem::take(&mut *kept());
    let n = freed.len();
    free(freed);
    n
}

/// Ends an array being dropped (step 1 of the module docs) and tries to keep its segment
/// (steps 2–3). False if it cannot be kept: the caller drops it as before.
pub(crate) fn keep(map: &Arc<Mapping>) -> bool {
    // A forked child's copy of its parent's array: the array is not the child's to end.
    if map.header().owner_pid != u64::from(current_pid()) {
        return false;
    }
    // SeqCst: step 1, before the owner-mode store of step 3 (module docs: a reader that
    // loads that store, or the refill's Idle after it, then loads this bump). Kept or not,
    // the array is gone: its handles are refused from here on.
    map.header().generation.fetch_add(1, Ordering::SeqCst);
    // Relaxed: see `LIMIT`.
    let limit = LIMIT.load(Ordering::Relaxed);
    let size = bytes(map);
    if size > limit || map.abandon().is_err() || map.begin_owner_write().is_err() {
        return false;
    }
    let freed = {
        let mut k = kept();
        // Relaxed: again, under the table's lock, which `set_limit` stores it under: a
        // limit lowered while this drop ran is seen here, or its trim comes after the push.
        let limit = LIMIT.load(Ordering::Relaxed);
        if size > limit {
            return false;
        }
        let freed = trim(&mut k, limit, size);
        k.push(map.clone());
        freed
    };
    free(freed);
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain `extern "C"` function with no captured state.
        unsafe { libc::atexit(release_at_exit) };
    });
    true
}

/// At a clean exit (`exit`, a return from `main`): frees the kept segments, so that other
/// processes unmap their copies as they would have after the arrays' drops without reuse
/// (otherwise `dropped` stays 0 forever and every process that read one of these arrays
/// keeps it mapped). A SIGKILLed process leaves them as it leaves its live arrays
/// (README, Death).
extern "C" fn release_at_exit() {
    let maps = match KEPT.get().try_lock() {
        Ok(mut k) => std::mem::take(&mut *k),
        Err(TryLockError::Poisoned(p)) => std::mem::take(&mut *p.into_inner()),
        // Another thread holds the table while this one exits: leave it (as a SIGKILL).
        Err(TryLockError::WouldBlock) => return,
    };
    free(maps);
}

/// A kept segment of exactly `geo`'s shape, if there is one (the newest: its pages are
/// the likeliest to be in cache). The caller refills it.
///
/// Only a segment this process created: a forked child inherits its parent's table, and
/// taking one of those would put the child's array into a segment its parent hands to its
/// own next array.
pub(crate) fn take(geo: &Geometry) -> Option<Arc<Mapping>> {
    let me = u64::from(current_pid());
    let mut k = kept();
    let i = k.iter().rposition(|m| m.geo() == geo && m.header().owner_pid == me)?;
    Some(k.remove(i))
}

/// Removes the oldest kept segments until `incoming` more bytes fit under `limit` beside
/// at most `MAX_KEPT - 1` others; returns them, to be freed outside the lock.
fn trim(k: &mut Vec<Arc<Mapping>>, limit: usize, incoming: usize) -> Vec<Arc<Mapping>> {
    let mut total: usize = k.iter().map(|m| bytes(m)).sum::<usize>() + incoming;
    let mut n = 0;
    while n < k.len() && (total > limit || k.len() - n + usize::from(incoming > 0) > MAX_KEPT) {
        total -= bytes(&k[n]);
        n += 1;
    }
    k.drain(..n).collect()
}

/// Frees segments no array will use again: other processes may unmap their copies. A
/// forked child's inherited entries are only unmapped here: the segments are its parent's.
fn free(maps: Vec<Arc<Mapping>>) {
    let me = u64::from(current_pid());
    for m in maps.iter().filter(|m| m.header().owner_pid == me) {
        // In owner write mode since it was kept: its elements' memory goes now.
        m.discard();
    }
}
