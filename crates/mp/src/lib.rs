//! # zeroproc-mp
//!
//! Python's `multiprocessing` objects, living in shared memory instead of behind pickling
//! pipes or a manager process. One folder per kind of object:
//!
//! * [`queue`]: [`Queue`] (any number of producer and consumer processes, over the MPMC
//!   slot ring) and [`JoinableQueue`] (`task_done` / `join`).
//! * [`pipe`](mod@pipe): [`pipe()`] / [`pipe_oneway`], [`Connection`]s over SPSC rings.
//! * [`container`]: [`SharedDict`], [`SharedList`], [`Namespace`] (Python's
//!   `Manager().dict() / list() / Namespace()`).
//! * [`shared`]: [`SharedArray`] / [`SharedVec`] of plain-old-data, read as `&[T]` and
//!   written through disjoint chunks; [`SharedCell`].
//! * [`channel`]: what queues and pipes share (one segment with ring(s) and a spill heap,
//!   the per-process cache of attached segments, [`Ref`](channel::Ref)).
//!
//! Every object goes to another process **by handle** (rkyv-archivable: a pool job or
//! `Process` argument), and `attach()` there maps the same memory. Values are archived on
//! send and validated on receive; receive owned (`get`, `recv`) or read in place (`Ref`,
//! `get_with`). Operations come as `try_op`, `op`, `op_timeout`, `op_deadline`, with one
//! error enum per operation that hands the value back. A process killed mid-operation
//! loses at most the value it held; the object keeps working for everyone else.
//!
//! **Sizes grow like Python's.** Queues' and pipes' spill heaps and the containers' memory
//! start small (64 KiB each) and grow on demand for every process using them, up
//! to a maximum (1 GiB by default: `max_heap_size`, `with_max_capacity_bytes`); only the maximum
//! is a limit, and a value past it is handed back in the error.
//!
//! ```
//! use zeroproc_mp::{pipe, Queue};
//!
//! let q = Queue::<(u32, String)>::new(64).unwrap();
//! let h = q.handle(); // → a worker or Process argument; there: h.attach()
//! let q2 = h.attach().unwrap();
//! q2.put((7, "job".into())).unwrap();
//! assert_eq!(q.get().unwrap(), (7, "job".to_string()));
//!
//! let (mut a, mut b) = pipe::<Vec<u64>>().unwrap();
//! a.send(vec![1, 2, 3]).unwrap();
//! assert_eq!(b.recv_ref().unwrap().as_slice(), &[1, 2, 3]); // in the ring record
//! ```

pub mod channel;
pub mod container;
mod handle;
pub mod pin;
pub mod pipe;
mod proc_word;
pub mod queue;
mod segment_cache;
pub mod segment_refs;
pub mod shared;
mod trim;

#[cfg(test)]
mod fork_tests;

pub use container::{Namespace, SharedDict, SharedList};
pub use pipe::{pipe, pipe_oneway, Connection, PipeReceiver, PipeSender};
pub use queue::{JoinableQueue, Queue};
pub use shared::{SharedArray, SharedCell, SharedVec};
pub use zeroproc_codec::Message;
