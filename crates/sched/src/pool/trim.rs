//! Giving a burst's spill memory back: once no job has been in flight for [`QUIET`], the
//! supervisor releases the pages of the spill heap's large free blocks
//! (`Heap::release_free_pages`) and of the room past its bump pointer that its first
//! length and its growths reserved (`Heap::release_tail_pages`, in steps of [`TAIL_STEP`],
//! each under the pool's lock: no allocation may carve meanwhile), once per quiet period.
//! Without it a pool that once
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

/// The most of the heap's uncarved room released per hold of the pool's lock (about 3 ms
/// of `MADV_REMOVE` when its pages are in memory; holes cost next to nothing).
const TAIL_STEP: u64 = 16 << 20;

/// Whether no job is in flight and nobody holds the pool's lock.
fn quiet_now(shared: &Shared) -> bool {
    shared.core.try_lock().is_ok_and(|c| c.owed() == 0)
}

/// Releases the spill heap's uncarved room (`Heap::release_tail_pages`), a
/// [`TAIL_STEP`] at a time, each step under the pool's lock while no job is in flight.
/// False if a job came first: the rest waits for the next quiet period.
fn release_tail(shared: &Shared, heap: &zeroproc_shm::heap::Heap<'_>) -> bool {
    let mut end = Some(heap.region_len());
    while let Some(e) = end {
        let Some(_core) = shared.core.try_lock().ok().filter(|c| c.owed() == 0) else {
            return false;
        };
        // SAFETY: no process carves from the heap meanwhile: every argument is placed
        // under the pool's lock, which `_core` holds, and no job is in flight (`owed() ==
        // 0` under that lock), so no worker is writing a result; a job placed after the
        // lock is released carves afterwards, and the next step reads the bump again.
        end = unsafe { heap.release_tail_pages(e, TAIL_STEP) };
    }
    true
}

/// The supervisor's state of the release (one per pool).
#[derive(Default)]
pub(crate) struct SpillTrim {
    quiet_since: Option<Instant>,
    done: bool,
}

impl SpillTrim {
    /// Called at every supervisor tick: notes whether jobs are in flight, and releases the
    /// spill heap's large free blocks and uncarved room once the pool has been quiet for
    /// [`QUIET`].
    pub(crate) fn tick(&mut self, shared: &Shared) {
        let Some(heap) = shared.spill.existing() else { return };
        // Busy if jobs are owed, or if the lock is taken (a submitter or drainer is at
        // work): checked again at the next tick.
        if !quiet_now(shared) {
            self.quiet_since = None;
            self.done = false;
            return;
        }
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
            if !release_tail(shared, &h) {
                // A job came: the rest waits for the next quiet period.
                self.done = false;
                self.quiet_since = None;
            }
            shared.spill_trims.fetch_add(1, Ordering::SeqCst);
        }
    }
}
