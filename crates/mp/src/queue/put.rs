//! The put side of [`Queue`]: the one send path ([`zeroproc_codec::send`]) drafts the
//! record in a scratch buffer, then claims a slot and copies, or spills a large value into
//! the heap and puts its reference. Every form reduces to [`Queue::put_wait`].
//!
//! Why not serialize straight into the slot: the MPMC ring's consumers wait at a slot
//! that is being written (positions are taken in order), so a slot should be held for a
//! copy, not for a serialization of unknown cost; and the slot's length must be known
//! when it is claimed (a claim cannot be given back except as a tombstone).

use crate::channel::heap_wait::{first_block, spill_waiting, Content, SpillFail};
use crate::channel::holds::{self, Registered};
use crate::channel::mapping::Mapping;
use crate::channel::message::{with_scratch, Message, Wait, HEADER};
use crate::queue::error::{PutError, PutTimeoutError, TryPutError};
use crate::queue::Queue;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::Encode;
use zeroproc_codec::send::{self, Draft, Overflow, Records, SendError, SPILLED_RECORD_LEN};
use zeroproc_codec::spill::SpilledBlock;
use zeroproc_ring::mpmc::{PushTimeoutError, TryPushError};
use zeroproc_shm::wait::deadline_after;
use zeroproc_shm::GrowError;

/// Why a put failed, before the value is attached to the error.
pub(crate) enum PutFail {
    Timeout,
    Closed,
    TooLarge,
    Grow(GrowError),
    Serialize(rancor::Error),
}

impl PutFail {
    pub(crate) fn with<T>(self, value: T) -> PutTimeoutError<T> {
        match self {
            PutFail::Timeout => PutTimeoutError::Timeout(value),
            PutFail::Closed => PutTimeoutError::Closed(value),
            PutFail::TooLarge => PutTimeoutError::TooLarge(value),
            PutFail::Grow(e) => PutTimeoutError::Grow(value, e),
            PutFail::Serialize(e) => PutTimeoutError::Serialize(value, e),
        }
    }
}

impl<T: Message> Queue<T> {
    /// Puts `value`, waiting while the queue is full (or, for a value larger than a slot,
    /// while the spill heap has no room for it).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<String>::new(4).unwrap();
    /// q.put("hello".to_string()).unwrap();
    /// assert_eq!(q.get().unwrap(), "hello");
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.put_wait(value, Wait::Until(None)).map_err(PutError::from)
    }

    /// Puts `value` if there is room now; otherwise hands it back in
    /// [`TryPutError::Full`] (Python's `put_nowait`).
    ///
    /// ```
    /// use zeroproc_mp::Queue;
    /// use zeroproc_mp::queue::TryPutError;
    /// let q = Queue::<u8>::new(1).unwrap();
    /// assert!(q.try_put(1).is_ok());
    /// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        self.put_wait(value, Wait::Never).map_err(TryPutError::from)
    }

    /// Like [`put`](Self::put), giving up after `timeout`: Python's `q.put(x, timeout=t)`,
    /// whose `queue.Full` is [`PutTimeoutError::Timeout`] — with the value handed back
    /// (Python's caller still holds `x`; here it moved in, so it comes back in the error).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::queue::PutTimeoutError;
    /// let q = zeroproc_mp::Queue::<String>::new(1).unwrap();
    /// q.put_timeout("first".into(), Duration::from_millis(5)).unwrap();
    /// match q.put_timeout("second".into(), Duration::from_millis(1)) {
    ///     Err(PutTimeoutError::Timeout(v)) => assert_eq!(v, "second"), // Python: queue.Full
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_wait(value, Wait::Until(deadline_after(timeout)))
    }

    /// Like [`put`](Self::put), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = zeroproc_mp::Queue::<u8>::new(1).unwrap();
    /// q.put_deadline(1, Instant::now() + Duration::from_millis(5)).unwrap();
    /// assert!(q.put_deadline(2, Instant::now()).is_err());
    /// ```
    pub fn put_deadline(&self, value: T, deadline: Instant) -> Result<(), PutTimeoutError<T>> {
        self.put_wait(value, Wait::Until(Some(deadline)))
    }

    /// The one put implementation. `Wait::Never` reports a full queue as `Timeout`.
    pub(crate) fn put_wait(&self, value: T, wait: Wait) -> Result<(), PutTimeoutError<T>> {
        self.put_wait_counted(value, wait, None)
    }

    /// [`put_wait`](Self::put_wait), adding one to `count` (a `JoinableQueue`'s unfinished
    /// tasks) once the slot is claimed, before it is published: a value a consumer takes
    /// is always counted already, and a put that waits for room counts nothing until it
    /// has it (as CPython's `JoinableQueue.put`), so a producer killed while waiting, or a
    /// put refused, leaves no task behind.
    pub(crate) fn put_wait_counted(
        &self,
        value: T,
        wait: Wait,
        count: Option<&AtomicU64>,
    ) -> Result<(), PutTimeoutError<T>> {
        if self.ring.is_closed() {
            return Err(PutTimeoutError::Closed(value));
        }
        if wait == Wait::Never && self.ring.is_full() {
            return Err(PutTimeoutError::Timeout(value)); // no point serializing
        }
        // The spilled block this put holds, in the holds table until its reference is in
        // a claimed slot (so that a producer killed meanwhile, e.g. waiting for a slot,
        // does not leak it: `holds.rs`).
        let held = RefCell::new(Registered::none());
        let sent = with_scratch(|scratch| {
            let mut records = Slots { queue: self, scratch, wait, held: &held, count };
            let mut spill = QueueSpill { queue: self, map: &self.map, wait, held: &held };
            send::send(&mut records, &mut spill, HEADER, &value)
        });
        match sent {
            Ok(_) => Ok(()),
            Err(SendError::Records(f) | SendError::Overflow(f)) => Err(f.with(value)),
            Err(SendError::Serialize(e)) => Err(PutTimeoutError::Serialize(value, e)),
        }
    }

    /// Claims a slot and copies `record` into it; `held` (the spilled block the record
    /// names, if any) leaves the holds table once the slot is claimed, before the publish:
    /// from then on a consumer may claim and free the block. `count`, if given, gets one
    /// more there too.
    fn push_record(
        &self,
        record: &[u8],
        wait: Wait,
        held: &RefCell<Registered<'_>>,
        count: Option<&AtomicU64>,
    ) -> Result<(), PutFail> {
        let copy = |buf: &mut [u8]| {
            buf.copy_from_slice(record);
            held.borrow_mut().clear();
            if let Some(c) = count {
                // Relaxed: sequenced before the ring's Release publish of this slot, which
                // the consumer's Acquire claim pairs with, so a value taken is counted.
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        match wait {
            Wait::Never => self.ring.try_push_with(record.len(), copy).map_err(|e| match e {
                TryPushError::Full(_) => PutFail::Timeout,
                TryPushError::Closed(_) => PutFail::Closed,
                TryPushError::TooLarge(_) => PutFail::TooLarge,
            }),
            Wait::Until(d) => {
                self.ring.push_with_deadline(record.len(), d, copy).map_err(|e| match e {
                    PushTimeoutError::Timeout(_) => PutFail::Timeout,
                    PushTimeoutError::Closed(_) => PutFail::Closed,
                    PushTimeoutError::TooLarge(_) => PutFail::TooLarge,
                })
            }
        }
    }
}

/// The queue's slots as the destination of the one send path ([`zeroproc_codec::send`]):
/// a record is drafted in the thread's scratch buffer and copied into a slot claimed for
/// exactly its length (a claim cannot be given back, and consumers wait at a slot being
/// written: it is held for a copy, not for a serialization of unknown cost).
struct Slots<'a, 'm, T> {
    queue: &'a Queue<T>,
    scratch: &'a mut AlignedVec<16>,
    wait: Wait,
    held: &'a RefCell<Registered<'m>>,
    count: Option<&'a AtomicU64>,
}

impl<'m, T: Message> Records for Slots<'_, 'm, T> {
    type Error = PutFail;
    type Draft<'d>
        = SlotDraft<'d, 'm, T>
    where
        Self: 'd;

    fn max_len(&self) -> usize {
        self.queue.ring.slot_size()
    }

    /// Drafting costs no claim here: the whole slot at once.
    fn first_len(&self) -> usize {
        self.max_len()
    }

    fn draft(&mut self, len: usize) -> Result<SlotDraft<'_, 'm, T>, PutFail> {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        Ok(SlotDraft {
            queue: self.queue,
            buf: &mut self.scratch[..len],
            wait: self.wait,
            held: self.held,
            count: self.count,
        })
    }
}

/// A queue record drafted in scratch memory.
struct SlotDraft<'d, 'm, T> {
    queue: &'d Queue<T>,
    buf: &'d mut [u8],
    wait: Wait,
    held: &'d RefCell<Registered<'m>>,
    count: Option<&'d AtomicU64>,
}

impl<T> Deref for SlotDraft<'_, '_, T> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf
    }
}

impl<T> DerefMut for SlotDraft<'_, '_, T> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf
    }
}

impl<T: Message> Draft for SlotDraft<'_, '_, T> {
    type Error = PutFail;
    fn publish(self, len: usize) -> Result<(), PutFail> {
        self.queue.push_record(&self.buf[..len], self.wait, self.held, self.count)
    }
}

/// The queue's heap as the overflow of its puts (waiting per the call while it is full).
struct QueueSpill<'a, 'm, T> {
    queue: &'a Queue<T>,
    /// The queue's mapping, for as long as `held` may name it.
    map: &'m Mapping,
    wait: Wait,
    held: &'a RefCell<Registered<'m>>,
}

impl<T> Overflow for QueueSpill<'_, '_, T> {
    type Error = PutFail;

    fn spill<V: Encode>(&mut self, value: &V, need: usize) -> Result<SpilledBlock, PutFail> {
        let q = self.queue;
        if q.ring.slot_size() < SPILLED_RECORD_LEN {
            return Err(PutFail::TooLarge); // not even the reference would fit a slot
        }
        let content = Content::Value { value, first: first_block(need) };
        let (map, held) = (self.map, self.held);
        // Registered as an intent before each allocation, naming the block from the first
        // instruction after it; cleared before a too-small block is freed (`holds.rs`).
        let track = holds::Recording { held, map };
        let drained = || q.ring.is_empty();
        let what = "a put on a queue";
        spill_waiting(map, content, self.wait, || q.ring.is_closed(), track, drained, what).map_err(
            |e| match e {
                SpillFail::Timeout => PutFail::Timeout,
                SpillFail::Closed => PutFail::Closed,
                SpillFail::TooLarge => PutFail::TooLarge,
                SpillFail::Grow(e) => PutFail::Grow(e),
                SpillFail::Serialize(e) => PutFail::Serialize(e),
            },
        )
    }

    fn give_back(&mut self, block: SpilledBlock) {
        // The block is still ours: nobody has seen the reference. The heap clears the
        // entry's offset right after its CAS (a kill in the free's checks leaves the block
        // named for a sweeper), then the entry goes.
        match self.queue.map.heap() {
            Some(heap) => self.held.borrow_mut().free_unpublished(heap, block),
            None => self.held.borrow_mut().clear(),
        }
        self.queue.map.heap_freed();
    }
}
