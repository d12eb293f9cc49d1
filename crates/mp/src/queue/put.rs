//! The put side of [`Queue`]: encode into a scratch buffer, then claim a slot and copy,
//! or spill a large value into the heap and put its reference. Every form reduces to
//! [`Queue::put_wait`].
//!
//! Why not serialize straight into the slot: the MPMC ring's consumers wait at a slot
//! that is being written (positions are taken in order), so a slot should be held for a
//! copy, not for a serialization of unknown cost; and the slot's length must be known
//! when it is claimed (a claim cannot be given back except as a tombstone).

use crate::channel::heap_wait::{first_block, spill_waiting, Content, SpillFail};
use crate::channel::message::{with_encoded, Encoded, Message, Wait, HEADER};
use crate::queue::error::{PutError, PutTimeoutError, TryPutError};
use crate::queue::Queue;
use rkyv::rancor;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::HEADER_LEN;
use zeroproc_codec::spill::{write_spilled_envelope, SPILL_BODY_LEN};
use zeroproc_ring::mpmc::{PushTimeoutError, TryPushError};
use zeroproc_shm::wait::deadline_after;

/// Why a put failed, before the value is attached to the error.
pub(crate) enum PutFail {
    Timeout,
    Closed,
    TooLarge,
    Serialize(rancor::Error),
}

impl PutFail {
    pub(crate) fn with<T>(self, value: T) -> PutTimeoutError<T> {
        match self {
            PutFail::Timeout => PutTimeoutError::Timeout(value),
            PutFail::Closed => PutTimeoutError::Closed(value),
            PutFail::TooLarge => PutTimeoutError::TooLarge(value),
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

    /// Like [`put`](Self::put), giving up after `timeout` (the value comes back in
    /// `Timeout`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = zeroproc_mp::Queue::<u8>::new(1).unwrap();
    /// q.put_timeout(1, Duration::from_millis(5)).unwrap();
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(1)).unwrap_err().into_inner(), 2);
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
        if self.ring.is_closed() {
            return Err(PutTimeoutError::Closed(value));
        }
        if wait == Wait::Never && self.ring.is_full() {
            return Err(PutTimeoutError::Timeout(value)); // no point serializing
        }
        let r = with_encoded(&value, self.ring.slot_size(), |enc| match enc {
            Encoded::Fits(bytes) => self.push_record(bytes, wait),
            Encoded::TooLarge { need } => self.put_spilled(&value, need, wait),
        });
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(fail)) => Err(fail.with(value)),
            Err(e) => Err(PutTimeoutError::Serialize(value, e)),
        }
    }

    /// Claims a slot and copies `record` into it.
    fn push_record(&self, record: &[u8], wait: Wait) -> Result<(), PutFail> {
        let copy = |buf: &mut [u8]| buf.copy_from_slice(record);
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

    /// Serializes `value` into a heap block and puts a reference to it. `need` is the
    /// lower bound the failed slot attempt measured.
    fn put_spilled(&self, value: &T, need: usize, wait: Wait) -> Result<(), PutFail> {
        if self.ring.slot_size() < HEADER_LEN + SPILL_BODY_LEN {
            return Err(PutFail::TooLarge);
        }
        let content = Content::Value { value, first: first_block(need) };
        let block = spill_waiting(&self.map, content, wait, || self.ring.is_closed()).map_err(
            |e| match e {
                SpillFail::Timeout => PutFail::Timeout,
                SpillFail::Closed => PutFail::Closed,
                SpillFail::TooLarge => PutFail::TooLarge,
                SpillFail::Serialize(e) => PutFail::Serialize(e),
            },
        )?;
        let mut env = [0u8; HEADER_LEN + SPILL_BODY_LEN];
        let n = write_spilled_envelope(&mut env, HEADER, &block);
        self.push_record(&env[..n], wait).inspect_err(|_| {
            // The block is still ours: nobody has seen the reference.
            if let Some(heap) = self.map.heap() {
                let _ = block.free(heap);
            }
            self.map.heap_freed();
        })
    }
}
