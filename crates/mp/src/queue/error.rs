//! The errors of [`Queue`](crate::Queue) operations: one enum per operation; every put
//! error hands the value back.

use crate::channel::error::CorruptError;
use rkyv::rancor;
use std::fmt;
use zeroproc_ring::payload_error;
use zeroproc_shm::GrowError;

payload_error! {
    /// Why [`try_put`](crate::Queue::try_put) did not put; the value is handed back.
    ///
    /// ```
    /// use zeroproc_mp::Queue;
    /// use zeroproc_mp::queue::TryPutError;
    /// let q = Queue::<u32>::new(1).unwrap();
    /// q.try_put(1).unwrap();
    /// let e = q.try_put(2).unwrap_err();
    /// assert!(matches!(e, TryPutError::Full(2)));
    /// assert_eq!(e.into_inner(), 2);
    /// ```
    #[non_exhaustive]
    TryPutError {
        /// Every slot is taken (or, for a value larger than a slot, the spill heap has no
        /// block free for it right now).
        Full(T) => "queue is full (no free slot, or no room in its spill heap for a value this large)",
        /// The queue was closed.
        Closed(T) => "queue is closed",
        /// The value is larger than a slot and cannot fit the spill heap (or the queue has
        /// none): it can never be put. Either it is larger than the heap at its maximum
        /// size, or — a blocking put that found no room for a second — the heap is at its
        /// maximum, nothing queued or held by a live process could free a block, and the
        /// heap's free space, merged, has no run large enough (blocks leaked by killed
        /// processes split it); waiting would never end.
        TooLarge(T) => "value too large for the queue: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing queued or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (Queue::builder(n).max_heap_size sets the maximum: leave room beyond the largest value)",
        /// The value is larger than a slot and the queue's spill heap could not grow to
        /// hold it: the system refused the memory (memory short, or this process's
        /// file-size limit `RLIMIT_FSIZE` — the heap is a file); the error says which.
        /// Python's `MemoryError`. `try_put` reports it at once; a waiting put waits for a
        /// reader to free a block (a note on standard error names the refusal at once) and
        /// reports it once nothing queued or held could free one for a second.
        Grow(T, error: GrowError) => "the queue's spill heap could not grow to hold the value (the system refused the memory)",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
    }
}

payload_error! {
    /// Why a blocking [`put`](crate::Queue::put) did not put; the value is handed back.
    ///
    /// ```
    /// use zeroproc_mp::queue::PutError;
    /// use zeroproc_mp::Queue;
    /// let q = Queue::<u32>::new(1).unwrap();
    /// q.close();
    /// assert!(matches!(q.put(5), Err(PutError::Closed(5))));
    /// ```
    #[non_exhaustive]
    PutError {
        /// The queue was closed.
        Closed(T) => "queue is closed",
        /// See [`TryPutError::TooLarge`].
        TooLarge(T) => "value too large for the queue: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing queued or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (Queue::builder(n).max_heap_size sets the maximum: leave room beyond the largest value)",
        /// See [`TryPutError::Grow`].
        Grow(T, error: GrowError) => "the queue's spill heap could not grow to hold the value (the system refused the memory)",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
    }
}

payload_error! {
    /// Why [`put_timeout`](crate::Queue::put_timeout) /
    /// [`put_deadline`](crate::Queue::put_deadline) did not put; the value is handed back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::queue::PutTimeoutError;
    /// use zeroproc_mp::Queue;
    /// let q = Queue::<u32>::new(1).unwrap();
    /// q.put(1).unwrap();
    /// let e = q.put_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert!(matches!(e, PutTimeoutError::Timeout(2)));
    /// ```
    #[non_exhaustive]
    PutTimeoutError {
        /// The queue stayed full until the deadline (every slot taken, or, for a value
        /// larger than a slot, no block of the spill heap free for it).
        Timeout(T) => "timed out waiting for room in the queue (a free slot, or room in its spill heap for a value this large)",
        /// The queue was closed.
        Closed(T) => "queue is closed",
        /// See [`TryPutError::TooLarge`].
        TooLarge(T) => "value too large for the queue: no block of its spill heap will hold it — it is larger than the heap at its maximum size, or the heap is at its maximum, nothing queued or held could free a block, and its free space is split by blocks leaked by killed processes or by fragmentation (Queue::builder(n).max_heap_size sets the maximum: leave room beyond the largest value)",
        /// See [`TryPutError::Grow`].
        Grow(T, error: GrowError) => "the queue's spill heap could not grow to hold the value (the system refused the memory)",
        /// The value could not be serialized.
        Serialize(T, error: rancor::Error) => "serialization failed",
    }
}

impl<T> From<PutTimeoutError<T>> for TryPutError<T> {
    fn from(e: PutTimeoutError<T>) -> Self {
        match e {
            // A `try_` operation's only way of not waiting is finding the queue full.
            PutTimeoutError::Timeout(t) => TryPutError::Full(t),
            PutTimeoutError::Closed(t) => TryPutError::Closed(t),
            PutTimeoutError::TooLarge(t) => TryPutError::TooLarge(t),
            PutTimeoutError::Grow(t, e) => TryPutError::Grow(t, e),
            PutTimeoutError::Serialize(t, e) => TryPutError::Serialize(t, e),
        }
    }
}

impl<T> From<PutTimeoutError<T>> for PutError<T> {
    fn from(e: PutTimeoutError<T>) -> Self {
        match e {
            PutTimeoutError::Timeout(_) => unreachable!("a put without deadline never times out"),
            PutTimeoutError::Closed(t) => PutError::Closed(t),
            PutTimeoutError::TooLarge(t) => PutError::TooLarge(t),
            PutTimeoutError::Grow(t, e) => PutError::Grow(t, e),
            PutTimeoutError::Serialize(t, e) => PutError::Serialize(t, e),
        }
    }
}

/// Why [`try_get`](crate::Queue::try_get) (and the other `try_get_*`) returned nothing.
///
/// ```
/// use zeroproc_mp::Queue;
/// use zeroproc_mp::queue::TryGetError;
/// let q = Queue::<u32>::new(2).unwrap();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.close();
/// assert_eq!(q.try_get(), Err(TryGetError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryGetError {
    /// No value is ready.
    Empty,
    /// The queue is closed and every value put before was taken.
    Closed,
    /// The next value was damaged and dropped; get again for the one after it.
    Corrupt(CorruptError),
}

/// Why a blocking [`get`](crate::Queue::get) returned nothing.
///
/// ```
/// use zeroproc_mp::queue::GetError;
/// use zeroproc_mp::Queue;
/// let q = Queue::<u32>::new(2).unwrap();
/// q.put(1).unwrap();
/// q.close();
/// assert_eq!(q.get().unwrap(), 1); // drained first
/// assert_eq!(q.get(), Err(GetError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetError {
    /// The queue is closed and drained.
    Closed,
    /// The next value was damaged and dropped; get again for the one after it.
    Corrupt(CorruptError),
}

/// Why [`get_timeout`](crate::Queue::get_timeout) / [`get_deadline`](crate::Queue::get_deadline)
/// returned nothing.
///
/// ```
/// use std::time::Duration;
/// use zeroproc_mp::queue::GetTimeoutError;
/// use zeroproc_mp::Queue;
/// let q = Queue::<u32>::new(2).unwrap();
/// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(GetTimeoutError::Timeout));
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetTimeoutError {
    /// No value arrived before the deadline.
    Timeout,
    /// The queue is closed and drained.
    Closed,
    /// The next value was damaged and dropped; get again for the one after it.
    Corrupt(CorruptError),
}

impl From<GetTimeoutError> for TryGetError {
    fn from(e: GetTimeoutError) -> Self {
        match e {
            GetTimeoutError::Timeout => TryGetError::Empty,
            GetTimeoutError::Closed => TryGetError::Closed,
            GetTimeoutError::Corrupt(c) => TryGetError::Corrupt(c),
        }
    }
}

impl From<GetTimeoutError> for GetError {
    fn from(e: GetTimeoutError) -> Self {
        match e {
            GetTimeoutError::Timeout => unreachable!("a get without deadline never times out"),
            GetTimeoutError::Closed => GetError::Closed,
            GetTimeoutError::Corrupt(c) => GetError::Corrupt(c),
        }
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue is empty"),
            TryGetError::Closed => f.write_str("queue is closed and drained"),
            TryGetError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Closed => f.write_str("queue is closed and drained"),
            GetError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => f.write_str("timed out waiting for a value"),
            GetTimeoutError::Closed => f.write_str("queue is closed and drained"),
            GetTimeoutError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for TryGetError {}
impl std::error::Error for GetError {}
impl std::error::Error for GetTimeoutError {}
