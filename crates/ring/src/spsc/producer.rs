//! The producer side: reserve space, write in place, commit (or stage and publish a batch).

use super::claim::{self, PeerWatch};
use super::error::{
    CorruptError, ReserveError, ReserveTimeoutError, RingError, SendError, SendTimeoutError,
    TryReserveError, TrySendError,
};
use super::record::{record_size, RawHeader, MAX_KIND, RECORD_HEADER};
use super::view::RingView;
use std::time::{Duration, Instant};
use zeroproc_shm::atomic::Ordering;
use zeroproc_shm::wait::block_on;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{deadline_after, BlockError, Poll};

/// The producing end of an SPSC ring. One per ring at a time, across all processes.
///
/// Dropping it publishes anything staged, marks the producer side closed and wakes the
/// consumer, which drains what is left and then gets `Disconnected`.
///
/// # Example
/// ```
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
/// let mut r = tx.try_reserve(5).unwrap();
/// r.copy_from_slice(b"hello"); // write in place, straight into the ring
/// r.commit();
/// assert_eq!(&*rx.try_recv().unwrap(), b"hello");
/// ```
#[derive(Debug)]
pub struct Producer {
    view: RingView,
    st: ProdState,
    strategy: WaitStrategy,
}

/// Process-local producer state (never in shared memory).
#[derive(Debug)]
struct ProdState {
    /// End of everything reserved and staged or committed (≥ `published`).
    tail: u64,
    /// End of everything committed (the value last stored to the shared tail). The word at
    /// this position is 0 until the next publish stores `pending` there.
    published: u64,
    /// The commit word of the first record (or pad) staged at `published`, held back until
    /// `publish` stores it: the consumer cannot pass that record, so the batch appears at
    /// once (README.md, "Commit words").
    pending: u64,
    /// Last consumer position read from shared memory; free space is at least
    /// `capacity - (tail - head_cache)`.
    head_cache: u64,
    /// The consumer process was found dead.
    peer_dead: bool,
    /// Sticky: the consumer's index was found invalid.
    corrupt: Option<CorruptError>,
    /// Position of the last record staged or committed (see `Producer::last_position`).
    last: u64,
    /// Ring position up to which this producer has faulted the buffer's pages in ahead of
    /// its writes (`prefault`); stops at `prefault_limit`, one lap past the claim.
    prefault_end: u64,
    prefault_limit: u64,
}

/// Bytes faulted in at once ahead of the producer on its first lap: 16 pages.
const PREFAULT_STEP: u64 = 64 << 10;
/// The span of ring positions left to fault in as written at a claim (a 4 KiB page).
const FIRST_PAGE: u64 = 4096;

/// Where a reserved record goes.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// Bytes of pad before the record (0, or up to the end of the buffer).
    pad: u64,
    /// Ring position of the record header.
    start: u64,
    /// Payload length.
    len: u32,
}

impl ProdState {
    /// Finds room for a `len`-byte payload at the local tail.
    #[inline]
    fn place(&mut self, v: &RingView, len: usize) -> Result<Placement, TryReserveError> {
        if let Some(c) = self.corrupt {
            return Err(TryReserveError::Corrupt(c));
        }
        let max = v.max_payload();
        if len as u64 > max {
            return Err(TryReserveError::TooLarge { len, max: max as usize });
        }
        // Relaxed: a flag with no data attached; we only stop sending when we see it.
        if self.peer_dead || v.header().meta.consumer_closed.load(Ordering::Relaxed) != 0 {
            return Err(TryReserveError::Disconnected);
        }
        let rec = record_size(len as u64);
        let contiguous = v.capacity() - v.offset(self.tail);
        let pad = if rec <= contiguous { 0 } else { contiguous };
        // Room for the record, its pad, and the header after it (whose commit word we
        // zero before committing: README.md, "Commit words").
        let need = pad + rec + RECORD_HEADER as u64;
        if self.tail + need - self.head_cache > v.capacity() {
            self.refresh_head(v, need)?;
        }
        if self.tail + need > self.prefault_end && self.prefault_end < self.prefault_limit {
            self.prefault(v, self.tail + need);
        }
        Ok(Placement { pad, start: self.tail + pad, len: len as u32 })
    }

    /// Faults in the buffer's pages ahead of the writes, 64 KiB at a time, until `end` is
    /// covered, on the producer's first lap only. A ring's pages are allocated where first
    /// touched (the pool segment, a queue's segment: `reserve_later`), and one write fault
    /// per 4 KiB page cost its record a few µs — every ~80th tiny job of a fresh pool (W1
    /// p99 6.8 µs over 20,000 round trips instead of 1.3): one `MADV_POPULATE_WRITE` per 16
    /// pages makes that one slower record per 16 pages. Best effort: where it is not
    /// supported (kernels before 5.14) the pages fault in as written.
    #[cold]
    fn prefault(&mut self, v: &RingView, end: u64) {
        while self.prefault_end < end.min(self.prefault_limit) {
            let off = v.offset(self.prefault_end);
            let len = PREFAULT_STEP.min(v.capacity() - off);
            v.populate(off, len);
            self.prefault_end += len;
        }
    }

    /// Stores the commit word of a header staged at `pos`, or holds it back in `pending`
    /// if `pos` is the batch's first.
    #[inline]
    fn stage_word(&mut self, pos: u64, word: u64, v: &RingView) {
        if pos == self.published {
            self.pending = word;
        } else {
            // Relaxed: see `Reservation::finish`.
            v.word(pos).store(word, Ordering::Relaxed);
        }
    }

    /// The cache says full: reload the consumer's position.
    #[cold]
    fn refresh_head(&mut self, v: &RingView, need: u64) -> Result<(), TryReserveError> {
        // Acquire: pairs with the consumer's Release store of `head` (ConsState::release):
        // its reads of the records it released happen-before we overwrite that space.
        let h = v.header().head.load(Ordering::Acquire);
        if h < self.head_cache || h > self.published || h % RECORD_HEADER as u64 != 0 {
            let c = CorruptError {
                pos: h,
                what: "consumer's head went backwards, past the tail, or is misaligned",
            };
            self.corrupt = Some(c);
            return Err(TryReserveError::Corrupt(c));
        }
        self.head_cache = h;
        if self.tail + need - h <= v.capacity() {
            return Ok(());
        }
        // Staged records are invisible to the consumer: publish them, or it could never
        // make room (and a blocking reserve would wait forever).
        self.publish(v);
        Err(TryReserveError::Full)
    }

    /// Makes everything staged visible to the consumer and wakes it if it sleeps.
    #[inline]
    fn publish(&mut self, v: &RingView) {
        if self.tail != self.published {
            // Release: pairs with the consumer's Acquire load of the commit word at its read
            // position (ConsState::next): every header, payload and 0 word of the batch,
            // written before this store, is visible to a consumer that sees the word.
            v.word(self.published).store(self.pending, Ordering::Release);
            // Release: pairs with the Acquire loads of a producer that takes over
            // (`Producer::claim`) and of `Ring::is_empty`; the consumer does not read it.
            v.header().tail.store(self.tail, Ordering::Release);
            self.published = self.tail;
            // A SeqCst fence and one load; the futex syscall only if the consumer announced
            // it sleeps (Dekker pairing with its prepare_wait, see README.md).
            v.header().not_empty.notify_one();
        }
    }
}

impl Producer {
    /// Claims the producer side of the ring in `view`.
    pub(crate) fn claim(view: RingView) -> Result<Self, RingError> {
        let h = view.header();
        claim::claim(&h.meta.producer_pid, &h.meta.producer_closed)?;
        // Acquire (both): pairs with the Release stores of a previous holder (tail) and of
        // the consumer (head); we resume exactly where the published state is.
        let tail = h.tail.load(Ordering::Acquire);
        let head = h.head.load(Ordering::Acquire);
        let align = RECORD_HEADER as u64;
        let end = if tail % align != 0 || head % align != 0 {
            Err("misaligned head/tail in the ring header")
        } else {
            // A head past the tail: the consumer took records committed after the tail
            // store a killed producer did not make (see `committed_end`).
            committed_end(&view, head, tail.max(head))
        };
        let tail = match end {
            Ok(t) => t,
            Err(what) => {
                // Relaxed: gives our claim back; nothing was published under it.
                h.meta.producer_pid.store(0, Ordering::Relaxed);
                return Err(RingError::Corrupt(CorruptError { pos: tail, what }));
            }
        };
        let st = ProdState {
            tail,
            published: tail,
            pending: 0,
            head_cache: head,
            peer_dead: false,
            corrupt: None,
            last: tail,
            // The first page faults in with the first record, as before: faulting in 64 KiB
            // there would delay a fresh pool's first job (and its first result).
            prefault_end: (tail | (FIRST_PAGE - 1)) + 1,
            prefault_limit: tail + view.capacity(),
        };
        Ok(Self { view, st, strategy: WaitStrategy::default() })
    }

    /// Reserves room for a record with a `len`-byte payload, without blocking. Write the
    /// payload through the returned [`Reservation`] (it derefs to `&mut [u8]` of exactly
    /// `len` bytes, 16-byte aligned), then [`commit`](Reservation::commit) or
    /// [`stage`](Reservation::stage) it; dropping it abandons the space.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::spsc::{channel, TryReserveError};
    /// let (mut tx, _rx) = channel(64).unwrap(); // max payload: 64/2 - 16 = 16 bytes
    /// assert!(matches!(tx.try_reserve(17), Err(TryReserveError::TooLarge { len: 17, max: 16 })));
    /// tx.try_reserve(16).unwrap().commit(); // 32 bytes
    /// tx.try_reserve(0).unwrap().commit(); // 16 bytes; the last 16 stay free for a header
    /// assert_eq!(tx.try_reserve(0).err(), Some(TryReserveError::Full));
    /// ```
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<Reservation<'_>, TryReserveError> {
        let place = self.st.place(&self.view, len)?;
        Ok(Reservation::new(self, place))
    }

    /// Reserves room for a `len`-byte payload, waiting (per the
    /// [`wait_strategy`](Self::wait_strategy)) while the ring is full.
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// let t = std::thread::spawn(move || {
    ///     for i in 0u32..1000 {
    ///         let mut r = tx.reserve(4).unwrap();
    ///         r.copy_from_slice(&i.to_le_bytes());
    ///         r.commit();
    ///     }
    /// });
    /// for i in 0u32..1000 {
    ///     assert_eq!(*rx.recv().unwrap(), i.to_le_bytes());
    /// }
    /// t.join().unwrap();
    /// ```
    pub fn reserve(&mut self, len: usize) -> Result<Reservation<'_>, ReserveError> {
        self.reserve_impl(len, None).map_err(ReserveTimeoutError::untimed)
    }

    /// Like [`reserve`](Self::reserve), giving up with [`ReserveTimeoutError::Timeout`] after
    /// `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_ring::spsc::{channel, ReserveTimeoutError};
    /// let (mut tx, _rx) = channel(64).unwrap();
    /// tx.try_reserve(16).unwrap().commit(); // 32 of 64 bytes
    /// let e = tx.reserve_timeout(16, Duration::from_millis(5)).err(); // 32 + 16 do not fit
    /// assert_eq!(e, Some(ReserveTimeoutError::Timeout));
    /// ```
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Reservation<'_>, ReserveTimeoutError> {
        self.reserve_impl(len, deadline_after(timeout))
    }

    /// Like [`reserve`](Self::reserve), giving up with [`ReserveTimeoutError::Timeout`] at
    /// `deadline`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (mut tx, _rx) = zeroproc_ring::spsc::channel(64).unwrap();
    /// let r = tx.reserve_deadline(8, Instant::now() + Duration::from_secs(1)).unwrap();
    /// r.commit();
    /// ```
    pub fn reserve_deadline(
        &mut self,
        len: usize,
        deadline: Instant,
    ) -> Result<Reservation<'_>, ReserveTimeoutError> {
        self.reserve_impl(len, Some(deadline))
    }

    /// The one blocking implementation behind `reserve`, `_timeout` and `_deadline`.
    fn reserve_impl(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<Reservation<'_>, ReserveTimeoutError> {
        let place = match self.st.place(&self.view, len) {
            Ok(p) => p,
            Err(TryReserveError::Full) => self.reserve_slow(len, deadline)?,
            Err(e) => return Err(e.into()),
        };
        Ok(Reservation::new(self, place))
    }

    #[cold]
    fn reserve_slow(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<Placement, ReserveTimeoutError> {
        let Self { view, st, strategy } = self;
        let view: &RingView = view;
        let hdr = view.header();
        let mut watch = PeerWatch::new();
        let res = block_on(&hdr.not_full, *strategy, deadline, || match st.place(view, len) {
            Ok(p) => Poll::Ready(p),
            Err(TryReserveError::Full) => {
                if watch.peer_dead(&hdr.meta.consumer_pid) {
                    st.peer_dead = true;
                    Poll::Failed(ReserveTimeoutError::Disconnected)
                } else {
                    Poll::Pending
                }
            }
            Err(e) => Poll::Failed(e.into()),
        });
        match res {
            Ok(p) => Ok(p),
            Err(BlockError::Timeout) => Err(ReserveTimeoutError::Timeout),
            Err(BlockError::Failed(e)) => Err(e),
        }
    }

    /// Copies `payload` into a new record and publishes it, without blocking.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::spsc::{channel, TrySendError};
    /// let (mut tx, rx) = channel(64).unwrap();
    /// tx.try_send(b"abc").unwrap();
    /// drop(rx);
    /// assert_eq!(tx.try_send(b"def"), Err(TrySendError::Disconnected(&b"def"[..])));
    /// ```
    #[inline]
    pub fn try_send<'p>(&mut self, payload: &'p [u8]) -> Result<(), TrySendError<&'p [u8]>> {
        match self.try_reserve(payload.len()) {
            Ok(mut r) => {
                r.copy_from_slice(payload);
                r.commit();
                Ok(())
            }
            Err(TryReserveError::Full) => Err(TrySendError::Full(payload)),
            Err(TryReserveError::Disconnected) => Err(TrySendError::Disconnected(payload)),
            Err(TryReserveError::TooLarge { .. }) => Err(TrySendError::TooLarge(payload)),
            Err(TryReserveError::Corrupt(c)) => Err(TrySendError::Corrupt(payload, c)),
        }
    }

    /// Copies `payload` into a new record and publishes it, waiting while the ring is full.
    ///
    /// # Example
    /// ```
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1024).unwrap();
    /// tx.send(b"x").unwrap();
    /// assert_eq!(&*rx.recv().unwrap(), b"x");
    /// ```
    pub fn send<'p>(&mut self, payload: &'p [u8]) -> Result<(), SendError<&'p [u8]>> {
        self.send_impl(payload, None).map_err(SendTimeoutError::untimed)
    }

    /// Like [`send`](Self::send), giving up with [`SendTimeoutError::Timeout`] after `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, _rx) = zeroproc_ring::spsc::channel(64).unwrap();
    /// while tx.try_send(&[0; 16]).is_ok() {}
    /// let e = tx.send_timeout(b"late", Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(e.into_inner(), b"late");
    /// ```
    pub fn send_timeout<'p>(
        &mut self,
        payload: &'p [u8],
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<&'p [u8]>> {
        self.send_impl(payload, deadline_after(timeout))
    }

    /// Like [`send`](Self::send), giving up with [`SendTimeoutError::Timeout`] at `deadline`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (mut tx, _rx) = zeroproc_ring::spsc::channel(64).unwrap();
    /// tx.send_deadline(b"ok", Instant::now() + Duration::from_secs(1)).unwrap();
    /// ```
    pub fn send_deadline<'p>(
        &mut self,
        payload: &'p [u8],
        deadline: Instant,
    ) -> Result<(), SendTimeoutError<&'p [u8]>> {
        self.send_impl(payload, Some(deadline))
    }

    fn send_impl<'p>(
        &mut self,
        payload: &'p [u8],
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<&'p [u8]>> {
        match self.reserve_impl(payload.len(), deadline) {
            Ok(mut r) => {
                r.copy_from_slice(payload);
                r.commit();
                Ok(())
            }
            Err(ReserveTimeoutError::Timeout) => Err(SendTimeoutError::Timeout(payload)),
            Err(ReserveTimeoutError::Disconnected) => Err(SendTimeoutError::Disconnected(payload)),
            Err(ReserveTimeoutError::TooLarge { .. }) => Err(SendTimeoutError::TooLarge(payload)),
            Err(ReserveTimeoutError::Corrupt(c)) => Err(SendTimeoutError::Corrupt(payload, c)),
        }
    }

    /// Publishes every [staged](Reservation::stage) record at once (one index store, one
    /// wake-up check). A no-op when nothing is staged.
    ///
    /// # Example
    /// ```
    /// use zeroproc_ring::spsc::TryRecvError;
    /// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    /// for i in 0u8..10 {
    ///     let mut r = tx.try_reserve(1).unwrap();
    ///     r[0] = i;
    ///     r.stage();
    /// }
    /// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty)); // not visible yet
    /// tx.publish();
    /// assert_eq!(rx.drain(usize::MAX, |_| {}), Ok(10));
    /// ```
    #[inline]
    pub fn publish(&mut self) {
        self.st.publish(&self.view);
    }

    /// Ring position of the record staged or committed last (its header): with
    /// [`written`](Self::written) the producer can read it back while it is still in the
    /// ring, e.g. to move it to another ring.
    #[inline]
    pub fn last_position(&self) -> u64 {
        self.st.last
    }

    /// The record this producer wrote at `pos` ([`last_position`](Self::last_position)): its tag and
    /// a copy of its payload — `None` if the space may have been overwritten since (it is
    /// more than one ring length behind the local tail) or `pos` is not a record this
    /// producer wrote.
    ///
    /// A record stays intact until the producer itself reserves over it, so this is exact
    /// whether or not the consumer has read or released it yet. Used to move a queued
    /// record to another ring (the consumer must be told to skip the original by a
    /// protocol above the ring).
    #[cold]
    pub fn written(&self, pos: u64) -> Option<(u64, Vec<u8>)> {
        let v = &self.view;
        let cap = v.capacity();
        if pos % RECORD_HEADER as u64 != 0
            || pos + RECORD_HEADER as u64 > self.st.tail
            || self.st.tail - pos > cap
        {
            return None;
        }
        // The first record staged after the last publish has its word held back.
        let word = if pos == self.st.published && self.st.tail != self.st.published {
            self.st.pending
        } else {
            // Relaxed: this producer wrote the word itself (or a previous holder did, before
            // the tail our claim acquired).
            v.word(pos).load(Ordering::Relaxed)
        };
        // SAFETY: `pos` is 16-aligned and within the last ring length this producer wrote,
        // so the 16 header bytes lie inside the buffer (records never straddle its end);
        // the space is only written by this producer (`&self`), reads race with nothing
        // but the consumer's reads.
        let h = unsafe { RawHeader::read_tag(word, v.at(pos)) };
        let contiguous = cap - v.offset(pos);
        let Ok(super::record::Parsed::Data { len, tag, total, .. }) =
            h.parse(contiguous, self.st.tail - pos, v.max_payload())
        else {
            return None;
        };
        let _ = total;
        let p = v.at(pos + RECORD_HEADER as u64);
        // SAFETY: `parse` checked that the payload lies inside the buffer and below our
        // tail; as above, nothing writes it while we hold `&self`.
        let bytes = unsafe { std::slice::from_raw_parts(p, len as usize) }.to_vec();
        Some((tag, bytes))
    }

    /// Bytes staged but not yet published.
    pub fn staged_bytes(&self) -> usize {
        (self.st.tail - self.st.published) as usize
    }

    /// Buffer capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.view.capacity() as usize
    }

    /// Largest payload of one record (`capacity / 2 - 16`).
    pub fn max_payload(&self) -> usize {
        self.view.max_payload() as usize
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
    /// let (tx, _rx) = zeroproc_ring::spsc::channel(64).unwrap();
    /// let tx = tx.with_wait_strategy(WaitStrategy::Spin);
    /// assert_eq!(tx.wait_strategy(), WaitStrategy::Spin);
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

impl Drop for Producer {
    fn drop(&mut self) {
        self.st.publish(&self.view);
        let h = self.view.header();
        // Release: pairs with the consumer's Acquire load of the flag (ConsState::refill):
        // our last tail store is visible to a consumer that sees the flag.
        h.meta.producer_closed.store(1, Ordering::Release);
        // Wake a sleeping consumer so it sees the flag (same Dekker pairing as a publish).
        h.not_empty.notify_all();
    }
}

/// The end of the committed records from `tail`, the tail a previous producer stored:
/// it commits a batch's records before it stores the tail, so records whose word it
/// stored may lie past it (a producer killed between the two stores). They are visible to
/// the consumer, so a new producer resumes after them. Bounded by one capacity past
/// `head`; a header found invalid there is corruption.
fn committed_end(view: &RingView, head: u64, mut tail: u64) -> Result<u64, &'static str> {
    loop {
        if tail - head > view.capacity() {
            return Err("the published records run past one capacity from the head");
        }
        if tail - head + RECORD_HEADER as u64 > view.capacity() {
            return Ok(tail); // no room for a header: the ring is full up to here
        }
        // Acquire: pairs with the previous producer's Release store of the batch's first
        // word (`publish`): the records after it were written before.
        let word = view.word(tail).load(Ordering::Acquire);
        if word == 0 {
            return Ok(tail);
        }
        // SAFETY: `tail` is 16-aligned (checked by the caller and for each record size), so
        // its 16 header bytes lie inside the buffer.
        let h = unsafe { RawHeader::read_tag(word, view.at(tail)) };
        let contiguous = view.capacity() - view.offset(tail);
        match h.parse(contiguous, head + view.capacity() - tail, view.max_payload())? {
            super::record::Parsed::Pad { total } | super::record::Parsed::Data { total, .. } => {
                tail += total
            }
        }
    }
}

/// Space reserved in the ring for one record, written in place.
///
/// Derefs to the payload bytes (`&mut [u8]` of the reserved length, 16-byte aligned; its
/// content is whatever was there before). [`commit`](Self::commit) publishes it,
/// [`stage`](Self::stage) adds it to a batch that [`Producer::publish`] publishes, and
/// dropping it abandons the space (nothing becomes visible).
///
/// # Example
/// ```
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(4096).unwrap();
/// let mut r = tx.try_reserve(100).unwrap(); // reserve the most we might write
/// r[..3].copy_from_slice(b"abc");
/// r.truncate(3); // ... and keep what we wrote
/// r.set_kind(7);
/// r.set_tag(42);
/// r.commit();
/// let g = rx.try_recv().unwrap();
/// assert_eq!((&*g, g.kind(), g.tag()), (&b"abc"[..], 7, 42));
/// ```
#[derive(Debug)]
pub struct Reservation<'a> {
    prod: &'a mut Producer,
    place: Placement,
    kind: u32,
    tag: u64,
}

impl<'a> Reservation<'a> {
    #[inline]
    fn new(prod: &'a mut Producer, place: Placement) -> Self {
        let v = &prod.view;
        if place.pad != 0 {
            v.track_write(place.start - place.pad, place.pad);
        }
        v.track_write(place.start, record_size(place.len as u64));
        Self { prod, place, kind: 0, tag: 0 }
    }

    /// Sets the record's kind (24 bits, default 0), readable by the consumer.
    ///
    /// # Panics
    /// If `kind > MAX_KIND` (the top byte of the header word belongs to the ring).
    #[inline]
    pub fn set_kind(&mut self, kind: u32) {
        assert!(kind <= MAX_KIND, "record kind {kind:#x} exceeds MAX_KIND");
        self.kind = kind;
    }

    /// Sets the record's 64-bit user tag (default 0), readable by the consumer.
    #[inline]
    pub fn set_tag(&mut self, tag: u64) {
        self.tag = tag;
    }

    /// Shrinks the payload to its first `len` bytes (for writers that reserve an upper
    /// bound and learn the real size while writing). No effect if `len` is not smaller.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if (len as u64) < self.place.len as u64 {
            self.place.len = len as u32;
        }
    }

    /// Writes the record header (and pad) and advances the local tail; not yet visible.
    ///
    /// Order (README.md, "Commit words"): the 0 word after the record, then the headers'
    /// tags and words. A header at `published` (the batch's first) keeps its word in
    /// `pending` for `publish`; the others are stored now, Relaxed: the consumer reaches
    /// them only through the first one's Release store, which follows.
    #[inline]
    fn finish(self) -> &'a mut Producer {
        let Placement { pad, start, len } = self.place;
        let p = self.prod;
        let v = &p.view;
        let end = start + record_size(len as u64);
        v.track_write(end, RECORD_HEADER as u64);
        // Relaxed: ordered before the consumer's read of it by the Release store of the
        // batch's first word (`publish`); `place` reserved this header's space.
        v.word(end).store(0, Ordering::Relaxed);
        let data = RawHeader::data(len, self.kind, self.tag);
        // SAFETY: the record's 16-byte header lies inside the buffer at a multiple of 16
        // (place() made the whole record fit before the end) in space only we access.
        unsafe { data.write_tag(v.at(start)) };
        if pad != 0 {
            let pad = RawHeader::pad(pad);
            // SAFETY: the pad starts at a multiple of 16 inside the buffer and runs to its
            // end (`pad` bytes ≥ 16); the space is reserved, so only we access it.
            unsafe { pad.write_tag(v.at(start - pad.len as u64 - RECORD_HEADER as u64)) };
            p.st.stage_word(start - pad.len as u64 - RECORD_HEADER as u64, pad.word(), v);
        }
        p.st.stage_word(start, data.word(), v);
        p.st.tail = end;
        p.st.last = start;
        p
    }

    /// Publishes this record (and anything staged before it) and wakes the consumer.
    #[inline]
    pub fn commit(self) {
        let p = self.finish();
        p.st.publish(&p.view);
    }

    /// Adds this record to the current batch without publishing it; the next
    /// [`Producer::publish`], `commit`, a full ring, or dropping the producer publishes it.
    #[inline]
    pub fn stage(self) {
        self.finish();
    }
}

impl std::ops::Deref for Reservation<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        let p = self.prod.view.at(self.place.start + RECORD_HEADER as u64);
        // SAFETY: the payload lies inside the buffer (place() made the record fit before
        // its end) in reserved space no one else accesses; u8 is valid for any bits.
        unsafe { std::slice::from_raw_parts(p, self.place.len as usize) }
    }
}

impl std::ops::DerefMut for Reservation<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let p = self.prod.view.at(self.place.start + RECORD_HEADER as u64);
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(p, self.place.len as usize) }
    }
}
