//! One way down for every message: a value is archived **straight into a record** when its
//! envelope fits the destination's largest record, and otherwise **straight into a block
//! of a shared heap** that a small record points at ([`crate::spill`]). That decision is
//! made here and nowhere else; the pool's jobs, the workers' results, `Process`
//! arguments, queues and pipes all go through [`send`] / [`send_with`].
//!
//! What differs between those callers sits behind two traits:
//!
//! | | [`Records`]: where records go | [`Overflow`]: where spilled archives go |
//! |---|---|---|
//! | pool, jobs | its worker's ring, try-only, staged or committed | the pool's spill heap, within its budget for queued arguments |
//! | worker, results | its completion ring, blocking | the pool's spill heap, waiting a bounded time for room |
//! | pipe | its ring; a full ring: a scratch draft that waits for exactly its length | the pipe's heap, waiting per the call |
//! | queue | a scratch draft copied into a claimed slot (MPMC slots cannot be given back) | the queue's heap, waiting per the call |
//! | `Process` arguments, cluster records | a growable buffer ([`Buffer`]) | none ([`NoOverflow`]) |
//!
//! The steps, for a value `v`:
//!
//! 1. Draft a record of [`Records::first_len`] bytes and archive `v` into it, measuring.
//! 2. Too small, but the measured need fits the largest record: draft
//!    [`Records::next_len`] bytes and archive again (a ring draft is only abandoned, never
//!    half-published).
//! 3. Larger than the largest record: [`Overflow::spill`] archives it into a heap block,
//!    and a [`SPILLED_RECORD_LEN`]-byte record carries the block's offset, length and nonce.
//! 4. Before the record is published, `finish` takes the value (the worker drops results
//!    there, so a result whose `Drop` panics fails its job instead of succeeding); a
//!    failure abandons the record and gives the heap block back.
//!
//! Nothing leaks on any error: an abandoned draft publishes nothing, and a block whose
//! record was not published goes back through [`Overflow::give_back`].

use crate::envelope::{encode_measured, Encode, EncodeError, Header, HEADER_LEN};
use crate::spill::{write_spilled_envelope, SpilledBlock, SPILL_BODY_LEN};
use rkyv::rancor;
use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::ops::DerefMut;
use std::time::Instant;

mod buffer;
mod heap;
mod ring;

pub use buffer::Buffer;
pub use heap::{HeapOverflow, NoOverflow, Unspillable};
pub use ring::{Publish, Ring};

/// Bytes of the record that points at a spilled archive.
pub const SPILLED_RECORD_LEN: usize = HEADER_LEN + SPILL_BODY_LEN;

/// The first record size tried when a destination does not say otherwise: a job of a few
/// scalars fits, and with the ring's 16-byte record header it takes 256 bytes. A larger
/// first draft would make a nearly full ring refuse a small value that fits.
pub const FIRST_LEN: usize = 240;

/// How long an operation may wait for room: the one parameter every `try_op` / `op` /
/// `op_timeout` / `op_deadline` reduces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Do not wait (`try_op`).
    Never,
    /// Wait until the deadline (`None`: for ever).
    Until(Option<Instant>),
}

/// A destination of records: a ring, a queue's slots, a buffer.
pub trait Records {
    /// Why a record could not be drafted or published (full, closed, corrupt, …).
    type Error;
    /// A record being written.
    type Draft<'a>: Draft<Error = Self::Error>
    where
        Self: 'a;

    /// Bytes of the largest record; larger envelopes are spilled.
    fn max_len(&self) -> usize;

    /// Bytes of the first draft (at most [`max_len`](Self::max_len)).
    #[inline]
    fn first_len(&self) -> usize {
        FIRST_LEN.min(self.max_len())
    }

    /// Bytes of the next draft after one of `tried` bytes was too small for an envelope
    /// of at least `need` bytes (`need <= max_len`). Rings try their largest record:
    /// reserving is free, serializing twice is not.
    #[inline]
    fn next_len(&self, tried: usize, need: usize) -> usize {
        let _ = (tried, need);
        self.max_len()
    }

    /// Drafts a record of `len` bytes (`len <= max_len`).
    fn draft(&mut self, len: usize) -> Result<Self::Draft<'_>, Self::Error>;
}

/// A drafted record: written through `DerefMut`, then published or (dropped) abandoned.
pub trait Draft: DerefMut<Target = [u8]> {
    /// Why publishing failed.
    type Error;
    /// Publishes the first `len` bytes as one record.
    fn publish(self, len: usize) -> Result<(), Self::Error>;
}

/// Where archives larger than any record go.
pub trait Overflow {
    /// Why no block was obtained.
    type Error;
    /// A heap block holding the archive of `value`, whose envelope measured at least
    /// `need` bytes.
    fn spill<T: Encode>(&mut self, value: &T, need: usize) -> Result<SpilledBlock, Self::Error>;
    /// Takes back a block whose record was never published.
    fn give_back(&mut self, block: SpilledBlock);
}

/// How [`send`] delivered a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The archive is in the record (`len` bytes of envelope).
    Inline {
        /// Bytes of the record.
        len: usize,
    },
    /// The archive is in a heap block; the record points at it.
    Spilled(SpilledBlock),
}

/// Why [`send`] failed: `R` from the records, `O` from the overflow, `X` from `finish`.
#[derive(Debug)]
pub enum SendError<R, O, X = Infallible> {
    /// The destination refused the record.
    Records(R),
    /// The value needed a heap block and got none.
    Overflow(O),
    /// The value could not be serialized.
    Serialize(rancor::Error),
    /// `finish` refused the value: nothing was published.
    Finish(X),
}

impl<R: fmt::Display, O: fmt::Display, X: fmt::Display> fmt::Display for SendError<R, O, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Records(e) => write!(f, "{e}"),
            SendError::Overflow(e) => write!(f, "{e}"),
            SendError::Serialize(e) => write!(f, "serialization failed: {e}"),
            SendError::Finish(e) => write!(f, "{e}"),
        }
    }
}

impl<R, O, X> std::error::Error for SendError<R, O, X>
where
    R: fmt::Debug + fmt::Display,
    O: fmt::Debug + fmt::Display,
    X: fmt::Debug + fmt::Display,
{
}

/// Sends `value` as one record of `records`, spilled into `overflow` if it is larger
/// than the largest record.
///
/// ```
/// use zeroproc_codec::envelope::{decode, Header};
/// use zeroproc_codec::send::{send, Buffer, NoOverflow, Sent};
/// let mut buf = Buffer::new();
/// let sent = send(&mut buf, &mut NoOverflow, Header::new(1, 0), &vec![7u32; 100]).unwrap();
/// assert!(matches!(sent, Sent::Inline { .. }));
/// let (_, v) = decode::<Vec<u32>>(buf.bytes()).unwrap();
/// assert_eq!(v.len(), 100);
/// ```
#[inline]
pub fn send<T, R, O>(
    records: &mut R,
    overflow: &mut O,
    header: Header,
    value: &T,
) -> Result<Sent, SendError<R::Error, O::Error>>
where
    T: Encode,
    R: Records,
    O: Overflow,
{
    send_with::<&T, T, R, O, Infallible>(records, overflow, header, value, |_| Ok(()))
        .map_err(|(e, _)| e)
}

/// [`send`], handing `value` to `finish` once it is archived and before its record is
/// published; an `Err` from `finish` abandons the record. On any other error the value
/// comes back with it (`None` once `finish` has taken it).
///
/// ```
/// use zeroproc_codec::envelope::Header;
/// use zeroproc_codec::send::{send_with, Buffer, NoOverflow, SendError};
/// let mut buf = Buffer::new();
/// let value = String::from("x");
/// let r = send_with::<_, String, _, _, _>(&mut buf, &mut NoOverflow, Header::new(1, 0), value, |s| {
///     drop(s);
///     Err("refused")
/// });
/// assert!(matches!(r, Err((SendError::Finish("refused"), None))));
/// ```
#[allow(clippy::type_complexity)]
#[inline]
pub fn send_with<V, T, R, O, X>(
    records: &mut R,
    overflow: &mut O,
    header: Header,
    value: V,
    finish: impl FnOnce(V) -> Result<(), X>,
) -> Result<Sent, (SendError<R::Error, O::Error, X>, Option<V>)>
where
    V: Borrow<T>,
    T: Encode,
    R: Records,
    O: Overflow,
{
    let max = records.max_len();
    let mut size = records.first_len().min(max);
    let need = loop {
        let mut d = match records.draft(size) {
            Ok(d) => d,
            Err(e) => return Err((SendError::Records(e), Some(value))),
        };
        match encode_measured(&mut d, header, value.borrow()) {
            Ok(n) => {
                if let Err(x) = finish(value) {
                    return Err((SendError::Finish(x), None)); // dropping `d` abandons it
                }
                return match d.publish(n) {
                    Ok(()) => Ok(Sent::Inline { len: n }),
                    Err(e) => Err((SendError::Records(e), None)),
                };
            }
            // Dropping the draft abandons it.
            Err((EncodeError::TooLarge { .. }, need)) if size < max && need <= max => {
                drop(d);
                size = records.next_len(size, need).clamp(need, max);
            }
            Err((EncodeError::TooLarge { .. }, need)) => break need,
            Err((EncodeError::Serialize(e), _)) => {
                return Err((SendError::Serialize(e), Some(value)))
            }
        }
    };
    let block = match overflow.spill(value.borrow(), need) {
        Ok(b) => b,
        Err(e) => return Err((SendError::Overflow(e), Some(value))),
    };
    let mut d = match records.draft(SPILLED_RECORD_LEN) {
        Ok(d) => d,
        Err(e) => {
            overflow.give_back(block);
            return Err((SendError::Records(e), Some(value)));
        }
    };
    let n = write_spilled_envelope(&mut d, header, &block);
    if let Err(x) = finish(value) {
        drop(d);
        overflow.give_back(block);
        return Err((SendError::Finish(x), None));
    }
    match d.publish(n) {
        Ok(()) => Ok(Sent::Spilled(block)),
        Err(e) => {
            overflow.give_back(block);
            Err((SendError::Records(e), None))
        }
    }
}
