//! The consumer side: validated records read in place, released on drop or in batches.

use super::claim::{self, PeerWatch};
use super::error::{CorruptError, RecvError, RecvTimeoutError, RingError, TryRecvError};
use super::record::{Parsed, RawHeader, RECORD_HEADER};
use super::view::RingView;
use std::time::{Duration, Instant};
use zeroproc_shm::atomic::Ordering;
use zeroproc_shm::wait::block_on;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{deadline_after, BlockError, Poll};

/// The consuming end of an SPSC ring. One per ring at a time, across all processes.
///
/// Dropping it marks the consumer side closed and wakes the producer, whose sends then
/// fail with `Disconnected`.
///
/// # Example
/// ```
/// use zeroproc_ring::spsc::{channel, TryRecvError};
/// let (mut tx, mut rx) = channel(4096).unwrap();
/// tx.try_send(b"one").unwrap();
/// drop(tx);
/// assert_eq!(&*rx.try_recv().unwrap(), b"one"); // what was sent is still delivered
/// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
/// ```
#[derive(Debug)]
pub struct Consumer {
    view: RingView,
    st: ConsState,
    strategy: WaitStrategy,
}

/// Process-local consumer state (never in shared memory).
#[derive(Debug)]
struct ConsState {
    /// The value last stored to the shared head (space up to here is released).
    head: u64,
    /// Position of the next record to read (≥ `head`: pads skipped and records consumed
    /// but not yet released lie between).
    read: u64,
    /// Buffer capacity (local copy of the validated value).
    cap: u64,
    /// The producer process was found dead.
    peer_dead: bool,
    /// Sticky: a record header or the producer's index was found invalid.
    corrupt: Option<CorruptError>,
}

/// A validated record in the buffer.
#[derive(Debug, Clone, Copy)]
struct Rec {
    pos: u64,
    len: u32,
    kind: u32,
    tag: u64,
    end: u64,
}

impl ConsState {
    /// The next data record after `read` (skipping pads), validated.
    #[inline]
    fn next(&mut self, v: &RingView) -> Result<Rec, TryRecvError> {
        if let Some(c) = self.corrupt {
            return Err(TryRecvError::Corrupt(c));
        }
        loop {
            let pos = self.read;
            let word = self.word_at(v, pos);
            if word == 0 {
                self.nothing_new(v)?;
                continue;
            }
            // Bytes the producer may have written from `pos`: up to one capacity past the
            // space we released.
            let available = self.head + self.cap - pos;
            let contiguous = v.capacity() - v.offset(pos);
            v.track_read(pos, RECORD_HEADER as u64);
            // SAFETY: `pos` is a multiple of 16 (it only grows by validated record sizes),
            // so its offset leaves ≥ 16 bytes before the end of the buffer, 16-aligned.
            let h = unsafe { RawHeader::read_tag(word, v.at(pos)) };
            match h.parse(contiguous, available, v.max_payload()) {
                Ok(Parsed::Pad { total }) => self.read = pos + total,
                Ok(Parsed::Data { len, kind, tag, total }) => {
                    v.track_read(pos, total);
                    return Ok(Rec { pos, len, kind, tag, end: pos + total });
                }
                Err(what) => return Err(self.fail(pos, what)),
            }
        }
    }

    /// The commit word of the record at `pos`: 0 while nothing is committed there.
    #[inline]
    fn word_at(&self, v: &RingView, pos: u64) -> u64 {
        if self.head + self.cap - pos < RECORD_HEADER as u64 {
            // We hold every byte up to one capacity: no room for the producer's next header
            // (it always keeps that room), so nothing can be there.
            return 0;
        }
        // Acquire: pairs with the producer's Release store of the word of a batch's first
        // record (ProdState::publish): everything the batch wrote is visible once we see
        // it — its headers, payloads, and the 0 word after its last record.
        v.word(pos).load(Ordering::Acquire)
    }

    /// Nothing is committed at `read`: release what we consumed and tell empty from closed.
    /// `Ok` means look again (the producer committed more before it closed or died).
    #[cold]
    fn nothing_new(&mut self, v: &RingView) -> Result<(), TryRecvError> {
        // Hand back what we consumed (deferred releases, skipped pads) before the caller
        // waits, so a producer waiting for room can proceed.
        self.release(v);
        // Acquire: pairs with the Release store of the flag in `Producer::drop`, which
        // follows its last publish; the word re-read below then sees its last commit.
        let closed = v.header().meta.producer_closed.load(Ordering::Acquire) != 0;
        if self.peer_dead || closed {
            if self.word_at(v, self.read) != 0 {
                return Ok(());
            }
            return Err(TryRecvError::Disconnected);
        }
        Err(TryRecvError::Empty)
    }

    #[cold]
    fn fail(&mut self, pos: u64, what: &'static str) -> TryRecvError {
        let c = CorruptError { pos, what };
        self.corrupt = Some(c);
        TryRecvError::Corrupt(c)
    }

    /// Publishes the consumed position, freeing the space for the producer.
    #[inline]
    fn release(&mut self, v: &RingView) {
        if self.read != self.head {
            // Release: pairs with the producer's Acquire load of `head`
            // (ProdState::refresh_head): our reads of the released records happen-before
            // it overwrites them.
            v.header().head.store(self.read, Ordering::Release);
            self.head = self.read;
            // A SeqCst fence and one load; the syscall only if the producer sleeps.
            v.header().not_full.notify_one();
        }
    }
}

impl Consumer {
    /// Claims the consumer side of the ring in `view`.
    pub(crate) fn claim(view: RingView) -> Result<Self, RingError> {
        let h = view.header();
        claim::claim(&h.meta.consumer_pid, &h.meta.consumer_closed)?;
        // Acquire: pairs with a previous consumer's Release store of `head`; we resume
        // where it released (a record it held but did not release is delivered again).
        let head = h.head.load(Ordering::Acquire);
        if head % RECORD_HEADER as u64 != 0 {
            // Relaxed: gives our claim back; nothing was done under it.
            h.meta.consumer_pid.store(0, Ordering::Relaxed);
            return Err(RingError::Corrupt(CorruptError {
                pos: head,
                what: "misaligned head in the ring header",
            }));
        }
        let st =
            ConsState { head, read: head, cap: view.capacity(), peer_dead: false, corrupt: None };
        Ok(Self { view, st, strategy: WaitStrategy::default() })
    }

    /// Whether a record looks available without waiting: true if the producer committed
    /// one (or a pad) at the read position. A hint for callers that do something before
    /// they block (e.g. account idle time); `try_recv` may still find only padding. Never
    /// blocks, never consumes.
    ///
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// assert!(!rx.is_ready());
    /// tx.try_send(b"x").unwrap();
    /// assert!(rx.is_ready());
    /// ```
    #[inline]
    pub fn is_ready(&mut self) -> bool {
        self.st.corrupt.is_some() || self.st.word_at(&self.view, self.st.read) != 0
    }

    /// Takes the next record without blocking. The guard derefs to the payload (read in
    /// place, 16-byte aligned) and releases its space when dropped.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::spsc::{channel, TryRecvError};
    /// let (mut tx, mut rx) = channel(4096).unwrap();
    /// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    /// tx.try_send(&[1, 2, 3]).unwrap();
    /// let rec = rx.try_recv().unwrap();
    /// assert_eq!(&*rec, &[1, 2, 3]);
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<RecordGuard<'_>, TryRecvError> {
        let rec = self.st.next(&self.view)?;
        Ok(RecordGuard { cons: self, rec })
    }

    /// Takes the next record, waiting (per the [`wait_strategy`](Self::wait_strategy))
    /// while the ring is empty. Returns [`RecvError::Disconnected`] once the producer
    /// closed or died and everything it published was consumed.
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1024).unwrap();
    /// std::thread::spawn(move || tx.send(b"later").unwrap());
    /// assert_eq!(&*rx.recv().unwrap(), b"later");
    /// assert_eq!(rx.recv().err(), Some(zeroproc_ring::spsc::RecvError::Disconnected));
    /// ```
    pub fn recv(&mut self) -> Result<RecordGuard<'_>, RecvError> {
        self.recv_impl(None).map_err(RecvTimeoutError::untimed)
    }

    /// Like [`recv`](Self::recv), giving up with [`RecvTimeoutError::Timeout`] after `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_ring::spsc::{channel, RecvTimeoutError};
    /// let (_tx, mut rx) = channel(1024).unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(2)).err(), Some(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecordGuard<'_>, RecvTimeoutError> {
        self.recv_impl(deadline_after(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with [`RecvTimeoutError::Timeout`] at `deadline`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1024).unwrap();
    /// tx.send(b"now").unwrap();
    /// let r = rx.recv_deadline(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(&*r, b"now");
    /// ```
    pub fn recv_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<RecordGuard<'_>, RecvTimeoutError> {
        self.recv_impl(Some(deadline))
    }

    /// The one blocking implementation behind `recv`, `_timeout` and `_deadline`.
    fn recv_impl(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<RecordGuard<'_>, RecvTimeoutError> {
        let rec = match self.st.next(&self.view) {
            Ok(r) => r,
            Err(TryRecvError::Empty) => self.recv_slow(deadline)?,
            Err(e) => return Err(e.into()),
        };
        Ok(RecordGuard { cons: self, rec })
    }

    #[cold]
    fn recv_slow(&mut self, deadline: Option<Instant>) -> Result<Rec, RecvTimeoutError> {
        let Self { view, st, strategy } = self;
        let view: &RingView = view;
        let hdr = view.header();
        let mut watch = PeerWatch::new();
        let res = block_on(&hdr.not_empty, *strategy, deadline, || match st.next(view) {
            Ok(r) => Poll::Ready(r),
            Err(TryRecvError::Empty) => {
                if watch.peer_dead(&hdr.meta.producer_pid) {
                    // It may have published more just before dying: the next poll
                    // (`nothing_new` with `peer_dead`) re-reads the word before giving up.
                    st.peer_dead = true;
                    match st.next(view) {
                        Ok(r) => Poll::Ready(r),
                        Err(e) => Poll::Failed(RecvTimeoutError::from(e)),
                    }
                } else {
                    Poll::Pending
                }
            }
            Err(e) => Poll::Failed(e.into()),
        });
        match res {
            Ok(r) => Ok(r),
            Err(BlockError::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(BlockError::Failed(e)) => Err(e),
        }
    }

    /// Consumes up to `max` records, calling `f` on each in order, and releases their
    /// space once at the end (one index store, one wake-up check: batched consume).
    /// Returns how many were consumed, or why none was (`Empty`, `Disconnected`,
    /// `Corrupt`). If `f` panics, the records it finished with are still released.
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// for i in 0u8..5 {
    ///     tx.try_send(&[i]).unwrap();
    /// }
    /// let mut seen = Vec::new();
    /// assert_eq!(rx.drain(3, |r| seen.push(r[0])), Ok(3));
    /// assert_eq!(rx.drain(usize::MAX, |r| seen.push(r[0])), Ok(2));
    /// assert_eq!(seen, [0, 1, 2, 3, 4]);
    /// ```
    pub fn drain(
        &mut self,
        max: usize,
        mut f: impl FnMut(Record<'_>),
    ) -> Result<usize, TryRecvError> {
        /// Releases on every exit, including unwinding out of `f`.
        struct ReleaseOnDrop<'s> {
            st: &'s mut ConsState,
            v: &'s RingView,
        }
        impl Drop for ReleaseOnDrop<'_> {
            fn drop(&mut self) {
                self.st.release(self.v);
            }
        }
        let g = ReleaseOnDrop { st: &mut self.st, v: &self.view };
        let mut n = 0;
        while n < max {
            match g.st.next(g.v) {
                Ok(rec) => {
                    f(Record::new(g.v, rec));
                    g.st.read = rec.end;
                    n += 1;
                }
                Err(e) if n == 0 => return Err(e),
                Err(_) => break, // reported by the next call (errors are sticky)
            }
        }
        Ok(n)
    }

    /// Releases records consumed with [`RecordGuard::defer_release`] (and skipped pads).
    /// Also done automatically whenever the consumer finds the ring empty.
    #[inline]
    pub fn release(&mut self) {
        self.st.release(&self.view);
    }

    /// Buffer capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.view.capacity() as usize
    }

    /// How the blocking operations wait.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Sets how the blocking operations wait (default [`WaitStrategy::default`]).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// Builder form of [`set_wait_strategy`](Self::set_wait_strategy).
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::wait::WaitStrategy;
    /// let (_tx, rx) = zeroproc_ring::spsc::channel(64).unwrap();
    /// let rx = rx.with_wait_strategy(WaitStrategy::Sleep);
    /// assert_eq!(rx.wait_strategy(), WaitStrategy::Sleep);
    /// ```
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Where another process can attach this ring (`None` for a heap ring).
    #[cfg(not(loom))]
    pub fn descriptor(&self) -> Option<super::Descriptor> {
        super::descriptor::of_view(&self.view)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let h = self.view.header();
        // Release: pairs with the Acquire load of the flag in `claim` (no data is handed
        // over; the producer's Relaxed check just stops sending).
        h.meta.consumer_closed.store(1, Ordering::Release);
        // Wake a producer sleeping on a full ring so it sees the flag.
        h.not_full.notify_all();
    }
}

/// A record being read in place; its space is released when the guard drops.
///
/// Derefs to the payload bytes (16-byte aligned).
///
/// # Example
/// ```
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
/// let mut r = tx.try_reserve(2).unwrap();
/// r.copy_from_slice(b"hi");
/// r.set_kind(3);
/// r.commit();
/// let g = rx.try_recv().unwrap();
/// assert_eq!((g.len(), g.kind(), g.tag()), (2, 3, 0));
/// assert_eq!(g.as_ptr() as usize % 16, 0);
/// ```
#[derive(Debug)]
pub struct RecordGuard<'a> {
    cons: &'a mut Consumer,
    rec: Rec,
}

impl RecordGuard<'_> {
    /// The record's kind (set with [`Reservation::set_kind`](super::Reservation::set_kind)).
    #[inline]
    pub fn kind(&self) -> u32 {
        self.rec.kind
    }

    /// The record's user tag (set with [`Reservation::set_tag`](super::Reservation::set_tag)).
    #[inline]
    pub fn tag(&self) -> u64 {
        self.rec.tag
    }

    /// Marks the record consumed without releasing its space yet: the next release (a
    /// guard dropped normally, [`Consumer::release`], `drain`, or finding the ring empty)
    /// frees it together with the others (batched consume over `try_recv`).
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// tx.try_send(b"a").unwrap();
    /// tx.try_send(b"b").unwrap();
    /// rx.try_recv().unwrap().defer_release();
    /// rx.try_recv().unwrap().defer_release();
    /// rx.release(); // one index store for both
    /// ```
    #[inline]
    pub fn defer_release(self) {
        let mut me = std::mem::ManuallyDrop::new(self);
        me.cons.st.read = me.rec.end;
    }
}

impl std::ops::Deref for RecordGuard<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        payload(&self.cons.view, &self.rec)
    }
}

impl Drop for RecordGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.cons.st.read = self.rec.end;
        self.cons.st.release(&self.cons.view);
    }
}

/// The payload of a validated record.
#[inline]
fn payload<'v>(v: &'v RingView, rec: &Rec) -> &'v [u8] {
    let p = v.at(rec.pos + RECORD_HEADER as u64);
    // SAFETY: `next` validated that the whole record lies inside the buffer before its end
    // and within one capacity of our head; the producer does not write it again until we release
    // it (u8 is valid for any bits, whatever a hostile peer writes).
    unsafe { std::slice::from_raw_parts(p, rec.len as usize) }
}

/// One record handed to the [`Consumer::drain`] callback: derefs to the payload.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    data: &'a [u8],
    kind: u32,
    tag: u64,
}

impl<'a> Record<'a> {
    fn new(v: &'a RingView, rec: Rec) -> Self {
        Self { data: payload(v, &rec), kind: rec.kind, tag: rec.tag }
    }

    /// The payload (same as deref).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The record's kind.
    #[inline]
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The record's user tag.
    #[inline]
    pub fn tag(&self) -> u64 {
        self.tag
    }
}

impl std::ops::Deref for Record<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.data
    }
}
