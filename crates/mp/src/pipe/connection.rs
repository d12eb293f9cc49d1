//! The pipe ends: [`Connection`] (duplex: sends on one ring, receives on the other),
//! [`PipeSender`] and [`PipeReceiver`] (the two ends of a one-way pipe). The methods are
//! written once per direction (the macros below) over [`TxHalf`] / [`RxHalf`].

use crate::channel::message::{Message, Wait};
use crate::channel::Ref;
use crate::pipe::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use crate::pipe::error::{TryRecvError, TrySendError};
use crate::pipe::handle::{ConnectionHandle, ReceiverHandle, SenderHandle};
use crate::pipe::recv::RxHalf;
use crate::pipe::send::TxHalf;
use std::fmt;
use std::time::{Duration, Instant};
use zeroproc_shm::wait::deadline_after;
use zeroproc_shm::wait::WaitStrategy;

/// The sending methods, over the `TxHalf` in field `$tx`. `$setup` makes `tx` (an end
/// that sends to `rx`) for the examples.
macro_rules! send_methods {
    ($tx:ident, $setup:literal) => {
        #[doc = concat!("Sends `value`, waiting while the pipe is full. `Disconnected` (value handed back) once the receiving end is closed or its process died.\n\n```\n", $setup, "\ntx.send(7).unwrap();\nassert_eq!(rx.recv().unwrap(), 7);\n```")]
        pub fn send(&mut self, value: T) -> Result<(), SendError<T>> {
            self.$tx.send_wait(value, Wait::Until(None)).map_err(SendError::from)
        }

        #[doc = concat!("Sends `value` if there is room now, else hands it back in [`TrySendError::Full`].\n\n```\n", $setup, "\ntx.try_send(1).unwrap();\nassert_eq!(rx.try_recv().unwrap(), 1);\n```")]
        pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
            self.$tx.send_wait(value, Wait::Never).map_err(TrySendError::from)
        }

        #[doc = concat!("[`send`](Self::send), giving up after `timeout`.\n\n```\n", $setup, "\ntx.send_timeout(2, std::time::Duration::from_millis(10)).unwrap();\nassert_eq!(rx.recv().unwrap(), 2);\n```")]
        pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
            self.$tx.send_wait(value, Wait::Until(deadline_after(timeout)))
        }

        #[doc = concat!("[`send`](Self::send), giving up at `deadline`.\n\n```\n", $setup, "\ntx.send_deadline(3, std::time::Instant::now()).unwrap(); // room: no wait\nassert_eq!(rx.recv().unwrap(), 3);\n```")]
        pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
            self.$tx.send_wait(value, Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Sends raw bytes (Python's `send_bytes`), read with `recv_bytes`; waits while the pipe is full. Any length: beyond the largest ring record the bytes go through the spill heap.\n\n```\n", $setup, "\ntx.send_bytes(b\"raw\").unwrap();\nassert_eq!(rx.recv_bytes().unwrap(), b\"raw\");\n```")]
        pub fn send_bytes<'p>(&mut self, bytes: &'p [u8]) -> Result<(), SendError<&'p [u8]>> {
            self.$tx.send_bytes_wait(bytes, Wait::Until(None)).map_err(SendError::from)
        }

        #[doc = concat!("[`send_bytes`](Self::send_bytes) if there is room now, else hands the bytes back in [`TrySendError::Full`].\n\n```\n", $setup, "\ntx.try_send_bytes(b\"now\").unwrap();\nassert_eq!(rx.recv_bytes().unwrap(), b\"now\");\n```")]
        pub fn try_send_bytes<'p>(&mut self, bytes: &'p [u8]) -> Result<(), TrySendError<&'p [u8]>> {
            self.$tx.send_bytes_wait(bytes, Wait::Never).map_err(TrySendError::from)
        }

        #[doc = concat!("[`send_bytes`](Self::send_bytes), giving up after `timeout`.\n\n```\n", $setup, "\ntx.send_bytes_timeout(b\"y\", std::time::Duration::from_millis(10)).unwrap();\nassert_eq!(rx.recv_bytes().unwrap(), b\"y\");\n```")]
        pub fn send_bytes_timeout<'p>(
            &mut self,
            bytes: &'p [u8],
            timeout: Duration,
        ) -> Result<(), SendTimeoutError<&'p [u8]>> {
            self.$tx.send_bytes_wait(bytes, Wait::Until(deadline_after(timeout)))
        }

        #[doc = concat!("[`send_bytes`](Self::send_bytes), giving up at `deadline`.\n\n```\n", $setup, "\ntx.send_bytes_deadline(b\"x\", std::time::Instant::now()).unwrap();\nassert_eq!(rx.recv_bytes().unwrap(), b\"x\");\n```")]
        pub fn send_bytes_deadline<'p>(
            &mut self,
            bytes: &'p [u8],
            deadline: Instant,
        ) -> Result<(), SendTimeoutError<&'p [u8]>> {
            self.$tx.send_bytes_wait(bytes, Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Largest message (envelope included) sent inline in a ring record; larger ones go through the spill heap.\n\n```\n", $setup, "\nassert_eq!(tx.max_record(), zeroproc_mp::pipe::DEFAULT_PIPE_CAPACITY / 2 - 16);\n# drop(rx);\n```")]
        pub fn max_record(&self) -> usize {
            self.$tx.max_record()
        }
    };
}

/// The receiving methods, over the `RxHalf` in field `$rx`.
macro_rules! recv_methods {
    ($rx:ident, $setup:literal) => {
        #[doc = concat!("Receives the next message, waiting while there is none. `Disconnected` once the sending end is closed or its process died and everything it sent was received.\n\n```\n", $setup, "\ntx.send(10).unwrap();\nassert_eq!(rx.recv().unwrap(), 10);\n```")]
        pub fn recv(&mut self) -> Result<T, RecvError> {
            self.$rx.recv_wait(Wait::Until(None)).map_err(RecvError::from)
        }

        #[doc = concat!("Receives the next message if one is ready.\n\n```\n", $setup, "\nassert!(rx.try_recv().is_err());\ntx.send(1).unwrap();\nassert_eq!(rx.try_recv().unwrap(), 1);\n```")]
        pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
            self.$rx.recv_wait(Wait::Never).map_err(TryRecvError::from)
        }

        #[doc = concat!("[`recv`](Self::recv), giving up after `timeout`. Python's `Connection` has no receive time-out: it is `if conn.poll(t): conn.recv()`, here one call; `Timeout` is the `poll` that said false, `Disconnected` Python's `EOFError`.\n\n```\n", $setup, "\nuse std::time::Duration;\nuse zeroproc_mp::pipe::RecvTimeoutError;\ntx.send(3).unwrap();\nassert_eq!(rx.recv_timeout(Duration::from_millis(100)), Ok(3));\nassert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));\ndrop(tx); // the sender is gone: Python's EOFError\nassert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Disconnected));\n```")]
        pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
            self.$rx.recv_wait(Wait::Until(deadline_after(timeout)))
        }

        #[doc = concat!("[`recv`](Self::recv), giving up at `deadline`.\n\n```\n", $setup, "\ntx.send(4).unwrap();\nassert_eq!(rx.recv_deadline(std::time::Instant::now()).unwrap(), 4);\n```")]
        pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
            self.$rx.recv_wait(Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Receives the next message as a validated archive **read in its ring record** (no copy, no deserialization; a spilled message is read in its heap block). The record is released when the [`Ref`] drops.\n\n```\n", $setup, "\ntx.send(5).unwrap();\nlet r = rx.recv_ref().unwrap();\nassert_eq!(*r, 5);\n```")]
        pub fn recv_ref(&mut self) -> Result<Ref<'_, T>, RecvError> {
            self.$rx.recv_ref_wait(Wait::Until(None)).map_err(RecvError::from)
        }

        #[doc = concat!("[`recv_ref`](Self::recv_ref) without waiting.\n\n```\n", $setup, "\nassert!(rx.try_recv_ref().is_err());\n# drop(tx);\n```")]
        pub fn try_recv_ref(&mut self) -> Result<Ref<'_, T>, TryRecvError> {
            self.$rx.recv_ref_wait(Wait::Never).map_err(TryRecvError::from)
        }

        #[doc = concat!("[`recv_ref`](Self::recv_ref), giving up after `timeout`.\n\n```\n", $setup, "\ntx.send(6).unwrap();\nassert_eq!(*rx.recv_ref_timeout(std::time::Duration::from_millis(100)).unwrap(), 6);\n```")]
        pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<Ref<'_, T>, RecvTimeoutError> {
            self.$rx.recv_ref_wait(Wait::Until(deadline_after(timeout)))
        }

        #[doc = concat!("[`recv_ref`](Self::recv_ref), giving up at `deadline`.\n\n```\n", $setup, "\nassert!(rx.recv_ref_deadline(std::time::Instant::now()).is_err());\n# drop(tx);\n```")]
        pub fn recv_ref_deadline(&mut self, deadline: Instant) -> Result<Ref<'_, T>, RecvTimeoutError> {
            self.$rx.recv_ref_wait(Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Receives raw bytes sent with `send_bytes`, waiting while there are none. A message sent with `send` is [`RecvError::WrongKind`] and stays queued.\n\n```\n", $setup, "\ntx.send_bytes(&[1, 2]).unwrap();\nassert_eq!(rx.recv_bytes().unwrap(), [1, 2]);\n```")]
        pub fn recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
            self.$rx.recv_bytes_wait(Wait::Until(None)).map_err(RecvError::from)
        }

        #[doc = concat!("[`recv_bytes`](Self::recv_bytes) without waiting.\n\n```\n", $setup, "\nassert!(rx.try_recv_bytes().is_err());\n# drop(tx);\n```")]
        pub fn try_recv_bytes(&mut self) -> Result<Vec<u8>, TryRecvError> {
            self.$rx.recv_bytes_wait(Wait::Never).map_err(TryRecvError::from)
        }

        #[doc = concat!("[`recv_bytes`](Self::recv_bytes), giving up after `timeout`.\n\n```\n", $setup, "\nassert!(rx.recv_bytes_timeout(std::time::Duration::from_millis(1)).is_err());\n# drop(tx);\n```")]
        pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
            self.$rx.recv_bytes_wait(Wait::Until(deadline_after(timeout)))
        }

        #[doc = concat!("[`recv_bytes`](Self::recv_bytes), giving up at `deadline`.\n\n```\n", $setup, "\nassert!(rx.recv_bytes_deadline(std::time::Instant::now()).is_err());\n# drop(tx);\n```")]
        pub fn recv_bytes_deadline(&mut self, deadline: Instant) -> Result<Vec<u8>, RecvTimeoutError> {
            self.$rx.recv_bytes_wait(Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Whether a receive would return at once (a message is ready, or the sender is gone), waiting up to `timeout` for it (Python's `poll`). A message found is kept for the next receive.\n\n```\n", $setup, "\nuse std::time::Duration;\nassert!(!rx.poll(Duration::ZERO));\ntx.send(8).unwrap();\nassert!(rx.poll(Duration::from_millis(100)));\nassert_eq!(rx.recv().unwrap(), 8);\n```")]
        pub fn poll(&mut self, timeout: Duration) -> bool {
            let wait = if timeout.is_zero() { Wait::Never } else { Wait::Until(deadline_after(timeout)) };
            self.$rx.poll_wait(wait)
        }

        #[doc = concat!("[`poll`](Self::poll) giving up at `deadline`.\n\n```\n", $setup, "\ntx.send(1).unwrap();\nassert!(rx.poll_deadline(std::time::Instant::now()));\n```")]
        pub fn poll_deadline(&mut self, deadline: Instant) -> bool {
            self.$rx.poll_wait(Wait::Until(Some(deadline)))
        }

        #[doc = concat!("Waits until a receive would return at once — a message is ready or the sender is gone (Python's `poll(None)`); always `true`. The message is kept for the next receive.\n\n```\n", $setup, "\nstd::thread::spawn(move || tx.send(5).unwrap());\nassert!(rx.poll_forever());\nassert_eq!(rx.recv().unwrap(), 5);\n```")]
        pub fn poll_forever(&mut self) -> bool {
            self.$rx.poll_wait(Wait::Until(None))
        }
    };
}

/// One end of a duplex [`pipe`](fn@crate::pipe) (Python's `multiprocessing.Connection`):
/// sends to the other end and receives from it.
///
/// * Messages are rkyv archives, validated on receipt; `recv` deserializes, `recv_ref`
///   reads in place. Raw bytes go with `send_bytes` / `recv_bytes`.
/// * Each direction is an SPSC ring (64 KiB by default); messages larger than half of it
///   go through the pipe's spill heap.
/// * Another process gets this end from [`handle`](Self::handle) (then
///   [`ConnectionHandle::attach`]). An end claims its rings for its process on first use
///   (attach claims at once): an end is used by one process at a time.
/// * A peer that dropped its end or died is reported as `Disconnected` once everything it
///   sent was received; sends to it fail with `Disconnected` (a send notices a dead
///   receiver only once it has to wait for room).
/// * Dropping an end that was never used and never handed out closes it, so the peer
///   gets `Disconnected` instead of waiting.
///
/// ```
/// use zeroproc_mp::pipe;
/// let (mut parent, mut child) = pipe::<(u32, String)>().unwrap();
/// let t = std::thread::spawn(move || {
///     // another process in real use: child.handle() → attach() there
///     while let Ok((n, s)) = child.recv() {
///         child.send((n + 1, s.to_uppercase())).unwrap();
///     }
/// });
/// parent.send((1, "ping".into())).unwrap();
/// assert_eq!(parent.recv().unwrap(), (2, "PING".to_string()));
/// drop(parent); // the child's recv reports Disconnected: its loop ends
/// t.join().unwrap();
/// ```
pub struct Connection<T> {
    tx: TxHalf<T>,
    rx: RxHalf<T>,
    /// Which end: 0 (sends on ring 0) or 1.
    end: u8,
}

#[cfg(test)]
impl<T> Connection<T> {
    /// The pipe's mapping (white-box tests).
    pub(crate) fn mapping(&self) -> &crate::channel::mapping::Mapping {
        &self.tx.map
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("segment", &self.tx.map.id().to_string())
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<T> Connection<T> {
    pub(crate) fn from_halves(tx: TxHalf<T>, rx: RxHalf<T>, end: u8) -> Self {
        Connection { tx, rx, end }
    }

    /// Sets how this end's blocking calls wait (default: spin 50 µs, then sleep).
    ///
    /// ```
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let (mut a, _b) = zeroproc_mp::pipe::<u8>().unwrap();
    /// a.set_wait_strategy(WaitStrategy::Sleep);
    /// assert_eq!(a.wait_strategy(), WaitStrategy::Sleep);
    /// ```
    pub fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.tx.set_wait_strategy(s);
        self.rx.set_wait_strategy(s);
    }

    /// How this end's blocking calls wait.
    ///
    /// ```
    /// let (a, _b) = zeroproc_mp::pipe::<u8>().unwrap();
    /// assert!(matches!(a.wait_strategy(), zeroproc_shm::wait::WaitStrategy::SpinThenSleep { .. }));
    /// ```
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.tx.wait_strategy()
    }
}

impl<T: Message> Connection<T> {
    /// The handle another process attaches this end with. Do not use this end in this
    /// process afterwards (the attacher claims it), and keep the pipe's other end (or
    /// this one) alive here until the other process has attached.
    ///
    /// ```
    /// let (_a, b) = zeroproc_mp::pipe::<u8>().unwrap();
    /// let h = b.handle(); // rkyv-archivable: a job or Process argument
    /// assert!(h.attach().is_ok());
    /// ```
    pub fn handle(&self) -> ConnectionHandle<T> {
        self.tx.handed_out.set(true);
        self.rx.handed_out.set(true);
        ConnectionHandle::new(&self.tx.map, self.end)
    }

    send_methods!(tx, "let (mut tx, mut rx) = zeroproc_mp::pipe::<u32>().unwrap();");
    recv_methods!(rx, "let (mut tx, mut rx) = zeroproc_mp::pipe::<u32>().unwrap();");
}

/// The sending end of a [`pipe_oneway`](crate::pipe_oneway) (Python's
/// `Pipe(duplex=False)` write end). See [`Connection`] for the semantics.
///
/// ```
/// let (mut tx, mut rx) = zeroproc_mp::pipe_oneway::<String>().unwrap();
/// tx.send("one way".into()).unwrap();
/// assert_eq!(rx.recv().unwrap(), "one way");
/// ```
pub struct PipeSender<T> {
    tx: TxHalf<T>,
}

impl<T> fmt::Debug for PipeSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeSender")
            .field("segment", &self.tx.map.id().to_string())
            .finish_non_exhaustive()
    }
}

impl<T> PipeSender<T> {
    pub(crate) fn from_half(tx: TxHalf<T>) -> Self {
        PipeSender { tx }
    }

    /// Sets how this end's blocking calls wait.
    ///
    /// ```
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let (mut tx, _rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
    /// tx.set_wait_strategy(WaitStrategy::Spin);
    /// ```
    pub fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.tx.set_wait_strategy(s);
    }
}

impl<T: Message> PipeSender<T> {
    /// The handle another process attaches this end with (see [`Connection::handle`]).
    ///
    /// ```
    /// let (tx, _rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
    /// assert!(tx.handle().attach().is_ok());
    /// ```
    pub fn handle(&self) -> SenderHandle<T> {
        self.tx.handed_out.set(true);
        SenderHandle::new(&self.tx.map)
    }

    send_methods!(tx, "let (mut tx, mut rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();");
}

/// The receiving end of a [`pipe_oneway`](crate::pipe_oneway). See [`Connection`] for
/// the semantics.
///
/// ```
/// let (mut tx, mut rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
/// drop(tx); // never used: closed
/// assert!(rx.recv().is_err()); // Disconnected
/// ```
pub struct PipeReceiver<T> {
    rx: RxHalf<T>,
}

impl<T> fmt::Debug for PipeReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReceiver")
            .field("segment", &self.rx.map.id().to_string())
            .finish_non_exhaustive()
    }
}

impl<T> PipeReceiver<T> {
    pub(crate) fn from_half(rx: RxHalf<T>) -> Self {
        PipeReceiver { rx }
    }

    /// Sets how this end's blocking calls wait.
    ///
    /// ```
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let (_tx, mut rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
    /// rx.set_wait_strategy(WaitStrategy::Sleep);
    /// ```
    pub fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.rx.set_wait_strategy(s);
    }
}

impl<T: Message> PipeReceiver<T> {
    /// The handle another process attaches this end with (see [`Connection::handle`]).
    ///
    /// ```
    /// let (_tx, rx) = zeroproc_mp::pipe_oneway::<u8>().unwrap();
    /// assert!(rx.handle().attach().is_ok());
    /// ```
    pub fn handle(&self) -> ReceiverHandle<T> {
        self.rx.handed_out.set(true);
        ReceiverHandle::new(&self.rx.map)
    }

    recv_methods!(rx, "let (mut tx, mut rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();");
}
