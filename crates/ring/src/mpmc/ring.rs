//! [`Ring`]: the process-shared MPMC ring handle, its non-blocking and blocking operations.

use super::error::{PopError, PopTimeoutError, PushError, PushTimeoutError};
use super::error::{TryPopError, TryPushError};
use super::protocol::{Core, PopClaim, PushFail, Stats};
use super::storage::{ShmStorage, Storage};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{block_on, deadline_after, BlockError, Poll};
use zeroproc_shm::{Offset, Segment};

/// A bounded multi-producer multi-consumer ring of fixed-size slots in shared memory.
///
/// Any number of processes attach to the same ring, and a handle is `Clone + Send + Sync`,
/// so any number of producers and consumers may use it in each process. A process that
/// dies in the middle of an operation (SIGKILL) does not wedge the ring: a producer loses
/// at most the record it was writing, a consumer at most the record it was reading (see
/// the README beside this file).
///
/// Payloads are byte strings of at most [`slot_size`](Self::slot_size) bytes, 16-byte
/// aligned in the slot; they are copied in ([`try_push`](Self::try_push)) or written in
/// place ([`try_push_with`](Self::try_push_with)), and read in place
/// ([`try_pop_with`](Self::try_pop_with)) or copied out ([`try_pop`](Self::try_pop)).
/// Every operation comes as `try_op`, `op` (blocking), `op_timeout` and `op_deadline`;
/// blocked calls wait with the handle's [`WaitStrategy`].
///
/// # Example
/// ```
/// use std::thread;
/// use zeroproc_ring::mpmc::Ring;
///
/// let ring = Ring::new(64, 16).unwrap();
/// let producers: Vec<_> = (0..2u64)
///     .map(|p| {
///         let r = ring.clone();
///         thread::spawn(move || {
///             for i in 0..1000u64 {
///                 r.push((p * 1000 + i).to_le_bytes()).unwrap();
///             }
///         })
///     })
///     .collect();
/// let consumer = {
///     let r = ring.clone();
///     thread::spawn(move || {
///         let mut sum = 0u64;
///         while let Ok(v) = r.pop_with(|b| u64::from_le_bytes(b.try_into().unwrap())) {
///             sum += v;
///         }
///         sum // pop_with returned Closed: closed and drained
///     })
/// };
/// for p in producers {
///     p.join().unwrap();
/// }
/// ring.close();
/// assert_eq!(consumer.join().unwrap(), (0..2000).sum::<u64>());
/// ```
#[derive(Clone)]
pub struct Ring {
    core: Core<ShmStorage>,
    strategy: WaitStrategy,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("descriptor", &self.descriptor().to_string())
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .field("strategy", &self.strategy)
            .finish()
    }
}

impl Ring {
    pub(crate) fn from_core(core: Core<ShmStorage>, strategy: WaitStrategy) -> Self {
        Ring { core, strategy }
    }

    // ------------------------------------------------------------------ properties

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Largest payload in bytes (the requested slot size rounded up to 16).
    pub fn slot_size(&self) -> usize {
        self.core.slot_size()
    }

    /// Records pushed and not yet popped: a snapshot of the ring's position hints, exact
    /// when no operation is in flight.
    ///
    /// # Example
    /// ```
    /// let ring = zeroproc_ring::mpmc::Ring::new(2, 16).unwrap();
    /// ring.try_push(b"x").unwrap();
    /// assert_eq!(ring.len(), 1);
    /// assert!(!ring.is_empty() && !ring.is_full());
    /// ring.try_push(b"y").unwrap();
    /// assert!(ring.is_full());
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`len`](Self::len) equals the capacity.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Closes the ring for every process: pushes fail with `Closed` (handing the payload
    /// back); pops drain what was pushed, then fail with `Closed`. Wakes every sleeper.
    /// A push that races with `close` either is delivered or returns `Closed`, never lost.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{Ring, TryPopError, TryPushError};
    /// let ring = Ring::new(4, 16).unwrap();
    /// ring.try_push(b"last").unwrap();
    /// ring.close();
    /// assert_eq!(ring.try_push(b"late"), Err(TryPushError::Closed(b"late")));
    /// assert_eq!(ring.try_pop().unwrap(), b"last");
    /// assert_eq!(ring.try_pop(), Err(TryPopError::Closed));
    /// ```
    pub fn close(&self) {
        self.core.close()
    }

    /// Whether [`close`](Self::close) was called (by any process).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Sets a function this handle (and its clones made afterwards) calls with the bytes
    /// of every record that its crash recovery drops: a record whose consumer died
    /// holding it (`stats().dead_readers`), or the payload area of a slot whose producer
    /// died writing it (`stats().dead_writers`: all `slot_size` bytes, possibly partial).
    /// For records that own something outside the ring (a heap block they point at),
    /// which would otherwise leak. Called once per recovered slot, by the one recoverer
    /// whose recovery succeeded, after the slot was released (never while holding it).
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
    /// let mut ring = zeroproc_ring::mpmc::Ring::new(2, 64).unwrap();
    /// let lost = Arc::new(AtomicUsize::new(0));
    /// let l = lost.clone();
    /// ring.set_lost_record_hook(move |_record: &[u8]| { l.fetch_add(1, Ordering::Relaxed); });
    /// ring.try_push(b"x").unwrap();
    /// assert_eq!(ring.try_pop().unwrap(), b"x"); // nobody died: never called
    /// assert_eq!(lost.load(Ordering::Relaxed), 0);
    /// ```
    pub fn set_lost_record_hook(&mut self, hook: impl Fn(&[u8]) + Send + Sync + 'static) {
        self.core.lost = Some(std::sync::Arc::new(hook));
    }

    /// Recovery and corruption counters, shared by every process using the ring.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The protocol core (for [`PopGuard`](super::PopGuard)).
    pub(crate) fn core(&self) -> &Core<ShmStorage> {
        &self.core
    }

    /// How this handle's blocking calls wait (default: spin briefly, then sleep).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// This handle with another [`WaitStrategy`] (other handles are unaffected).
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::Ring;
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let ring = Ring::new(4, 16).unwrap().with_wait_strategy(WaitStrategy::Spin);
    /// assert_eq!(ring.wait_strategy(), WaitStrategy::Spin);
    /// ```
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets this handle's [`WaitStrategy`].
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// The segment holding the ring.
    pub fn segment(&self) -> &Arc<Segment> {
        self.core.storage().segment()
    }

    /// The ring's offset from its segment's base.
    pub fn offset(&self) -> Offset<u8> {
        Offset::new(self.core.storage().offset())
    }

    /// Offsets from the segment's base of slot `index`'s state word and length word
    /// (`index` is reduced modulo the capacity). For inspection tools and corruption tests.
    #[doc(hidden)]
    pub fn slot_word_offsets(&self, index: usize) -> (u64, u64) {
        let slot = self.core.storage().slot(index as u64);
        let base = self.segment().base() as u64;
        let state = &slot.ctl().state as *const _ as u64 - base;
        (state, state + 8)
    }

    // ------------------------------------------------------------------ push

    /// Copies `item` into a free slot, or hands it back: `Full`, `Closed`, `TooLarge`.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{Ring, TryPushError};
    /// let ring = Ring::new(1, 16).unwrap();
    /// ring.try_push(vec![1u8, 2, 3]).unwrap();
    /// let back = ring.try_push(vec![4u8]).unwrap_err();
    /// assert!(matches!(back, TryPushError::Full(_)));
    /// assert_eq!(back.into_inner(), vec![4u8]);
    /// ```
    #[inline]
    pub fn try_push<T: AsRef<[u8]>>(&self, item: T) -> Result<(), TryPushError<T>> {
        self.core.try_push(item)
    }

    /// Copies `item` into a slot, waiting while the ring is full.
    #[inline]
    pub fn push<T: AsRef<[u8]>>(&self, item: T) -> Result<(), PushError<T>> {
        let len = item.as_ref().len();
        self.push_impl(item, len, None, copy_in).map_err(forever)
    }

    /// Like [`push`](Self::push), giving up after `timeout` (the item comes back in
    /// `Timeout`).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_ring::mpmc::{PushTimeoutError, Ring};
    /// let ring = Ring::new(1, 16).unwrap();
    /// ring.push_timeout(b"a", Duration::from_millis(1)).unwrap();
    /// let r = ring.push_timeout(b"b", Duration::from_millis(1));
    /// assert_eq!(r, Err(PushTimeoutError::Timeout(b"b")));
    /// ```
    #[inline]
    pub fn push_timeout<T: AsRef<[u8]>>(
        &self,
        item: T,
        timeout: Duration,
    ) -> Result<(), PushTimeoutError<T>> {
        let len = item.as_ref().len();
        self.push_impl(item, len, deadline_after(timeout), copy_in)
    }

    /// Like [`push`](Self::push), giving up at `deadline`.
    #[inline]
    pub fn push_deadline<T: AsRef<[u8]>>(
        &self,
        item: T,
        deadline: Instant,
    ) -> Result<(), PushTimeoutError<T>> {
        let len = item.as_ref().len();
        self.push_impl(item, len, Some(deadline), copy_in)
    }

    /// Claims a free slot and lets `f` write exactly `len` payload bytes in place (the
    /// buffer holds stale bytes: overwrite all of them). If `f` panics, the slot becomes a
    /// tombstone consumers skip. On failure `f` is handed back, not called.
    ///
    /// # Example
    /// ```
    /// let ring = zeroproc_ring::mpmc::Ring::new(4, 64).unwrap();
    /// ring.try_push_with(8, |buf| buf.copy_from_slice(&42u64.to_le_bytes())).unwrap();
    /// let v = ring.try_pop_with(|b| u64::from_le_bytes(b.try_into().unwrap())).unwrap();
    /// assert_eq!(v, 42);
    /// ```
    #[inline]
    pub fn try_push_with<F: FnOnce(&mut [u8])>(
        &self,
        len: usize,
        f: F,
    ) -> Result<(), TryPushError<F>> {
        self.core.try_push_with(len, f)
    }

    /// [`try_push_with`](Self::try_push_with), waiting while the ring is full.
    #[inline]
    pub fn push_with<F: FnOnce(&mut [u8])>(&self, len: usize, f: F) -> Result<(), PushError<F>> {
        self.push_impl(f, len, None, call_in).map_err(forever)
    }

    /// [`try_push_with`](Self::try_push_with), waiting while the ring is full until
    /// `deadline` (`None`: no limit). The general form every blocking push is built on.
    #[inline]
    pub fn push_with_deadline<F: FnOnce(&mut [u8])>(
        &self,
        len: usize,
        deadline: Option<Instant>,
        f: F,
    ) -> Result<(), PushTimeoutError<F>> {
        self.push_impl(f, len, deadline, call_in)
    }

    #[inline]
    fn push_impl<T>(
        &self,
        item: T,
        len: usize,
        deadline: Option<Instant>,
        write: impl FnOnce(T, &mut [u8]),
    ) -> Result<(), PushTimeoutError<T>> {
        if len > self.slot_size() {
            return Err(PushTimeoutError::TooLarge(item));
        }
        let core = &self.core;
        let mut waited = false;
        let claimed = block_on(&core.control().not_full, self.strategy, deadline, || {
            match core.claim_push() {
                Ok(c) => Poll::Ready(c),
                Err(PushFail::Full) => {
                    waited = true;
                    Poll::Pending
                }
                Err(PushFail::Closed) => Poll::Failed(()),
            }
        });
        match claimed {
            Ok(c) => {
                if waited {
                    core.pass_on_space(&c);
                }
                // SAFETY: `c` is a fresh claim of this ring.
                unsafe { core.complete_push(c, len, |b| write(item, b)) };
                Ok(())
            }
            Err(BlockError::Timeout) => Err(PushTimeoutError::Timeout(item)),
            Err(BlockError::Failed(())) => Err(PushTimeoutError::Closed(item)),
        }
    }

    // ------------------------------------------------------------------ pop

    /// Pops the oldest record into a new `Vec`.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::mpmc::{Ring, TryPopError};
    /// let ring = Ring::new(4, 16).unwrap();
    /// assert_eq!(ring.try_pop(), Err(TryPopError::Empty));
    /// ring.try_push(b"abc").unwrap();
    /// assert_eq!(ring.try_pop().unwrap(), b"abc");
    /// ```
    #[inline]
    pub fn try_pop(&self) -> Result<Vec<u8>, TryPopError> {
        self.core.try_pop_with(<[u8]>::to_vec)
    }

    /// Pops the oldest record, letting `f` read it in place; returns what `f` returns. If
    /// `f` panics, the record is dropped and the slot released.
    #[inline]
    pub fn try_pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TryPopError> {
        self.core.try_pop_with(f)
    }

    /// Pops the oldest record into a new `Vec`, waiting while the ring is empty.
    #[inline]
    pub fn pop(&self) -> Result<Vec<u8>, PopError> {
        self.pop_impl(None, <[u8]>::to_vec).map_err(forever_pop)
    }

    /// Like [`pop`](Self::pop), giving up after `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_ring::mpmc::{PopTimeoutError, Ring};
    /// let ring = Ring::new(4, 16).unwrap();
    /// assert_eq!(ring.pop_timeout(Duration::from_millis(1)), Err(PopTimeoutError::Timeout));
    /// ```
    #[inline]
    pub fn pop_timeout(&self, timeout: Duration) -> Result<Vec<u8>, PopTimeoutError> {
        self.pop_impl(deadline_after(timeout), <[u8]>::to_vec)
    }

    /// Like [`pop`](Self::pop), giving up at `deadline`.
    #[inline]
    pub fn pop_deadline(&self, deadline: Instant) -> Result<Vec<u8>, PopTimeoutError> {
        self.pop_impl(Some(deadline), <[u8]>::to_vec)
    }

    /// [`try_pop_with`](Self::try_pop_with), waiting while the ring is empty.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, PopError> {
        self.pop_impl(None, f).map_err(forever_pop)
    }

    /// [`try_pop_with`](Self::try_pop_with), waiting while the ring is empty until
    /// `deadline` (`None`: no limit). The general form every blocking pop is built on.
    #[inline]
    pub fn pop_with_deadline<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, PopTimeoutError> {
        self.pop_impl(deadline, f)
    }

    #[inline]
    fn pop_impl<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, PopTimeoutError> {
        let c = self.claim_pop_blocking(deadline)?;
        // SAFETY: `c` is a fresh claim of this ring.
        Ok(unsafe { self.core.complete_pop(c, f) })
    }

    /// Claims the oldest record, waiting while the ring is empty until `deadline` (`None`:
    /// no limit): the one blocking claim loop of every blocking pop (and of
    /// [`pop_guard_deadline`](Self::pop_guard_deadline)).
    #[inline]
    pub(crate) fn claim_pop_blocking(
        &self,
        deadline: Option<Instant>,
    ) -> Result<PopClaim, PopTimeoutError> {
        let core = &self.core;
        let mut waited = false;
        let claimed = block_on(&core.control().not_empty, self.strategy, deadline, || {
            match core.claim_pop() {
                Ok(c) => Poll::Ready(c),
                Err(TryPopError::Empty) => {
                    waited = true;
                    Poll::Pending
                }
                Err(TryPopError::Closed) => Poll::Failed(PopTimeoutError::Closed),
                Err(TryPopError::Corrupt(x)) => Poll::Failed(PopTimeoutError::Corrupt(x)),
            }
        });
        match claimed {
            Ok(c) => {
                if waited {
                    core.pass_on_records(&c);
                }
                Ok(c)
            }
            Err(BlockError::Timeout) => Err(PopTimeoutError::Timeout),
            Err(BlockError::Failed(e)) => Err(e),
        }
    }
}

#[inline]
fn copy_in<T: AsRef<[u8]>>(item: T, buf: &mut [u8]) {
    buf.copy_from_slice(item.as_ref())
}

#[inline]
fn call_in<F: FnOnce(&mut [u8])>(f: F, buf: &mut [u8]) {
    f(buf)
}

/// A push without a deadline cannot time out.
fn forever<T>(e: PushTimeoutError<T>) -> PushError<T> {
    match e {
        PushTimeoutError::Closed(t) => PushError::Closed(t),
        PushTimeoutError::TooLarge(t) => PushError::TooLarge(t),
        PushTimeoutError::Timeout(_) => unreachable!("no deadline was given"),
    }
}

/// A pop without a deadline cannot time out.
fn forever_pop(e: PopTimeoutError) -> PopError {
    match e {
        PopTimeoutError::Closed => PopError::Closed,
        PopTimeoutError::Corrupt(c) => PopError::Corrupt(c),
        PopTimeoutError::Timeout => unreachable!("no deadline was given"),
    }
}
