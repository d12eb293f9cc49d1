//! [`SharedList<T>`]: a list in shared memory — Python's `Manager().list()` without the
//! manager process.

use super::blob::{access, decode, encode};
use super::handle::{list_identity, ListHandle};
use super::store::Store;
use super::{ContainerError, InsertError, DEFAULT_CAPACITY, DEFAULT_MAX_CAPACITY};
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_codec::Message;

/// A list of `T` living in shared memory: every process holding it sees the same items.
/// Same guarantees as [`SharedDict`](super::SharedDict): atomic per operation (robust lock,
/// readers included), crash-consistent (a process killed mid-operation leaves the list as
/// before or as after that operation), grows on demand up to a maximum, values validated
/// on read.
///
/// `push`/`pop`/`set` are O(1); `insert`/`remove` at an index rebuild the item table
/// (O(len) offsets, not values) so that they too commit with one store.
///
/// ```
/// use zeroproc_mp::container::SharedList;
/// let l = SharedList::<String>::new().unwrap();
/// l.push("a".into()).unwrap();
/// l.push("c".into()).unwrap();
/// l.insert(1, "b".into()).unwrap();
/// assert_eq!(l.to_vec().unwrap(), ["a", "b", "c"]);
/// assert_eq!(l.pop().unwrap(), Some("c".into()));
/// l.update(0, |s| s.push('!')).unwrap();
/// assert_eq!(l.get(0).unwrap(), Some("a!".into()));
/// ```
pub struct SharedList<T> {
    store: Arc<Store>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedList<T> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedList").field("store", &self.store).finish()
    }
}

// Bounds on the constructors rather than the `impl`, as for `Queue`: a list of a
// non-`Message` type gets `Message`'s error, not "the function `new` exists but its trait
// bounds were not satisfied".
impl<T> SharedList<T> {
    /// A new, empty list: 64 KiB of shared memory ([`DEFAULT_CAPACITY`]), growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`].
    pub fn new() -> Result<Self, ContainerError>
    where
        T: Message,
    {
        Self::with_capacity_bytes(DEFAULT_CAPACITY)
    }

    /// A new, empty list reserving `bytes` of shared memory for its table and items, growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`] (or `bytes`, if larger). `bytes` is rounded up to
    /// whole 4 KiB pages and to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB).
    /// A size in **bytes**, not entries (unlike `Vec::with_capacity`): entries vary in size;
    /// [`stats`](Self::stats) shows what a workload uses.
    pub fn with_capacity_bytes(bytes: usize) -> Result<Self, ContainerError>
    where
        T: Message,
    {
        Self::with_max_capacity_bytes(bytes, DEFAULT_MAX_CAPACITY.max(bytes))
    }

    /// A new, empty list with `bytes` of shared memory, growing on demand (doubling, for
    /// every process using it) up to `max_bytes`; an insert that does not fit then fails
    /// with [`ContainerError::Full`] and hands the value back. Only `bytes` are reserved
    /// at creation; `max_bytes` of address space are mapped. Both are rounded up to whole
    /// 4 KiB pages, and `bytes` to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB:
    /// [`capacity_bytes`](Self::capacity_bytes) says what it got); a `max_bytes` below
    /// 8 KiB or below `bytes` is refused with [`ContainerError::Capacity`].
    ///
    /// ```
    /// # use zeroproc_mp::container::*;
    /// let c = SharedList::<u64>::with_max_capacity_bytes(16 << 10, 1 << 20).unwrap();
    /// assert_eq!((c.capacity_bytes(), c.max_capacity_bytes()), (16 << 10, 1 << 20));
    /// ```
    pub fn with_max_capacity_bytes(bytes: usize, max_bytes: usize) -> Result<Self, ContainerError>
    where
        T: Message,
    {
        Store::create(list_identity::<T>(), bytes, max_bytes).map(|s| Self::from_store(Arc::new(s)))
    }
}

impl<T: Message> SharedList<T> {
    pub(crate) fn from_store(store: Arc<Store>) -> Self {
        store.register_trim();
        Self { store, _t: PhantomData }
    }

    /// Memory use and history of the list.
    pub fn stats(&self) -> super::ContainerStats {
        self.store.stats()
    }

    /// A handle another process (or a job) can attach: Python passes the list proxy in
    /// `args=(l,)`; here the handle is the argument (`Process::spawn(f, l.handle())`).
    ///
    /// ```
    /// # use zeroproc_mp::container::{ListHandle, SharedList};
    /// fn report(h: ListHandle<String>) {
    ///     h.attach().unwrap().push("done".into()).unwrap();
    /// }
    /// let l = SharedList::<String>::new().unwrap();
    /// report(l.handle()); // in a real program: Process::spawn(report, l.handle())
    /// assert_eq!(l.to_vec().unwrap(), ["done"]);
    /// ```
    pub fn handle(&self) -> ListHandle<T> {
        ListHandle {
            segment: self.store.segment_id().to_string(),
            keep: crate::pin::Keep::new(self.store.clone()),
            _t: PhantomData,
        }
    }

    /// Bytes of shared memory the list has now (it grows up to
    /// [`max_capacity_bytes`](Self::max_capacity_bytes)).
    pub fn capacity_bytes(&self) -> u64 {
        self.store.capacity_bytes()
    }

    /// The most shared memory it grows to.
    pub fn max_capacity_bytes(&self) -> u64 {
        self.store.max_capacity_bytes()
    }

    /// Appends `value` (Python's `append`). On failure (the list is at its maximum size)
    /// the value comes back in the error ([`InsertError::into_inner`](super::InsertError::into_inner)).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<String>::new().unwrap();
    /// l.push("a".into()).unwrap();
    /// assert_eq!(l.to_vec().unwrap(), ["a"]);
    /// ```
    pub fn push(&self, value: T) -> Result<(), InsertError<T>> {
        let r = encode(&value)
            .map_err(ContainerError::Serialize)
            .and_then(|vb| self.store.lock().seq_push(&vb));
        r.map_err(|e| InsertError::new(value, e))
    }

    /// Appends every value (Python's `extend`): each one its own atomic push, all under
    /// one lock hold, so they land together. `values` is read (and each value encoded)
    /// before the lock is taken, as Python's proxy reads the whole iterable before the
    /// call: an iterator may read this list, or take its time, without holding up other
    /// processes. On a failure (the list at its maximum size, or a value that cannot be
    /// encoded: then nothing is appended) the value that failed comes back in the error,
    /// the values before it stay appended and the ones after it are dropped.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<usize>::new().unwrap();
    /// l.extend([1, 2, 3]).unwrap();
    /// l.extend((0..2).map(|i| l.len().unwrap() + i)).unwrap(); // reads the list: fine
    /// assert_eq!(l.to_vec().unwrap(), [1, 2, 3, 3, 4]);
    /// ```
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), InsertError<T>> {
        let mut encoded = Vec::new();
        for v in values {
            match encode(&v) {
                Ok(b) => encoded.push((v, b)),
                Err(e) => return Err(InsertError::new(v, ContainerError::Serialize(e))),
            }
        }
        let l = self.store.lock();
        for (v, b) in encoded {
            l.seq_push(&b).map_err(|e| InsertError::new(v, e))?;
        }
        Ok(())
    }

    /// Removes and returns the last value (`None` when empty; Python raises `IndexError`).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u32>::new().unwrap();
    /// l.extend([1, 2]).unwrap();
    /// assert_eq!(l.pop().unwrap(), Some(2));
    /// assert_eq!(l.pop().unwrap(), Some(1));
    /// assert_eq!(l.pop().unwrap(), None);
    /// ```
    pub fn pop(&self) -> Result<Option<T>, ContainerError> {
        self.store.lock().seq_pop(|b| decode::<T>(b.value))
    }

    /// A copy of the value at `index` (`None` past the end; no negative indices).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u32>::new().unwrap();
    /// l.extend([10, 20]).unwrap();
    /// assert_eq!(l.get(1).unwrap(), Some(20));
    /// assert_eq!(l.get(2).unwrap(), None);
    /// ```
    pub fn get(&self, index: usize) -> Result<Option<T>, ContainerError> {
        let l = self.store.lock();
        l.seq_get(index)?.map(|b| decode::<T>(b.value)).transpose()
    }

    /// Calls `f` on the archived value at `index` (zero-copy, under the lock): for a large
    /// value of which `f` needs a little. `f` gets rkyv's archived form (`ArchivedString`
    /// derefs to `&str`, archived integers convert with `to_native()`).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<String>::new().unwrap();
    /// l.push("a long document".into()).unwrap();
    /// assert_eq!(l.get_with(0, |s| s.len()).unwrap(), Some(15)); // nothing copied out
    /// ```
    pub fn get_with<R>(
        &self,
        index: usize,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<Option<R>, ContainerError> {
        let l = self.store.lock();
        l.seq_get(index)?.map(|b| access::<T>(b.value).map(f)).transpose()
    }

    /// Replaces the value at `index`, returning the old one (`l[i] = v`); past the end it
    /// fails with [`ContainerError::IndexOutOfRange`] and hands `value` back.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// use zeroproc_mp::container::ContainerError;
    /// let l = SharedList::<u32>::new().unwrap();
    /// l.push(1).unwrap();
    /// assert_eq!(l.set(0, 5).unwrap(), 1);
    /// let e = l.set(3, 9).unwrap_err();
    /// assert!(matches!(e.error(), ContainerError::IndexOutOfRange { index: 3, len: 1 }));
    /// assert_eq!(e.into_inner(), 9);
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<T, InsertError<T>> {
        let r = encode(&value)
            .map_err(ContainerError::Serialize)
            .and_then(|vb| self.store.lock().seq_set(index, &vb, |b| decode::<T>(b.value)));
        r.map_err(|e| InsertError::new(value, e))
    }

    /// Inserts `value` before `index` (`index == len` appends; past that,
    /// `IndexOutOfRange`, where Python's `insert` appends).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<char>::new().unwrap();
    /// l.extend(['a', 'c']).unwrap();
    /// l.insert(1, 'b').unwrap();
    /// assert_eq!(l.to_vec().unwrap(), ['a', 'b', 'c']);
    /// ```
    pub fn insert(&self, index: usize, value: T) -> Result<(), InsertError<T>> {
        let r = encode(&value)
            .map_err(ContainerError::Serialize)
            .and_then(|vb| self.store.lock().seq_insert(index, &vb));
        r.map_err(|e| InsertError::new(value, e))
    }

    /// Removes and returns the value at `index`, shifting the rest down (Python's
    /// `pop(i)`); past the end, [`ContainerError::IndexOutOfRange`].
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u32>::new().unwrap();
    /// l.extend([1, 2, 3]).unwrap();
    /// assert_eq!(l.remove(0).unwrap(), 1);
    /// assert_eq!(l.to_vec().unwrap(), [2, 3]);
    /// assert!(l.remove(5).is_err());
    /// ```
    pub fn remove(&self, index: usize) -> Result<T, ContainerError> {
        self.store.lock().seq_remove(index, |b| decode::<T>(b.value))
    }

    /// Applies `f` to the value at `index` atomically (no other process can interleave);
    /// if `f` panics, nothing changes. Unlike [`SharedDict::update`](super::SharedDict::update),
    /// `f` gets the value itself (`&mut T`): the index must exist
    /// ([`ContainerError::IndexOutOfRange`] otherwise).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<Vec<u32>>::new().unwrap();
    /// l.push(vec![1]).unwrap();
    /// let new_len = l.update(0, |v| { v.push(2); v.len() }).unwrap();
    /// assert_eq!(new_len, 2);
    /// assert_eq!(l.get(0).unwrap(), Some(vec![1, 2]));
    /// ```
    pub fn update<R>(
        &self,
        index: usize,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, ContainerError> {
        let l = self.store.lock();
        let len = l.seq_len()?;
        let b = l.seq_get(index)?.ok_or(ContainerError::IndexOutOfRange { index, len })?;
        let mut v = decode::<T>(b.value)?;
        let r = f(&mut v);
        l.still_held()?;
        let vb = encode(&v).map_err(ContainerError::Serialize)?;
        l.seq_set(index, &vb, |_| Ok(()))?;
        Ok(r)
    }

    /// Number of values: Python's `len(l)` (a `Result`, as every operation on shared
    /// memory behind a robust lock).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u32>::new().unwrap();
    /// l.extend([1, 2, 3]).unwrap();
    /// assert_eq!(l.len().unwrap(), 3);
    /// l.clear().unwrap(); // Python's l.clear() / del l[:]
    /// assert!(l.is_empty().unwrap());
    /// ```
    pub fn len(&self) -> Result<usize, ContainerError> {
        self.store.lock().seq_len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> Result<bool, ContainerError> {
        Ok(self.len()? == 0)
    }

    /// Removes every value.
    pub fn clear(&self) -> Result<(), ContainerError> {
        self.store.lock().seq_clear()
    }

    /// Whether some value archives to the same bytes as `value` (equal values of the
    /// usual types do).
    pub fn contains(&self, value: &T) -> Result<bool, ContainerError> {
        Ok(self.index_of(value)?.is_some())
    }

    /// The index of the first value archiving to the same bytes as `value`.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<String>::new().unwrap();
    /// l.extend(["x".to_string(), "y".to_string()]).unwrap();
    /// assert_eq!(l.index_of(&"y".into()).unwrap(), Some(1));
    /// assert!(!l.contains(&"z".into()).unwrap());
    /// ```
    pub fn index_of(&self, value: &T) -> Result<Option<usize>, ContainerError> {
        let vb = encode(value).map_err(ContainerError::Serialize)?;
        let l = self.store.lock();
        let mut found = None;
        l.seq_for_each(|i, b| {
            if found.is_none() && b.value == &vb[..] {
                found = Some(i);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// A snapshot of every value, in order (Python's `list(l)`); later changes are not
    /// seen in it.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u8>::new().unwrap();
    /// l.extend([3, 1, 2]).unwrap();
    /// let mut v = l.to_vec().unwrap();
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3]);
    /// assert_eq!(l.iter().unwrap().max(), Some(3));
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>, ContainerError> {
        let l = self.store.lock();
        let mut out = Vec::new();
        l.seq_for_each(|_, b| decode::<T>(b.value).map(|v| out.push(v)))?;
        Ok(out)
    }

    /// Iterates over a snapshot of the values (see [`to_vec`](Self::to_vec)): Python's
    /// `for x in l`. The list is not locked while the loop runs, and other processes'
    /// later changes are not seen by it.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<String>::new().unwrap();
    /// l.extend(["a".to_string(), "bb".to_string()]).unwrap();
    /// let mut chars = 0;
    /// for s in l.iter().unwrap() {
    ///     chars += s.len();
    /// }
    /// assert_eq!(chars, 3);
    /// ```
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>, ContainerError> {
        Ok(self.to_vec()?.into_iter())
    }

    /// Calls `f` on every archived value in order, under the lock (zero-copy).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedList;
    /// let l = SharedList::<u64>::new().unwrap();
    /// l.extend([5, 6]).unwrap();
    /// let mut sum = 0;
    /// l.for_each(|_i, v| sum += v.to_native()).unwrap();
    /// assert_eq!(sum, 11);
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(usize, &T::Archived)) -> Result<(), ContainerError> {
        let l = self.store.lock();
        l.seq_for_each(|i, b| access::<T>(b.value).map(|a| f(i, a)))
    }
}
