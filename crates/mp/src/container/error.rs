//! What can go wrong with a shared container, in two shapes: [`ContainerError`] for
//! operations that carry no value in, and [`InsertError<T>`] for those that do (the value
//! is handed back, so nothing is silently lost).

use rkyv::rancor;
use std::fmt;
use zeroproc_codec::envelope::DecodeError;
use zeroproc_shm::{AttachError, CreateError, GrowError, ParseSegmentIdError};

/// A container operation failed. Python's `IndexError` is
/// [`IndexOutOfRange`](Self::IndexOutOfRange); a missing key is not an error (`get` gives
/// `None`, as `d.get(k)`); a wrongly typed `Namespace` field is
/// [`TypeMismatch`](Self::TypeMismatch).
///
/// ```
/// use zeroproc_mp::container::{ContainerError, SharedList};
/// let l = SharedList::<u32>::new().unwrap();
/// l.push(1).unwrap();
/// match l.remove(5) {
///     Err(ContainerError::IndexOutOfRange { index: 5, len: 1 }) => {} // Python: IndexError
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(l.get(5).unwrap(), None); // reading past the end is `None`, not an error
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ContainerError {
    /// The segment could not be created (no space, bad size, I/O).
    Create(CreateError),
    /// The segment could not be attached (creator gone, wrong layout, permissions).
    Attach(AttachError),
    /// The handle's segment id does not parse.
    BadId(ParseSegmentIdError),
    /// The segment is not a container of this build, or not of this kind.
    Foreign(&'static str),
    /// The handle's (or the call's) key/value type is not the container's: for a
    /// [`Namespace`](super::Namespace), the field holds a value of another type.
    TypeMismatch,
    /// A list index past the end.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// The container's memory is exhausted: it has grown to its maximum
    /// ([`DEFAULT_MAX_CAPACITY`](super::DEFAULT_MAX_CAPACITY), or the `max_bytes` of
    /// `with_max_capacity_bytes`) and no freed block fits.
    Full {
        /// Bytes the operation needed in one block.
        requested: usize,
    },
    /// The container had no room and could not grow below its maximum: the system refused
    /// the memory.
    Grow(GrowError),
    /// `with_max_capacity_bytes(bytes, max_bytes)` asked for a maximum no container keeps
    /// to: below [`MIN_CAPACITY`](super::MIN_CAPACITY), or below `bytes`.
    Capacity {
        /// The initial size asked for.
        bytes: usize,
        /// The maximum asked for.
        max_bytes: usize,
    },
    /// A value (or key) could not be serialized.
    Serialize(rancor::Error),
    /// A stored value failed validation (it was damaged in shared memory).
    Decode(DecodeError),
    /// The container's shared state is damaged (an offset out of bounds, a table of an
    /// impossible size): the operation was refused instead of trusting it.
    Corrupt(&'static str),
    /// This process is a copy forked inside a closure that ran under the container's lock
    /// (`update`): the lock is its parent's, so the closure's change is not written.
    ForkedUnderLock {
        /// The process holding the lock (the parent).
        holder: u32,
    },
}

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ContainerError::*;
        match self {
            Create(e) => write!(f, "creating the container segment: {e}"),
            Attach(e) => write!(f, "attaching the container segment: {e}"),
            BadId(e) => write!(f, "{e}"),
            Foreign(why) => write!(f, "not a container of this build: {why}"),
            TypeMismatch => write!(
                f,
                "type mismatch: the handle's (or the call's) type is not the container's, \
                 or the Namespace field holds a value of another type"
            ),
            IndexOutOfRange { index, len } => write!(f, "index {index} out of range (len {len})"),
            Full { requested } => {
                write!(f, "container full at its maximum size (a block of {requested} bytes)")
            }
            Grow(e) => write!(f, "container full and cannot grow: {e}"),
            Capacity { max_bytes, .. } if *max_bytes < super::MIN_CAPACITY => write!(
                f,
                "max_bytes {max_bytes} is below the smallest container ({} bytes)",
                super::MIN_CAPACITY
            ),
            Capacity { bytes, max_bytes } => write!(
                f,
                "max_bytes {max_bytes} is below the initial capacity asked for ({bytes} bytes)"
            ),
            Serialize(e) => write!(f, "serializing: {e}"),
            Decode(e) => write!(f, "stored value invalid: {e}"),
            Corrupt(why) => write!(f, "container state damaged: {why}"),
            ForkedUnderLock { holder } => write!(
                f,
                "this process was forked inside an update closure, under the container's \
                 lock, which its parent {holder} holds: the change is not written (end the \
                 child with _exit inside the closure, or fork outside it)"
            ),
        }
    }
}

impl std::error::Error for ContainerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ContainerError::Create(e) => Some(e),
            ContainerError::Attach(e) => Some(e),
            ContainerError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// An operation that stores a value failed; the value comes back in the error.
///
/// ```
/// use zeroproc_mp::container::{ContainerError, InsertError, SharedList};
/// let list = SharedList::<Vec<u8>>::with_max_capacity_bytes(8192, 64 << 10).unwrap();
/// let err = list.push(vec![0u8; 1 << 20]).unwrap_err(); // larger than its maximum
/// assert!(matches!(err.error(), ContainerError::Full { .. }));
/// let v: Vec<u8> = err.into_inner(); // nothing lost
/// assert_eq!(v.len(), 1 << 20);
/// ```
pub struct InsertError<T> {
    value: T,
    error: ContainerError,
}

impl<T> InsertError<T> {
    pub(crate) fn new(value: T, error: ContainerError) -> Self {
        Self { value, error }
    }

    /// Why it failed.
    pub fn error(&self) -> &ContainerError {
        &self.error
    }

    /// The value that was not stored (`into_inner`, as for the queue's and pipe's errors
    /// and crossbeam-channel's).
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The value and the reason.
    pub fn into_parts(self) -> (T, ContainerError) {
        (self.value, self.error)
    }
}

/// Equal when the values are equal (`T`'s `PartialEq`) and the reasons have the same
/// message ([`ContainerError`] holds rkyv and I/O errors, which have no equality), as the
/// queue's and pipe's errors and crossbeam-channel's compare.
///
/// ```
/// use zeroproc_mp::container::SharedList;
/// let list = SharedList::<u32>::new().unwrap();
/// let a = list.set(3, 7).unwrap_err();
/// assert_eq!(a, list.set(3, 7).unwrap_err());
/// assert_ne!(a, list.set(3, 8).unwrap_err()); // another value
/// assert_ne!(a, list.set(4, 7).unwrap_err()); // another reason
/// ```
impl<T: PartialEq> PartialEq for InsertError<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.error.to_string() == other.error.to_string()
    }
}

impl<T: Eq> Eq for InsertError<T> {}

impl<T> fmt::Debug for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsertError").field("error", &self.error).finish_non_exhaustive()
    }
}

impl<T> fmt::Display for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value not stored: {}", self.error)
    }
}

impl<T> std::error::Error for InsertError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
