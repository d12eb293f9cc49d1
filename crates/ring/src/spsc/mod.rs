//! Single-producer single-consumer byte ring over shared memory, with variable-length
//! records written and read in place.
//!
//! * Records: a 16-byte header (length, kind, tag), then the payload, 16-byte aligned.
//!   A record that does not fit before the end of the buffer is preceded by a pad.
//! * Producer: [`Producer::try_reserve`] → write into the `&mut [u8]` →
//!   [`Reservation::commit`] (Release-publish) or [`Reservation::stage`] +
//!   [`Producer::publish`] (batched). Copying forms: [`Producer::try_send`], `send`.
//! * Consumer: [`Consumer::try_recv`] → read the `&[u8]` → drop releases;
//!   [`Consumer::drain`] releases a batch at once.
//! * Blocking: `reserve`/`send`/`recv` with `_timeout` and `_deadline`, spinning then
//!   sleeping on a futex per the handle's [`WaitStrategy`](zeroproc_shm::wait::WaitStrategy);
//!   the wake syscall is only made when the other side announced it sleeps.
//! * Roles are enforced across processes (pid claims); a side closed or killed
//!   (SIGKILL) is reported to the other as `Disconnected` once everything is drained.
//! * Garbage in shared memory is reported as [`CorruptError`], never read out of bounds.
//!
//! The protocol, orderings and failure cases are written down in `README.md` beside
//! this file.
//!
//! # Example: two processes
//! ```no_run
//! use zeroproc_ring::spsc::{Ring, Descriptor};
//! // Parent:
//! let ring = Ring::new(1 << 20).unwrap();
//! let mut tx = ring.producer().unwrap();
//! let arg = ring.descriptor().unwrap().to_string(); // pass to the child (argv/env)
//! // Child:
//! let d: Descriptor = arg.parse().unwrap();
//! let mut rx = Ring::open(&d).unwrap().consumer().unwrap();
//! # tx.send(b"job").unwrap();
//! let rec = rx.recv().unwrap();
//! ```

mod claim;
mod consumer;
#[cfg(not(loom))]
mod descriptor;
mod error;
mod layout;
mod producer;
mod record;
mod ring;
mod view;

pub use consumer::{Consumer, Record, RecordGuard};
#[cfg(not(loom))]
pub use descriptor::Descriptor;
pub use error::{CorruptError, RingError};
pub use error::{RecvError, RecvTimeoutError, TryRecvError};
pub use error::{ReserveError, ReserveTimeoutError, TryReserveError};
pub use error::{SendError, SendTimeoutError, TrySendError};
#[cfg(not(loom))]
pub use layout::SEGMENT_LAYOUT;
pub use layout::{
    size_for, RingHeader, RingLayout, DATA_OFFSET, MAX_CAPACITY, MIN_CAPACITY, RING_MAGIC,
    RING_VERSION,
};
pub use producer::{Producer, Reservation};
pub use record::{MAX_KIND, RECORD_HEADER};
#[cfg(not(loom))]
pub use ring::channel;
pub use ring::{heap_channel, Ring};
