//! One container segment mapped in this process: create (header, heap, first table, then
//! the magic), attach (validate everything before use), and taking the lock — which first
//! finishes or undoes whatever a dead (or panicked) holder left half-done.

use super::header::{ContainerHeader, HEADER_REGION, KIND_LIST, LAYOUT, MAGIC, VERSION};
use super::table::{DICT_TABLE_HEADER, LIST_TABLE_HEADER};
use super::ContainerError;
use std::cell::RefCell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use zeroproc_shm::heap::Heap;
use zeroproc_shm::sync::{LockGuard, TryLockError};
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};

/// Smallest heap a container gets (the first table and a few entries).
const MIN_HEAP: usize = super::MIN_CAPACITY;
/// Capacity of a fresh table (slots of a dict, items of a list).
pub(crate) const FIRST_CAPACITY: u64 = 16;

/// What identifies a container's type: its kind and the hashes of its key and value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub kind: u32,
    pub key_type: u64,
    pub value_type: u64,
}

fn layout(kind: u32) -> Layout {
    LAYOUT.with_value(kind as u64)
}

/// A mapped container segment.
pub(crate) struct Store {
    /// The heap in `seg`. `'static` stands for "as long as `seg`": it is only handed out
    /// re-borrowed from `&self`.
    heap: Heap<'static>,
    seg: Segment,
    id: Identity,
    /// Created in this process: dropping it marks the container dropped.
    owner: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("segment", self.seg.id()).field("id", &self.id).finish()
    }
}

impl Store {
    /// Creates a container segment with a heap of `capacity` bytes (at least 8 KiB) that
    /// grows on demand up to `max` bytes (both rounded up to 4 KiB pages). A `max` below
    /// 8 KiB or below `capacity` is refused ([`ContainerError::Capacity`]).
    pub(crate) fn create(
        id: Identity,
        capacity: usize,
        max: usize,
    ) -> Result<Store, ContainerError> {
        if max < MIN_HEAP || max < capacity {
            return Err(ContainerError::Capacity { bytes: capacity, max_bytes: max });
        }
        let round = |n: usize| n.max(MIN_HEAP).checked_next_multiple_of(4096).ok_or(too_large(n));
        let heap_len = round(capacity)?;
        let heap_max = round(max)?.max(heap_len);
        let data_len = HEADER_REGION.checked_add(heap_len).ok_or(too_large(capacity))?;
        let max_data_len = HEADER_REGION.checked_add(heap_max).ok_or(too_large(max))?;
        let heap_off = (HEADER_SIZE + HEADER_REGION) as u64;
        let mut failed = None;
        let seg = SegmentBuilder::new(layout(id.kind), data_len)
            .max_data_len(max_data_len)
            // Heap pages come as entries reach them (creating a dict took 80 µs, most of
            // it allocating and mapping its first 64 KiB of heap).
            .reserve_later()
            .create_with(|s| {
                if let Err(e) = init(s, id, heap_off, heap_len, heap_max) {
                    failed = Some(e);
                }
            })
            .map_err(ContainerError::Create)?;
        if let Some(e) = failed {
            return Err(e);
        }
        Self::from_segment(seg, id, true)
    }

    /// Attaches the container segment `id` (text form) of the given identity.
    pub(crate) fn attach(text: &str, id: Identity) -> Result<Store, ContainerError> {
        let sid: SegmentId = text.parse().map_err(ContainerError::BadId)?;
        let seg = Segment::attach(&sid, layout(id.kind)).map_err(ContainerError::Attach)?;
        Self::from_segment(seg, id, false)
    }

    /// Validates the header of a mapped segment and attaches its heap.
    fn from_segment(seg: Segment, id: Identity, owner: bool) -> Result<Store, ContainerError> {
        if seg.data_len() < HEADER_REGION + MIN_HEAP {
            return Err(ContainerError::Foreign("segment too small for a container"));
        }
        // SAFETY: the data region is 256-byte aligned and at least HEADER_REGION bytes;
        // only a shared reference to the header (atomics and write-once fields) is formed.
        let h = unsafe { &*seg.data().cast::<ContainerHeader>() };
        // Acquire: pairs with the Release store of the magic in `init`.
        if h.magic.load(Acquire) != MAGIC || h.version != VERSION {
            return Err(ContainerError::Foreign("bad container magic or version"));
        }
        if h.kind != id.kind {
            return Err(ContainerError::Foreign("another kind of container"));
        }
        if h.key_type != id.key_type || h.value_type != id.value_type {
            return Err(ContainerError::TypeMismatch);
        }
        let heap_off = (HEADER_SIZE + HEADER_REGION) as u64;
        if h.heap_off != heap_off || h.heap_len > (seg.data_len() - HEADER_REGION) as u64 {
            return Err(ContainerError::Foreign("heap geometry does not match the segment"));
        }
        // SAFETY: the segment (mapping and descriptor), which `Store` owns, stays alive for
        // as long as the heap handle (a field of the same `Store`) is used; moving the
        // `Segment` value moves neither. The heap region is accessed only through heaps
        // and the lock protocol.
        let heap = unsafe { Heap::attach_unbound(&seg, Offset::new(heap_off)) }
            .map_err(|_| ContainerError::Foreign("container heap invalid"))?;
        if heap.max_region_len() != h.heap_len {
            return Err(ContainerError::Foreign("heap geometry does not match the header"));
        }
        Ok(Store { heap, seg, id, owner })
    }

    /// The segment id (what a handle carries).
    pub(crate) fn segment_id(&self) -> &SegmentId {
        self.seg.id()
    }

    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &ContainerHeader {
        // SAFETY: validated in `from_segment`; mapped while `self` lives.
        unsafe { &*self.seg.data().cast::<ContainerHeader>() }
    }

    /// The heap, re-borrowed for `&self`.
    #[inline]
    pub(crate) fn heap(&self) -> &Heap<'_> {
        &self.heap
    }

    /// The segment.
    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    /// The container's kind.
    pub(crate) fn kind(&self) -> u32 {
        self.id.kind
    }

    /// Heap bytes now (the container's capacity for tables and entries; it grows).
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.heap.region_len()
    }

    /// The most the heap grows to.
    pub(crate) fn max_capacity_bytes(&self) -> u64 {
        self.heap.max_region_len()
    }

    /// Memory use and history, read under the lock (so after any pending recovery).
    pub(crate) fn stats(&self) -> super::ContainerStats {
        let _l = self.lock();
        let h = self.heap().stats();
        let hd = self.header();
        super::ContainerStats {
            capacity_bytes: self.capacity_bytes(),
            max_capacity_bytes: self.max_capacity_bytes(),
            blocks_in_use: h.in_use_blocks(),
            bytes_in_use: h.in_use_bytes,
            // Relaxed: statistics.
            mutations: hd.mutations.load(Relaxed),
            recoveries: hd.recoveries.load(Relaxed),
        }
    }

    /// Takes the lock (waiting as long as it takes); if the previous holder died or left
    /// an intent behind, finishes or undoes it first (see README: recovery).
    ///
    /// Panics if this thread holds it already — a closure run under it (`update`,
    /// `get_with`, `for_each`) used the same container, through this object or another
    /// attachment of it: the lock is per process, so that would wait for itself for ever.
    pub(crate) fn lock(&self) -> Locked<'_> {
        let token = self.seg.id().token();
        // `try_with`: a container used from another thread-local's destructor is not tracked.
        // The owner check: a child forked inside such a closure inherits this thread's
        // `HELD`, but the lock is its parent's, which it waits for as any process does
        // (it was told it held the lock itself and would wait for itself).
        if HELD.try_with(|h| h.borrow().contains(&token)).unwrap_or(false)
            && self.header().lock.owner() == Some(zeroproc_shm::process::current_pid())
        {
            panic!(
                "a shared container was used from inside a closure running under its own \
                 lock (update, get_with or for_each of the same dict, list or namespace): \
                 this thread holds that lock already and would wait for itself for ever; \
                 compute outside the closure, or use the value the closure is given"
            );
        }
        let (guard, died) = match self.header().lock.lock() {
            Ok(g) => (g, false),
            Err(d) => (d.into_inner(), true),
        };
        let _ = HELD.try_with(|h| h.borrow_mut().push(token));
        let l = Locked { store: self, token, _guard: guard };
        if died || l.intent_pending() {
            l.recover();
        }
        l
    }
}

impl Store {
    /// [`lock`](Self::lock) without waiting (`None`: another thread or process holds it).
    /// For the trim thread, which holds no container lock.
    fn try_lock(&self) -> Option<Locked<'_>> {
        let token = self.seg.id().token();
        let (guard, died) = match self.header().lock.try_lock() {
            Ok(g) => (g, false),
            Err(TryLockError::OwnerDied(d)) => (d.into_inner(), true),
            Err(TryLockError::WouldBlock) => return None,
        };
        let _ = HELD.try_with(|h| h.borrow_mut().push(token));
        let l = Locked { store: self, token, _guard: guard };
        if died || l.intent_pending() {
            l.recover();
        }
        Some(l)
    }

    /// The heap's large-block activity, if its pages may be released: a memfd segment
    /// (see `crate::trim`).
    fn trim_activity(&self) -> Option<u64> {
        matches!(self.seg.id(), SegmentId::Memfd { .. })
            .then(|| self.heap.large_activity(crate::trim::MIN_BLOCK))
    }

    /// Adds this container's heap to the trim thread's (`crate::trim`).
    pub(crate) fn register_trim(self: &std::sync::Arc<Self>) {
        if self.trim_activity().is_some() {
            let weak: std::sync::Weak<dyn crate::trim::Trim> = std::sync::Arc::downgrade(self) as _;
            crate::trim::register(weak);
        }
    }

    /// Frees a heap block under the lock, waking the trim thread for a large one.
    pub(crate) fn free_block(heap: &Heap<'_>, off: Offset<u8>) {
        let large = heap.usable_size(off).is_ok_and(|n| n as u64 >= crate::trim::MIN_BLOCK);
        // A DoubleFree (a recovery repeating a free) is expected and harmless.
        if heap.free(off).is_ok() && large {
            crate::trim::wake();
        }
    }
}

impl crate::trim::Trim for Store {
    fn activity(&self) -> Option<u64> {
        self.trim_activity()
    }

    fn release(&self) -> Option<u64> {
        // Under the lock: every allocation and free of a container is made under it, so
        // nothing races with the release.
        let l = self.try_lock()?;
        Some(l.heap().release_free_pages(crate::trim::MIN_BLOCK))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.owner {
            // Release: pairs with the Acquire in the cache's sweep.
            self.header().dropped.store(1, Release);
            // Counted, after that store: pool workers sweep when the count moves.
            crate::shared::cache::note_drop();
            // This process's own attachments of it, already dropped, are unmapped now
            // rather than at the next attach. (The cache holds attached stores only,
            // never an owner: no re-entry into its lock from here.)
            super::cache::evict_unused();
        }
    }
}

thread_local! {
    /// Segment tokens of the containers whose lock this thread holds (a handful at most:
    /// one per nested closure over different containers).
    static HELD: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The lock held on a store; every table and entry access goes through one.
pub(crate) struct Locked<'s> {
    pub(crate) store: &'s Store,
    /// The store's segment token, in [`HELD`] while this lives.
    token: u64,
    _guard: LockGuard<'s>,
}

impl Locked<'_> {
    /// `Err(ForkedUnderLock)` unless this process holds the lock: checked before an update
    /// writes what its closure changed. A child forked inside the closure (its copy of the
    /// guard is its parent's) wrote the container while the parent held the lock.
    pub(crate) fn still_held(&self) -> Result<(), ContainerError> {
        match self.store.header().lock.owner() {
            Some(p) if p == zeroproc_shm::process::current_pid() => Ok(()),
            holder => Err(ContainerError::ForkedUnderLock { holder: holder.unwrap_or(0) }),
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // `try_with`: a guard dropped while the thread's locals are torn down.
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|&t| t == self.token) {
                h.swap_remove(i);
            }
        });
    }
}

impl Locked<'_> {
    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &ContainerHeader {
        self.store.header()
    }

    /// The heap.
    #[inline]
    pub(crate) fn heap(&self) -> &Heap<'_> {
        self.store.heap()
    }
}

/// A capacity of `bytes` that no segment can have: a size error at creation. (It was
/// `Foreign`, "not a container of this build", which names another cause.)
fn too_large(bytes: usize) -> ContainerError {
    ContainerError::Create(zeroproc_shm::CreateError::BadSize(bytes as u64))
}

/// Writes a fresh segment's header, heap and first table, then the magic.
fn init(
    s: &Segment,
    id: Identity,
    heap_off: u64,
    heap_len: usize,
    heap_max: usize,
) -> Result<(), ContainerError> {
    let h = s.data().cast::<ContainerHeader>();
    // SAFETY: the fresh data region is zeroed, 256-byte aligned, at least HEADER_REGION
    // bytes and seen by nobody else until the segment is READY; raw writes of the
    // write-once fields, then shared references only to atomics.
    unsafe {
        std::ptr::addr_of_mut!((*h).version).write(VERSION);
        std::ptr::addr_of_mut!((*h).kind).write(id.kind);
        std::ptr::addr_of_mut!((*h).key_type).write(id.key_type);
        std::ptr::addr_of_mut!((*h).value_type).write(id.value_type);
        std::ptr::addr_of_mut!((*h).heap_off).write(heap_off);
        std::ptr::addr_of_mut!((*h).heap_len).write(heap_max as u64);
    }
    let heap = Heap::init_growable(s, Offset::new(heap_off), heap_len, heap_max)
        .map_err(|_| ContainerError::Foreign("heap setup failed"))?;
    let (first, header_len, entry) = if id.kind == KIND_LIST {
        (FIRST_CAPACITY, LIST_TABLE_HEADER, 8)
    } else {
        (FIRST_CAPACITY, DICT_TABLE_HEADER, 16)
    };
    let size = header_len + first as usize * entry;
    let t = heap.alloc(size, 16).map_err(|_| ContainerError::Full { requested: size })?;
    let p = heap.ptr_len(t, size).map_err(|_| ContainerError::Corrupt("first table"))?;
    // SAFETY: a fresh block of `size` bytes, ours alone until the segment is READY.
    unsafe { super::table::init_table(p, id.kind, first, size) };
    // SAFETY: as above (header in bounds, aligned).
    let hr = unsafe { &*h };
    // Relaxed: published by the Release store of the magic below.
    hr.table.store(t.get(), Relaxed);
    // Release: publishes the header and the first table; pairs with the Acquire in
    // `from_segment`.
    hr.magic.store(MAGIC, Release);
    Ok(())
}
