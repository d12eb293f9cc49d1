//! Errors of the MPMC ring's operations. Every push error hands the payload back.

use std::fmt;

crate::payload_error! {
    #[derive(Clone, Copy)]
    /// Why [`try_push`](super::Ring::try_push) (or `try_push_with`) did not push.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{Ring, TryPushError};
    /// let ring = Ring::new(1, 16).unwrap();
    /// ring.try_push(b"a").unwrap();
    /// assert_eq!(ring.try_push(b"b"), Err(TryPushError::Full(b"b")));
    /// assert_eq!(ring.try_push([0u8; 17]).unwrap_err().into_inner().len(), 17);
    /// ```
    TryPushError {
        /// Every slot is occupied.
        Full(T) => "ring is full",
        /// The ring was closed.
        Closed(T) => "ring is closed",
        /// The payload is longer than a slot (the codec layer moves such payloads to the
        /// shared heap).
        TooLarge(T) => "payload larger than the ring's slot size",
    }
}

crate::payload_error! {
    #[derive(Clone, Copy)]
    /// Why a blocking [`push`](super::Ring::push) did not push.
    PushError {
        /// The ring was closed.
        Closed(T) => "ring is closed",
        /// The payload is longer than a slot.
        TooLarge(T) => "payload larger than the ring's slot size",
    }
}

crate::payload_error! {
    #[derive(Clone, Copy)]
    /// Why [`push_timeout`](super::Ring::push_timeout) / `push_deadline` did not push.
    PushTimeoutError {
        /// The ring stayed full until the deadline.
        Timeout(T) => "timed out waiting for space in the ring",
        /// The ring was closed.
        Closed(T) => "ring is closed",
        /// The payload is longer than a slot.
        TooLarge(T) => "payload larger than the ring's slot size",
    }
}

impl<T> From<PushError<T>> for TryPushError<T> {
    fn from(e: PushError<T>) -> Self {
        match e {
            PushError::Closed(t) => TryPushError::Closed(t),
            PushError::TooLarge(t) => TryPushError::TooLarge(t),
        }
    }
}

/// Shared memory held something the protocol cannot have written. The slot was skipped
/// (and reset when that is safe), so the ring keeps working; the record, if any, is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptError {
    /// A slot's state word is invalid for the position being consumed.
    State {
        /// Slot index.
        index: usize,
        /// The word found.
        word: u64,
    },
    /// A published slot claims a length larger than the slot size.
    Len {
        /// Slot index.
        index: usize,
        /// The length found.
        len: u64,
    },
}

impl fmt::Display for CorruptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptError::State { index, word } => {
                write!(f, "corrupted state word {word:#018x} in slot {index}")
            }
            CorruptError::Len { index, len } => {
                write!(f, "corrupted length {len} in slot {index}")
            }
        }
    }
}

/// Why [`try_pop`](super::Ring::try_pop) (or `try_pop_with`) returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPopError {
    /// No record is ready.
    Empty,
    /// The ring is closed and drained.
    Closed,
    /// A corrupted slot was found (and skipped); popping again continues after it.
    Corrupt(CorruptError),
}

/// Why a blocking [`pop`](super::Ring::pop) returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// The ring is closed and drained.
    Closed,
    /// A corrupted slot was found (and skipped); popping again continues after it.
    Corrupt(CorruptError),
}

/// Why [`pop_timeout`](super::Ring::pop_timeout) / `pop_deadline` returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopTimeoutError {
    /// No record arrived before the deadline.
    Timeout,
    /// The ring is closed and drained.
    Closed,
    /// A corrupted slot was found (and skipped); popping again continues after it.
    Corrupt(CorruptError),
}

impl fmt::Display for TryPopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPopError::Empty => f.write_str("ring is empty"),
            TryPopError::Closed => f.write_str("ring is closed and drained"),
            TryPopError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Closed => f.write_str("ring is closed and drained"),
            PopError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for PopTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopTimeoutError::Timeout => f.write_str("timed out waiting for a record"),
            PopTimeoutError::Closed => f.write_str("ring is closed and drained"),
            PopTimeoutError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for CorruptError {}
impl std::error::Error for TryPopError {}
impl std::error::Error for PopError {}
impl std::error::Error for PopTimeoutError {}
