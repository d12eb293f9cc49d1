//! What travels to a job or a process for a container: its segment id. The receiving
//! process attaches to the same memory (checked: kind, key and value types, layout).

use super::header::{KIND_DICT, KIND_LIST, KIND_NAMESPACE};
use super::store::Identity;
use super::{cache, ContainerError, Namespace, SharedDict, SharedList};
use crate::handle::handle_impls;
use crate::pin::{Keep, PinKeep};
use crate::shared::type_hash;
use rkyv::{Archive, Deserialize, Serialize};
use std::marker::PhantomData;
use zeroproc_codec::Message;

pub(crate) fn dict_identity<K: 'static, V: 'static>() -> Identity {
    Identity { kind: KIND_DICT, key_type: type_hash::<K>(), value_type: type_hash::<V>() }
}

pub(crate) fn list_identity<T: 'static>() -> Identity {
    Identity { kind: KIND_LIST, key_type: 0, value_type: type_hash::<T>() }
}

pub(crate) const NAMESPACE_IDENTITY: Identity =
    Identity { kind: KIND_NAMESPACE, key_type: 0, value_type: 0 };

/// A [`SharedDict`] passed to a job or a process: `handle.attach()` there.
///
/// ```
/// use zeroproc_mp::container::{DictHandle, SharedDict};
/// let d = SharedDict::<String, u64>::new().unwrap();
/// let h: DictHandle<String, u64> = d.handle();   // an rkyv-archivable job argument
/// let there = h.attach().unwrap();                // in the receiving process
/// there.insert("k".into(), 1).unwrap();
/// assert_eq!(d.get(&"k".into()).unwrap(), Some(1));
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct DictHandle<K, V> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    pub(crate) segment: String,
    /// Keeps the dict for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    pub(crate) keep: Keep,
    pub(crate) _t: PhantomData<fn() -> (K, V)>,
}
handle_impls!(DictHandle<K, V> { segment, keep, _t } debug { segment });

impl<K: Message, V: Message> DictHandle<K, V> {
    /// Attaches the dict in this process (its creator must still be alive, or the handle must have come in the arguments of this `Process` or job).
    pub fn attach(&self) -> Result<SharedDict<K, V>, ContainerError> {
        cache::attach(&self.segment, dict_identity::<K, V>()).map(SharedDict::from_store)
    }
}

/// A [`SharedList`] passed to a job or a process: `handle.attach()` there.
///
/// ```
/// use zeroproc_mp::container::SharedList;
/// let l = SharedList::<u32>::new().unwrap();
/// l.handle().attach().unwrap().push(7).unwrap();
/// assert_eq!(l.to_vec().unwrap(), vec![7]);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ListHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    pub(crate) segment: String,
    /// Keeps the list for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    pub(crate) keep: Keep,
    pub(crate) _t: PhantomData<fn() -> T>,
}
handle_impls!(ListHandle<T> { segment, keep, _t } debug { segment });

impl<T: Message> ListHandle<T> {
    /// Attaches the list in this process (its creator must still be alive, or the handle must have come in the arguments of this `Process` or job).
    pub fn attach(&self) -> Result<SharedList<T>, ContainerError> {
        cache::attach(&self.segment, list_identity::<T>()).map(SharedList::from_store)
    }
}

/// A [`Namespace`] passed to a job or a process: `handle.attach()` there.
///
/// ```
/// use zeroproc_mp::container::Namespace;
/// let ns = Namespace::new().unwrap();
/// ns.handle().attach().unwrap().set("x", 1.5f64).unwrap();
/// assert_eq!(ns.get::<f64>("x").unwrap(), Some(1.5));
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct NamespaceHandle {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    pub(crate) segment: String,
    /// Keeps the namespace for a process or job given this handle (`pin.rs`); not
    /// archived.
    #[rkyv(with = PinKeep)]
    pub(crate) keep: Keep,
}

handle_impls!(NamespaceHandle { segment, keep } debug { segment });

impl NamespaceHandle {
    /// Attaches the namespace in this process (its creator must still be alive, or the handle must have come in the arguments of this `Process` or job).
    pub fn attach(&self) -> Result<Namespace, ContainerError> {
        cache::attach(&self.segment, NAMESPACE_IDENTITY).map(Namespace::from_store)
    }
}
