//! The pool's spill heap: one shared heap for payloads too large for a ring record, used
//! by both directions (the controller allocates for arguments and frees results; workers
//! the other way round — the heap is lock-free across processes).
//!
//! It is created on first need — reserving its memory with `fallocate` costs ~0.3 ms per
//! MiB here (64 MiB: 20 ms), which a pool that never spills should not pay, at start-up or
//! later: by the controller when it must spill arguments, or by the supervisor thread when
//! a worker asks for it (the worker marks the pool header `REQUESTED` and waits). It is
//! published in the pool header and attached by a worker the first time it meets a
//! spilled record or must spill a result. `PoolBuilder::spill_heap(0)` disables it:
//! oversized payloads are then `JobError::TooLarge` errors (as when it cannot be made).

use crate::control::{heap_state, PoolHeader, WorkerControl};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, Encode};
use zeroproc_codec::payload;
use zeroproc_codec::send::Overflow;
use zeroproc_codec::spill::{self, Record, SpilledBlock};
use zeroproc_shm::heap::{AllocError, Heap};
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, HEADER_SIZE};

/// Layout of the spill heap segment.
pub const HEAP_LAYOUT: Layout = Layout::new("zeroproc-spill-heap", 1);

/// The heap's size when it is made (or the pool's limit, if smaller); it doubles on
/// demand up to that limit (`PoolBuilder::spill_heap`).
const FIRST_LEN: usize = 64 << 20;

/// The heap's first size under the pool's limit `max` and the file-size limit `fsize`
/// (`RLIMIT_FSIZE`: the heap is a file): [`FIRST_LEN`], or less — whole MiB that fit
/// under `fsize` with the header — so that the heap can be made there and payloads that
/// fit it spill (before env36 a limit under 64 MiB refused the heap, and every payload
/// larger than a ring record with it). Under 1 MiB of room it is left as is: the creation
/// then fails naming the limit.
fn first_len(max: usize, fsize: Option<u64>) -> usize {
    let first = max.min(FIRST_LEN);
    let room = fsize.map_or(u64::MAX, |l| l.saturating_sub(2 * HEADER_SIZE as u64));
    let room = usize::try_from(room & !((1 << 20) - 1)).unwrap_or(usize::MAX);
    if room >= 1 << 20 {
        first.min(room)
    } else {
        first
    }
}

/// How long a process waits for the supervisor to finish creating the heap.
const CREATE_WAIT: Duration = Duration::from_secs(30);

/// A mapped spill heap.
#[derive(Clone)]
pub(crate) struct SpillHeap {
    seg: Arc<Segment>,
}

impl SpillHeap {
    /// Creates a heap in a new memfd segment (space reserved, not pre-faulted): of
    /// [`FIRST_LEN`] bytes, or `max` if smaller, growing on demand up to `max`.
    pub(crate) fn create(max: usize) -> Result<SpillHeap, String> {
        let first = first_len(max, zeroproc_shm::file_size_limit());
        let seg = SegmentBuilder::new(HEAP_LAYOUT, first)
            .max_data_len(max)
            .populate(false)
            .create_with(|s| {
                let _ = Heap::init_growable(s, region(), first, max);
            })
            .map_err(|e| e.to_string())?;
        let h = SpillHeap { seg: Arc::new(seg) };
        h.heap().map(|_| h.clone())
    }

    /// Attaches the heap published in `header`, waiting while it is being created.
    /// `Ok(None)` when there is none; `Err` says why an existing heap could not be
    /// attached (a job lowered `RLIMIT_NOFILE`, changed its user ...): reported as "the
    /// pool has no spill heap" before, which was not the cause.
    pub(crate) fn attach(header: &PoolHeader) -> Result<Option<SpillHeap>, String> {
        let t0 = Instant::now();
        // Whether this call asked the controller to try a failed creation again.
        let mut asked_again = false;
        loop {
            match header.heap() {
                (heap_state::READY, Some(id)) => {
                    let id = id.parse().map_err(|e| format!("spill heap id {id:?}: {e:?}"))?;
                    let seg = Segment::attach(&id, HEAP_LAYOUT).map_err(|e| {
                        // An `AddressSpace` error names the limit itself.
                        let note = match e {
                            zeroproc_shm::AttachError::AddressSpace(_) => String::new(),
                            _ => address_space_note(),
                        };
                        format!("this worker could not attach the pool's spill heap: {e}{note}")
                    })?;
                    let h = SpillHeap { seg: Arc::new(seg) };
                    h.heap()?;
                    return Ok(Some(h));
                }
                (heap_state::PENDING, _) => {
                    // Relaxed: a request flag the supervisor polls; the answer is
                    // published with Release (`publish_heap`).
                    let _ = header.heap_state.compare_exchange(
                        heap_state::PENDING,
                        heap_state::REQUESTED,
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                // Its creation failed: asked for once more (the controller tries again
                // if its last try is old enough, else answers FAILED at once).
                (heap_state::FAILED, _) if !asked_again => {
                    asked_again = true;
                    // Relaxed: as for PENDING above.
                    let _ = header.heap_state.compare_exchange(
                        heap_state::FAILED,
                        heap_state::REQUESTED,
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                (heap_state::FAILED, _) => {
                    return Err("the pool has no spill heap: the controller could not create \
                                it (its stderr says why; it is tried again when a payload \
                                needs it, at most once a second)"
                        .into())
                }
                (heap_state::REQUESTED, _) if t0.elapsed() < CREATE_WAIT => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                (heap_state::REQUESTED, _) => {
                    return Err(format!(
                        "the pool's spill heap was not created within {CREATE_WAIT:?}"
                    ))
                }
                _ => return Ok(None),
            }
        }
    }

    /// The segment id to publish.
    pub(crate) fn id(&self) -> String {
        self.seg.id().to_string()
    }

    /// A handle on the heap.
    pub(crate) fn heap(&self) -> Result<Heap<'_>, String> {
        Heap::attach(&self.seg, region()).map_err(|e| format!("spill heap: {e:?}"))
    }
}

fn region() -> Offset<u8> {
    Offset::new(HEADER_SIZE as u64)
}

/// Why [`ToHeap`] gave no block.
#[derive(Debug)]
pub(crate) enum SpillFailed {
    /// The heap has no free block that large right now (blocks come back as their
    /// readers free them): wait and retry, like a full ring.
    HeapFull(String),
    /// The heap can never hold it: larger than the heap, or its memory is carved into
    /// smaller blocks and no block of this size exists to come back (freed blocks are not
    /// merged). A resource limit (`JobError::TooLarge`), not worth waiting for.
    TooLarge(String),
    /// Anything else (serialization, a damaged heap).
    Other(String),
}

impl From<SpillFailed> for String {
    fn from(e: SpillFailed) -> String {
        match e {
            SpillFailed::HeapFull(m) | SpillFailed::TooLarge(m) | SpillFailed::Other(m) => m,
        }
    }
}

/// The pool's spill heap as the [`Overflow`] of the one send path
/// ([`zeroproc_codec::send`]): it tells a full heap ([`SpillFailed::HeapFull`], worth
/// waiting for) from one that can never hold the value ([`SpillFailed::TooLarge`]).
pub(crate) struct ToHeap<'h>(pub(crate) &'h SpillHeap);

impl ToHeap<'_> {
    /// [`Overflow::spill`], telling `track` which block is held while it is written
    /// (`spill::spill_tracked`).
    pub(crate) fn spill_tracked<T: Encode>(
        &self,
        value: &T,
        need: usize,
        mut track: impl FnMut(Option<&SpilledBlock>),
    ) -> Result<SpilledBlock, SpillFailed> {
        self.spill_recorded(value, need, |r| match r {
            Record::Stamped(b) => track(Some(b)),
            Record::Released => track(None),
            Record::Allocating | Record::Allocated(_) => {}
        })
    }

    /// [`Overflow::spill`], telling `record` every step of each block it tries
    /// (`spill::spill_recorded`): from the allocation on, not only once stamped.
    pub(crate) fn spill_recorded<T: Encode>(
        &self,
        value: &T,
        need: usize,
        record: impl FnMut(Record<'_>),
    ) -> Result<SpilledBlock, SpillFailed> {
        let h = self.0.heap().map_err(SpillFailed::Other)?;
        let first = need.max(spill::MIN_SPILL);
        spill::spill_recorded(&h, value, first, record).map_err(|e| match e {
            // Full now: wait, if a block that size can come back — any block under the
            // limit can: a merge pass grows the heap to its limit and merges the free
            // blocks with the room past them (`zeroproc-shm` `merge.rs`), so once the
            // blocks in the way are freed it is made, as in a fresh heap. (Whether they
            // ever will be is the caller's to judge: nothing in flight, `dispatch`; a
            // bounded wait, a worker's result.) Else it never will.
            spill::SpillError::Heap(AllocError::OutOfMemory { block_size, .. }) => {
                if h.can_hold((block_size as usize).saturating_sub(16)) {
                    SpillFailed::HeapFull(e.to_string())
                } else {
                    SpillFailed::TooLarge(too_large(&e.to_string(), block_size, &h))
                }
            }
            // The system refused the memory (short of it, or the file-size limit
            // `RLIMIT_FSIZE`: the heap is a file): a resource limit, named in the message
            // (before env36 `Other`, which a result reported as "job data invalid").
            spill::SpillError::Heap(AllocError::GrowFailed { .. }) => {
                SpillFailed::TooLarge(format!("the pool's spill heap could not grow: {e}"))
            }
            e => SpillFailed::Other(e.to_string()),
        })
    }
}

/// The message of a payload that no block of the heap `h` can ever hold: `block` is the
/// size of the block it needs. It names the heap's limit (what `spill_heap` set), not its
/// current size: before, it printed the size the heap had grown to (64 MiB for a fresh
/// pool), so a 900 MiB payload under the default 1 GiB limit read as "larger than the
/// whole heap (67108864 bytes)". A payload's block is its size rounded up to a size class
/// (at most a quarter more), so the message also says the largest payload that fits.
fn too_large(e: &str, block: u64, h: &Heap<'_>) -> String {
    // `can_hold` is monotonic in the size: the largest size it holds, by bisection.
    let (mut lo, mut hi) = (0u64, block);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if h.can_hold(mid as usize) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    format!(
        "{e}: the pool's spill heap may grow to {max} bytes (its `spill_heap` limit) and \
         carries a payload in one block, its size rounded up to a size class (at most a \
         quarter more), so it can never hold this {block}-byte block: the largest archived \
         payload it carries is {lo} bytes; give the pool a larger spill_heap, or pass the data in a \
         SharedArray (its handle is a few bytes)",
        max = h.max_region_len(),
    )
}

impl Overflow for ToHeap<'_> {
    type Error = SpillFailed;

    fn spill<T: Encode>(&mut self, value: &T, need: usize) -> Result<SpilledBlock, SpillFailed> {
        self.spill_tracked(value, need, |_| {})
    }

    fn give_back(&mut self, block: SpilledBlock) {
        if let Ok(h) = self.0.heap() {
            // Freeing a block this process allocated a moment ago fails only on a damaged
            // heap, which the next allocation reports.
            let _ = block.free(&h);
        }
    }
}

/// Decodes an envelope (inline or spilled) and deserializes the value; a spilled block is
/// freed once read.
pub(crate) fn decode_owned<R: crate::Message>(
    bytes: &[u8],
    heap: Option<&SpillHeap>,
) -> Result<R, String> {
    with_archived::<R, _>(bytes, heap, |a| {
        rkyv::deserialize::<R, rkyv::rancor::Error>(a).map_err(|e| format!("deserialize: {e}"))
    })?
}

/// Validates an envelope (inline or spilled) and hands `f` the archived value in place —
/// no deserialized copy; a spilled block is freed once `f` returns.
pub(crate) fn with_archived<T: payload::Decode, X>(
    bytes: &[u8],
    heap: Option<&SpillHeap>,
    f: impl FnOnce(&T::Archived) -> X,
) -> Result<X, String> {
    if envelope::is_spilled(bytes) {
        let Some(sh) = heap else {
            return Err("a spilled payload, but this pool has no spill heap".into());
        };
        let h = sh.heap()?;
        let (_, p) = payload::decode_any::<T>(bytes, &h).map_err(|e| e.to_string())?;
        return Ok(f(&p));
    }
    let (_, a) = envelope::decode::<T>(bytes).map_err(|e| e.to_string())?;
    Ok(f(a))
}

/// The controller's access to the spill heap: created once (by the supervisor when a
/// worker asks for it, or by whoever needs it first), published in the pool header for
/// workers. A creation that fails is tried again, at most once per [`CREATE_RETRY`], by
/// the next payload that needs the heap.
pub(crate) struct SpillSource {
    bytes: usize,
    /// The heap, once created.
    heap: std::sync::OnceLock<SpillHeap>,
    /// When the last creation failed and why (kept for the messages of the payloads that
    /// needed it); `None` while no creation has failed since the last success. Held while
    /// creating, so concurrent callers wait for one attempt.
    failed: std::sync::Mutex<Option<(Instant, String)>>,
}

/// How long after a failed creation of the heap the next one is tried (a payload that
/// needs it within that time fails with the failure's reason, without a new attempt).
const CREATE_RETRY: Duration = Duration::from_secs(1);

impl SpillSource {
    /// A source that will create a heap of `bytes` (0: never).
    pub(crate) fn new(bytes: usize) -> Self {
        Self { bytes, heap: std::sync::OnceLock::new(), failed: std::sync::Mutex::new(None) }
    }

    /// Bytes of the heap this pool creates (0: none).
    pub(crate) fn capacity(&self) -> usize {
        self.bytes
    }

    /// The heap if it was created already (never creates it).
    pub(crate) fn existing(&self) -> Option<&SpillHeap> {
        self.heap.get()
    }

    /// Why [`get`](Self::get) gave `None`, for a message: no heap was configured, or
    /// creating it failed (with the error).
    pub(crate) fn why_none(&self) -> String {
        match &*self.failed.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((_, e)) if self.bytes != 0 => e.clone(),
            _ => "the pool has no spill heap".into(),
        }
    }

    /// True if a worker asked for the heap and it does not exist yet.
    pub(crate) fn requested(&self, header: &PoolHeader) -> bool {
        self.heap.get().is_none() && header.heap().0 == heap_state::REQUESTED
    }

    /// The heap, creating and publishing it on first use (other callers wait for that).
    ///
    /// A heap that cannot be created (descriptors, memory or `/dev/shm` short, an
    /// address-space limit below its maximum) is tried again by the next payload that
    /// needs it [`CREATE_RETRY`] or more later: one note on stderr says why (per streak of
    /// failures), and every payload that needed it meanwhile fails with that reason (before
    /// 2026-12-07 they said "the pool has no spill heap", as though `spill_heap(0)` had been
    /// asked for: user29). Before review30 a failure was kept for the pool's life: a
    /// moment without a free descriptor at the first large payload made every later one
    /// fail.
    pub(crate) fn get(&self, header: &PoolHeader) -> Option<&SpillHeap> {
        if let Some(h) = self.heap.get() {
            return Some(h);
        }
        if self.bytes == 0 {
            header.publish_heap(None);
            return None;
        }
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = self.heap.get() {
            return Some(h); // made while this thread waited for the lock
        }
        if failed.as_ref().is_some_and(|(at, _)| at.elapsed() < CREATE_RETRY) {
            header.publish_heap_failed();
            return None;
        }
        match SpillHeap::create(self.bytes) {
            Ok(h) => {
                let h = self.heap.get_or_init(|| h);
                header.publish_heap(Some(&h.id()));
                if failed.take().is_some() {
                    crate::note!("zeroproc: the pool's spill heap was created at a later try");
                }
                Some(h)
            }
            Err(e) => {
                let e = creation_failed(self.bytes, &e);
                if failed.is_none() {
                    crate::note!("zeroproc: {e}");
                }
                *failed = Some((Instant::now(), e));
                header.publish_heap_failed();
                None
            }
        }
    }
}

/// The message for a spill heap of up to `max` bytes that could not be created (`e`).
fn creation_failed(max: usize, e: &str) -> String {
    // A segment refused by the limit says so itself (`CreateError::AddressSpace`).
    let note = if e.contains("RLIMIT_AS") { String::new() } else { address_space_note() };
    format!(
        "the pool's spill heap (for payloads too large for a ring record; up to {max} bytes, mapped \
         whole) could not be created: {e}{note} — PoolBuilder::spill_heap sets its size; tried \
         again when a payload needs it, at most once a second"
    )
}

/// A note naming this process's address-space limit (`RLIMIT_AS`), if it has one: the
/// usual reason a heap's mapping fails while memory is free.
pub(crate) fn address_space_note() -> String {
    match crate::pool::builder::address_space_limit() {
        Some(l) => format!(
            " (this process's address space is limited: RLIMIT_AS {} MiB, and every \
             process using the heap maps its maximum)",
            l >> 20
        ),
        None => String::new(),
    }
}

/// A worker's lazily attached view of the spill heap. (The worker keeps its pool segment
/// mapped until it exits, hence the `'static` header.)
pub(crate) struct WorkerSpill {
    header: &'static PoolHeader,
    /// Where the worker records a result block not yet referenced by a published record.
    ctl: &'static WorkerControl,
    heap: Option<Option<SpillHeap>>,
    /// Why the last attach failed (it is tried again at the next use).
    failed: Option<String>,
}

impl WorkerSpill {
    pub(crate) fn new(header: &'static PoolHeader, ctl: &'static WorkerControl) -> Self {
        Self { header, ctl, heap: None, failed: None }
    }

    /// Why [`get`](Self::get) gave `None`: the pool has no heap, or attaching it failed.
    pub(crate) fn why_none(&self) -> String {
        self.failed.clone().unwrap_or_else(|| {
            "the pool has no spill heap (PoolBuilder::spill_heap(0), or the controller could \
             not create it: its stderr says why)"
                .into()
        })
    }

    /// Records a step of a result's spill (`spill::spill_recorded`) in the worker's control
    /// block, so that a block it holds unreferenced is never unknown to the supervisor
    /// (see `WorkerControl::held_offset` and [`record_held`]).
    pub(crate) fn record(&self, r: Record<'_>) {
        record_held(&self.ctl.held_offset, &self.ctl.held_nonce, r);
    }

    /// The held block's record was published, or the block given back.
    pub(crate) fn release(&self) {
        self.record(Record::Released);
    }

    /// The heap (attached on first use; `None` if the pool has none, or if attaching it
    /// failed: [`why_none`](Self::why_none) says which, and a failed attach is retried at
    /// the next use).
    pub(crate) fn get(&mut self) -> Option<&SpillHeap> {
        if self.heap.is_none() {
            match SpillHeap::attach(self.header) {
                Ok(h) => {
                    self.heap = Some(h);
                    self.failed = None;
                }
                Err(e) => {
                    self.failed = Some(e);
                    return None;
                }
            }
        }
        self.heap.as_ref().and_then(Option::as_ref)
    }
}

/// `held_nonce` while a worker allocates a result block: the block (once the heap returned
/// it) is in `held_offset`, its claim word not stamped yet. Never a nonce (nonces never
/// have `OWNER_BIT`).
pub(crate) const HELD_ALLOCATING: u64 = u64::MAX;

/// The worker's side of the held-block protocol, on its two control-block words:
///
/// | step | `held_offset` | `held_nonce` | a supervisor after the worker's death |
/// |---|---|---|---|
/// | `Allocating` | 0 (first) | `HELD_ALLOCATING` (then) | nothing to free |
/// | `Allocated(O)` | O | `HELD_ALLOCATING` | frees O (unpublished, unstamped) |
/// | `Stamped(b)` | b.offset | b.nonce | reclaims by the nonce (`payload::reclaim`) |
/// | `Released` | – | 0 | nothing |
///
/// Between `Allocating` and `Allocated` only the heap knows the block (a death inside the
/// heap's `alloc`); from `Allocated` on the supervisor does. Before `Allocating` the state
/// is always `Released` (every spill attempt ends with `Released` or `Stamped`, and a
/// stamped block is released before the next attempt), so `held_offset` is never stale.
pub(crate) fn record_held(offset: &AtomicU64, nonce: &AtomicU64, r: Record<'_>) {
    match r {
        Record::Allocating => {
            // Relaxed: published by the Release store of the state below.
            offset.store(0, Ordering::Relaxed);
            // Release: pairs with the supervisor's Acquire swap after this worker died.
            nonce.store(HELD_ALLOCATING, Ordering::Release);
        }
        Record::Allocated(o) => {
            // Release: as above (the supervisor reads the offset after the state).
            offset.store(o.get(), Ordering::Release);
        }
        Record::Stamped(b) => {
            // Relaxed: published by the Release store of the nonce below.
            offset.store(b.offset.get(), Ordering::Relaxed);
            // Release: as above.
            nonce.store(b.nonce, Ordering::Release);
        }
        Record::Released => {
            // Release: as above.
            nonce.store(0, Ordering::Release);
        }
    }
}

/// After worker `ctl`'s process died and its completions were drained: frees the result
/// block it had allocated but not referenced from a published record (see
/// `WorkerControl::held_offset`, [`record_held`]). True if a block was freed.
pub(crate) fn reclaim_held(ctl: &WorkerControl, heap: Option<&SpillHeap>) -> bool {
    let Some(sh) = heap else {
        // Nothing can be held without a heap; forget any state.
        // Relaxed: the worker is dead, nobody else writes the words.
        ctl.held_nonce.store(0, Ordering::Relaxed);
        return false;
    };
    let Ok(h) = sh.heap() else { return false };
    reclaim_held_words(&ctl.held_offset, &ctl.held_nonce, &h)
}

/// [`reclaim_held`] on the two words and a heap handle.
pub(crate) fn reclaim_held_words(offset: &AtomicU64, nonce: &AtomicU64, h: &Heap<'_>) -> bool {
    // Acquire: pairs with the worker's Release stores in `record_held`.
    let n = nonce.swap(0, Ordering::Acquire);
    // Acquire: as above (`Allocated` stores the offset alone, after the state).
    let o = zeroproc_shm::Offset::new(offset.load(Ordering::Acquire));
    match n {
        0 => false,
        // Allocated, never stamped nor published: the dead worker's alone.
        HELD_ALLOCATING => o.get() != 0 && h.free(o).is_ok(),
        nonce => payload::reclaim(h, &SpilledBlock { offset: o, len: 0, nonce }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_heap_keeps_under_the_file_size_limit() {
        use super::{first_len, FIRST_LEN};
        assert_eq!(first_len(1 << 30, None), FIRST_LEN);
        assert_eq!(first_len(1 << 20, None), 1 << 20, "the pool's limit");
        assert_eq!(first_len(1 << 30, Some(20 << 20)), 19 << 20, "whole MiB with the header");
        assert_eq!(first_len(1 << 30, Some(1 << 30)), FIRST_LEN);
        assert_eq!(first_len(1 << 30, Some(4096)), FIRST_LEN, "no room: fails, named");
    }

    use super::*;
    use zeroproc_shm::{Layout, Segment};

    /// A worker killed right after the heap handed it a result block, before the claim
    /// word was stamped: the block is named in its control words from the first step, and
    /// the supervisor frees it. (Before, only a stamped block was recorded, and this one
    /// leaked for the pool's life.)
    #[test]
    fn a_block_allocated_but_not_stamped_is_reclaimed() {
        let seg = Segment::create(Layout::new("sched-held-unit", 1), 1 << 16).unwrap();
        let h = Heap::init_in(&seg, region(), 1 << 16).unwrap();
        let (offset, nonce) = (AtomicU64::new(0), AtomicU64::new(0));
        // Died after `Allocating`, before the heap returned: nothing to free.
        record_held(&offset, &nonce, Record::Allocating);
        assert!(!reclaim_held_words(&offset, &nonce, &h));
        // Died right after the allocation.
        record_held(&offset, &nonce, Record::Allocating);
        let b = h.alloc(1000, 16).unwrap();
        record_held(&offset, &nonce, Record::Allocated(b));
        assert_eq!(h.stats().in_use_blocks(), 1);
        assert!(reclaim_held_words(&offset, &nonce, &h));
        assert_eq!(h.stats().in_use_blocks(), 0, "the block went back");
        assert!(!reclaim_held_words(&offset, &nonce, &h), "once");
        // A whole spill, stamped and then published (released): nothing left to reclaim.
        let b =
            spill::spill_recorded(&h, &vec![3u8; 5000], 16, |r| record_held(&offset, &nonce, r))
                .unwrap();
        // Relaxed: this thread wrote it.
        assert_eq!(nonce.load(Ordering::Relaxed), b.nonce, "stamped and held");
        record_held(&offset, &nonce, Record::Released);
        assert!(!reclaim_held_words(&offset, &nonce, &h));
        b.free(&h).unwrap();
        // Stamped, never published: reclaimed by its nonce.
        let b =
            spill::spill_recorded(&h, &vec![4u8; 5000], 16, |r| record_held(&offset, &nonce, r))
                .unwrap();
        assert!(reclaim_held_words(&offset, &nonce, &h));
        assert!(b.free(&h).is_err(), "already freed by the reclaim");
        h.check().unwrap();
        assert_eq!(h.stats().in_use_blocks(), 0);
    }

    /// The control words in shared memory, as a worker's are.
    fn words(seg: &Segment) -> (&AtomicU64, &AtomicU64) {
        // SAFETY: the segment's data is at least 16 zeroed bytes, 8-aligned, accessed only
        // through these atomics, and outlives the borrow.
        let w = unsafe { &*seg.data().cast::<[AtomicU64; 2]>() };
        (&w[0], &w[1])
    }

    /// Forks a child that runs `child` and is SIGKILLed by it (or `_exit`s if it returns);
    /// returns the signal that ended it. The child touches shared memory with atomics only
    /// (a fresh heap: no merge pass, so no allocation of its own).
    fn killed_child(child: impl FnOnce()) -> i32 {
        let status = zeroproc_testkit::fork_run(child);
        if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        }
    }

    fn sigkill_self() {
        // SAFETY: sends SIGKILL to this (child) process.
        unsafe { libc::raise(libc::SIGKILL) };
    }

    /// Real processes SIGKILLed at each step of a result's spill, as a worker is: right
    /// after the heap returned the block (the gap this closes: before, the block leaked),
    /// right after the stamp, and right after `Allocating`. Every time the supervisor's
    /// reclaim leaves the heap with no block in use.
    #[test]
    fn sigkilled_at_each_step_of_a_result_spill_nothing_leaks() {
        let seg = Segment::create(Layout::new("sched-held-kill", 1), 1 << 16).unwrap();
        let h = Heap::init_in(&seg, region(), 1 << 16).unwrap();
        let ctl = Segment::create(Layout::new("sched-held-kill-ctl", 1), 4096).unwrap();
        let (offset, nonce) = words(&ctl);
        let value = vec![5u8; 3000];
        for (step, at) in [(0, "allocated"), (1, "stamped"), (2, "allocating")] {
            let sig = killed_child(|| {
                let _ = spill::spill_recorded(&h, &value, 16, |r| {
                    record_held(offset, nonce, r);
                    let now = match r {
                        Record::Allocating => 2,
                        Record::Allocated(_) => 0,
                        Record::Stamped(_) => 1,
                        Record::Released => 3,
                    };
                    if now == step {
                        sigkill_self();
                    }
                });
            });
            assert_eq!(sig, libc::SIGKILL, "killed {at}");
            let held = h.stats().in_use_blocks();
            assert_eq!(held, u64::from(step != 2), "killed {at}: blocks held");
            let freed = reclaim_held_words(offset, nonce, &h);
            assert_eq!(freed, step != 2, "killed {at}");
            h.check().unwrap();
            assert_eq!(h.stats().in_use_blocks(), 0, "killed {at}: the block leaked");
        }
    }

    /// A payload under the limit that does not fit while another block is in use, but
    /// does once that block is freed (the merge pass grows the heap to its limit and
    /// merges: 4c494e5), is worth waiting for: `HeapFull`, not `TooLarge`. It was
    /// `TooLarge` ("carved into blocks for earlier payloads ... cannot be made in this
    /// pool") whenever its block was longer than the heap had grown so far: a worker's
    /// large result failed at once while another job's queued argument held a block.
    #[test]
    fn a_payload_that_fits_once_a_block_is_freed_is_heap_full_not_too_large() {
        const MIB: usize = 1 << 20;
        let sh = SpillHeap::create(200 * MIB).unwrap();
        let h = sh.heap().unwrap();
        // A queued argument's block: the heap grows past its first 64 MiB.
        let held = h.alloc(60 * MIB, 16).unwrap();
        let big = vec![5u8; 150 * MIB];
        let r = ToHeap(&sh).spill_recorded(&big, 150 * MIB, |_| {});
        assert!(
            matches!(r, Err(SpillFailed::HeapFull(_))),
            "{:?}",
            r.map(|_| ()).map_err(String::from)
        );
        h.free(held).unwrap();
        let b = ToHeap(&sh).spill_recorded(&big, 150 * MIB, |_| {}).map_err(String::from).unwrap();
        b.free(&h).unwrap();
        h.check().unwrap();
    }
}
