//! [`SharedCell<T>`]: one process-shared object (a `Lock`, an `Event`, a `Semaphore`, …)
//! in a memfd segment of its own, passable to jobs and processes by [`CellHandle`].

use super::header::type_hash;
use super::SharedError;
use rkyv::{Archive, Deserialize, Serialize};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use zeroproc_shm::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
use zeroproc_shm::{AttachError, Layout, Segment, SegmentBuilder};

/// Types that can live in shared memory and be used by several processes at once: what a
/// [`SharedCell`] holds. Implemented for the [`sync`](zeroproc_shm::sync) primitives
/// (`Lock`, `RLock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`) and
/// the atomic integers and `AtomicBool`. For several of them in one cell (a `Condition`
/// with its `Lock`), implement it on your own `#[repr(C)]` struct of them:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use zeroproc_mp::shared::{ProcessShared, SharedCell};
/// use zeroproc_shm::sync::{Condition, Lock};
///
/// #[repr(C)]
/// struct Work { lock: Lock, ready: Condition, items: AtomicU64 }
/// // SAFETY: repr(C), only process-shared primitives and atomics, no pointers, no Drop.
/// unsafe impl ProcessShared for Work {}
///
/// let w = SharedCell::new(Work { lock: Lock::new(), ready: Condition::new(), items: AtomicU64::new(0) })?;
/// let g = w.lock.lock().unwrap();
/// w.items.fetch_add(1, Ordering::Relaxed);
/// w.ready.notify_all();
/// drop(g);
/// # Ok::<(), zeroproc_mp::shared::SharedError>(())
/// ```
///
/// Data that is not made of these (a `String`, a `Vec`, a `std::sync::Mutex`) goes in a
/// [`SharedDict`](crate::SharedDict) / [`Namespace`](crate::Namespace) (any rkyv value),
/// a [`SharedArray`](crate::SharedArray) (plain numbers) or a [`Queue`](crate::Queue).
/// Anything else is refused where the cell is made, saying so:
///
/// ```compile_fail,E0277
/// // error[E0277]: `Mutex<u64>` cannot live in a `SharedCell`: it is not `ProcessShared`
/// let c = zeroproc_mp::SharedCell::new(std::sync::Mutex::new(0u64));
/// ```
///
/// # Safety
/// The type must be `#[repr(C)]`, hold no pointers or references (only atomics and plain
/// data whose meaning does not depend on the address space), be valid for concurrent use
/// through `&T` from several processes (all mutation through atomics), and have no drop
/// glue that matters (the last process to unmap it does not run `Drop`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in a `SharedCell`: it is not `ProcessShared`",
    label = "not usable from several processes",
    note = "a `SharedCell` holds a `zeroproc::sync` primitive or an atomic (or a `#[repr(C)]` \
            struct of them with `unsafe impl ProcessShared`); other data goes in a \
            `SharedDict`/`Namespace` (any value), a `SharedArray` (numbers) or a `Queue`"
)]
pub unsafe trait ProcessShared: Sync + Send + 'static {}

// SAFETY: the zeroproc-shm sync primitives are `#[repr(C)]`, all-atomic, designed to be
// placed in shared memory and used from several processes (see zeroproc_shm::sync).
unsafe impl ProcessShared for Lock {}
// SAFETY: as above.
unsafe impl ProcessShared for RLock {}
// SAFETY: as above.
unsafe impl ProcessShared for Event {}
// SAFETY: as above.
unsafe impl ProcessShared for Condition {}
// SAFETY: as above.
unsafe impl ProcessShared for Semaphore {}
// SAFETY: as above.
unsafe impl ProcessShared for BoundedSemaphore {}
// SAFETY: as above.
unsafe impl ProcessShared for Barrier {}

macro_rules! atomics_are_process_shared {
    ($($t:ty),*) => {$(
        // SAFETY: an atomic integer has the layout of its integer, holds no pointer and is
        // made for concurrent use through `&`; atomics on shared memory work across
        // processes (lock-free on this platform).
        unsafe impl ProcessShared for $t {}
    )*};
}

atomics_are_process_shared!(
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicUsize
);

fn layout<T: ProcessShared>() -> Layout {
    Layout::new("zeroproc-cell", 1).with_value(type_hash::<T>())
}

/// A `T` in shared memory; derefs to `&T` in every process that holds the cell.
///
/// ```
/// use zeroproc_mp::shared::{CellHandle, SharedCell};
/// use zeroproc_shm::sync::Lock;
/// let lock = SharedCell::new(Lock::new()).unwrap();
/// let h: CellHandle<Lock> = lock.handle(); // travels to a job or a Process
/// let same = h.attach().unwrap();          // there: the same lock
/// let g = lock.lock().unwrap();
/// assert!(same.try_lock().is_err());       // held by the other view
/// drop(g);
/// assert!(same.try_lock().is_ok());
/// ```
pub struct SharedCell<T: ProcessShared> {
    seg: Arc<Segment>,
    _t: PhantomData<T>,
}

impl<T: ProcessShared> SharedCell<T> {
    /// Moves `value` into a new memfd segment. Python's `Value('Q', 0)` is a cell of an
    /// atomic (`v.value += 1` under `v.get_lock()` is one `fetch_add`); its `Lock()`,
    /// `Event()`, ... are cells of the [`sync`](zeroproc_shm::sync) types.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use zeroproc_mp::shared::SharedCell;
    /// let done = SharedCell::new(AtomicU64::new(0)).unwrap();
    /// let in_child = done.handle().attach().unwrap(); // a Process or job does this
    /// in_child.fetch_add(1, Ordering::Relaxed);
    /// assert_eq!(done.load(Ordering::Relaxed), 1); // the same memory
    /// ```
    pub fn new(value: T) -> Result<Self, SharedError> {
        let mut value = Some(value);
        let seg = SegmentBuilder::new(layout::<T>(), std::mem::size_of::<T>().max(1))
            .create_with(|s| {
                // SAFETY: the fresh data region is 256-byte aligned (≥ align_of::<T>() for
                // the sync types), holds size_of::<T>() bytes and is seen by nobody else.
                unsafe { s.data().cast::<T>().write(value.take().expect("called once")) };
            })
            .map_err(SharedError::Create)?;
        Ok(Self { seg: Arc::new(seg), _t: PhantomData })
    }

    /// A handle another process can attach.
    pub fn handle(&self) -> CellHandle<T> {
        CellHandle {
            segment: self.seg.id().to_string(),
            keep: crate::pin::Keep::new(self.seg.clone()),
            _t: PhantomData,
        }
    }
}

impl<T: ProcessShared> Deref for SharedCell<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the segment was created (or attached, layout hash checked) for a `T`
        // at the start of its data region, initialised before it became READY; it stays
        // mapped while `self.seg` lives; `T: ProcessShared` makes shared `&T` use sound.
        unsafe { &*self.seg.data().cast::<T>() }
    }
}

impl<T: ProcessShared> Clone for SharedCell<T> {
    fn clone(&self) -> Self {
        Self { seg: self.seg.clone(), _t: PhantomData }
    }
}

/// What travels to a job or process for a [`SharedCell`]: the segment id (and, in the
/// layout checked on attach, the type).
#[derive(Archive, Serialize, Deserialize)]
pub struct CellHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    /// Keeps the cell for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = crate::pin::PinKeep)]
    keep: crate::pin::Keep,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for CellHandle<T> {
    fn clone(&self) -> Self {
        Self { segment: self.segment.clone(), keep: self.keep.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for CellHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellHandle").field("segment", &self.segment).finish()
    }
}

impl<T: ProcessShared> CellHandle<T> {
    /// Attaches the cell in this process (the creating process must still hold the cell,
    /// or the handle must have come in the arguments of this `Process` or job).
    pub fn attach(&self) -> Result<SharedCell<T>, SharedError> {
        let id = self.segment.parse().map_err(SharedError::BadId)?;
        let seg = Segment::attach(&id, layout::<T>()).map_err(|e| match e {
            // A cell's layout differs only by its type's hash: the handle names a cell
            // holding another type (it read "segment holds \"zeroproc-cell\" v1 (hash ..)").
            AttachError::Layout { found, expected }
                if (&found.0, found.1) == (&expected.0, expected.1) =>
            {
                SharedError::TypeMismatch
            }
            e => SharedError::Attach(e),
        })?;
        if seg.data_len() < std::mem::size_of::<T>() {
            return Err(SharedError::Foreign("cell segment too small"));
        }
        Ok(SharedCell { seg: Arc::new(seg), _t: PhantomData })
    }
}
