//! What a channel carries: the [`Message`] bound, the wait modes every operation reduces
//! to, and encoding a value into a per-thread scratch buffer (for the queue, whose slot
//! must only be claimed once the record's length is known).

use crate::envelope::{self, Encode, EncodeError, Header};
use rkyv::api::high::{HighDeserializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::util::AlignedVec;
use rkyv::{rancor, Archive, Deserialize, Portable};
use std::cell::RefCell;
use std::time::Instant;

/// A value a channel can carry: anything deriving rkyv's `Archive`, `Serialize` and
/// `Deserialize` (blanket-implemented). Values are archived on send, **validated with
/// bytecheck** on receive, and either read in place (`&Archived<T>`) or deserialized.
///
/// ```
/// use rkyv::{Archive, Deserialize, Serialize};
/// use zeroproc_codec::channel::{Message, Queue};
///
/// #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
/// struct Task { id: u32, name: String }
///
/// fn assert_message<T: Message>() {}
/// assert_message::<Task>();
/// assert_message::<(u64, Vec<f64>)>();
/// let q = Queue::<Task>::new(4).unwrap();
/// q.put(Task { id: 1, name: "a".into() }).unwrap();
/// assert_eq!(q.get().unwrap(), Task { id: 1, name: "a".into() });
/// ```
///
/// A type without the derives is refused where it is used, with what to add
/// ("`Point` cannot be sent to a worker or another process: it is not encodable … put
/// `#[zeroproc::data]` on the definition of `Point`"):
///
/// ```compile_fail
/// struct Point { x: f64, y: f64 }
/// let q = zeroproc_codec::channel::Queue::<Point>::new(4).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to a worker or another process: it is not encodable",
    label = "not encodable",
    note = "put `#[zeroproc::data]` on the definition of `{Self}` (it derives rkyv's Archive, \
            Serialize and Deserialize with zeroproc's rkyv); every field must be encodable too"
)]
pub trait Message:
    Encode
    + Archive<
        Archived: Portable
                      + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>,
    > + Sized
    + 'static
{
}

impl<T> Message for T where
    T: Encode
        + Archive<
            Archived: Portable
                          + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                          + Deserialize<T, HighDeserializer<rancor::Error>>,
        > + 'static
{
}

/// How long an operation may wait: the one parameter every `try_op` / `op` /
/// `op_timeout` / `op_deadline` reduces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Do not wait (`try_op`).
    Never,
    /// Wait until the deadline (`None`: for ever).
    Until(Option<Instant>),
}

/// The envelope header of channel messages (job and function ids are unused).
pub(crate) const HEADER: Header = Header { job_id: 0, fn_id: 0, flags: 0 };

/// Deserializes a validated archived value.
pub(crate) fn deserialize<T: Message>(a: &T::Archived) -> Result<T, rancor::Error> {
    rkyv::deserialize::<T, rancor::Error>(a)
}

/// The outcome of [`with_encoded`].
pub(crate) enum Encoded<'s> {
    /// The whole envelope, at most `max` bytes.
    Fits(&'s [u8]),
    /// The envelope needs more than `max` bytes; `need` is a lower bound.
    TooLarge { need: usize },
}

thread_local! {
    static SCRATCH: RefCell<AlignedVec<16>> = RefCell::new(AlignedVec::new());
}

/// Encodes `value` as an envelope into this thread's scratch buffer (at most `max` bytes)
/// and hands the result to `f`. Serialization errors other than running out of room are
/// returned as `Err`.
pub(crate) fn with_encoded<T: Encode, R>(
    value: &T,
    max: usize,
    f: impl FnOnce(Encoded<'_>) -> R,
) -> Result<R, rancor::Error> {
    let run = |buf: &mut AlignedVec<16>| {
        if buf.len() < max {
            buf.resize(max, 0);
        }
        match envelope::encode_measured(&mut buf[..max], HEADER, value) {
            Ok(n) => Ok(f(Encoded::Fits(&buf[..n]))),
            Err((EncodeError::TooLarge { .. }, need)) => Ok(f(Encoded::TooLarge { need })),
            Err((EncodeError::Serialize(e), _)) => Err(e),
        }
    };
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        // Re-entered (a Serialize impl that sends on a channel): use a buffer of its own.
        Err(_) => run(&mut AlignedVec::new()),
    })
}
