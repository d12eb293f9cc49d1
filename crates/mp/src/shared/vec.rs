//! [`SharedVec`]: an append-only vector of plain-old-data in its own segment, growable by
//! its owner up to a capacity reserved at creation; readers in any process see the
//! published prefix.
//!
//! The owner only ever writes past the published length and then publishes the new length
//! with a Release store; readers Acquire-load the length and read below it. Readers and
//! the writer therefore never touch the same element, and no lease is needed.

use super::header::{type_hash, KIND_VEC};
use super::mapping::Mapping;
use super::{cache, SharedError};
use bytemuck::Pod;
use rkyv::{Archive, Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An append-only shared vector (see the module docs).
///
/// ```
/// use zeroproc_mp::shared::SharedVec;
/// let mut v = SharedVec::<u64>::with_capacity(1000).unwrap();
/// v.push(1).unwrap();
/// v.extend_from_slice(&[2, 3]).unwrap();
/// let h = v.handle(); // to a worker
/// assert_eq!(&*h.read().unwrap(), &[1, 2, 3]);
/// v.push(4).unwrap();
/// assert_eq!(h.read().unwrap().len(), 4);
/// ```
pub struct SharedVec<T: Pod> {
    map: Arc<Mapping>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> SharedVec<T> {
    /// An empty vector with room for `capacity` elements (reserved now; it never moves,
    /// so readers in other processes are never invalidated — and it never grows past it).
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedError, SharedVec};
    /// let mut v = SharedVec::<u16>::with_capacity(2).unwrap();
    /// v.push(1).unwrap();
    /// v.push(2).unwrap();
    /// assert!(matches!(v.push(3), Err(SharedError::Full { capacity: 2 })));
    /// assert_eq!(v.as_slice(), &[1, 2]);
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self, SharedError> {
        let map = Arc::new(Mapping::create::<T>(KIND_VEC, capacity, 0, None)?);
        cache::register(&map);
        Ok(Self { map, len: 0, _t: PhantomData })
    }

    /// Number of published elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no element has been pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved capacity.
    pub fn capacity(&self) -> usize {
        self.map.geo().capacity
    }

    /// Appends one element; [`SharedError::Full`] at capacity.
    pub fn push(&mut self, value: T) -> Result<(), SharedError> {
        self.extend_from_slice(std::slice::from_ref(&value))
    }

    /// Appends `values` (all or nothing) and publishes them together: a reader sees all
    /// of them or none.
    ///
    /// ```
    /// let mut v = zeroproc_mp::shared::SharedVec::<u8>::with_capacity(4).unwrap();
    /// v.extend_from_slice(&[1, 2, 3]).unwrap();
    /// assert!(v.extend_from_slice(&[4, 5]).is_err()); // would not fit: nothing added
    /// assert_eq!(v.len(), 3);
    /// ```
    pub fn extend_from_slice(&mut self, values: &[T]) -> Result<(), SharedError> {
        let capacity = self.capacity();
        let new_len = self.len.checked_add(values.len()).filter(|&n| n <= capacity);
        let new_len = new_len.ok_or(SharedError::Full { capacity })?;
        // SAFETY: `len..new_len` is inside the reserved capacity; only the owner (us, under
        // `&mut`) writes, and only past the published length, which no reader reads.
        unsafe {
            let dst = self.map.data::<T>().add(self.len);
            std::ptr::copy_nonoverlapping(values.as_ptr(), dst, values.len());
        }
        self.len = new_len;
        // Release: publishes the elements written above; pairs with the Acquire load in
        // `VecHandle::read`.
        self.map.header().len.store(new_len as u64, Ordering::Release);
        Ok(())
    }

    /// The published elements.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `len` initialised elements, written by us; nobody writes them again.
        unsafe { std::slice::from_raw_parts(self.map.data::<T>(), self.len) }
    }

    /// A handle for other processes.
    pub fn handle(&self) -> VecHandle<T> {
        VecHandle {
            segment: self.map.id().to_string(),
            capacity: self.capacity() as u64,
            type_hash: type_hash::<T>(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod> Drop for SharedVec<T> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire in the cache sweep of other processes.
        self.map.header().dropped.store(1, Ordering::Release);
        cache::unregister(self.map.id());
    }
}

impl<T: Pod> fmt::Debug for SharedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedVec")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// A reference to a [`SharedVec`] for other processes (rkyv `Archive`/`Serialize`/
/// `Deserialize`, like [`ArrayHandle`](super::ArrayHandle)).
#[derive(Archive, Serialize, Deserialize)]
pub struct VecHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    capacity: u64,
    type_hash: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for VecHandle<T> {
    fn clone(&self) -> Self {
        Self {
            segment: self.segment.clone(),
            capacity: self.capacity,
            type_hash: self.type_hash,
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for VecHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecHandle").field("segment", &self.segment).finish_non_exhaustive()
    }
}

impl<T: Pod> VecHandle<T> {
    /// The elements published so far (a snapshot of the length; later pushes are not
    /// seen through this view: read again for them).
    ///
    /// ```
    /// let mut v = zeroproc_mp::shared::SharedVec::<u32>::with_capacity(8).unwrap();
    /// let h = v.handle();
    /// v.push(1).unwrap();
    /// let before = h.read().unwrap();
    /// v.push(2).unwrap();
    /// assert_eq!(&*before, &[1]);
    /// assert_eq!(&*h.read().unwrap(), &[1, 2]);
    /// ```
    pub fn read(&self) -> Result<VecView<T>, SharedError> {
        if self.type_hash != type_hash::<T>() {
            return Err(SharedError::TypeMismatch);
        }
        let map = cache::attach(&self.segment)?;
        map.check::<T>(KIND_VEC, self.capacity)?;
        // Acquire: pairs with the owner's Release store in `extend_from_slice`.
        let len = map.header().len.load(Ordering::Acquire) as usize;
        let len = len.min(map.geo().capacity);
        Ok(VecView { map, len, _t: PhantomData })
    }
}

/// The published prefix of a [`SharedVec`]: derefs to `&[T]`.
pub struct VecView<T> {
    map: Arc<Mapping>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Deref for VecView<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len <= capacity` published elements (acquired), which the owner never
        // writes again; mapped while the Arc lives; `T: Pod` accepts any bits.
        unsafe { std::slice::from_raw_parts(self.map.data::<T>(), self.len) }
    }
}

impl<T> fmt::Debug for VecView<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecView").field("len", &self.len).finish_non_exhaustive()
    }
}
