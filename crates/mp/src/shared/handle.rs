//! [`ArrayHandle`]: what travels to a job (segment id, length, element type hash), and the
//! [`ReadGuard`] it gives in any process.

use super::header::{type_hash, KIND_ARRAY};
use super::mapping::Mapping;
use super::{cache, readers, SharedError};
use crate::handle::handle_impls;
use bytemuck::Pod;
use rkyv::{Archive, Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A reference to a [`SharedArray`](super::SharedArray) that can be passed to a job or a
/// process (it derives rkyv `Archive`/`Serialize`/`Deserialize`; deserialize it in the
/// worker). It holds only the segment id, the length and the element type's hash; the
/// segment is attached on first use and cached per process ([`cache`]).
///
/// ```
/// use zeroproc_mp::shared::{ArrayHandle, SharedArray};
/// let a = SharedArray::from_slice(&[1.0f64, 2.0, 3.0]).unwrap();
/// let h: ArrayHandle<f64> = a.handle();
/// // ... h travels to a worker inside a job argument; there:
/// assert_eq!(&*h.read().unwrap(), &[1.0, 2.0, 3.0]);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ArrayHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    len: u64,
    type_hash: u64,
    /// The array's generation in its segment (`recycle.rs`): a segment may hold a later
    /// array once this one is dropped.
    generation: u64,
    _t: PhantomData<fn() -> T>,
}

handle_impls!(ArrayHandle<T> { segment, len, type_hash, generation, _t } debug { segment, len });

impl<T: Pod> ArrayHandle<T> {
    /// A handle of the array of `generation` in `m` (the array's own, recorded at its
    /// creation: a forked child's copy of a dropped array hands out refused handles).
    pub(crate) fn new(m: &Mapping, generation: u64) -> Self {
        Self {
            segment: m.id().to_string(),
            len: m.geo().capacity as u64,
            type_hash: type_hash::<T>(),
            generation,
            _t: PhantomData,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segment id (text form) of the array.
    pub fn segment_id(&self) -> &str {
        &self.segment
    }

    /// The validated mapping of this array in this process.
    pub(crate) fn mapping(&self) -> Result<Arc<Mapping>, SharedError> {
        if self.type_hash != type_hash::<T>() {
            return Err(SharedError::TypeMismatch);
        }
        let m = cache::attach(&self.segment)?;
        m.check::<T>(KIND_ARRAY, self.len)?;
        self.check_generation(&m)?;
        Ok(m)
    }

    /// `Dropped` once this handle's array was dropped (its segment may hold a later one:
    /// `recycle.rs`).
    pub(crate) fn check_generation(&self, m: &Mapping) -> Result<(), SharedError> {
        // SeqCst: after the lease and state loads of `read` (recycle.rs: why an old
        // handle never sees the new array); pairs with the owner's SeqCst bump.
        if m.header().generation.load(Ordering::SeqCst) != self.generation {
            return Err(SharedError::Dropped);
        }
        Ok(())
    }

    /// Reads the whole array, from any process. Refused while a split of the array is
    /// unfinished ([`SharedError::SplitInProgress`]) or the owner writes it; while the
    /// guard lives, the owner cannot start writing (it gets
    /// [`SharedError::ReadersActive`]).
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::<u8>::zeroed(100).unwrap();
    /// let h = a.handle();
    /// let chunks = a.chunks_mut(10).unwrap();
    /// assert!(matches!(h.read(), Err(SharedError::SplitInProgress { pending: 10 })));
    /// for c in &chunks {
    ///     c.write().unwrap().fill(1);
    /// }
    /// assert_eq!(h.read().unwrap().iter().map(|&x| x as u32).sum::<u32>(), 100);
    /// ```
    pub fn read(&self) -> Result<ReadGuard<T>, SharedError> {
        let map = self.mapping()?;
        let slot = readers::acquire(map.header())?;
        // The generation is loaded after the state, whatever the state says (recycle.rs),
        // and a stale handle is told `Dropped` in preference: a dropping array's segment
        // is in owner write mode, and `OwnerWriting` (try again) would be wrong for it.
        let readable = map.readable();
        if let Err(e) = self.check_generation(&map).and(readable) {
            readers::release(map.header(), slot);
            return Err(e);
        }
        let len = map.geo().capacity;
        Ok(ReadGuard { map, slot, len, _t: PhantomData })
    }
}

/// A read lease on a shared array ([`ArrayHandle::read`]): derefs to `&[T]`; while it
/// lives nobody writes the elements — the owner's [`write`](super::SharedArray::write) and
/// [`chunks_mut`](super::SharedArray::chunks_mut) get [`SharedError::ReadersActive`], so
/// drop it once the job has read what it needs.
///
/// ```
/// use zeroproc_mp::shared::{SharedArray, SharedError};
/// let mut a = SharedArray::from_slice(&[1u8, 2]).unwrap();
/// let h = a.handle();
/// let g = h.read().unwrap();
/// assert_eq!(g[1], 2);
/// assert!(matches!(a.write(), Err(SharedError::ReadersActive { .. })));
/// drop(g);
/// a.write().unwrap()[1] = 5;
/// ```
pub struct ReadGuard<T> {
    map: Arc<Mapping>,
    slot: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Deref for ReadGuard<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` elements of `T` (checked type, aligned) at `data`, mapped while the
        // Arc lives; our lease keeps every writer out (readers.rs, split.rs); `T: Pod`
        // accepts any bits.
        unsafe { std::slice::from_raw_parts(self.map.data::<T>(), self.len) }
    }
}

impl<T> Drop for ReadGuard<T> {
    fn drop(&mut self) {
        readers::release(self.map.header(), self.slot);
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard").field("len", &self.len).finish_non_exhaustive()
    }
}
