//! What [`Queue`](crate::Queue), [`JoinableQueue`](crate::JoinableQueue) and
//! [`pipe`](fn@crate::pipe)s share: a channel is one memfd segment holding a header, its
//! ring(s) and a spill heap for values larger than a slot or record.
//!
//! * `mapping`: create and attach (validated) a channel segment; the per-process view
//!   of its heap. [`cache`]: the per-process cache of attached segments.
//! * `message`: the wait modes every `try_op` / `op` / `op_timeout` / `op_deadline`
//!   reduces to, and encoding into a scratch buffer.
//! * `heap_wait`: spilling a large value into the heap, waiting for room; `holds`: which
//!   queue consumer holds which spilled block, so a killed one's block is reclaimed.
//! * [`Ref`]: a received value read in place; [`ChannelError`] / [`CorruptError`]: the
//!   errors of creating, attaching, and of a damaged channel.
//!
//! The protocols, and exactly what a process killed mid-operation can lose, are in
//! `README.md` beside this file.

pub mod cache;
pub(crate) mod error;
pub(crate) mod header;
pub(crate) mod heap_wait;
pub(crate) mod holds;
pub(crate) mod mapping;
pub(crate) mod message;
mod reference;

pub use error::{ChannelError, CorruptError};
pub use reference::Ref;
