//! [`JoinableQueueHandle`]: a [`JoinableQueue`] for another process.

use crate::channel::header::KIND_JOINABLE;
use crate::channel::mapping::Mapping;
use crate::channel::message::Message;
use crate::channel::ChannelError;
use crate::handle::handle_impls;
use crate::queue::handle::QueueHandle;
use crate::queue::joinable::JoinableQueue;
use rkyv::{Archive, Deserialize, Serialize};
use std::sync::Arc;

/// A [`JoinableQueue`] reference for another process (rkyv-archivable; see
/// [`QueueHandle`]).
///
/// ```
/// use zeroproc_mp::JoinableQueue;
/// let q = JoinableQueue::<u32>::new(4).unwrap();
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&q.handle()).unwrap();
/// let h = rkyv::from_bytes::<zeroproc_mp::queue::JoinableQueueHandle<u32>, rkyv::rancor::Error>(&bytes).unwrap();
/// let there = h.attach().unwrap();
/// q.put(1).unwrap();
/// there.get().unwrap();
/// there.task_done().unwrap();
/// q.join();
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct JoinableQueueHandle<T> {
    inner: QueueHandle<T>,
}

handle_impls!(JoinableQueueHandle<T> { inner } debug { inner });

impl<T: Message> JoinableQueueHandle<T> {
    pub(super) fn new(map: &Arc<Mapping>) -> Self {
        JoinableQueueHandle { inner: QueueHandle::new(map, true) }
    }

    /// The joinable queue this handle refers to, in this process (see
    /// [`QueueHandle::attach`]).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.handle().attach().is_ok());
    /// ```
    pub fn attach(&self) -> Result<JoinableQueue<T>, ChannelError> {
        Ok(JoinableQueue { q: self.inner.attach_kind(KIND_JOINABLE)? })
    }
}
