//! Multi-producer multi-consumer ring for queues shared by many processes.
//!
//! A bounded ring of fixed-size slots in shared memory. Producers and consumers claim
//! *slots* (a CAS on the slot's state word, carrying the claimant's pid); the head and
//! tail indices are hints every process helps advance. A process killed in the middle of
//! an operation therefore never wedges the ring: a slot left WRITING by a dead producer
//! becomes a tombstone consumers skip, a slot left READING by a dead consumer is released
//! (its record is the only thing lost). See `README.md` beside this file for the layout,
//! the slot state machine with its memory orderings, crash recovery, ABA and wake-ups.
//!
//! ```
//! use zeroproc_ring::mpmc::Ring;
//! let ring = Ring::new(1024, 256).unwrap();
//! // Another process: `Ring::open(&desc.parse()?)` with this text.
//! let desc = ring.descriptor().to_string();
//! assert!(desc.starts_with("mpmc:"));
//! ring.push(b"job").unwrap();
//! assert_eq!(ring.pop().unwrap(), b"job");
//! ```

mod consume;
mod error;
#[cfg(any(test, loom))]
mod heap;
mod layout;
mod produce;
mod protocol;
mod recovery;
mod storage;
mod word;

#[cfg(not(loom))]
mod attach;
#[cfg(not(loom))]
mod guard;
#[cfg(loom)]
mod model;
#[cfg(not(loom))]
mod ring;
#[cfg(not(loom))]
mod setup_error;

pub use error::{
    CorruptError, PopError, PopTimeoutError, PushError, PushTimeoutError, TryPopError, TryPushError,
};
pub use layout::{MAX_CAPACITY, MAX_SLOT_SIZE, PAYLOAD_ALIGN, REGION_ALIGN, RING_VERSION};
pub use protocol::Stats;
pub use recovery::STUCK_CHECK_INTERVAL;

#[cfg(not(loom))]
pub use attach::{Descriptor, ParseDescriptorError, SEGMENT_LAYOUT};
#[cfg(not(loom))]
pub use guard::PopGuard;
#[cfg(loom)]
pub use model::{DiePoint, ModelRing};
#[cfg(not(loom))]
pub use ring::Ring;
#[cfg(not(loom))]
pub use setup_error::{AttachError, CreateError};
