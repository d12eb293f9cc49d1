//! Spilling a value into a channel's heap, waiting for room when the heap is full: the
//! one place both the queue and the pipes get a heap block.
//!
//! Consumers free spilled blocks and then notify the header's `heap_space` event count
//! ([`Mapping::heap_freed`]); a producer that found the heap full sleeps there. It never
//! spins: every attempt serializes the value again.
//!
//! **When waiting would never end.** A blocking spill waits for readers to free blocks.
//! If the heap is at its maximum and nothing that could free a block is in flight — the
//! channel's rings hold no record (so no reader will take and free a spilled value), no
//! live process holds a block in the holds table (no reader with a spilled value, no
//! other producer between its allocation and its publish), and no merge pass runs — then
//! no block will ever be freed, and the heap as it stands (merged: every attempt at the
//! maximum merges free neighbours) cannot hold the value: its free space is split by
//! blocks leaked by killed processes, or cut too small. Once that has been so at every
//! attempt for [`STUCK_AFTER`], with no block of the channel freed meanwhile (the
//! header's free count: a free means something was in flight, seen or not, and starts
//! the spell over), the spill fails with `TooLarge` instead of waiting for ever
//! (Python's queue has no heap to run out of; the pool's rule is the same: "nothing in
//! flight → `TooLarge`"). What it cannot see: a holder beyond the holds table's 32
//! entries, a reader between its ring claim and its registration (a few instructions), a
//! duplex pipe's other sender between its allocation and its publish; each of those
//! frees (which starts the spell over) within `STUCK_AFTER` unless it is stopped there.
//!
//! **A heap that cannot grow.** A heap below its maximum whose growth the system refuses
//! (memory short, or this process's file-size limit `RLIMIT_FSIZE`: the heap is a file)
//! counts as one at its maximum for that rule: with nothing in flight it would wait for
//! ever, as the system may never give the memory (before env36 it did: an 8 MiB `put`
//! under `ulimit -f 4096` slept for ever). The spill then fails with
//! [`SpillFail::Grow`], carrying the system's refusal (the operations' `Grow` errors;
//! until errs37 `TooLarge`, the cause on standard error only). A `try_` operation fails
//! so at the first refusal (it did say `Full`: a caller told "full" retries for ever;
//! Python's `put_nowait` raises `MemoryError` rather than `Full` when memory is short).
//! A waiting spill that sees a refusal while something is in flight goes on waiting (a
//! reader may free a block), and writes one note on standard error naming the refusal
//! the first time this process sees one on this channel, so the cause shows while it
//! waits (before errs37 it waited without a word until it gave up or timed out).
//!
//! **A stopped merge-lock holder.** A process stopped (SIGSTOP, a debugger) in the middle
//! of a merge pass holds the heap's merge lock and the free blocks it took until it
//! resumes; the heap then gives up on the merge at once (`zeroproc-shm` `merge.rs`) and
//! the spill goes on waiting here (deadlines are kept), counting the merge as in flight;
//! after [`NOTE_AFTER`] it writes one note on standard error naming the stopped process.

use crate::channel::holds;
use crate::channel::mapping::Mapping;
use crate::channel::message::Wait;
use rkyv::rancor;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::Encode;
use zeroproc_codec::spill::{
    spill_bytes, spill_noted, Recorder, SpillError, SpilledBlock, BLOCK_PREFIX,
};
use zeroproc_shm::heap::{AllocError, Heap};
use zeroproc_shm::process::is_halted;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{block_on, BlockError, Poll};
use zeroproc_shm::GrowError;

/// How long a blocking spill finds no room, at every attempt, with nothing in flight that
/// could make any (see the module docs) before it gives up with `TooLarge`. Attempts come
/// at every freed block and at least every 100 ms.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(1);

/// How long a spill waits before it writes a note when the heap's merge lock is held by a
/// stopped process.
const NOTE_AFTER: Duration = Duration::from_secs(5);

/// Why no block was obtained.
pub(crate) enum SpillFail {
    /// The heap stayed full until the deadline (or, with `Wait::Never`, is full now).
    Timeout,
    /// `closed()` became true while waiting.
    Closed,
    /// The value can never fit this heap (or there is no heap).
    TooLarge,
    /// The heap could not grow to hold the value: the system refused (module docs), and a
    /// `try_` operation asked, or nothing in flight could free a block.
    Grow(GrowError),
    /// The value could not be serialized.
    Serialize(rancor::Error),
}

/// What to put in the block.
pub(crate) enum Content<'v, T> {
    /// The archive of a value; `first` is the size of the first block tried.
    Value { value: &'v T, first: usize },
    /// Raw bytes.
    Bytes(&'v [u8]),
}

/// A heap block holding `content`, waiting per `wait` while the heap is full; `closed`
/// (the receivers are gone: nobody will free a block) is checked before every attempt.
/// `track` is told which block is held while a value is written (`spill_recorded`).
/// `drained` says whether the channel's rings hold no record (nothing a reader could take
/// and free); with nothing else in flight either, a spill that cannot be served for
/// [`STUCK_AFTER`] is `TooLarge` (module docs). `what` names the operation in a note.
pub(crate) fn spill_waiting<T: Encode>(
    map: &Mapping,
    content: Content<'_, T>,
    wait: Wait,
    mut closed: impl FnMut() -> bool,
    mut track: impl Recorder,
    mut drained: impl FnMut() -> bool,
    what: &str,
) -> Result<SpilledBlock, SpillFail> {
    let Some(heap) = map.heap() else { return Err(SpillFail::TooLarge) };
    let least = match content {
        Content::Value { first, .. } => first,
        Content::Bytes(b) => b.len(),
    };
    // Past the maximum the heap can grow to: it never fits.
    if least.saturating_add(BLOCK_PREFIX) > heap.max_region_len() as usize {
        return Err(SpillFail::TooLarge);
    }
    // A full heap may be holding blocks of queue consumers that were killed holding
    // them: reclaim those (`holds.rs`) and try again before reporting or waiting.
    // The last attempt's refused growth, if it was refused (module docs).
    let refused: Cell<Option<GrowError>> = Cell::new(None);
    let mut attempt = || match attempt(heap, &content, &mut track, &refused) {
        Poll::Pending if holds::sweep(map, heap) > 0 => {
            map.heap_freed();
            attempt(heap, &content, &mut track, &refused)
        }
        r => r,
    };
    match wait {
        Wait::Never => match attempt() {
            Poll::Ready(b) => Ok(b),
            Poll::Pending => Err(refused.take().map_or(SpillFail::Timeout, SpillFail::Grow)),
            Poll::Failed(f) => Err(f),
        },
        Wait::Until(deadline) => {
            let ev = &map.header().heap_space.0.ev;
            let mut watch = Watch { start: Instant::now(), idle_since: None, noted: false };
            block_on(ev, WaitStrategy::Sleep, deadline, || {
                if closed() {
                    return Poll::Failed(SpillFail::Closed);
                }
                match attempt() {
                    Poll::Pending => {
                        let r = refused.take();
                        watch.pending(map, heap, &mut drained, what, r)
                    }
                    r => r,
                }
            })
            .map_err(|e| match e {
                BlockError::Timeout => SpillFail::Timeout,
                BlockError::Failed(f) => f,
            })
        }
    }
}

/// What a waiting spill has seen so far.
struct Watch {
    start: Instant,
    /// Since when every attempt found nothing in flight, and the channel's free count
    /// then (`None`: the last attempt saw something in flight, or a block was freed since).
    idle_since: Option<(Instant, u64)>,
    /// The stopped-merger note was written.
    noted: bool,
}

impl Watch {
    /// After an attempt found no room: `TooLarge` (`Grow` if the heap's growth was
    /// refused) once nothing has been in flight for [`STUCK_AFTER`], else go on waiting
    /// (writing the note about a stopped merger once). `refused`: the heap's growth was
    /// refused at that attempt (it counts as at its maximum; the first refusal this
    /// process sees on the channel is written on standard error at once).
    fn pending(
        &mut self,
        map: &Mapping,
        heap: &Heap<'_>,
        drained: &mut impl FnMut() -> bool,
        what: &str,
        refused: Option<GrowError>,
    ) -> Poll<SpilledBlock, SpillFail> {
        if let Some(e) = &refused {
            // Relaxed: a once-flag for a note, ordering nothing else.
            if !map.grow_noted.swap(true, Ordering::Relaxed) {
                eprintln!("{}", grow_refused_note(what, heap, e));
            }
        }
        let merger = heap.merge_holder();
        if let Some(pid) = merger {
            if !self.noted && self.start.elapsed() >= NOTE_AFTER && is_halted(pid) {
                self.noted = true;
                eprintln!("{}", stopped_merger_note(what, self.start.elapsed(), pid));
            }
        }
        // Relaxed: a change counter (see `Mapping::heap_freed`).
        let frees = map.header().heap_space.0.frees.load(Ordering::Relaxed);
        let at_max = heap.region_len() >= heap.max_region_len() || refused.is_some();
        let busy = !at_max || merger.is_some() || !drained() || holds::any_live(map);
        // A block freed since the idle spell began was in flight, seen or not (a reader
        // between its ring claim and its registration, a producer that won the room
        // first): start over.
        if busy || self.idle_since.is_some_and(|(_, f)| f != frees) {
            self.idle_since = None;
            if busy {
                return Poll::Pending;
            }
        }
        let (since, _) = *self.idle_since.get_or_insert_with(|| (Instant::now(), frees));
        if since.elapsed() >= STUCK_AFTER {
            Poll::Failed(refused.map_or(SpillFail::TooLarge, SpillFail::Grow))
        } else {
            Poll::Pending
        }
    }
}

/// The note a waiting spill writes when its heap's growth is refused (the first time in
/// this process on this channel): it goes on waiting for a reader to free a block.
#[cold]
fn grow_refused_note(what: &str, heap: &Heap<'_>, e: &GrowError) -> String {
    format!(
        "zeroproc: {what} waits: the channel's spill heap ({} of at most {} bytes) could \
         not grow to hold the value: {e}. It waits for a reader to free a block, and fails \
         with a `Grow` error if nothing queued or held could free one",
        heap.region_len(),
        heap.max_region_len()
    )
}

/// The note a spill writes when it has waited long for a stopped merge-lock holder.
#[cold]
fn stopped_merger_note(what: &str, waited: Duration, pid: u32) -> String {
    format!(
        "zeroproc: {what} has waited {} s for room in the spill heap: process {pid} is \
         stopped (SIGSTOP, a job-control stop or a debugger) in the middle of merging the \
         heap's free blocks (or of releasing their pages) and holds them until it resumes \
         (SIGCONT); values larger than a \
         slot wait until then (or until their deadline)",
        waited.as_secs()
    )
}

fn attempt<T: Encode>(
    heap: &Heap<'_>,
    content: &Content<'_, T>,
    track: &mut impl Recorder,
    refused: &Cell<Option<GrowError>>,
) -> Poll<SpilledBlock, SpillFail> {
    let r = match content {
        Content::Value { value, first } => spill_noted(heap, *value, *first, track),
        Content::Bytes(b) => spill_bytes(heap, b),
    };
    match r {
        Ok(b) => Poll::Ready(b),
        // Larger than the heap's whole block area at its maximum: no amount of freeing (and
        // merging of freed neighbours) will ever make such a block, so waiting would never
        // end — the value is too large for this heap now and later.
        Err(SpillError::Heap(AllocError::OutOfMemory { block_size, .. }))
            if !heap.can_hold((block_size as usize).saturating_sub(16)) =>
        {
            Poll::Failed(SpillFail::TooLarge)
        }
        // Out of memory now (the heap grew as far as it could: to its maximum, or the
        // system refused more memory), or a damaged free-list block that the heap took out
        // of circulation: wait for a consumer to free a block and try again.
        Err(SpillError::Heap(AllocError::GrowFailed { error, .. })) => {
            refused.set(Some(error));
            Poll::Pending
        }
        Err(SpillError::Heap(AllocError::OutOfMemory { .. } | AllocError::Corrupt { .. })) => {
            Poll::Pending
        }
        Err(SpillError::Heap(AllocError::BadAlign { .. })) => Poll::Failed(SpillFail::TooLarge),
        Err(SpillError::Serialize(e)) => Poll::Failed(SpillFail::Serialize(e)),
    }
}

/// The size of the first block to try for an archive whose slot attempt needed at least
/// `need` bytes: a little more, since rkyv writes the root last, past the failing write.
pub(crate) fn first_block(need: usize) -> usize {
    need.saturating_add(need / 8).saturating_add(64)
}
