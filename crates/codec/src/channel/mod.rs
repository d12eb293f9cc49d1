//! Typed channels between processes: [`Queue`], [`JoinableQueue`] and [`pipe`]
//! (Python's `multiprocessing.Queue`, `JoinableQueue` and `Pipe`).
//!
//! * Values are rkyv archives ([`Message`]: derive `Archive`, `Serialize`, `Deserialize`),
//!   validated with bytecheck when received, then deserialized (`get`, `recv`) or read in
//!   place ([`Ref`], `get_with`).
//! * Each channel lives in a memfd segment of its own: a header, the ring(s) and a spill
//!   heap for values larger than a slot or record.
//! * A channel goes to another process **by handle** ([`QueueHandle`],
//!   [`JoinableQueueHandle`], [`ConnectionHandle`], [`SenderHandle`],
//!   [`ReceiverHandle`]): rkyv-archivable, so it can be a pool job or `Process` argument;
//!   `attach()` there maps the same memory (cached per process: [`registry`]).
//! * Operations come as `try_op`, `op`, `op_timeout`, `op_deadline`; errors are one enum
//!   per operation and hand the value back.
//! * Crashes: a process SIGKILLed in the middle of an operation costs at most the value it
//!   was sending or had taken; the channel keeps working for everyone else. The protocols
//!   and exactly what can be lost are in `README.md` beside this file.
//!
//! ```
//! use zeroproc_codec::channel::{pipe, Queue};
//!
//! let q = Queue::<(u32, String)>::new(64).unwrap();
//! q.put((1, "one".into())).unwrap();
//! assert_eq!(q.get().unwrap(), (1, "one".to_string()));
//!
//! let (mut a, mut b) = pipe::<Vec<f64>>().unwrap();
//! a.send(vec![1.0, 2.0]).unwrap();
//! let v = b.recv_ref().unwrap(); // validated, read in the ring record
//! assert_eq!(v.as_slice(), &[1.0, 2.0]);
//! ```

mod connection;
mod error;
mod header;
mod heap_wait;
mod joinable;
mod joinable_get;
mod joinable_handle;
mod mapping;
pub(crate) mod message;
mod pipe;
mod pipe_error;
mod pipe_handle;
mod pipe_recv;
mod pipe_send;
mod queue;
mod queue_error;
mod queue_get;
mod queue_handle;
mod queue_put;
mod reference;
pub mod registry;

pub use connection::{Connection, PipeReceiver, PipeSender};
pub use error::{ChannelError, Corrupted};
pub use joinable::{JoinTimeoutError, JoinableQueue, TaskDoneError};
pub use joinable_handle::{ArchivedJoinableQueueHandle, JoinableQueueHandle};
pub use message::Message;
pub use pipe::{pipe, pipe_oneway, PipeBuilder, DEFAULT_PIPE_CAPACITY, DEFAULT_PIPE_HEAP_SIZE};
pub use pipe_error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError};
pub use pipe_error::{TryRecvError, TrySendError};
pub use pipe_handle::{ArchivedConnectionHandle, ArchivedReceiverHandle, ArchivedSenderHandle};
pub use pipe_handle::{ConnectionHandle, ReceiverHandle, SenderHandle};
pub use queue::{Queue, QueueBuilder, DEFAULT_HEAP_SIZE, DEFAULT_SLOT_SIZE, MIN_SLOT_SIZE};
pub use queue_error::{GetError, GetTimeoutError, PutError, PutTimeoutError};
pub use queue_error::{TryGetError, TryPutError};
pub use queue_handle::{ArchivedQueueHandle, QueueHandle};
pub use reference::Ref;
