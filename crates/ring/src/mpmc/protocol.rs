//! The slot protocol's shared part: [`Core`] (a ring's storage plus its process-local
//! geometry), claims, helping the index hints, close, and statistics. The two sides are in
//! `produce.rs` and `consume.rs`.
//!
//! Written once over [`Storage`], used by the shared-memory ring and by the loom models.
//! The README in this folder is the prose version; every atomic access names the access
//! it pairs with.

use super::layout::{Control, SlotCtl};
use super::storage::Storage;
use zeroproc_shm::atomic::{AtomicU64, Ordering};

/// A WRITING claim on the slot of `pos`, held by this process until completed.
#[derive(Debug)]
#[must_use = "a claim must be completed, or the slot stays WRITING until this process dies"]
pub(crate) struct PushClaim {
    pub(super) pos: u64,
}

/// A READING claim on the slot of `pos` holding `len` payload bytes.
#[derive(Debug)]
#[must_use = "a claim must be completed, or the slot stays READING until this process dies"]
pub(crate) struct PopClaim {
    pub(super) pos: u64,
    pub(super) len: usize,
}

impl PushClaim {
    /// The claimed position.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }
}

impl PopClaim {
    /// The claimed position.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Payload bytes of the claimed record (checked against the slot size).
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Why no push claim was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushFail {
    Full,
    Closed,
}

/// Recovery and corruption counters of a ring (process-shared, approximate).
///
/// # Example
/// ```
/// let ring = zeroproc_ring::mpmc::Ring::new(4, 64).unwrap();
/// assert_eq!(ring.stats(), Default::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Slots left WRITING by a dead producer and turned into tombstones.
    pub dead_writers: u64,
    /// Slots left READING by a dead consumer and released (each lost its record).
    pub dead_readers: u64,
    /// Tombstones consumers skipped (dead producers, pushes aborted by `close` or by a
    /// panicking write closure).
    pub tombstones_skipped: u64,
    /// Corrupted slots reported and skipped.
    pub corrupt_slots: u64,
}

/// The protocol over one ring's storage, with a process-local copy of its geometry.
#[derive(Clone)]
pub(crate) struct Core<S> {
    pub(super) s: S,
    pub(super) cap: u64,
    pub(super) slot_size: usize,
    /// Told the bytes of a record that crash recovery drops (see
    /// [`Ring::set_lost_record_hook`](super::Ring::set_lost_record_hook)).
    pub(super) lost: Option<LostRecordHook>,
}

/// What [`Core::lost`] calls: the bytes of a record a dead claimant left behind.
pub(crate) type LostRecordHook = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

impl<S: std::fmt::Debug> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("s", &self.s)
            .field("cap", &self.cap)
            .field("slot_size", &self.slot_size)
            .field("lost", &self.lost.is_some())
            .finish()
    }
}

/// Under loom, SeqCst loads, stores and RMWs are modelled as Acquire/Release only (loom's
/// documented limitation); this fence supplies, in the model, the store→load ordering the
/// close protocol's SeqCst accesses have in the C++20 model and on hardware. A no-op
/// outside loom.
#[inline(always)]
pub(super) fn model_sc_fence() {
    #[cfg(loom)]
    zeroproc_shm::atomic::fence(Ordering::SeqCst);
}

impl<S: Storage> Core<S> {
    pub(crate) fn new(s: S) -> Self {
        let g = s.geometry();
        Core { cap: g.capacity as u64, slot_size: g.slot_size, s, lost: None }
    }

    pub(crate) fn storage(&self) -> &S {
        &self.s
    }

    #[inline]
    pub(crate) fn control(&self) -> &Control {
        self.s.control()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    #[inline]
    pub(super) fn index(&self, pos: u64) -> usize {
        (pos & (self.cap - 1)) as usize
    }

    /// Moves `hint` from `pos` to `pos + 1` (the slot of `pos` is known to be claimed) and
    /// returns the position to look at next.
    #[inline]
    pub(super) fn advance(&self, hint: &AtomicU64, pos: u64) -> u64 {
        // AcqRel: the Release half passes what we saw of the slot of `pos` (claimed) on to
        // whoever Acquire-loads the hint next; the Acquire half (also on failure) pairs
        // with the earlier advancers whose value we continue from.
        match hint.compare_exchange(pos, pos.wrapping_add(1), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => pos.wrapping_add(1),
            Err(cur) if cur > pos => cur,
            // Only a corrupted hint can be behind a position we reached through it.
            Err(_) => pos.wrapping_add(1),
        }
    }

    // ------------------------------------------------------------------ whole ring

    /// Refuses producers from now on; consumers drain, then get `Closed`.
    pub(crate) fn close(&self) {
        let c = self.control();
        // SeqCst: the closer's side of the close protocol (see `closed_after_claim`).
        c.meta.closed.store(1, Ordering::SeqCst);
        c.not_empty.notify_all();
        c.not_full.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `close` (a snapshot).
        self.control().meta.closed.load(Ordering::Acquire) != 0
    }

    /// Records claimed by producers and not yet by consumers (a snapshot of the hints).
    pub(crate) fn len(&self) -> usize {
        let c = self.control();
        // Acquire (both): pair with `advance`; a snapshot, clamped to the capacity.
        let tail = c.tail.load(Ordering::Acquire);
        let head = c.head.load(Ordering::Acquire);
        tail.saturating_sub(head).min(self.cap) as usize
    }

    pub(crate) fn stats(&self) -> Stats {
        let s = &self.control().stats;
        // Relaxed (all): statistics counters.
        Stats {
            dead_writers: s.dead_writers.load(Ordering::Relaxed),
            dead_readers: s.dead_readers.load(Ordering::Relaxed),
            tombstones_skipped: s.tombstones_skipped.load(Ordering::Relaxed),
            corrupt_slots: s.corrupt_slots.load(Ordering::Relaxed),
        }
    }
}

/// The key of a slot for the stuck watch.
#[inline]
pub(super) fn slot_addr(slot: &SlotCtl) -> usize {
    slot as *const SlotCtl as usize
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::error::{TryPopError, TryPushError};
    use super::super::heap::HeapStorage;
    use super::super::layout::Geometry;
    use super::super::word::{pack, State};
    use super::*;

    fn ring(cap: usize, size: usize) -> Core<HeapStorage> {
        Core::new(HeapStorage::new(Geometry::new(cap, size).unwrap()))
    }

    fn pop(r: &Core<HeapStorage>) -> Result<Vec<u8>, TryPopError> {
        r.try_pop_with(|b| b.to_vec())
    }

    #[test]
    fn fifo_full_empty_wraps() {
        let r = ring(4, 16);
        for lap in 0..5u8 {
            for i in 0..4u8 {
                r.try_push([lap, i]).unwrap();
            }
            assert_eq!(r.try_push([9]), Err(TryPushError::Full([9])));
            assert_eq!(r.len(), 4);
            for i in 0..4u8 {
                assert_eq!(pop(&r).unwrap(), vec![lap, i]);
            }
            assert_eq!(pop(&r), Err(TryPopError::Empty));
        }
    }

    #[test]
    fn dead_claims_are_recovered() {
        // A "dead" pid: above pid_max on any Linux, so is_alive() says no.
        let dead = 4_000_000;
        let r = ring(2, 16);
        r.try_push([1]).unwrap();
        // Forge a consumer that died holding position 0 (and never advanced head).
        r.storage().slot(0).store(pack(0, State::Reading, dead), Ordering::Relaxed);
        // Consumers pass over it; the ring is empty for them.
        assert_eq!(pop(&r), Err(TryPopError::Empty));
        // Producers fill position 1, then recover slot 0 for position 2 (after the watch).
        r.try_push([2]).unwrap();
        let t0 = std::time::Instant::now();
        loop {
            match r.try_push([3]) {
                Ok(()) => break,
                Err(TryPushError::Full(_)) => assert!(t0.elapsed().as_secs() < 5, "not recovered"),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(r.stats().dead_readers, 1);
        assert_eq!(pop(&r).unwrap(), vec![2]);
        assert_eq!(pop(&r).unwrap(), vec![3]);
        // Forge a producer that died mid-write at position 3.
        let s1 = r.storage().slot(3);
        assert_eq!(s1.load(Ordering::Relaxed), pack(3, State::Empty, 0));
        s1.store(pack(3, State::Writing, dead), Ordering::Relaxed);
        r.control().tail.store(4, Ordering::Relaxed);
        r.try_push([4]).unwrap(); // position 4 (slot 0)
        let t0 = std::time::Instant::now();
        let got = loop {
            match pop(&r) {
                Ok(v) => break v,
                Err(TryPopError::Empty) => assert!(t0.elapsed().as_secs() < 5, "not recovered"),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, vec![4], "the tombstone is skipped");
        let st = r.stats();
        assert_eq!((st.dead_writers, st.tombstones_skipped), (1, 1));
    }

    #[test]
    fn a_try_pop_passes_a_dead_writer_at_its_first_look() {
        // A producer that died mid-write at the head, two records published behind it: a
        // single `try_pop` (Python's `get_nowait`, a drain loop's first call) must take the
        // first of them. It said Empty until the stuck watch (50 us, per thread) came due,
        // so `while let Ok(v) = q.try_get()` stopped with every value still queued, and a
        // put into that full ring then waited with no consumer left (review37: the
        // reliability_spill_kills "0 of 4 large values fit" on a whole heap).
        let dead = 4_000_000; // above pid_max: is_alive() says no
        let r = ring(4, 16);
        r.storage().slot(0).store(pack(0, State::Writing, dead), Ordering::Relaxed);
        r.control().tail.store(1, Ordering::Relaxed);
        r.try_push([1]).unwrap();
        r.try_push([2]).unwrap();
        assert_eq!(pop(&r), Ok(vec![1]), "the dead writer's slot hid the records behind it");
        assert_eq!(pop(&r), Ok(vec![2]));
        assert_eq!(pop(&r), Err(TryPopError::Empty));
        assert_eq!(r.stats().dead_writers, 1);
    }

    #[test]
    fn a_try_push_passes_a_dead_reader_at_its_first_look() {
        // The mirror: a consumer that died holding the only unread slot of a full ring; a
        // single `try_push` (Python's `put_nowait`) must reuse it rather than say Full.
        let dead = 4_000_000;
        let r = ring(2, 16);
        r.try_push([1]).unwrap();
        r.try_push([2]).unwrap();
        assert_eq!(pop(&r), Ok(vec![1]));
        // The consumer of position 1 claimed it and died (head already advanced).
        r.storage().slot(1).store(pack(1, State::Reading, dead), Ordering::Relaxed);
        r.control().head.store(2, Ordering::Relaxed);
        r.try_push([3]).unwrap(); // position 2: slot 0, released by the pop above
        assert_eq!(r.try_push([4]), Ok(()), "the dead reader's slot was reported Full");
        assert_eq!(r.stats().dead_readers, 1);
    }

    #[test]
    fn close_refuses_producers_and_drains() {
        let r = ring(4, 16);
        r.try_push([1]).unwrap();
        r.close();
        assert_eq!(r.try_push([2]), Err(TryPushError::Closed([2])));
        assert_eq!(pop(&r).unwrap(), vec![1]);
        assert_eq!(pop(&r), Err(TryPopError::Closed));
    }

    #[test]
    fn panicking_closures_do_not_wedge() {
        let r = ring(2, 16);
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = r.try_push_with(4, |_| panic!("writer"));
        }));
        assert!(p.is_err());
        r.try_push([7]).unwrap();
        assert_eq!(pop(&r).unwrap(), vec![7], "the aborted slot is a skipped tombstone");
        r.try_push([8]).unwrap();
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = r.try_pop_with(|_| -> () { panic!("reader") });
        }));
        assert!(p.is_err());
        assert_eq!(pop(&r), Err(TryPopError::Empty), "the record went with the panic");
        for i in 0..4u8 {
            r.try_push([i]).unwrap();
            assert_eq!(pop(&r).unwrap(), vec![i]);
        }
    }
}
