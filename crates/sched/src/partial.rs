//! The finished items of an automatic batch of `Pool::map`, kept where the supervisor can
//! read them once the worker is dead: a worker's death in a batch then fails only the item
//! it died in, as with one job per item (Python's `Executor.map` / `Pool.imap_unordered`,
//! one item a task by default), instead of also the items that ran before it.
//!
//! Each worker's control block holds a [`Partial`] area (`WorkerControl::partial`, in the
//! pool segment: fixed size, offsets not pointers). Protocol:
//!
//! ```text
//! word = job id << 16 | items written            (steal::claim_value; the worker writes)
//!
//! worker, at the start of batch `id` (Partial::start):
//!     store word = id << 16 | 0                                    (Release)
//! worker, after item i returned R (i = 0, 1, …, while everything fits):
//!     write R's envelope at data[at..end]          (at: the previous end, 16-aligned)
//!     store ends[i] = end                                          (Relaxed)
//!     store word = id << 16 | i + 1                                (Release)
//! supervisor, after it reaped the worker, which died in job `cur` (Partial::read):
//!     w = load word                                                (Acquire)
//!     if w names `cur`: items 0..(w & 0xffff) are whole in data[..ends[..]]: copy them
//! ```
//!
//! **States of an item** of a batch that may hand back: not run → running (claimed,
//! `batch_claim`) → written here (its result is whole once the count covers it) → in the
//! batch's completion (the worker lived). After a death the supervisor's copy decides:
//! items the count covers are delivered from it (`Sink::died_after`), the claimed item
//! after them — the one it died in — fails, the items after the claims are placed again.
//!
//! **Why no item is delivered twice**: a dead worker sends no completion, so the copy is
//! the only delivery of those items; a worker that completed its batch is not read (the
//! job is not `current` when it died, or its id differs: ids are never reused).
//! **Why no finished item is lost**: the count is stored after the item's bytes and its
//! end (Release, and the reader runs after the writer's process was reaped: `waitpid`
//! orders all of its stores before), and it never covers an item not written whole. An
//! item whose result does not fit what is left of the area, or a batch with a panicked
//! item, stops the writes: the items from there on fail with the death, as before this
//! file. A batch of more than [`SLOTS`] items writes its first `SLOTS`.
//!
//! The writes cost the worker one encode of each result (one copy for a plain `Copy`
//! result) and two stores; nothing is read back unless a worker dies in a batch.

use std::cell::UnsafeCell;
use zeroproc_codec::envelope::{self, Header};
use zeroproc_shm::atomic::{AtomicU32, AtomicU64, Ordering};

/// Items of a batch whose results are kept (`map`'s batches hold at most 64).
pub(crate) const SLOTS: usize = 64;

/// Bytes of results a worker keeps for its current batch.
pub(crate) const DATA_BYTES: usize = 60 * 1024;

/// The bytes of a [`Partial`] area: written by its worker only, read by the supervisor
/// only once that worker is dead (see the module).
#[repr(C, align(16))]
pub struct PartialBytes(UnsafeCell<[u8; DATA_BYTES]>);

// SAFETY: the bytes are written by the one worker process owning the control block and
// read by the supervisor only after that process was reaped (the module's protocol); no
// two threads touch them at once.
unsafe impl Sync for PartialBytes {}

/// One worker's partial-results area (in its control block, shared memory): the results
/// of its current batch's finished items.
#[repr(C, align(64))]
pub struct Partial {
    /// `steal::claim_value(id, written)`: the batch and how many of its items are whole.
    /// Release by the worker after each item, Acquire by the supervisor.
    word: AtomicU64,
    /// Where item i's envelope ends in `data` (it starts at the previous end rounded up
    /// to 16, 0 for the first). Relaxed: published by `word`'s Release store.
    ends: [AtomicU32; SLOTS],
    data: PartialBytes,
}

/// The worker's writer into its area for one batch ([`Partial::start`]).
pub(crate) struct Keeper<'a> {
    /// `None` once a result did not fit or an item panicked: nothing more is kept.
    area: Option<&'a Partial>,
    base: u64,
    at: usize,
    n: usize,
}

impl Keeper<'_> {
    /// Keeps nothing (outside a pool worker, or zeroproc-cluster's batches).
    pub(crate) const NONE: Keeper<'static> = Keeper { area: None, base: 0, at: 0, n: 0 };

    /// Item `n` (the next) finished with `r`: writes it and publishes it.
    #[inline]
    pub(crate) fn kept<R: crate::Message>(&mut self, r: &R) {
        let Some(area) = self.area else { return };
        if self.n >= SLOTS || self.at >= DATA_BYTES {
            return self.stop();
        }
        // SAFETY: this worker is the area's only writer, and the supervisor reads it only
        // after this process is dead (the module); `at < DATA_BYTES`, in bounds.
        let buf = unsafe { &mut (&mut *area.data.0.get())[self.at..] };
        let Ok(len) = envelope::encode_into(buf, Header::new(0, 0), r) else {
            return self.stop();
        };
        let end = self.at + len;
        // Relaxed: published by the Release store of `word` below.
        area.ends[self.n].store(end as u32, Ordering::Relaxed);
        self.n += 1;
        // Release: pairs with the Acquire load in `read`; orders the bytes and `ends[n-1]`
        // before the count that covers them.
        area.word.store(self.base + self.n as u64, Ordering::Release);
        self.at = end.next_multiple_of(16);
    }

    /// An item panicked, or a result did not fit: nothing more is kept for this batch.
    #[cold]
    pub(crate) fn stop(&mut self) {
        self.area = None;
    }
}

impl Partial {
    /// Worker, at the start of batch `id` whose claim word for 0 items is `base`
    /// (`steal::claim_value(id, 0)`): publishes that none of its items is kept yet.
    #[inline]
    pub(crate) fn start(&self, base: u64) -> Keeper<'_> {
        // Release: pairs with the Acquire load in `read` (a reader seeing this batch's id
        // sees a count of this batch only).
        self.word.store(base, Ordering::Release);
        Keeper { area: Some(self), base, at: 0, n: 0 }
    }

    /// Supervisor, after reaping the worker, which died in job `cur`: the envelopes of
    /// that batch's items it kept, in order (empty if `cur` is not the batch it kept).
    pub(crate) fn read(&self, cur: u64) -> Vec<Vec<u8>> {
        // Acquire: pairs with the Release stores in `kept` and `start`.
        let w = self.word.load(Ordering::Acquire);
        let Some(n) = crate::steal::claimed_of(w, cur) else { return Vec::new() };
        let mut out = Vec::with_capacity(n as usize);
        let mut at = 0usize;
        for i in 0..(n as usize).min(SLOTS) {
            // Relaxed: ordered by the Acquire load above.
            let end = self.ends[i].load(Ordering::Relaxed) as usize;
            if end < at || end > DATA_BYTES {
                break;
            }
            // SAFETY: the writer is dead (reaped, the module's protocol), so nothing writes
            // the bytes now; `at..end` is in bounds (checked above).
            let bytes = unsafe { &(&*self.data.0.get())[at..end] };
            out.push(bytes.to_vec());
            at = end.next_multiple_of(16);
        }
        out
    }
}
