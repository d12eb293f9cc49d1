//! One channel segment mapped in this process: create (header, rings, heap, then the
//! header's magic), attach (validate everything before use), and the per-process view of
//! the spill heap.

use crate::channel::header::{ChannelHeader, HeapSpace, Line, Meta, Tasks, LAYOUT, MAGIC, VERSION};
use crate::channel::header::{KIND_DUPLEX, KIND_JOINABLE, KIND_ONEWAY, KIND_QUEUE};
use crate::channel::holds::{Hold, Holds};
use crate::channel::{cache, ChannelError};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use zeroproc_shm::heap::Heap;
use zeroproc_shm::wait::EventCount;
use zeroproc_shm::{Offset, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};

/// Where the first region after the header starts (rings are 128-byte aligned).
const FIRST_REGION: usize = HEADER_SIZE + size_of::<ChannelHeader>();

/// What a new channel segment holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub kind: u32,
    pub type_hash: u64,
    /// Bytes of each ring region (0: absent).
    pub ring_sizes: [usize; 2],
    pub ring_cap: usize,
    pub slot_size: usize,
    /// Spill heap bytes reserved at creation (0: no heap; otherwise at least 4096).
    pub heap_len: usize,
    /// The most the spill heap may grow to (at least `heap_len`).
    pub heap_max: usize,
}

/// The initial and maximum spill heap lengths of a builder's `heap_size` and
/// `max_heap_size` (both rounded up to 4 KiB; no heap at all when `heap_size` is 0; the
/// maximum is at least the initial length).
pub(crate) fn heap_lengths(size: usize, max: usize) -> Result<(usize, usize), ChannelError> {
    let round = |n: usize| {
        n.checked_next_multiple_of(4096).ok_or(ChannelError::Config("heap size overflows"))
    };
    let len = round(size)?;
    if len == 0 {
        return Ok((0, 0));
    }
    Ok((len, round(max)?.max(len)))
}

/// The header's fields, validated against the mapping and copied here once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub kind: u32,
    pub type_hash: u64,
    pub ring_off: [u64; 2],
    pub ring_cap: u64,
    pub slot_size: u64,
    pub heap_off: u64,
    pub heap_len: u64,
    pub heap_max: u64,
}

/// A mapped channel segment.
pub(crate) struct Mapping {
    seg: Arc<Segment>,
    geo: Geometry,
    /// The spill heap. `'static` stands for "as long as `seg`": it is only ever handed out
    /// re-borrowed from `&self` (see [`Mapping::heap`]).
    heap: Option<Heap<'static>>,
    /// Created in this process: dropping the last handle marks the owner gone.
    owner: bool,
    /// The heap's large-block activity at this process's last free (`crate::trim`).
    activity: AtomicU64,
    /// When this process last swept this channel's holds table (`holds::sweep`'s rate
    /// limit, per channel: one channel's sweeps must not postpone another's).
    pub(crate) last_sweep: AtomicU64,
    /// A waiting spill in this process has written the note that the heap's growth was
    /// refused (`heap_wait.rs`: once per channel and process, not once per value).
    pub(crate) grow_noted: AtomicBool,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("segment", self.seg.id())
            .field("geo", &self.geo)
            .field("owner", &self.owner)
            .finish()
    }
}

fn round_up(x: usize, a: usize) -> Option<usize> {
    x.checked_next_multiple_of(a)
}

impl Mapping {
    /// Creates a channel segment for `plan`: writes the header and the heap, lets
    /// `init_rings` create the rings at the offsets in the geometry, then publishes the
    /// magic and registers the mapping as this process's own.
    pub(crate) fn create(
        plan: &Plan,
        init_rings: impl FnOnce(&Arc<Segment>, &Geometry) -> Result<(), ChannelError>,
    ) -> Result<Arc<Mapping>, ChannelError> {
        let too_large = || ChannelError::Config("channel too large for the address space");
        let mut ring_off = [0u64; 2];
        let mut end = FIRST_REGION;
        for (i, &size) in plan.ring_sizes.iter().enumerate() {
            if size > 0 {
                let at = round_up(end, 128).ok_or_else(too_large)?;
                ring_off[i] = at as u64;
                end = at.checked_add(size).ok_or_else(too_large)?;
            }
        }
        let heap_off = round_up(end, 128).ok_or_else(too_large)?;
        // The heap comes last: the segment reserves up to its initial length and maps up
        // to its maximum, so it grows at the end of the file.
        let mut max_end = end;
        if plan.heap_len > 0 {
            end = heap_off.checked_add(plan.heap_len).ok_or_else(too_large)?;
            max_end =
                heap_off.checked_add(plan.heap_max.max(plan.heap_len)).ok_or_else(too_large)?;
        }
        let geo = Geometry {
            kind: plan.kind,
            type_hash: plan.type_hash,
            ring_off,
            ring_cap: plan.ring_cap as u64,
            slot_size: plan.slot_size as u64,
            heap_off: if plan.heap_len > 0 { heap_off as u64 } else { 0 },
            heap_len: plan.heap_len as u64,
            heap_max: if plan.heap_len > 0 { plan.heap_max.max(plan.heap_len) as u64 } else { 0 },
        };
        let mut heap_err = None;
        let seg = SegmentBuilder::new(LAYOUT, end - HEADER_SIZE)
            .max_data_len(max_end - HEADER_SIZE)
            // Slots and heap pages come as values first reach them: a Queue(1000) of 1 KiB
            // slots took 0.75 ms to create with every page allocated and mapped, 9× a dict.
            .reserve_later()
            .create_with(|seg| {
                let h = ChannelHeader {
                    meta: Meta {
                        magic: AtomicU64::new(0),
                        version: VERSION,
                        kind: geo.kind,
                        type_hash: geo.type_hash,
                        ring_off: geo.ring_off,
                        ring_cap: geo.ring_cap,
                        slot_size: geo.slot_size,
                        heap_off: geo.heap_off,
                        heap_len: geo.heap_len,
                        heap_max: geo.heap_max,
                        owner_pid: u64::from(zeroproc_shm::process::current_pid()),
                    },
                    owner_dropped: Line(AtomicU64::new(0)),
                    tasks: Line(Tasks {
                        unfinished: AtomicU64::new(0),
                        all_done: EventCount::new(),
                        taken: std::array::from_fn(|_| AtomicU64::new(0)),
                    }),
                    heap_space: Line(HeapSpace { ev: EventCount::new(), frees: AtomicU64::new(0) }),
                    sides: Line([0, 0, 0, 0].map(AtomicU32::new)),
                    holds: Holds(std::array::from_fn(|_| Hold::new())),
                };
                // SAFETY: the data region starts at HEADER_SIZE (256-aligned) and holds at
                // least the header; nobody can attach before the id is handed out.
                unsafe { seg.data().cast::<ChannelHeader>().write(h) };
                if geo.heap_len > 0 {
                    let off = Offset::new(geo.heap_off);
                    heap_err =
                        Heap::init_growable(seg, off, plan.heap_len, geo.heap_max as usize).err();
                }
            })
            .map_err(ChannelError::Create)?;
        if let Some(e) = heap_err {
            return Err(ChannelError::Heap(e));
        }
        let seg = Arc::new(seg);
        init_rings(&seg, &geo)?;
        // SAFETY: the header was written above, inside the mapping, 256-aligned.
        let hdr = unsafe { &*seg.data().cast::<ChannelHeader>() };
        // Release: publishes the header, the heap and the rings; pairs with the Acquire load
        // in `from_segment` (attachers in other processes).
        hdr.meta.magic.store(MAGIC, Ordering::Release);
        let heap = attach_heap(&seg, &geo)?;
        let m = Arc::new(Mapping {
            seg,
            geo,
            heap,
            owner: true,
            activity: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            grow_noted: AtomicBool::new(false),
        });
        cache::register_owner(&m);
        m.register_trim();
        Ok(m)
    }

    /// Validates an attached channel segment before anything in it is used.
    pub(crate) fn from_segment(seg: Segment) -> Result<Mapping, ChannelError> {
        if seg.data_len() < size_of::<ChannelHeader>() {
            return Err(ChannelError::Foreign("segment too short for a channel header"));
        }
        // SAFETY: the data region holds a header-sized, 256-aligned block; the magic is an
        // atomic and the plain fields are integers, valid for any bits.
        let h = unsafe { &*seg.data().cast::<ChannelHeader>() };
        // Acquire: pairs with the creator's Release store of the magic: the plain fields,
        // the rings and the heap are initialised.
        if h.meta.magic.load(Ordering::Acquire) != MAGIC {
            return Err(ChannelError::Foreign("no initialised channel in this segment"));
        }
        let m = &h.meta;
        if m.version != VERSION {
            return Err(ChannelError::Foreign("channel header version"));
        }
        let geo = Geometry {
            kind: m.kind,
            type_hash: m.type_hash,
            ring_off: m.ring_off,
            ring_cap: m.ring_cap,
            slot_size: m.slot_size,
            heap_off: m.heap_off,
            heap_len: m.heap_len,
            heap_max: m.heap_max,
        };
        let len = seg.len() as u64;
        let region_ok =
            |off: u64, align: u64| off >= FIRST_REGION as u64 && off % align == 0 && off < len;
        let rings = match geo.kind {
            KIND_QUEUE | KIND_JOINABLE | KIND_ONEWAY => 1,
            KIND_DUPLEX => 2,
            _ => return Err(ChannelError::Foreign("unknown channel kind")),
        };
        let rings_ok = (0..2).all(|i| {
            let off = geo.ring_off[i];
            if i < rings {
                region_ok(off, 128)
            } else {
                off == 0
            }
        });
        let heap_ok = geo.heap_len == 0
            || (region_ok(geo.heap_off, 64)
                && geo.heap_max >= geo.heap_len
                && geo.heap_off.checked_add(geo.heap_max).is_some_and(|e| e <= len));
        if !rings_ok || !heap_ok {
            return Err(ChannelError::Foreign("channel geometry"));
        }
        let seg = Arc::new(seg);
        let heap = attach_heap(&seg, &geo)?;
        Ok(Mapping {
            seg,
            geo,
            heap,
            owner: false,
            activity: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            grow_noted: AtomicBool::new(false),
        })
    }

    /// Checks the kind and the message type.
    pub(crate) fn check(&self, kinds: &[u32], type_hash: u64) -> Result<(), ChannelError> {
        if !kinds.contains(&self.geo.kind) {
            return Err(ChannelError::KindMismatch { found: kind_name(self.geo.kind) });
        }
        if self.geo.type_hash != type_hash {
            return Err(ChannelError::TypeMismatch);
        }
        Ok(())
    }

    pub(crate) fn seg(&self) -> &Arc<Segment> {
        &self.seg
    }

    pub(crate) fn id(&self) -> &SegmentId {
        self.seg.id()
    }

    pub(crate) fn geo(&self) -> &Geometry {
        &self.geo
    }

    /// The shared header (only its atomics are used after validation).
    pub(crate) fn header(&self) -> &ChannelHeader {
        // SAFETY: validated at create/attach: the data region starts with a header,
        // 256-aligned, mapped as long as `self`.
        unsafe { &*self.seg.data().cast::<ChannelHeader>() }
    }

    /// The spill heap, if the channel has one, borrowed no longer than the mapping.
    pub(crate) fn heap(&self) -> Option<&Heap<'_>> {
        self.heap.as_ref()
    }

    /// Wakes producers waiting for heap space (after a spilled block was freed), and the
    /// trim thread when large blocks came and went (`crate::trim`).
    pub(crate) fn heap_freed(&self) {
        // Relaxed: a change counter; a waiter reads it after its own failed attempt and
        // only compares it (`heap_wait.rs`).
        self.header().heap_space.0.frees.fetch_add(1, Ordering::Relaxed);
        // After the heap's free (a CAS): notify's SeqCst fence pairs with the waiter's
        // `prepare_wait` fence, so either we see the waiter or its re-try sees the block.
        self.header().heap_space.0.ev.notify_all();
        if let Some(now) = self.trim_activity() {
            // Relaxed: a hint; a stale value costs one wake or delays a release to the
            // next large free.
            if self.activity.swap(now, Ordering::Relaxed) != now {
                crate::trim::wake();
            }
        }
    }

    /// Adds this mapping's heap to the trim thread's (`crate::trim`).
    pub(crate) fn register_trim(self: &Arc<Self>) {
        if let Some(now) = self.trim_activity() {
            // Relaxed: see `heap_freed`.
            self.activity.store(now, Ordering::Relaxed);
            let weak: std::sync::Weak<dyn crate::trim::Trim> = Arc::downgrade(self) as _;
            crate::trim::register(weak);
        }
    }

    /// The heap's large-block activity, if its pages may be released: a memfd segment
    /// (see `crate::trim`).
    fn trim_activity(&self) -> Option<u64> {
        let heap = self.heap.as_ref()?;
        matches!(self.seg.id(), SegmentId::Memfd { .. })
            .then(|| heap.large_activity(crate::trim::MIN_BLOCK))
    }
}

impl crate::trim::Trim for Mapping {
    fn activity(&self) -> Option<u64> {
        self.trim_activity()
    }

    fn release(&self) -> Option<u64> {
        let heap = self.heap()?;
        let released = heap.release_free_pages(crate::trim::MIN_BLOCK);
        // Senders that found the blocks taken for that moment wait for them.
        self.header().heap_space.0.ev.notify_all();
        Some(released)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.owner {
            // Release: pairs with the Acquire load in `cache::sweep` (a hint that other
            // processes may unmap their unused copies; no data is handed over).
            self.header().owner_dropped.0.store(1, Ordering::Release);
            // Counted, after that store: pool workers sweep when the count moves.
            crate::shared::cache::note_drop();
            cache::forget_owner(self.seg.id());
        }
    }
}

/// The heap of a validated geometry, with the mapping's lifetime erased (see `Mapping`).
fn attach_heap(seg: &Arc<Segment>, geo: &Geometry) -> Result<Option<Heap<'static>>, ChannelError> {
    if geo.heap_len == 0 {
        return Ok(None);
    }
    // SAFETY: the segment (mapping and descriptor) stays alive while the `Arc<Segment>`
    // stored next to the handle in `Mapping` lives, and the handle is only lent out
    // re-borrowed from the `Mapping`; the heap region is accessed only through heap
    // handles and the blocks they own.
    let heap = unsafe { Heap::attach_unbound(seg, Offset::new(geo.heap_off)) }
        .map_err(ChannelError::Heap)?;
    if heap.max_region_len() != geo.heap_max & !15 {
        return Err(ChannelError::Foreign("heap length differs from the channel header"));
    }
    Ok(Some(heap))
}

/// A kind's name for error messages.
pub(crate) fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_QUEUE => "Queue",
        KIND_JOINABLE => "JoinableQueue",
        KIND_DUPLEX => "duplex pipe",
        KIND_ONEWAY => "one-way pipe",
        _ => "unknown",
    }
}
