//! The [`Message`] bound: what can travel between processes — a job's arguments and
//! result, a queue's or pipe's values, a shared container's entries.

use crate::envelope::Encode;
use rkyv::api::high::{HighDeserializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::{rancor, Archive, Deserialize, Portable};

/// A value that can travel between processes: anything deriving rkyv's `Archive`, `Serialize` and
/// `Deserialize` (blanket-implemented). Values are archived on send, **validated with
/// bytecheck** on receive, and either read in place (`&Archived<T>`) or deserialized.
///
/// ```
/// use rkyv::{Archive, Deserialize, Serialize};
/// use zeroproc_codec::Message;
///
/// #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
/// struct Task { id: u32, name: String }
///
/// fn assert_message<T: Message>() {}
/// assert_message::<Task>();
/// assert_message::<(u64, Vec<f64>)>();
/// ```
///
/// A type without the derives is refused where it is used, with what to add
/// ("`Point` cannot be sent to a worker or another process: it is not encodable … put
/// `#[zeroproc::data]` on the definition of `Point`"):
///
/// ```compile_fail
/// struct Point { x: f64, y: f64 }
/// fn assert_message<T: zeroproc_codec::Message>() {}
/// assert_message::<Point>();
/// ```
///
/// The same inside a tuple, a `Vec`, an `Option` or a `Result` (a job's arguments as a
/// tuple, a fallible job's error type): "`(String, Point)` cannot be sent to a worker …",
/// not rkyv's `Point: Serialize<Strategy<Serializer<…>>>`:
///
/// ```compile_fail
/// struct Point { x: f64, y: f64 }
/// fn assert_message<T: zeroproc_codec::Message>() {}
/// assert_message::<(String, Point)>();
/// ```
///
/// A reference is never a `Message` (the other process cannot read this one's memory), so
/// `&str`, `&[T]` and `&Vec<T>` arguments or results are refused the same way: send the
/// owned value (`String`, `Vec<T>`), or for large read-only data a handle (a pool's
/// `share`, a `SharedArray`). zeroproc's shared objects themselves (a `Queue`, a
/// `SharedArray`, a `SharedDict` ...) are not messages either: their `handle()` is.
///
/// ```compile_fail
/// fn assert_message<T: zeroproc_codec::Message>(_: T) {}
/// let v = vec![1u64, 2, 3];
/// assert_message(&v); // `&Vec<u64>` cannot be sent …: pass `v` itself
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to a worker or another process: it is not encodable",
    label = "not encodable",
    note = "if `{Self}` is your own type, or holds one (a tuple's element, a `Vec`'s or \
            `Option`'s item, a `Result`'s value or error), put `#[zeroproc::data]` on that \
            type's definition (it derives rkyv's Archive, Serialize and Deserialize with \
            zeroproc's rkyv); every field must be encodable too",
    note = "a type of std or of another crate that rkyv does not encode (`PathBuf`, `OsString`, \
            `Instant`, `File`, ...) goes as a value that is: a `String` (`path.to_str()`, \
            `os.into_string()`), its bytes (`OsStr::as_bytes` into a `Vec<u8>`), a number",
    note = "a reference (`&T`, `&str`, `&[T]`) is never encodable, as the other process has \
            no access to this one's memory: send an owned value (`String`, `Vec<T>`, `T`); \
            for large read-only data, `pool.share(&value)` or a `SharedArray` sends a handle",
    note = "zeroproc's shared objects (`Queue`, `SharedArray`, `SharedDict`, `SharedCell`, a \
            pipe end, ...) travel as their handle: send `x.handle()`, and `attach()` (an \
            array's: `read()`) it on the other side"
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

// `do_not_recommend`: without it, a tuple, `Vec`, `Option` or `Result` around a type that
// is not encodable (`pool.submit(f, (name, point))`: Python's `*args` as a tuple) matched
// rkyv's impl for the container and rustc reported its unmet leaf, "the trait bound
// `Point: Serialize<Strategy<Serializer<SlotWriter<'b>, ..>>>` is not satisfied", without
// this trait's message or the `#[zeroproc::data]` hint (api31). With it the error is
// reported at `Message`, with the notes above.
#[diagnostic::do_not_recommend]
impl<T> Message for T where
    T: Encode
        + Archive<
            Archived: Portable
                          + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                          + Deserialize<T, HighDeserializer<rancor::Error>>,
        > + 'static
{
}
