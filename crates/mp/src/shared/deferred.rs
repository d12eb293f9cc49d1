//! Arrays dropped while someone still used them: their elements' memory is freed once
//! nobody does.
//!
//! An owner's drop frees the elements' pages at once (`Mapping::discard`) only when it
//! holds the segment alone: no chunk writer and no reader lease live. Otherwise the pages
//! used to stay until the last process that had mapped the segment unmapped it — a pool
//! worker's cache sweep, which runs only before its next job: a 128 MiB array dropped
//! while a job wrote one of its chunks stayed in RAM for as long as the pool got no
//! further job (review30). Such a segment is kept here, still mapped by its owner, and
//! [`retry`] frees its elements once the writer or reader is done. Its generation was
//! bumped and it is marked dropped, so no new reader or writer can start meanwhile.
//!
//! [`retry`] runs at a pool supervisor's tick, in a pool worker's cache sweep and at array
//! creation: cheap while nothing waits (one atomic load).

use super::mapping::Mapping;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use zeroproc_shm::fork::ForkLocal;
use zeroproc_shm::process::current_pid;

/// Segments whose elements are still to be freed; per fork generation
/// (`zeroproc_shm::fork`): a child forked while another thread held the list starts with
/// an empty one (its parent's segments are its parent's to free).
static PENDING: ForkLocal<Mutex<Vec<Arc<Mapping>>>> = ForkLocal::new(|| Mutex::new(Vec::new()));

/// Whether [`PENDING`] may hold a segment (a hint, so that [`retry`] costs one load while
/// it does not).
static ANY: AtomicBool = AtomicBool::new(false);

/// Keeps `map`, dropped by its owner while in use, until [`retry`] frees its elements.
pub(crate) fn defer(map: Arc<Mapping>) {
    let mut p = PENDING.get().lock().unwrap_or_else(|e| e.into_inner());
    p.push(map);
    // Relaxed: stored under the lock; a retry that misses it runs again at the next call.
    ANY.store(true, Ordering::Relaxed);
}

/// Frees the elements of the kept segments nobody uses any more, and lets them go; returns
/// how many are still kept. A forked child lets its parent's go untouched.
pub(crate) fn retry() -> usize {
    // Relaxed: a hint (see `defer`).
    if !ANY.load(Ordering::Relaxed) {
        return 0;
    }
    let Ok(mut p) = PENDING.get().try_lock() else { return 1 };
    let me = u64::from(current_pid());
    p.retain(|m| m.header().owner_pid == me && !m.free_elements());
    // Relaxed: as in `defer`.
    ANY.store(!p.is_empty(), Ordering::Relaxed);
    p.len()
}
