//! [`Namespace`]: named fields of any archivable type in shared memory — Python's
//! `Manager().Namespace()` without the manager process.

use super::blob::{access, decode, encode, hash_key};
use super::handle::{NamespaceHandle, NAMESPACE_IDENTITY};
use super::store::Store;
use super::{ContainerError, InsertError, DEFAULT_CAPACITY, DEFAULT_MAX_CAPACITY};
use crate::shared::type_hash;
use std::sync::Arc;
use zeroproc_codec::Message;

/// Named fields in shared memory, each holding a value of its own type (Python's
/// `ns.x = 1; ns.name = "a"`). A field read as another type than it holds is
/// [`ContainerError::TypeMismatch`] (each value carries its type's hash); setting a field
/// to a value of another type rebinds it, as in Python.
///
/// Same guarantees as [`SharedDict`](super::SharedDict): atomic per operation,
/// crash-consistent, grows on demand up to a maximum, values validated on read.
///
/// ```
/// use zeroproc_mp::container::{ContainerError, Namespace};
/// let ns = Namespace::new().unwrap();
/// ns.set("iterations", 10u64).unwrap();
/// ns.set("label", String::from("run-1")).unwrap();
/// ns.update::<u64, _>("iterations", |v| *v = v.map(|n| n + 1)).unwrap();
/// assert_eq!(ns.get::<u64>("iterations").unwrap(), Some(11));
/// assert!(matches!(ns.get::<u32>("iterations"), Err(ContainerError::TypeMismatch)));
/// let mut names = ns.names().unwrap();
/// names.sort();
/// assert_eq!(names, ["iterations", "label"]);
/// ```
#[derive(Clone)]
pub struct Namespace {
    store: Arc<Store>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace").field("store", &self.store).finish()
    }
}

impl Namespace {
    /// A new, empty namespace: 64 KiB of shared memory ([`DEFAULT_CAPACITY`]), growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`].
    pub fn new() -> Result<Self, ContainerError> {
        Self::with_capacity_bytes(DEFAULT_CAPACITY)
    }

    /// A new, empty namespace reserving `bytes` of shared memory, growing on
    /// demand up to [`DEFAULT_MAX_CAPACITY`] (or `bytes`, if larger). `bytes` is rounded up to
    /// whole 4 KiB pages and to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB).
    /// A size in **bytes**, not entries (unlike `Vec::with_capacity`): entries vary in size;
    /// [`stats`](Self::stats) shows what a workload uses.
    pub fn with_capacity_bytes(bytes: usize) -> Result<Self, ContainerError> {
        Self::with_max_capacity_bytes(bytes, DEFAULT_MAX_CAPACITY.max(bytes))
    }

    /// A new, empty namespace with `bytes` of shared memory, growing on demand (doubling, for
    /// every process using it) up to `max_bytes`; an insert that does not fit then fails
    /// with [`ContainerError::Full`] and hands the value back. Only `bytes` are reserved
    /// at creation; `max_bytes` of address space are mapped. Both are rounded up to whole
    /// 4 KiB pages, and `bytes` to at least [`MIN_CAPACITY`](super::MIN_CAPACITY) (8 KiB:
    /// [`capacity_bytes`](Self::capacity_bytes) says what it got); a `max_bytes` below
    /// 8 KiB or below `bytes` is refused with [`ContainerError::Capacity`].
    ///
    /// ```
    /// # use zeroproc_mp::container::*;
    /// let c = Namespace::with_max_capacity_bytes(16 << 10, 1 << 20).unwrap();
    /// assert_eq!((c.capacity_bytes(), c.max_capacity_bytes()), (16 << 10, 1 << 20));
    /// ```
    pub fn with_max_capacity_bytes(bytes: usize, max_bytes: usize) -> Result<Self, ContainerError> {
        Store::create(NAMESPACE_IDENTITY, bytes, max_bytes).map(|s| Self::from_store(Arc::new(s)))
    }

    pub(crate) fn from_store(store: Arc<Store>) -> Self {
        store.register_trim();
        Self { store }
    }

    /// Memory use and history of the namespace.
    pub fn stats(&self) -> super::ContainerStats {
        self.store.stats()
    }

    /// Bytes of shared memory the namespace has now (it grows up to
    /// [`max_capacity_bytes`](Self::max_capacity_bytes)).
    pub fn capacity_bytes(&self) -> u64 {
        self.store.capacity_bytes()
    }

    /// The most shared memory it grows to.
    pub fn max_capacity_bytes(&self) -> u64 {
        self.store.max_capacity_bytes()
    }

    /// A handle another process (or a job) can attach.
    pub fn handle(&self) -> NamespaceHandle {
        NamespaceHandle {
            segment: self.store.segment_id().to_string(),
            keep: crate::pin::Keep::new(self.store.clone()),
        }
    }

    /// Binds `name` to `value` (replacing any value, of any type): Python's `ns.name =
    /// value`.
    ///
    /// ```
    /// # use zeroproc_mp::container::Namespace;
    /// let ns = Namespace::new().unwrap();
    /// ns.set("epoch", 3u32).unwrap();
    /// ns.set("model", "resnet".to_string()).unwrap();
    /// assert_eq!(ns.get::<u32>("epoch").unwrap(), Some(3));
    /// ```
    pub fn set<T: Message>(&self, name: &str, value: T) -> Result<(), InsertError<T>> {
        let r = encode(&value).map_err(ContainerError::Serialize).and_then(|vb| {
            let l = self.store.lock();
            let k = name.as_bytes();
            l.map_put(hash_key(k), type_hash::<T>(), k, &vb, |_| Ok(()))
        });
        r.map_err(|e| InsertError::new(value, e))
    }

    /// A copy of the field's value (`None` if unset); `TypeMismatch` if it holds another
    /// type. The type is named at the call (Python's fields are untyped): it must be the
    /// type that was set — `u32` and `u64` are different types.
    ///
    /// ```
    /// # use zeroproc_mp::container::Namespace;
    /// use zeroproc_mp::container::ContainerError;
    /// let ns = Namespace::new().unwrap();
    /// ns.set("epoch", 3u32).unwrap();
    /// assert_eq!(ns.get::<u32>("epoch").unwrap(), Some(3));
    /// assert!(matches!(ns.get::<u64>("epoch"), Err(ContainerError::TypeMismatch)));
    /// assert_eq!(ns.get::<u32>("missing").unwrap(), None);
    /// ```
    pub fn get<T: Message>(&self, name: &str) -> Result<Option<T>, ContainerError> {
        let l = self.store.lock();
        let k = name.as_bytes();
        match l.map_get(hash_key(k), k)? {
            None => Ok(None),
            Some(b) if b.tag != type_hash::<T>() => Err(ContainerError::TypeMismatch),
            Some(b) => decode::<T>(b.value).map(Some),
        }
    }

    /// Calls `f` on the field's archived value (zero-copy, under the lock): to read part
    /// of a large value without copying all of it out. `f` must not use the namespace.
    ///
    /// ```
    /// # use zeroproc_mp::container::Namespace;
    /// let ns = Namespace::new().unwrap();
    /// ns.set("weights", vec![0.5f64; 1000]).unwrap();
    /// let n = ns.get_with::<Vec<f64>, _>("weights", |w| w.len()).unwrap();
    /// assert_eq!(n, Some(1000));
    /// ```
    pub fn get_with<T: Message, R>(
        &self,
        name: &str,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<Option<R>, ContainerError> {
        let l = self.store.lock();
        let k = name.as_bytes();
        match l.map_get(hash_key(k), k)? {
            None => Ok(None),
            Some(b) if b.tag != type_hash::<T>() => Err(ContainerError::TypeMismatch),
            Some(b) => access::<T>(b.value).map(|a| Some(f(a))),
        }
    }

    /// Applies `f` to the field atomically: `f` sees `Some(current)` or `None` and leaves
    /// what should be there (`None` deletes the field). `TypeMismatch` (and no change) if
    /// the field holds another type.
    ///
    /// ```
    /// # use zeroproc_mp::container::Namespace;
    /// let ns = Namespace::new().unwrap();
    /// for _ in 0..3 {
    ///     ns.update::<u64, _>("steps", |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
    /// }
    /// assert_eq!(ns.get::<u64>("steps").unwrap(), Some(3));
    /// ```
    pub fn update<T: Message, R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Option<T>) -> R,
    ) -> Result<R, ContainerError> {
        let l = self.store.lock();
        let k = name.as_bytes();
        let hash = hash_key(k);
        let mut cur = match l.map_get(hash, k)? {
            None => None,
            Some(b) if b.tag != type_hash::<T>() => return Err(ContainerError::TypeMismatch),
            Some(b) => Some(decode::<T>(b.value)?),
        };
        let had = cur.is_some();
        let r = f(&mut cur);
        l.still_held()?;
        let vb = cur.as_ref().map(encode).transpose().map_err(ContainerError::Serialize)?;
        l.map_store(hash, type_hash::<T>(), k, had, vb.as_deref())?;
        Ok(r)
    }

    /// Deletes the field; whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool, ContainerError> {
        let l = self.store.lock();
        let k = name.as_bytes();
        Ok(l.map_remove(hash_key(k), k, |_| Ok(()))?.is_some())
    }

    /// Whether the field exists.
    pub fn contains(&self, name: &str) -> Result<bool, ContainerError> {
        let l = self.store.lock();
        let k = name.as_bytes();
        Ok(l.map_get(hash_key(k), k)?.is_some())
    }

    /// The field names (a snapshot, in table order: sort them for a stable order).
    ///
    /// ```
    /// # use zeroproc_mp::container::Namespace;
    /// let ns = Namespace::new().unwrap();
    /// ns.set("b", 1u8).unwrap();
    /// ns.set("a", 2u8).unwrap();
    /// assert!(ns.remove("b").unwrap());
    /// assert!(!ns.contains("b").unwrap());
    /// assert_eq!(ns.names().unwrap(), ["a"]);
    /// ```
    pub fn names(&self) -> Result<Vec<String>, ContainerError> {
        let l = self.store.lock();
        let mut out = Vec::new();
        l.map_for_each(|b| {
            let s = std::str::from_utf8(b.key)
                .map_err(|_| ContainerError::Corrupt("field name is not UTF-8"))?;
            out.push(s.to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// Number of fields.
    pub fn len(&self) -> Result<usize, ContainerError> {
        Ok(self.store.lock().map_len())
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> Result<bool, ContainerError> {
        Ok(self.len()? == 0)
    }

    /// Deletes every field.
    pub fn clear(&self) -> Result<(), ContainerError> {
        self.store.lock().map_clear()
    }
}
