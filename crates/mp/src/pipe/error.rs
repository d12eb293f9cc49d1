//! The errors of pipe operations ([`Connection`](crate::Connection),
//! [`PipeSender`](crate::PipeSender), [`PipeReceiver`](crate::PipeReceiver)): one enum
//! per operation; every send error hands the value back.

use crate::channel::error::CorruptError;
use rkyv::rancor;
use std::fmt;
use zeroproc_ring::payload_error;
use zeroproc_shm::GrowError;

payload_error! {
    /// Why [`try_send`](crate::Connection::try_send) did not send; the value is handed
    /// back.
    ///
    /// ```
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::TrySendError;
    /// let (mut a, _b) = pipe::<u64>().unwrap();
    /// let mut n = 0;
    /// let e = loop {
    ///     match a.try_send(n) {
    ///         Ok(()) => n += 1,
    ///         Err(e) => break e,
    ///     }
    /// };
    /// assert!(matches!(e, TrySendError::Full(v) if v == n));
    /// ```
    #[non_exhaustive]
    TrySendError {
        /// The ring toward the peer is full (or the spill heap has no room now).
        Full(T) => "pipe is full (no room in its ring, or in its spill heap for a message this large)",
        /// The receiving end was closed (dropped) or its process died.
        Disconnected(T) => "the receiving end is gone",
        /// The value can fit neither a ring record nor the spill heap.
        TooLarge(T) => "value too large for the pipe: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing in the pipe or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (PipeBuilder::max_heap_size sets the maximum: leave room beyond the largest value)",
        /// The value is larger than a ring record and the pipe's spill heap could not grow
        /// to hold it: the system refused the memory (memory short, or this process's
        /// file-size limit `RLIMIT_FSIZE` — the heap is a file); the error says which.
        /// Python's `MemoryError`. `try_send` reports it at once; a waiting send waits for
        /// the reader to free a block (a note on standard error names the refusal at once)
        /// and reports it once nothing in the pipe or held could free one for a second.
        Grow(T, error: GrowError) => "the pipe's spill heap could not grow to hold the value (the system refused the memory)",
        /// This end's sending side is held by another live process (the handle was
        /// attached there).
        InUse(T, pid: u32) => "this end is in use by another attachment of it — in another process, or a second one in this process (an end serves one attachment at a time: give each process its own pipe, or use a Queue); the holder's pid",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
        /// The ring's shared indices are invalid.
        Corrupt(T, error: CorruptError) => "corrupted pipe",
    }
}

payload_error! {
    /// Why a blocking [`send`](crate::Connection::send) did not send; the value is handed
    /// back.
    ///
    /// ```
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::SendError;
    /// let (mut a, b) = pipe::<u64>().unwrap();
    /// drop(b); // never handed to another process: dropping it closes it
    /// assert!(matches!(a.send(1), Err(SendError::Disconnected(1))));
    /// ```
    #[non_exhaustive]
    SendError {
        /// The receiving end was closed or its process died.
        Disconnected(T) => "the receiving end is gone",
        /// See [`TrySendError::TooLarge`].
        TooLarge(T) => "value too large for the pipe: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing in the pipe or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (PipeBuilder::max_heap_size sets the maximum: leave room beyond the largest value)",
        /// See [`TrySendError::Grow`].
        Grow(T, error: GrowError) => "the pipe's spill heap could not grow to hold the value (the system refused the memory)",
        /// See [`TrySendError::InUse`].
        InUse(T, pid: u32) => "this end is in use by another attachment of it — in another process, or a second one in this process (an end serves one attachment at a time: give each process its own pipe, or use a Queue); the holder's pid",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
        /// The ring's shared indices are invalid.
        Corrupt(T, error: CorruptError) => "corrupted pipe",
    }
}

payload_error! {
    /// Why [`send_timeout`](crate::Connection::send_timeout) /
    /// [`send_deadline`](crate::Connection::send_deadline) did not send.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::SendTimeoutError;
    /// let (mut a, _b) = pipe::<Vec<u8>>().unwrap();
    /// let e = loop {
    ///     if let Err(e) = a.send_timeout(vec![0; 1000], Duration::from_millis(1)) {
    ///         break e;
    ///     }
    /// };
    /// assert!(matches!(e, SendTimeoutError::Timeout(_)));
    /// ```
    #[non_exhaustive]
    SendTimeoutError {
        /// The pipe stayed full until the deadline (its ring, or, for a message larger than
        /// a record, its spill heap).
        Timeout(T) => "timed out waiting for room in the pipe (in its ring, or in its spill heap for a message this large)",
        /// The receiving end was closed or its process died.
        Disconnected(T) => "the receiving end is gone",
        /// See [`TrySendError::TooLarge`].
        TooLarge(T) => "value too large for the pipe: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing in the pipe or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (PipeBuilder::max_heap_size sets the maximum: leave room beyond the largest value)",
        /// See [`TrySendError::Grow`].
        Grow(T, error: GrowError) => "the pipe's spill heap could not grow to hold the value (the system refused the memory)",
        /// See [`TrySendError::InUse`].
        InUse(T, pid: u32) => "this end is in use by another attachment of it — in another process, or a second one in this process (an end serves one attachment at a time: give each process its own pipe, or use a Queue); the holder's pid",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
        /// The ring's shared indices are invalid.
        Corrupt(T, error: CorruptError) => "corrupted pipe",
    }
}

impl<T> From<SendTimeoutError<T>> for TrySendError<T> {
    fn from(e: SendTimeoutError<T>) -> Self {
        match e {
            SendTimeoutError::Timeout(t) => TrySendError::Full(t),
            SendTimeoutError::Disconnected(t) => TrySendError::Disconnected(t),
            SendTimeoutError::TooLarge(t) => TrySendError::TooLarge(t),
            SendTimeoutError::Grow(t, e) => TrySendError::Grow(t, e),
            SendTimeoutError::InUse(t, p) => TrySendError::InUse(t, p),
            SendTimeoutError::Serialize(t, e) => TrySendError::Serialize(t, e),
            SendTimeoutError::Corrupt(t, c) => TrySendError::Corrupt(t, c),
        }
    }
}

impl<T> From<SendTimeoutError<T>> for SendError<T> {
    fn from(e: SendTimeoutError<T>) -> Self {
        match e {
            SendTimeoutError::Timeout(_) => unreachable!("a send without deadline never times out"),
            SendTimeoutError::Disconnected(t) => SendError::Disconnected(t),
            SendTimeoutError::TooLarge(t) => SendError::TooLarge(t),
            SendTimeoutError::Grow(t, e) => SendError::Grow(t, e),
            SendTimeoutError::InUse(t, p) => SendError::InUse(t, p),
            SendTimeoutError::Serialize(t, e) => SendError::Serialize(t, e),
            SendTimeoutError::Corrupt(t, c) => SendError::Corrupt(t, c),
        }
    }
}

macro_rules! recv_error {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $msg:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// The sending end was closed (dropped) or its process died, and every message
            /// it sent was received.
            Disconnected,
            /// The next message was sent with the other method: `send_bytes` (read it with
            /// `recv_bytes`) or `send` (read it with `recv`). It stays queued.
            WrongKind,
            /// This end's receiving side is held by another live process.
            InUse {
                /// That process.
                pid: u32,
            },
            /// The next message was damaged and dropped (or, for [`CorruptError::Pipe`], the
            /// ring itself is damaged).
            Corrupt(CorruptError),
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant => f.write_str($msg), )*
                    $name::Disconnected => f.write_str("the sending end is gone and everything was received"),
                    $name::WrongKind => f.write_str(
                        "the next message was sent by the other send method: read a \
                         send_bytes message with recv_bytes, a send message with recv or \
                         recv_ref (it stays queued)",
                    ),
                    $name::InUse { pid } if *pid == std::process::id() => write!(
                        f,
                        "this end is in use by another attachment of it in this process \
                         ({pid}) (an end serves one attachment at a time: use the one \
                         attached, or give each user its own pipe)"
                    ),
                    $name::InUse { pid } => write!(
                        f,
                        "this end is in use by process {pid} (an end serves one process at \
                         a time: give each process its own pipe, or use a Queue)"
                    ),
                    $name::Corrupt(c) => c.fmt(f),
                }
            }
        }

        impl std::error::Error for $name {}
    };
}

recv_error! {
    /// Why [`try_recv`](crate::Connection::try_recv) (and the other `try_recv_*`)
    /// returned nothing.
    ///
    /// ```
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::TryRecvError;
    /// let (a, mut b) = pipe::<u8>().unwrap();
    /// assert_eq!(b.try_recv(), Err(TryRecvError::Empty));
    /// # drop(a);
    /// ```
    TryRecvError {
        /// No message is ready.
        Empty => "pipe is empty",
    }
}

recv_error! {
    /// Why a blocking [`recv`](crate::Connection::recv) returned nothing.
    ///
    /// ```
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::RecvError;
    /// let (mut a, mut b) = pipe::<u8>().unwrap();
    /// a.send(1).unwrap();
    /// drop(a);
    /// assert_eq!(b.recv().unwrap(), 1); // drained first
    /// assert_eq!(b.recv(), Err(RecvError::Disconnected));
    /// ```
    RecvError {}
}

recv_error! {
    /// Why [`recv_timeout`](crate::Connection::recv_timeout) /
    /// [`recv_deadline`](crate::Connection::recv_deadline) returned nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::pipe;
    /// use zeroproc_mp::pipe::RecvTimeoutError;
    /// let (_a, mut b) = pipe::<u8>().unwrap();
    /// assert_eq!(b.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// ```
    RecvTimeoutError {
        /// No message arrived before the deadline.
        Timeout => "timed out waiting for a message",
    }
}

impl From<RecvTimeoutError> for TryRecvError {
    fn from(e: RecvTimeoutError) -> Self {
        match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
            RecvTimeoutError::WrongKind => TryRecvError::WrongKind,
            RecvTimeoutError::InUse { pid } => TryRecvError::InUse { pid },
            RecvTimeoutError::Corrupt(c) => TryRecvError::Corrupt(c),
        }
    }
}

impl From<RecvTimeoutError> for RecvError {
    fn from(e: RecvTimeoutError) -> Self {
        match e {
            RecvTimeoutError::Timeout => unreachable!("a recv without deadline never times out"),
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
            RecvTimeoutError::WrongKind => RecvError::WrongKind,
            RecvTimeoutError::InUse { pid } => RecvError::InUse { pid },
            RecvTimeoutError::Corrupt(c) => RecvError::Corrupt(c),
        }
    }
}
