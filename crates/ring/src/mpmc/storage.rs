//! Where a ring's control block, slot words and payloads live.
//!
//! The slot protocol (`core.rs`) is written once against [`Storage`]; production uses
//! [`ShmStorage`] (a region of a shared-memory segment), the loom models and unit tests use
//! `HeapStorage` (`heap.rs`), whose atomics are built with `new()` as loom requires and
//! whose payloads are loom-tracked cells, so loom also checks that payload accesses are
//! ordered by the state words.

use super::layout::{Control, Geometry, Slot};

/// Storage for one ring. `pos` arguments are ring positions; implementations reduce them
/// modulo the capacity, so every index is in bounds by construction.
pub(crate) trait Storage {
    /// The control block.
    fn control(&self) -> &Control;
    /// The validated geometry (a process-local copy: never re-read from shared memory).
    fn geometry(&self) -> Geometry;
    /// The slot of position `pos`.
    fn slot(&self, pos: u64) -> Slot<'_>;
    /// Runs `f` on the first `len` payload bytes of the slot of `pos`, mutably.
    ///
    /// # Safety
    /// The caller holds the WRITING claim on that slot (so no other access to its payload
    /// can happen until it publishes), and `len <= geometry().slot_size`.
    unsafe fn with_payload_mut<R>(&self, pos: u64, len: usize, f: impl FnOnce(&mut [u8]) -> R)
        -> R;
    /// Runs `f` on the first `len` payload bytes of the slot of `pos`.
    ///
    /// # Safety
    /// The caller holds the READING claim on that slot (so no producer writes it until it
    /// releases), and `len <= geometry().slot_size`.
    unsafe fn with_payload<R>(&self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> R;
}

#[cfg(not(loom))]
pub(crate) use shm::ShmStorage;

#[cfg(not(loom))]
mod shm {
    use super::super::layout::{SlotCtl, SLOT_CTL_SIZE};
    use super::*;
    use std::ptr::NonNull;
    use std::sync::Arc;
    use zeroproc_shm::Segment;

    /// A ring in a region of a mapped [`Segment`], kept alive by the `Arc`.
    #[derive(Debug, Clone)]
    pub(crate) struct ShmStorage {
        seg: Arc<Segment>,
        offset: u64,
        control: NonNull<Control>,
        slots: NonNull<u8>,
        geo: Geometry,
        mask: u64,
    }

    // SAFETY: the pointers point into the mapping owned by `seg` (shared through the Arc,
    // valid until the last clone drops); all shared state behind them is atomics, and the
    // payload bytes are only touched under a slot claim (see `Storage`'s safety contracts).
    unsafe impl Send for ShmStorage {}
    // SAFETY: as above: `&ShmStorage` only gives out `&` to atomics and claim-guarded
    // payload access.
    unsafe impl Sync for ShmStorage {}

    impl ShmStorage {
        /// # Safety
        /// `control` points at an initialised [`Control`] and `slots` at `geo.capacity`
        /// initialised slots of `geo.stride` bytes, all inside `seg`'s mapping, with the
        /// alignment of `Control` and `SlotCtl`; `offset` is the region's offset in `seg`.
        pub(crate) unsafe fn new(
            seg: Arc<Segment>,
            offset: u64,
            control: NonNull<Control>,
            slots: NonNull<u8>,
            geo: Geometry,
        ) -> Self {
            ShmStorage { seg, offset, control, slots, geo, mask: geo.capacity as u64 - 1 }
        }

        pub(crate) fn segment(&self) -> &Arc<Segment> {
            &self.seg
        }

        pub(crate) fn offset(&self) -> u64 {
            self.offset
        }

        #[inline]
        fn slot_ptr(&self, pos: u64) -> *mut u8 {
            let idx = (pos & self.mask) as usize;
            // SAFETY: idx < capacity, so idx * stride + stride <= capacity * stride: the
            // slot lies inside the region (constructor contract).
            unsafe { self.slots.as_ptr().add(idx * self.geo.stride) }
        }
    }

    impl Storage for ShmStorage {
        #[inline]
        fn control(&self) -> &Control {
            // SAFETY: initialised, aligned and inside the mapping (constructor contract);
            // the mapping lives as long as `self.seg`, which outlives the borrow.
            unsafe { self.control.as_ref() }
        }

        #[inline]
        fn geometry(&self) -> Geometry {
            self.geo
        }

        #[inline]
        fn slot(&self, pos: u64) -> Slot<'_> {
            // SAFETY: `slot_ptr` is in bounds and 64-byte aligned (slots start on a 64-byte
            // boundary and the stride is a multiple of 64); the slot was initialised.
            let ctl = unsafe { &*self.slot_ptr(pos).cast::<SlotCtl>() };
            Slot::new(ctl, pos & self.mask)
        }

        #[inline]
        unsafe fn with_payload_mut<R>(
            &self,
            pos: u64,
            len: usize,
            f: impl FnOnce(&mut [u8]) -> R,
        ) -> R {
            debug_assert!(len <= self.geo.slot_size);
            // SAFETY: the payload starts SLOT_CTL_SIZE bytes into the slot and has
            // slot_size >= len bytes inside the slot's stride; the caller holds the
            // WRITING claim, so nothing else reads or writes these bytes meanwhile.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(self.slot_ptr(pos).add(SLOT_CTL_SIZE), len)
            };
            f(buf)
        }

        #[inline]
        unsafe fn with_payload<R>(&self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
            debug_assert!(len <= self.geo.slot_size);
            // SAFETY: in bounds as above; the caller holds the READING claim, so no producer
            // writes these bytes until it releases the slot.
            let buf =
                unsafe { std::slice::from_raw_parts(self.slot_ptr(pos).add(SLOT_CTL_SIZE), len) };
            f(buf)
        }
    }
}
