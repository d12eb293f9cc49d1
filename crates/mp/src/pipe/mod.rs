//! Creating pipes: [`pipe`] (duplex, two SPSC rings), [`pipe_oneway`] (one ring), and
//! [`PipeBuilder`] for the ring and heap sizes. Both rings and the spill heap live in one
//! memfd segment.

mod connection;
mod error;
mod handle;
#[cfg(test)]
mod kill_tests;
mod records;
mod recv;
mod send;
#[cfg(test)]
mod stuck_tests;

pub use crate::channel::{ChannelError, CorruptError, Ref};
pub use connection::{Connection, PipeReceiver, PipeSender};
pub use error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError};
pub use error::{TryRecvError, TrySendError};
pub(crate) use handle::EndPin;
pub use handle::{ArchivedConnectionHandle, ArchivedReceiverHandle, ArchivedSenderHandle};
pub use handle::{ConnectionHandle, ReceiverHandle, SenderHandle};

use crate::channel::header::{type_hash, KIND_DUPLEX, KIND_ONEWAY};
use crate::channel::mapping::{heap_lengths, Mapping, Plan};
use crate::channel::message::Message;
use crate::pipe::handle::ring;
use crate::pipe::recv::RxHalf;
use crate::pipe::send::TxHalf;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use zeroproc_ring::spsc;
use zeroproc_shm::Offset;

/// Bytes of each direction's ring of [`pipe`] / [`pipe_oneway`] (records up to half of
/// it, less 16, travel inline).
pub const DEFAULT_PIPE_CAPACITY: usize = 64 << 10;
/// Bytes of the spill heap of [`pipe`] / [`pipe_oneway`], reserved at creation (small: it
/// grows on demand).
pub const DEFAULT_PIPE_HEAP_SIZE: usize = 64 << 10;
/// The most the spill heap of [`pipe`] / [`pipe_oneway`] grows to (1 GiB): it grows on
/// demand, so a 64 MiB message fits a default pipe. Only address space is taken at
/// creation.
pub const DEFAULT_PIPE_MAX_HEAP_SIZE: usize = 1 << 30;

/// A duplex pipe (Python's `Pipe()`): two connected [`Connection`]s, each sending to the
/// other, in a new memfd segment. Hand one end to another process with
/// [`Connection::handle`].
///
/// ```
/// let (mut a, mut b) = zeroproc_mp::pipe::<String>().unwrap();
/// a.send("to b".into()).unwrap();
/// b.send("to a".into()).unwrap();
/// assert_eq!(b.recv().unwrap(), "to b");
/// assert_eq!(a.recv().unwrap(), "to a");
/// ```
pub fn pipe<T: Message>() -> Result<(Connection<T>, Connection<T>), ChannelError> {
    PipeBuilder::new().duplex()
}

/// A one-way pipe (Python's `Pipe(duplex=False)`, ends in Rust's `(sender, receiver)`
/// order), in a new memfd segment.
///
/// ```
/// let (mut tx, mut rx) = zeroproc_mp::pipe_oneway::<Vec<u8>>().unwrap();
/// tx.send(vec![1, 2, 3]).unwrap();
/// assert_eq!(rx.recv().unwrap(), [1, 2, 3]);
/// ```
pub fn pipe_oneway<T: Message>() -> Result<(PipeSender<T>, PipeReceiver<T>), ChannelError> {
    PipeBuilder::new().oneway()
}

/// Sizes a pipe before creating it.
///
/// ```
/// use zeroproc_mp::pipe::PipeBuilder;
/// let (mut a, mut b) = PipeBuilder::<u64>::new().capacity(4096).heap_size(0).duplex().unwrap();
/// assert_eq!(a.max_record(), 2048 - 16);
/// a.send(1).unwrap();
/// assert_eq!(b.recv().unwrap(), 1);
/// ```
pub struct PipeBuilder<T> {
    capacity: usize,
    heap_size: usize,
    max_heap_size: usize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for PipeBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeBuilder")
            .field("capacity", &self.capacity)
            .field("heap_size", &self.heap_size)
            .field("max_heap_size", &self.max_heap_size)
            .finish()
    }
}

impl<T: Message> Default for PipeBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Message> PipeBuilder<T> {
    /// The defaults: [`DEFAULT_PIPE_CAPACITY`], [`DEFAULT_PIPE_HEAP_SIZE`],
    /// [`DEFAULT_PIPE_MAX_HEAP_SIZE`].
    ///
    /// ```
    /// let (_tx, _rx) = zeroproc_mp::pipe::PipeBuilder::<u8>::new().oneway().unwrap();
    /// ```
    pub fn new() -> Self {
        PipeBuilder {
            capacity: DEFAULT_PIPE_CAPACITY,
            heap_size: DEFAULT_PIPE_HEAP_SIZE,
            max_heap_size: DEFAULT_PIPE_MAX_HEAP_SIZE,
            _t: PhantomData,
        }
    }

    /// Bytes of each direction's ring: a power of two, at least 64 (checked on build).
    ///
    /// ```
    /// let r = zeroproc_mp::pipe::PipeBuilder::<u8>::new().capacity(1000).oneway();
    /// assert!(r.is_err()); // not a power of two
    /// ```
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Bytes of the spill heap reserved at creation (rounded up to 4 KiB; 0: none, larger
    /// messages are refused with `TooLarge`). It grows on demand up to
    /// [`max_heap_size`](Self::max_heap_size).
    ///
    /// ```
    /// use zeroproc_mp::pipe::{PipeBuilder, TrySendError};
    /// let (mut tx, _rx) = PipeBuilder::<Vec<u8>>::new().capacity(256).heap_size(0).oneway().unwrap();
    /// assert!(matches!(tx.try_send(vec![0; 1000]), Err(TrySendError::TooLarge(_))));
    /// ```
    pub fn heap_size(mut self, bytes: usize) -> Self {
        self.heap_size = bytes;
        self
    }

    /// The most the spill heap grows to (default [`DEFAULT_PIPE_MAX_HEAP_SIZE`]; rounded
    /// up to 4 KiB; at least [`heap_size`](Self::heap_size)). A send that finds the heap
    /// full grows it (doubling, for both ends); at the maximum a blocking send waits for
    /// the receiver to free room, and a message that cannot fit even then is `TooLarge`,
    /// handed back. Only `heap_size` is reserved at creation.
    ///
    /// ```
    /// use zeroproc_mp::pipe::{PipeBuilder, TrySendError};
    /// let (mut tx, mut rx) =
    ///     PipeBuilder::<Vec<u8>>::new().heap_size(64 << 10).max_heap_size(1 << 20).oneway().unwrap();
    /// tx.send(vec![7; 300 << 10]).unwrap(); // larger than the initial heap: it grows
    /// assert_eq!(rx.recv().unwrap().len(), 300 << 10);
    /// assert!(matches!(tx.try_send(vec![0; 2 << 20]), Err(TrySendError::TooLarge(v)) if v.len() == 2 << 20));
    /// ```
    pub fn max_heap_size(mut self, bytes: usize) -> Self {
        self.max_heap_size = bytes;
        self
    }

    /// Creates a duplex pipe.
    ///
    /// ```
    /// let (a, b) = zeroproc_mp::pipe::PipeBuilder::<u8>::new().duplex().unwrap();
    /// # drop((a, b));
    /// ```
    pub fn duplex(self) -> Result<(Connection<T>, Connection<T>), ChannelError> {
        let map = self.create(KIND_DUPLEX)?;
        let end = |tx: usize, rx: usize, id: u8| -> Result<Connection<T>, ChannelError> {
            let t = TxHalf::new(map.clone(), ring(&map, tx)?, tx);
            let r = RxHalf::new(map.clone(), ring(&map, rx)?, rx);
            Ok(Connection::from_halves(t, r, id))
        };
        Ok((end(0, 1, 0)?, end(1, 0, 1)?))
    }

    /// Creates a one-way pipe: `(sender, receiver)`.
    ///
    /// ```
    /// let (tx, rx) = zeroproc_mp::pipe::PipeBuilder::<u8>::new().oneway().unwrap();
    /// # drop((tx, rx));
    /// ```
    pub fn oneway(self) -> Result<(PipeSender<T>, PipeReceiver<T>), ChannelError> {
        let map = self.create(KIND_ONEWAY)?;
        let tx = TxHalf::new(map.clone(), ring(&map, 0)?, 0);
        let rx = RxHalf::new(map.clone(), ring(&map, 0)?, 0);
        Ok((PipeSender::from_half(tx), PipeReceiver::from_half(rx)))
    }

    fn create(self, kind: u32) -> Result<Arc<Mapping>, ChannelError> {
        let size = spsc::size_for(self.capacity)?;
        let (heap_len, heap_max) = heap_lengths(self.heap_size, self.max_heap_size)?;
        let plan = Plan {
            kind,
            type_hash: type_hash::<T>(),
            ring_sizes: [size, if kind == KIND_DUPLEX { size } else { 0 }],
            ring_cap: self.capacity,
            slot_size: 0,
            heap_len,
            heap_max,
        };
        Mapping::create(&plan, |seg, geo| {
            for &off in geo.ring_off.iter().filter(|&&o| o != 0) {
                // SAFETY: the segment is fresh and its id not handed out; the region at
                // `off` was sized for this ring and nothing else uses it.
                unsafe { spsc::Ring::init_in(seg.clone(), Offset::new(off), self.capacity) }?;
            }
            Ok(())
        })
    }
}
