//! Giving a burst's spill memory back: once no job has been in flight for [`QUIET`], the
//! supervisor releases the pages of the spill heap's large free blocks
//! (`Heap::release_free_pages`) and of the room past its bump pointer that its first
//! length and its growths reserved (`Heap::release_tail_pages`), once per quiet period,
//! holding the pool's lock. Without it a pool that once
//! carried a 300 MiB argument kept 300 MiB of shared memory resident until it was dropped
//! (the heap grows on demand and never shrinks; its blocks are reused, not unmapped).

use super::core::Shared;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long the pool must have had no job in flight before its spill memory is released.
pub(crate) const QUIET: Duration = Duration::from_millis(500);

/// Free blocks at least this large have their pages released (smaller ones are kept: they
/// are cheap, and reused at once by the next payloads).
const MIN_BLOCK: u64 = 1 << 20;

/// The supervisor's state of the release (one per pool).
#[derive(Default)]
pub(crate) struct SpillTrim {
    quiet_since: Option<Instant>,
    done: bool,
}

impl SpillTrim {
    /// Called at every supervisor tick: notes whether jobs are in flight, and releases the
    /// spill heap's large free blocks once the pool has been quiet for [`QUIET`].
    pub(crate) fn tick(&mut self, shared: &Shared) {
        let Some(heap) = shared.spill.existing() else { return };
        // Busy if jobs are owed, or if the lock is taken (a submitter or drainer is at
        // work): checked again at the next tick. The lock is kept for the release (below).
        let core = shared.core.try_lock().ok().filter(|c| c.owed() == 0);
        let Some(_core) = core else {
            self.quiet_since = None;
            self.done = false;
            return;
        };
        let since = *self.quiet_since.get_or_insert_with(Instant::now);
        if self.done || since.elapsed() < QUIET {
            return;
        }
        self.done = true;
        if let Ok(h) = heap.heap() {
            // SeqCst (both): a submitter reads the count before and after an allocation
            // that found no free block (`Shared::trim_overlapped`); the blocks this takes
            // off the free lists are popped after the first increment and pushed back
            // before the second.
            shared.spill_trims.fetch_add(1, Ordering::SeqCst);
            h.release_free_pages(MIN_BLOCK);
            // SAFETY: no process carves from the heap meanwhile: every argument is placed
            // under the pool's lock, which `_core` holds, and no job is in flight
            // (`owed() == 0` under that lock), so no worker is writing a result; a job
            // placed after the lock is released carves afterwards.
            unsafe { h.release_tail_pages() };
            shared.spill_trims.fetch_add(1, Ordering::SeqCst);
        }
    }
}
