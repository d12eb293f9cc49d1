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
//! oversized payloads are then `JobError::Decode` errors.

use crate::control::{heap_state, PoolHeader, WorkerControl};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, Encode};
use zeroproc_codec::payload;
use zeroproc_codec::send::Overflow;
use zeroproc_codec::spill::{self, SpilledBlock};
use zeroproc_shm::heap::{AllocError, Heap};
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, HEADER_SIZE};

/// Layout of the spill heap segment.
pub const HEAP_LAYOUT: Layout = Layout::new("zeroproc-spill-heap", 1);

/// The heap's size when it is made (or the pool's limit, if smaller); it doubles on
/// demand up to that limit (`PoolBuilder::spill_heap`).
const FIRST_LEN: usize = 64 << 20;

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
        let first = max.min(FIRST_LEN);
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
        loop {
            match header.heap() {
                (heap_state::READY, Some(id)) => {
                    let id = id.parse().map_err(|e| format!("spill heap id {id:?}: {e:?}"))?;
                    let seg = Segment::attach(&id, HEAP_LAYOUT).map_err(|e| {
                        format!("this worker could not attach the pool's spill heap: {e}")
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
        track: impl FnMut(Option<&SpilledBlock>),
    ) -> Result<SpilledBlock, SpillFailed> {
        let h = self.0.heap().map_err(SpillFailed::Other)?;
        let first = need.max(spill::MIN_SPILL);
        spill::spill_tracked(&h, value, first, track).map_err(|e| match e {
            // Full now: wait, if a block that size can come back; else it never will.
            spill::SpillError::Heap(AllocError::OutOfMemory { block_size, .. }) => {
                let can = block_size <= h.region_len()
                    && h.can_hold((block_size as usize).saturating_sub(16));
                if can {
                    SpillFailed::HeapFull(e.to_string())
                } else {
                    SpillFailed::TooLarge(format!(
                        "{e}: the pool's spill heap ({} bytes) cannot hold a block that large \
                         now or later (freed blocks are not merged, and none that size \
                         exists); give the pool a larger spill_heap",
                        h.region_len()
                    ))
                }
            }
            e => SpillFailed::Other(e.to_string()),
        })
    }
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

/// The controller's access to the spill heap: created once (by the supervisor right after
/// start-up, or by whoever needs it first), published in the pool header for workers.
pub(crate) struct SpillSource {
    bytes: usize,
    heap: std::sync::OnceLock<Option<SpillHeap>>,
}

impl SpillSource {
    /// A source that will create a heap of `bytes` (0: never).
    pub(crate) fn new(bytes: usize) -> Self {
        Self { bytes, heap: std::sync::OnceLock::new() }
    }

    /// Bytes of the heap this pool creates (0: none).
    pub(crate) fn capacity(&self) -> usize {
        self.bytes
    }

    /// The heap if it was created already (never creates it).
    pub(crate) fn existing(&self) -> Option<&SpillHeap> {
        self.heap.get().and_then(Option::as_ref)
    }

    /// True if a worker asked for the heap and it does not exist yet.
    pub(crate) fn requested(&self, header: &PoolHeader) -> bool {
        self.heap.get().is_none() && header.heap().0 == heap_state::REQUESTED
    }

    /// The heap, creating and publishing it on first use (other callers wait for that).
    pub(crate) fn get(&self, header: &PoolHeader) -> Option<&SpillHeap> {
        self.heap
            .get_or_init(|| {
                let h = if self.bytes == 0 { None } else { SpillHeap::create(self.bytes).ok() };
                let id = h.as_ref().map(|h| h.id());
                header.publish_heap(id.as_deref());
                h
            })
            .as_ref()
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
        self.failed.clone().unwrap_or_else(|| "the pool has no spill heap".into())
    }

    /// Records `block` as written and not yet referenced (see `WorkerControl::held_offset`).
    pub(crate) fn hold(&self, block: &SpilledBlock) {
        // Relaxed: published by the Release store of the nonce below.
        self.ctl.held_offset.store(block.offset.get(), Ordering::Relaxed);
        // Release: pairs with the supervisor's Acquire load after this worker died.
        self.ctl.held_nonce.store(block.nonce, Ordering::Release);
    }

    /// The held block's record was published, or the block given back.
    pub(crate) fn release(&self) {
        // Release: as in `hold`.
        self.ctl.held_nonce.store(0, Ordering::Release);
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

/// After worker `ctl`'s process died and its completions were drained: frees the result
/// block it had written but not referenced from a published record (see
/// `WorkerControl::held_offset`). True if a block was freed.
pub(crate) fn reclaim_held(ctl: &WorkerControl, heap: Option<&SpillHeap>) -> bool {
    // Acquire: pairs with the worker's Release store in `WorkerSpill::hold`.
    let nonce = ctl.held_nonce.swap(0, Ordering::Acquire);
    let (Some(sh), true) = (heap, nonce != 0) else { return false };
    let Ok(h) = sh.heap() else { return false };
    // Relaxed: ordered by the Acquire load of the nonce above.
    let offset = zeroproc_shm::Offset::new(ctl.held_offset.load(Ordering::Relaxed));
    payload::reclaim(&h, &SpilledBlock { offset, len: 0, nonce })
}
