//! [`QueueHandle`]: what travels to another process (segment id, kind, message type hash)
//! to reach the same [`Queue`] or [`JoinableQueue`](crate::JoinableQueue) there.

use crate::channel::header::{type_hash, KIND_JOINABLE, KIND_QUEUE};
use crate::channel::mapping::Mapping;
use crate::channel::message::Message;
use crate::channel::{cache, ChannelError};
use crate::handle::handle_impls;
use crate::pin::{Keep, PinKeep};
use crate::queue::Queue;
use rkyv::{Archive, Deserialize, Serialize};
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_ring::mpmc;
use zeroproc_shm::Offset;

/// A reference to a [`Queue`] that can be passed to a job or a process: it derives rkyv
/// `Archive`/`Serialize`/`Deserialize` and holds only the segment id, whether the queue is
/// joinable and the message type's hash. [`attach`](Self::attach) maps the segment on
/// first use in a process and caches it ([`cache`]).
///
/// The creating process must keep its queue alive until the other process attached —
/// except for a handle passed in the arguments of a `Process` or a pool job: those keep
/// the queue alive until the child or the job is done, as Python's pickling keeps a
/// queue's pipe open for a child.
///
/// ```
/// use zeroproc_mp::Queue;
/// use zeroproc_mp::queue::QueueHandle;
/// let q = Queue::<String>::new(8).unwrap();
/// let h: QueueHandle<String> = q.handle();
/// // ... rkyv-encoded into a job argument, decoded in a worker; there:
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap();
/// let h2 = rkyv::from_bytes::<QueueHandle<String>, rkyv::rancor::Error>(&bytes).unwrap();
/// let q2 = h2.attach().unwrap();
/// q2.put("from the worker".into()).unwrap();
/// assert_eq!(q.get().unwrap(), "from the worker");
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct QueueHandle<T> {
    #[rkyv(with = crate::segment_refs::SegmentRef)]
    segment: String,
    joinable: bool,
    type_hash: u64,
    /// Keeps the queue for a process or job given this handle (`pin.rs`); not archived.
    #[rkyv(with = PinKeep)]
    keep: Keep,
    _t: PhantomData<fn() -> T>,
}

handle_impls!(QueueHandle<T> { segment, joinable, type_hash, keep, _t } debug { segment, joinable });

impl<T: Message> QueueHandle<T> {
    pub(crate) fn new(map: &Arc<Mapping>, joinable: bool) -> Self {
        QueueHandle {
            segment: map.id().to_string(),
            joinable,
            type_hash: type_hash::<T>(),
            keep: Keep::new(map.clone()),
            _t: PhantomData,
        }
    }

    /// The queue this handle refers to, in this process (attached and cached on first
    /// use). Refused for a handle of another message type or channel kind.
    ///
    /// ```
    /// use zeroproc_mp::queue::ChannelError;
    /// use zeroproc_mp::Queue;
    /// let q = Queue::<u32>::new(2).unwrap();
    /// assert!(q.handle().attach().is_ok());
    /// ```
    pub fn attach(&self) -> Result<Queue<T>, ChannelError> {
        self.attach_kind(if self.joinable { KIND_JOINABLE } else { KIND_QUEUE })
    }

    /// Attaches a queue of exactly `kind`, whatever the handle says.
    pub(crate) fn attach_kind(&self, kind: u32) -> Result<Queue<T>, ChannelError> {
        if self.type_hash != type_hash::<T>() {
            return Err(ChannelError::TypeMismatch);
        }
        let map = cache::attach(&self.segment)?;
        map.check(&[kind], self.type_hash)?;
        let ring = mpmc::Ring::attach(map.seg().clone(), Offset::new(map.geo().ring_off[0]))?;
        Ok(Queue::from_parts(map, ring))
    }

    /// The segment id (text form) of the queue.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u32>::new(2).unwrap();
    /// assert!(q.handle().segment_id().starts_with("memfd:"));
    /// ```
    pub fn segment_id(&self) -> &str {
        &self.segment
    }
}

impl<T: Message> Queue<T> {
    /// The queue a handle refers to (same as [`QueueHandle::attach`]).
    ///
    /// ```
    /// use zeroproc_mp::Queue;
    /// let q = Queue::<u8>::new(2).unwrap();
    /// let again = Queue::from_handle(&q.handle()).unwrap();
    /// again.put(1).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn from_handle(handle: &QueueHandle<T>) -> Result<Queue<T>, ChannelError> {
        handle.attach()
    }
}
