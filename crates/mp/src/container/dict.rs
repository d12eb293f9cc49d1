//! [`SharedDict<K, V>`]: a hash map in shared memory, used by every process that holds it
//! — Python's `Manager().dict()` without the manager process.

use super::blob::{access, decode, encode, hash_key};
use super::handle::{dict_identity, DictHandle};
use super::store::Store;
use super::{ContainerError, InsertError, DEFAULT_CAPACITY, DEFAULT_MAX_CAPACITY};
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_codec::Message;

/// A hash map from `K` to `V` living in shared memory: every process holding it (the
/// creator, and any that attached its [`DictHandle`]) sees the same entries. Keys and
/// values are rkyv-archived into the container's own heap; reads validate them
/// (bytecheck) and deserialize, or lend `&Archived<V>` to a closure
/// ([`get_with`](Self::get_with)).
///
/// * **Atomic per operation.** Each call holds the container's robust lock for its
///   duration, readers included; [`update`](Self::update) runs a closure on the current
///   value under the lock (a read-modify-write no other process can interleave with).
/// * **Crash-consistent.** A process killed in the middle of any operation leaves the
///   dict as it was before that operation or as it would be after it — never in between;
///   the next process to use it finishes or undoes the dead one's mutation (at most one
///   entry block may leak per crash). See the container README.
/// * **Grows on demand**, like Python's dict: 64 KiB of shared memory at creation
///   ([`with_capacity_bytes`](Self::with_capacity_bytes) to choose), doubled whenever an insert finds
///   no room, for every process using the dict, up to 1 GiB
///   ([`with_max_capacity_bytes`](Self::with_max_capacity_bytes) to choose). An insert that does not
///   fit the maximum fails with [`ContainerError::Full`] and hands the key and value back.
/// * Keys are compared by their archived bytes: for integers, strings, tuples and derived
///   structs of these, equal keys archive to equal bytes. (Floats: `-0.0 != 0.0`.)
///
/// ```
/// use zeroproc_mp::container::SharedDict;
/// let scores = SharedDict::<String, u32>::new().unwrap();
/// scores.insert("ada".into(), 3).unwrap();
/// scores.update(&"ada".into(), |v| *v = v.map(|n| n + 1)).unwrap();
/// assert_eq!(scores.get(&"ada".into()).unwrap(), Some(4));
/// assert_eq!(scores.len().unwrap(), 1);
/// // Another process would do: scores.handle().attach()
/// ```
pub struct SharedDict<K, V> {
    store: Arc<Store>,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for SharedDict<K, V> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), _t: PhantomData }
    }
}

#[cfg(feature = "fault-injection")]
impl<K, V> SharedDict<K, V> {
    /// For the fault-injection hooks (`container::testing`).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

impl<K, V> std::fmt::Debug for SharedDict<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDict").field("store", &self.store).finish()
    }
}

// Bounds on the constructors rather than the `impl`, as for `Queue`: a dict of a
// non-`Message` type gets `Message`'s error, not "the function `new` exists but its trait
// bounds were not satisfied".
impl<K, V> SharedDict<K, V> {
    /// A new, empty dict: 64 KiB of shared memory ([`DEFAULT_CAPACITY`]), growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`].
    pub fn new() -> Result<Self, ContainerError>
    where
        K: Message,
        V: Message,
    {
        Self::with_capacity_bytes(DEFAULT_CAPACITY)
    }

    /// A new, empty dict reserving `bytes` of shared memory for its table and entries, growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`] (or `bytes`, if larger). `bytes` is rounded up to
    /// whole 4 KiB pages and to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB).
    /// A size in **bytes**, not entries (unlike `Vec::with_capacity`): entries vary in size;
    /// [`stats`](Self::stats) shows what a workload uses.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u64, u64>::with_capacity_bytes(64 << 10).unwrap();
    /// assert!(d.capacity_bytes() >= 64 << 10);
    /// ```
    pub fn with_capacity_bytes(bytes: usize) -> Result<Self, ContainerError>
    where
        K: Message,
        V: Message,
    {
        Self::with_max_capacity_bytes(bytes, DEFAULT_MAX_CAPACITY.max(bytes))
    }

    /// A new, empty dict with `bytes` of shared memory, growing on demand (doubling, for
    /// every process using it) up to `max_bytes`; an insert that does not fit then fails
    /// with [`ContainerError::Full`] and hands the value back. Only `bytes` are reserved
    /// at creation; `max_bytes` of address space are mapped. Both are rounded up to whole
    /// 4 KiB pages, and `bytes` to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB:
    /// [`capacity_bytes`](Self::capacity_bytes) says what it got); a `max_bytes` below
    /// 8 KiB or below `bytes` is refused with [`ContainerError::Capacity`].
    ///
    /// ```
    /// # use zeroproc_mp::container::*;
    /// let c = SharedDict::<u64, u64>::with_max_capacity_bytes(16 << 10, 1 << 20).unwrap();
    /// assert_eq!((c.capacity_bytes(), c.max_capacity_bytes()), (16 << 10, 1 << 20));
    /// ```
    pub fn with_max_capacity_bytes(bytes: usize, max_bytes: usize) -> Result<Self, ContainerError>
    where
        K: Message,
        V: Message,
    {
        Store::create(dict_identity::<K, V>(), bytes, max_bytes)
            .map(|s| Self::from_store(Arc::new(s)))
    }
}

impl<K: Message, V: Message> SharedDict<K, V> {
    pub(crate) fn from_store(store: Arc<Store>) -> Self {
        store.register_trim();
        Self { store, _t: PhantomData }
    }

    /// Memory use and history of the dict.
    pub fn stats(&self) -> super::ContainerStats {
        self.store.stats()
    }

    /// A handle another process (or a job) can attach: Python's
    /// `Process(target=f, args=(d,))` passes the proxy; here the handle is the argument
    /// (`Process::spawn(f, d.handle())`, `pool.submit(f, d.handle())`), and `f` attaches it.
    ///
    /// ```
    /// # use zeroproc_mp::container::{DictHandle, SharedDict};
    /// // The child's (or job's) side: attach, then use it as the creator does.
    /// fn count(h: DictHandle<String, u64>) {
    ///     let d = h.attach().unwrap();
    ///     d.update(&"seen".into(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
    /// }
    /// let d = SharedDict::<String, u64>::new().unwrap();
    /// count(d.handle()); // in a real program: Process::spawn(count, d.handle())
    /// assert_eq!(d.get(&"seen".into()).unwrap(), Some(1));
    /// ```
    pub fn handle(&self) -> DictHandle<K, V> {
        DictHandle {
            segment: self.store.segment_id().to_string(),
            keep: crate::pin::Keep::new(self.store.clone()),
            _t: PhantomData,
        }
    }

    /// Bytes of shared memory the dict has now (it grows up to
    /// [`max_capacity_bytes`](Self::max_capacity_bytes)).
    pub fn capacity_bytes(&self) -> u64 {
        self.store.capacity_bytes()
    }

    /// The most shared memory it grows to.
    pub fn max_capacity_bytes(&self) -> u64 {
        self.store.max_capacity_bytes()
    }

    /// Inserts `value` under `key`, returning the value it replaces.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u32, String>::new().unwrap();
    /// assert_eq!(d.insert(1, "a".into()).unwrap(), None);
    /// assert_eq!(d.insert(1, "b".into()).unwrap(), Some("a".into()));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, InsertError<(K, V)>> {
        let r = (|| {
            let kb = encode(&key).map_err(ContainerError::Serialize)?;
            let vb = encode(&value).map_err(ContainerError::Serialize)?;
            let l = self.store.lock();
            l.map_put(hash_key(&kb), 0, &kb, &vb, |old| {
                old.map(|b| decode::<V>(b.value)).transpose()
            })
        })();
        r.map_err(|e| InsertError::new((key, value), e))
    }

    /// A copy of the value under `key`. Changing the copy changes nothing in the dict (as
    /// Python's `d['a'].append(1)` on a manager dict changes a copy); change a value in
    /// place with [`update`](Self::update).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<String, Vec<u32>>::new().unwrap();
    /// d.insert("a".into(), vec![1]).unwrap();
    /// d.get(&"a".into()).unwrap().unwrap().push(2); // a copy: the dict keeps [1]
    /// assert_eq!(d.get(&"a".into()).unwrap(), Some(vec![1]));
    /// d.update(&"a".into(), |v| v.as_mut().unwrap().push(2)).unwrap(); // in place
    /// assert_eq!(d.get(&"a".into()).unwrap(), Some(vec![1, 2]));
    /// ```
    pub fn get(&self, key: &K) -> Result<Option<V>, ContainerError> {
        self.get_with_bytes(key, decode::<V>)?.transpose()
    }

    /// Calls `f` on the archived value under `key` (zero-copy, under the lock).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u32, Vec<u64>>::new().unwrap();
    /// d.insert(7, vec![1, 2, 3]).unwrap();
    /// let sum = d.get_with(&7, |v| v.iter().map(|x| x.to_native()).sum::<u64>()).unwrap();
    /// assert_eq!(sum, Some(6));
    /// ```
    pub fn get_with<R>(
        &self,
        key: &K,
        f: impl FnOnce(&V::Archived) -> R,
    ) -> Result<Option<R>, ContainerError> {
        self.get_with_bytes(key, |b| access::<V>(b).map(f))?.transpose()
    }

    fn get_with_bytes<R>(
        &self,
        key: &K,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, ContainerError> {
        let kb = encode(key).map_err(ContainerError::Serialize)?;
        let l = self.store.lock();
        Ok(l.map_get(hash_key(&kb), &kb)?.map(|b| f(b.value)))
    }

    /// Whether `key` has a value: Python's `key in d`.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<String, u32>::new().unwrap();
    /// d.insert("ada".into(), 1).unwrap();
    /// assert!(d.contains_key(&"ada".into()).unwrap());
    /// assert!(!d.contains_key(&"bob".into()).unwrap());
    /// ```
    pub fn contains_key(&self, key: &K) -> Result<bool, ContainerError> {
        Ok(self.get_with_bytes(key, |_| ())?.is_some())
    }

    /// Removes the value under `key`, returning it: Python's `d.pop(key, None)` (`None` if
    /// there was none; `del d[key]` is `remove` with the result ignored).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u32, String>::new().unwrap();
    /// d.insert(7, "seven".into()).unwrap();
    /// assert_eq!(d.remove(&7).unwrap(), Some("seven".into()));
    /// assert_eq!(d.remove(&7).unwrap(), None);
    /// ```
    pub fn remove(&self, key: &K) -> Result<Option<V>, ContainerError> {
        let kb = encode(key).map_err(ContainerError::Serialize)?;
        let l = self.store.lock();
        l.map_remove(hash_key(&kb), &kb, |b| decode::<V>(b.value))
    }

    /// Applies `f` to the value under `key` atomically: `f` sees `Some(current)` or `None`
    /// and leaves what should be there (`None` removes the entry). No other process can
    /// read or write the dict between the read and the write. If `f` panics, nothing
    /// changes. `f` runs under the dict's lock: using the same dict inside it (here or
    /// through another attachment) panics, as it would wait for itself.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let hits = SharedDict::<String, u64>::new().unwrap();
    /// for _ in 0..3 {
    ///     hits.update(&"page".into(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
    /// }
    /// assert_eq!(hits.get(&"page".into()).unwrap(), Some(3));
    /// ```
    pub fn update<R>(
        &self,
        key: &K,
        f: impl FnOnce(&mut Option<V>) -> R,
    ) -> Result<R, ContainerError> {
        let kb = encode(key).map_err(ContainerError::Serialize)?;
        let hash = hash_key(&kb);
        let l = self.store.lock();
        let mut cur = l.map_get(hash, &kb)?.map(|b| decode::<V>(b.value)).transpose()?;
        let had = cur.is_some();
        let r = f(&mut cur);
        l.still_held()?;
        let vb = cur.as_ref().map(encode).transpose().map_err(ContainerError::Serialize)?;
        l.map_store(hash, 0, &kb, had, vb.as_deref())?;
        Ok(r)
    }

    /// Number of entries: Python's `len(d)`. (A `Result`: the dict is in shared memory,
    /// and its lock is robust — `?` it like any other operation.)
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u8, u8>::new().unwrap();
    /// assert!(d.is_empty().unwrap());
    /// d.insert(1, 1).unwrap();
    /// d.insert(2, 4).unwrap();
    /// assert_eq!(d.len().unwrap(), 2);
    /// d.clear().unwrap(); // Python's d.clear()
    /// assert_eq!(d.len().unwrap(), 0);
    /// ```
    pub fn len(&self) -> Result<usize, ContainerError> {
        Ok(self.store.lock().map_len())
    }

    /// Whether the dict has no entries.
    pub fn is_empty(&self) -> Result<bool, ContainerError> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), ContainerError> {
        self.store.lock().map_clear()
    }

    /// A snapshot of every entry (taken under the lock, in table order — not insertion
    /// order as Python's dict: sort it where the order matters).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u8, u8>::new().unwrap();
    /// d.insert(1, 10).unwrap();
    /// d.insert(2, 20).unwrap();
    /// let mut all = d.items().unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![(1, 10), (2, 20)]);
    /// ```
    pub fn items(&self) -> Result<Vec<(K, V)>, ContainerError> {
        let l = self.store.lock();
        let mut out = Vec::with_capacity(l.map_len());
        l.map_for_each(|b| {
            out.push((decode::<K>(b.key)?, decode::<V>(b.value)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// A snapshot of the keys: Python's `list(d.keys())`, in table order (sort them for
    /// a stable order). [`values`](Self::values) is the same for the values.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<String, u32>::new().unwrap();
    /// d.insert("b".into(), 2).unwrap();
    /// d.insert("a".into(), 1).unwrap();
    /// let mut keys = d.keys().unwrap();
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// assert_eq!(d.values().unwrap().iter().sum::<u32>(), 3);
    /// ```
    pub fn keys(&self) -> Result<Vec<K>, ContainerError> {
        let l = self.store.lock();
        let mut out = Vec::with_capacity(l.map_len());
        l.map_for_each(|b| decode::<K>(b.key).map(|k| out.push(k)))?;
        Ok(out)
    }

    /// A snapshot of the values.
    pub fn values(&self) -> Result<Vec<V>, ContainerError> {
        let l = self.store.lock();
        let mut out = Vec::with_capacity(l.map_len());
        l.map_for_each(|b| decode::<V>(b.value).map(|v| out.push(v)))?;
        Ok(out)
    }

    /// Iterates over a snapshot of the entries (see [`items`](Self::items)): Python's
    /// `for k, v in d.items()`. Other processes' later changes are not seen by the loop,
    /// and the dict is not locked while it runs.
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<String, u64>::new().unwrap();
    /// d.insert("x".into(), 2).unwrap();
    /// d.insert("y".into(), 3).unwrap();
    /// let mut total = 0;
    /// for (k, v) in d.iter().unwrap() {
    ///     assert!(k == "x" || k == "y");
    ///     total += v;
    /// }
    /// assert_eq!(total, 5);
    /// ```
    pub fn iter(&self) -> Result<std::vec::IntoIter<(K, V)>, ContainerError> {
        Ok(self.items()?.into_iter())
    }

    /// Calls `f` on every archived entry under the lock (zero-copy).
    ///
    /// ```
    /// # use zeroproc_mp::container::SharedDict;
    /// let d = SharedDict::<u32, u64>::new().unwrap();
    /// (0..10).for_each(|i| { d.insert(i, i as u64 * 2).unwrap(); });
    /// let mut total = 0;
    /// d.for_each(|_k, v| total += v.to_native()).unwrap();
    /// assert_eq!(total, 90);
    /// ```
    pub fn for_each(
        &self,
        mut f: impl FnMut(&K::Archived, &V::Archived),
    ) -> Result<(), ContainerError> {
        let l = self.store.lock();
        l.map_for_each(|b| {
            f(access::<K>(b.key)?, access::<V>(b.value)?);
            Ok(())
        })
    }
}
