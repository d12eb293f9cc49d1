//! What a channel carries: the [`Message`] bound (the codec's), the wait modes every
//! operation reduces to, and encoding a value into a per-thread scratch buffer (for the
//! queue, whose slot must only be claimed once the record's length is known).

use rkyv::rancor;
use rkyv::util::AlignedVec;
use std::cell::RefCell;
use std::time::Instant;
use zeroproc_codec::envelope::{self, Encode, EncodeError, Header};
pub use zeroproc_codec::Message;

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
