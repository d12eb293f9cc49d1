//! # zeroproc-codec
//!
//! rkyv envelopes for jobs and results, serialized **directly into a ring record** (no
//! intermediate `Vec`) and **validated** (bytecheck) when read, so a malformed or truncated
//! payload is an error for the reader — never UB.
//!
//! ```
//! use rkyv::{Archive, Deserialize, Serialize};
//! use zeroproc_codec::envelope::{self, Header};
//!
//! #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
//! struct Job { x: u64, data: Vec<f64> }
//!
//! let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
//! let job = Job { x: 7, data: vec![1.0, 2.5] };
//! envelope::send(&mut tx, Header::new(42, 3), &job).unwrap();
//!
//! let rec = rx.try_recv().unwrap();
//! let (h, archived) = envelope::decode::<Job>(&rec).unwrap();
//! assert_eq!((h.job_id, h.fn_id), (42, 3));
//! assert_eq!(archived.x, 7);
//! assert_eq!(archived.data.as_slice(), &[1.0, 2.5]); // zero-copy view into the ring
//! ```
//!
//! The tour:
//!
//! * [`envelope`]: the 16-byte header + archive format; [`envelope::send`],
//!   [`envelope::decode`] (validated, the default) and the opt-in
//!   [`envelope::decode_unchecked`] (`unsafe`, for bytes this build just wrote).
//! * [`spill`] + [`payload`]: values too large for a ring record (or above a quarter of
//!   it) are serialized **directly into a block of the shared heap** and the record carries
//!   a small reference. [`spill::send_any`] picks inline or spilled;
//!   [`payload::decode_any`] reads both, validates both, and frees a spilled block exactly
//!   once (claimed by a CAS, freed when the view drops). A bad offset or length in a record
//!   is a [`envelope::DecodeError`], never UB.
//! * [`shared`]: [`SharedArray`](shared::SharedArray) / [`SharedVec`](shared::SharedVec)
//!   of plain-old-data in their own segments, passed to jobs **by handle**; workers read
//!   `&[T]` and write disjoint `&mut [T]` chunks whose exclusivity the shared claim words
//!   enforce across processes.
//!
//! ```
//! use zeroproc_codec::{envelope::Header, payload::decode_any, spill::send_any};
//! use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
//!
//! // A heap shared by both ends (in real use: a segment both processes attach).
//! let seg = Segment::create(Layout::new("tour-heap", 1), 16 << 20).unwrap();
//! let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 16 << 20).unwrap();
//! let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap(); // 2 KiB records
//!
//! let big: Vec<f64> = (0..1_000_000).map(|i| i as f64).collect(); // 8 MB
//! send_any(&mut tx, &heap, Header::new(1, 0), &big).unwrap();
//! let rec = rx.recv().unwrap();
//! let (_, v) = decode_any::<Vec<f64>>(&rec, &heap).unwrap();
//! assert!(v.is_spilled());
//! assert_eq!(v[999_999], 999_999.0); // zero-copy view into the heap block
//! ```
//!
//! * [`channel`]: typed channels between processes, Python's `multiprocessing` names:
//!   [`Queue`](channel::Queue) (any number of producer and consumer processes, over the
//!   MPMC slot ring), [`JoinableQueue`](channel::JoinableQueue) (`task_done` / `join`) and
//!   [`pipe`](channel::pipe) / [`pipe_oneway`](channel::pipe_oneway)
//!   ([`Connection`](channel::Connection)s over SPSC rings). Values are archived on send
//!   and validated on receive; receive owned (`get`, `recv`) or read in place
//!   ([`Ref`](channel::Ref), `get_with`); values larger than a slot go through a spill
//!   heap in the channel's segment. Channels travel to other processes **by handle**
//!   (rkyv-archivable, a job or process argument), and a process killed mid-operation
//!   loses at most the value it held.
//!
//! ```
//! use zeroproc_codec::channel::{pipe, Queue};
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
//!
//! Still to come in this crate: shared containers (dict/list).

pub mod channel;
pub mod container;
pub mod envelope;
pub mod payload;
pub mod shared;
pub mod spill;
pub mod writer;
