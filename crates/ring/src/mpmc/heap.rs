//! Heap-allocated ring storage for the loom models and in-crate unit tests: the same
//! [`Control`] and [`SlotCtl`] types as in shared memory, built with `new()` (loom atomics
//! cannot live in zeroed memory), and payloads in cells that loom tracks, so a payload
//! access not ordered by the slot protocol is reported as a data race.

use super::layout::{Control, Geometry, Slot, SlotCtl};
use super::storage::Storage;

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(not(loom))]
use std::cell::UnsafeCell;

/// One slot's payload bytes.
struct Payload(UnsafeCell<Box<[u8]>>);

impl Payload {
    fn new(size: usize) -> Self {
        Payload(UnsafeCell::new(vec![0u8; size].into_boxed_slice()))
    }

    /// # Safety
    /// No other access to this payload runs concurrently (the WRITING claim).
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut Box<[u8]>) -> R) -> R {
        #[cfg(loom)]
        {
            // SAFETY: exclusivity is the caller's contract; loom verifies it.
            self.0.with_mut(|p| f(unsafe { &mut *p }))
        }
        #[cfg(not(loom))]
        {
            // SAFETY: exclusivity is the caller's contract.
            f(unsafe { &mut *self.0.get() })
        }
    }

    /// # Safety
    /// No write to this payload runs concurrently (the READING claim).
    unsafe fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        #[cfg(loom)]
        {
            // SAFETY: no concurrent writer is the caller's contract; loom verifies it.
            self.0.with(|p| f(unsafe { &*p }))
        }
        #[cfg(not(loom))]
        {
            // SAFETY: no concurrent writer is the caller's contract.
            f(unsafe { &*self.0.get() })
        }
    }
}

/// A ring's storage on the heap.
pub(crate) struct HeapStorage {
    control: Box<Control>,
    slots: Box<[SlotCtl]>,
    payloads: Box<[Payload]>,
    geo: Geometry,
    mask: u64,
}

// SAFETY: shared state is atomics; payload cells are only accessed under a slot claim,
// which gives one writer or one reader at a time (the `Storage` contracts).
unsafe impl Sync for HeapStorage {}
// SAFETY: all fields are owned heap data with no thread affinity.
unsafe impl Send for HeapStorage {}

impl std::fmt::Debug for HeapStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapStorage").field("geometry", &self.geo).finish_non_exhaustive()
    }
}

impl HeapStorage {
    /// A fresh, initialised ring of this geometry.
    pub(crate) fn new(geo: Geometry) -> Self {
        let control = Box::new(Control::new(geo));
        control.publish();
        HeapStorage {
            control,
            slots: (0..geo.capacity).map(|_| SlotCtl::empty()).collect(),
            payloads: (0..geo.capacity).map(|_| Payload::new(geo.slot_size)).collect(),
            geo,
            mask: geo.capacity as u64 - 1,
        }
    }
}

impl Storage for HeapStorage {
    fn control(&self) -> &Control {
        &self.control
    }

    fn geometry(&self) -> Geometry {
        self.geo
    }

    fn slot(&self, pos: u64) -> Slot<'_> {
        Slot::new(&self.slots[(pos & self.mask) as usize], pos & self.mask)
    }

    unsafe fn with_payload_mut<R>(
        &self,
        pos: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        let p = &self.payloads[(pos & self.mask) as usize];
        // SAFETY: the caller holds the WRITING claim (the `Storage` contract).
        unsafe { p.with_mut(|b| f(&mut b[..len])) }
    }

    unsafe fn with_payload<R>(&self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let p = &self.payloads[(pos & self.mask) as usize];
        // SAFETY: the caller holds the READING claim (the `Storage` contract).
        unsafe { p.with(|b| f(&b[..len])) }
    }
}
