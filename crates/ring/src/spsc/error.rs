//! The errors of every SPSC operation. Operations that take a payload hand it back in
//! their error, so nothing is silently dropped.

use std::fmt;

/// Shared memory held something the protocol never writes: a record header, an index or a
/// ring header that fails validation (a bug or a hostile peer wrote garbage).
///
/// The ring never reads or writes outside its buffer because of such data; the handle that
/// saw it stays failed (every later operation returns the same error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptError {
    /// Ring position (monotonic byte count) where the bad data was found.
    pub pos: u64,
    /// Which check failed.
    pub what: &'static str,
}

impl fmt::Display for CorruptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt spsc ring at position {}: {}", self.pos, self.what)
    }
}

impl std::error::Error for CorruptError {}

/// [`Producer::try_reserve`](super::Producer::try_reserve) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryReserveError {
    /// Not enough free space now (anything staged was published, so a consumer that
    /// drains will make room).
    Full,
    /// The consumer closed its end; nothing sent now would ever be read.
    Disconnected,
    /// The record can never fit: `len` exceeds [`max_payload`](super::Ring::max_payload).
    /// Put big payloads in the shared heap and send their offset.
    TooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload this ring accepts.
        max: usize,
    },
    /// The consumer's index in shared memory is invalid.
    Corrupt(CorruptError),
}

/// [`Producer::reserve_timeout`](super::Producer::reserve_timeout) or `reserve_deadline`
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveTimeoutError {
    /// The timeout or deadline passed.
    Timeout,
    /// The consumer closed its end, or its process died.
    Disconnected,
    /// See [`TryReserveError::TooLarge`].
    TooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload this ring accepts.
        max: usize,
    },
    /// See [`TryReserveError::Corrupt`].
    Corrupt(CorruptError),
}

/// [`Producer::try_send`](super::Producer::try_send) failed; the payload is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The ring is full.
    Full(T),
    /// The consumer closed its end.
    Disconnected(T),
    /// The payload is larger than [`max_payload`](super::Ring::max_payload).
    TooLarge(T),
    /// The consumer's index in shared memory is invalid.
    Corrupt(T, CorruptError),
}

/// [`Producer::send_timeout`](super::Producer::send_timeout) or `send_deadline` failed;
/// the payload is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The timeout or deadline passed.
    Timeout(T),
    /// The consumer closed its end, or its process died.
    Disconnected(T),
    /// The payload is larger than [`max_payload`](super::Ring::max_payload).
    TooLarge(T),
    /// The consumer's index in shared memory is invalid.
    Corrupt(T, CorruptError),
}

/// [`Consumer::try_recv`](super::Consumer::try_recv) (and `drain`) found nothing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No record is published yet.
    Empty,
    /// The producer closed its end (or died) and every record it published was consumed.
    Disconnected,
    /// A record header or the producer's index is invalid.
    Corrupt(CorruptError),
}

/// [`Consumer::recv_timeout`](super::Consumer::recv_timeout) or `recv_deadline` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The timeout or deadline passed.
    Timeout,
    /// The producer closed its end (or its process died) and everything was consumed.
    Disconnected,
    /// A record header or the producer's index is invalid.
    Corrupt(CorruptError),
}

/// Creating, attaching or claiming a ring failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RingError {
    /// The capacity is not a power of two in
    /// [`MIN_CAPACITY`](super::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](super::MAX_CAPACITY).
    Capacity(usize),
    /// The region at the offset is out of the segment's bounds or misaligned.
    #[cfg(not(loom))]
    Offset(zeroproc_shm::OffsetError),
    /// Creating the backing segment failed.
    #[cfg(not(loom))]
    Create(zeroproc_shm::CreateError),
    /// Attaching the backing segment failed.
    #[cfg(not(loom))]
    Attach(zeroproc_shm::AttachError),
    /// No initialised SPSC ring at this place (wrong magic, or its creator is not done).
    NotARing,
    /// A ring of another layout version.
    Version {
        /// Version found in the ring header.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The ring header holds an impossible value (e.g. a capacity that does not fit).
    BadHeader(&'static str),
    /// That side is held by a live process (the SPSC roles are enforced across processes).
    Claimed {
        /// The holder's pid.
        pid: u32,
    },
    /// That side was closed (its handle dropped): the ring is finished.
    Closed,
    /// The indices in the ring header are inconsistent.
    Corrupt(CorruptError),
}

impl fmt::Display for TryReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReserveError::Full => f.write_str("spsc ring is full"),
            TryReserveError::Disconnected => f.write_str("spsc consumer disconnected"),
            TryReserveError::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the ring's maximum of {max}")
            }
            TryReserveError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for ReserveTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveTimeoutError::Timeout => {
                f.write_str("timed out waiting for space in the spsc ring")
            }
            ReserveTimeoutError::Disconnected => f.write_str("spsc consumer disconnected"),
            ReserveTimeoutError::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the ring's maximum of {max}")
            }
            ReserveTimeoutError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("spsc ring is full"),
            TrySendError::Disconnected(_) => f.write_str("spsc consumer disconnected"),
            TrySendError::TooLarge(_) => f.write_str("payload exceeds the ring's maximum record"),
            TrySendError::Corrupt(_, c) => c.fmt(f),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => {
                f.write_str("timed out waiting for space in the spsc ring")
            }
            SendTimeoutError::Disconnected(_) => f.write_str("spsc consumer disconnected"),
            SendTimeoutError::TooLarge(_) => {
                f.write_str("payload exceeds the ring's maximum record")
            }
            SendTimeoutError::Corrupt(_, c) => c.fmt(f),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("spsc ring is empty"),
            TryRecvError::Disconnected => f.write_str("spsc producer disconnected"),
            TryRecvError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a record"),
            RecvTimeoutError::Disconnected => f.write_str("spsc producer disconnected"),
            RecvTimeoutError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Capacity(c) => write!(
                f,
                "spsc capacity {c} is not a power of two in {}..={}",
                super::MIN_CAPACITY,
                super::MAX_CAPACITY
            ),
            #[cfg(not(loom))]
            RingError::Offset(e) => write!(f, "spsc ring region: {e}"),
            #[cfg(not(loom))]
            RingError::Create(e) => write!(f, "creating the spsc segment: {e}"),
            #[cfg(not(loom))]
            RingError::Attach(e) => write!(f, "attaching the spsc segment: {e}"),
            RingError::NotARing => f.write_str("no initialised spsc ring there (bad magic)"),
            RingError::Version { found, expected } => {
                write!(f, "spsc ring layout version {found}, this build understands {expected}")
            }
            RingError::BadHeader(what) => write!(f, "invalid spsc ring header: {what}"),
            RingError::Claimed { pid } => write!(f, "that side of the ring is held by pid {pid}"),
            RingError::Closed => f.write_str("that side of the ring was closed"),
            RingError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for TryReserveError {}
impl std::error::Error for ReserveTimeoutError {}
impl<T: fmt::Debug> std::error::Error for TrySendError<T> {}
impl<T: fmt::Debug> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}
impl std::error::Error for RingError {}

impl<T> TrySendError<T> {
    /// The payload that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(t)
            | TrySendError::Disconnected(t)
            | TrySendError::TooLarge(t)
            | TrySendError::Corrupt(t, _) => t,
        }
    }
}

impl<T> SendTimeoutError<T> {
    /// The payload that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(t)
            | SendTimeoutError::Disconnected(t)
            | SendTimeoutError::TooLarge(t)
            | SendTimeoutError::Corrupt(t, _) => t,
        }
    }
}

impl From<TryReserveError> for ReserveTimeoutError {
    fn from(e: TryReserveError) -> Self {
        match e {
            // A blocking reserve only turns `Full` into `Timeout` when its deadline passed.
            TryReserveError::Full => ReserveTimeoutError::Timeout,
            TryReserveError::Disconnected => ReserveTimeoutError::Disconnected,
            TryReserveError::TooLarge { len, max } => ReserveTimeoutError::TooLarge { len, max },
            TryReserveError::Corrupt(c) => ReserveTimeoutError::Corrupt(c),
        }
    }
}

impl From<TryRecvError> for RecvTimeoutError {
    fn from(e: TryRecvError) -> Self {
        match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            TryRecvError::Corrupt(c) => RecvTimeoutError::Corrupt(c),
        }
    }
}

impl From<CorruptError> for RingError {
    fn from(c: CorruptError) -> Self {
        RingError::Corrupt(c)
    }
}

/// [`Producer::reserve`](super::Producer::reserve) (no deadline) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// The consumer closed its end, or its process died.
    Disconnected,
    /// See [`TryReserveError::TooLarge`].
    TooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload this ring accepts.
        max: usize,
    },
    /// See [`TryReserveError::Corrupt`].
    Corrupt(CorruptError),
}

/// [`Producer::send`](super::Producer::send) (no deadline) failed; the payload is handed
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError<T> {
    /// The consumer closed its end, or its process died.
    Disconnected(T),
    /// The payload is larger than [`max_payload`](super::Ring::max_payload).
    TooLarge(T),
    /// The consumer's index in shared memory is invalid.
    Corrupt(T, CorruptError),
}

/// [`Consumer::recv`](super::Consumer::recv) (no deadline) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The producer closed its end (or its process died) and everything was consumed.
    Disconnected,
    /// A record header or the producer's index is invalid.
    Corrupt(CorruptError),
}

impl ReserveTimeoutError {
    /// The error of the untimed form, which has no deadline to pass.
    pub(crate) fn untimed(self) -> ReserveError {
        match self {
            ReserveTimeoutError::Timeout => unreachable!("no deadline was given"),
            ReserveTimeoutError::Disconnected => ReserveError::Disconnected,
            ReserveTimeoutError::TooLarge { len, max } => ReserveError::TooLarge { len, max },
            ReserveTimeoutError::Corrupt(c) => ReserveError::Corrupt(c),
        }
    }
}

impl<T> SendTimeoutError<T> {
    /// The error of the untimed form, which has no deadline to pass.
    pub(crate) fn untimed(self) -> SendError<T> {
        match self {
            SendTimeoutError::Timeout(_) => unreachable!("no deadline was given"),
            SendTimeoutError::Disconnected(t) => SendError::Disconnected(t),
            SendTimeoutError::TooLarge(t) => SendError::TooLarge(t),
            SendTimeoutError::Corrupt(t, c) => SendError::Corrupt(t, c),
        }
    }
}

impl RecvTimeoutError {
    /// The error of the untimed form, which has no deadline to pass.
    pub(crate) fn untimed(self) -> RecvError {
        match self {
            RecvTimeoutError::Timeout => unreachable!("no deadline was given"),
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
            RecvTimeoutError::Corrupt(c) => RecvError::Corrupt(c),
        }
    }
}

impl<T> SendError<T> {
    /// The payload that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Disconnected(t) | SendError::TooLarge(t) | SendError::Corrupt(t, _) => t,
        }
    }
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveError::Disconnected => f.write_str("spsc consumer disconnected"),
            ReserveError::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the ring's maximum of {max}")
            }
            ReserveError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected(_) => f.write_str("spsc consumer disconnected"),
            SendError::TooLarge(_) => f.write_str("payload exceeds the ring's maximum record"),
            SendError::Corrupt(_, c) => c.fmt(f),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("spsc producer disconnected"),
            RecvError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for ReserveError {}
impl<T: fmt::Debug> std::error::Error for SendError<T> {}
impl std::error::Error for RecvError {}

impl From<ReserveError> for ReserveTimeoutError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Disconnected => ReserveTimeoutError::Disconnected,
            ReserveError::TooLarge { len, max } => ReserveTimeoutError::TooLarge { len, max },
            ReserveError::Corrupt(c) => ReserveTimeoutError::Corrupt(c),
        }
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Disconnected(t) => SendTimeoutError::Disconnected(t),
            SendError::TooLarge(t) => SendTimeoutError::TooLarge(t),
            SendError::Corrupt(t, c) => SendTimeoutError::Corrupt(t, c),
        }
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Disconnected => RecvTimeoutError::Disconnected,
            RecvError::Corrupt(c) => RecvTimeoutError::Corrupt(c),
        }
    }
}
