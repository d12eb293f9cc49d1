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
//!   a small reference. [`spill::send_any`] picks inline or spilled (through [`send`]);
//!   [`payload::decode_any`] reads both, validates both, and frees a spilled block exactly
//!   once (claimed by a CAS, freed when the view drops). A bad offset or length in a record
//!   is a [`envelope::DecodeError`], never UB.
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
//! * [`send`]: the one way down for every value that leaves a process — a pool's job, a
//!   worker's result, a queue's or a pipe's value — deciding inline or spilled in one
//!   place; what differs between callers (where records go, how to wait for room, where
//!   spilled archives go) sits behind its `Records` and `Overflow` traits.
//! * [`Message`]: the bound on everything that travels between processes (a job's
//!   arguments and result, a queue's or pipe's values, a container's entries), with the
//!   compiler's message for a type that lacks the derives.
//!
//! The objects built on this encoding — queues, pipes, shared containers and arrays —
//! are in `zeroproc-mp`; the pool in `zeroproc-sched`.

pub mod envelope;
mod message;
pub mod payload;
pub mod send;
pub mod spill;
pub mod writer;

pub use message::Message;
