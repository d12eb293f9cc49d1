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
//! Still to come in this crate (issue #3): payloads larger than a ring record in the
//! shared heap, typed channels, `SharedArray`.

pub mod envelope;
pub mod writer;
