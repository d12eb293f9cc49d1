//! The get side of [`Queue`]: take a slot, validate its envelope, and deserialize it
//! (`get`), read it in place (`get_with`), or keep it (`get_ref`). A spilled value's heap
//! block is claimed inside the slot read and used after the slot is released. Every form
//! reduces to [`Queue::take`].

use crate::channel::error::CorruptError;
use crate::channel::holds::{self, Registered};
use crate::channel::message::{deserialize, Message, Wait};
use crate::channel::Ref;
use crate::queue::error::{GetError, GetTimeoutError, TryGetError};
use crate::queue::Queue;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, DecodeError, Header};
use zeroproc_codec::payload::{decode_spilled_as, SpillGuard};
use zeroproc_ring::mpmc::{PopTimeoutError, TryPopError};
use zeroproc_shm::wait::deadline_after;

/// What reading one slot produced.
enum Taken<'h, T: Message, R> {
    /// An inline value, already handled inside the slot.
    Inline(R),
    /// A spilled value whose heap block we claimed (the slot is released), and our entry
    /// in the holds table (clear it before the guard frees the block).
    Spilled(SpillGuard<'h, T>, Registered<'h>),
}

fn corrupt(e: DecodeError) -> GetTimeoutError {
    GetTimeoutError::Corrupt(CorruptError::Decode(e))
}

impl<T: Message> Queue<T> {
    /// Takes the oldest value, waiting while the queue is empty; `Closed` once the queue
    /// is closed and drained.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<Vec<String>>::new(4).unwrap();
    /// q.put(vec!["a".into(), "b".into()]).unwrap();
    /// assert_eq!(q.get().unwrap(), ["a", "b"]);
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_wait(Wait::Until(None)).map_err(GetError::from)
    }

    /// Takes the oldest value if one is ready (Python's `get_nowait`).
    ///
    /// ```
    /// use zeroproc_mp::Queue;
    /// use zeroproc_mp::queue::TryGetError;
    /// let q = Queue::<u8>::new(2).unwrap();
    /// assert!(matches!(q.try_get(), Err(TryGetError::Empty)));
    /// q.put(3).unwrap();
    /// assert_eq!(q.try_get().unwrap(), 3);
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.get_wait(Wait::Never).map_err(TryGetError::from)
    }

    /// Like [`get`](Self::get), giving up after `timeout`: Python's `q.get(timeout=t)`,
    /// whose `queue.Empty` is [`GetTimeoutError::Timeout`](crate::queue::GetTimeoutError).
    /// `Closed` says no value will ever come (closed and drained), which Python's queue
    /// cannot say: a consumer loop ends on it rather than on a sentinel value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::queue::GetTimeoutError;
    /// let q = zeroproc_mp::Queue::<u32>::new(4).unwrap();
    /// q.put(7).unwrap();
    /// q.close(); // the producer is done
    /// let mut got = Vec::new();
    /// loop {
    ///     match q.get_timeout(Duration::from_millis(100)) {
    ///         Ok(v) => got.push(v),
    ///         Err(GetTimeoutError::Timeout) => continue, // Python: except queue.Empty
    ///         Err(GetTimeoutError::Closed) => break,     // nothing more will come
    ///         Err(e) => panic!("{e}"),                   // a damaged value was dropped
    ///     }
    /// }
    /// assert_eq!(got, [7]);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.get_wait(Wait::Until(deadline_after(timeout)))
    }

    /// Like [`get`](Self::get), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = zeroproc_mp::Queue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.get_deadline(Instant::now() + Duration::from_secs(1)).unwrap(), 1);
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetTimeoutError> {
        self.get_wait(Wait::Until(Some(deadline)))
    }

    /// Takes the oldest value and keeps it as a validated archive, without deserializing
    /// (see [`Ref`] for where its bytes are); waits while the queue is empty.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<(u32, String)>::new(2).unwrap();
    /// q.put((7, "seven".into())).unwrap();
    /// let r = q.get_ref().unwrap();
    /// assert_eq!((r.0.to_native(), r.1.as_str()), (7, "seven"));
    /// ```
    pub fn get_ref(&self) -> Result<Ref<'_, T>, GetError> {
        self.get_ref_wait(Wait::Until(None)).map_err(GetError::from)
    }

    /// [`get_ref`](Self::get_ref) without waiting.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u64>::new(2).unwrap();
    /// assert!(q.try_get_ref().is_err());
    /// q.put(5).unwrap();
    /// assert_eq!(*q.try_get_ref().unwrap(), 5);
    /// ```
    pub fn try_get_ref(&self) -> Result<Ref<'_, T>, TryGetError> {
        self.get_ref_wait(Wait::Never).map_err(TryGetError::from)
    }

    /// [`get_ref`](Self::get_ref), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = zeroproc_mp::Queue::<u64>::new(2).unwrap();
    /// assert!(q.get_ref_timeout(Duration::from_millis(1)).is_err());
    /// ```
    pub fn get_ref_timeout(&self, timeout: Duration) -> Result<Ref<'_, T>, GetTimeoutError> {
        self.get_ref_wait(Wait::Until(deadline_after(timeout)))
    }

    /// [`get_ref`](Self::get_ref), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = zeroproc_mp::Queue::<u64>::new(2).unwrap();
    /// q.put(9).unwrap();
    /// let r = q.get_ref_deadline(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*r, 9);
    /// ```
    pub fn get_ref_deadline(&self, deadline: Instant) -> Result<Ref<'_, T>, GetTimeoutError> {
        self.get_ref_wait(Wait::Until(Some(deadline)))
    }

    /// Takes the oldest value and calls `f` on its archive **in its slot** (validated, no
    /// copy; a spilled value is read in its heap block); returns what `f` returns. The
    /// slot stays claimed while `f` runs: if this process dies meanwhile, the value is
    /// lost and the slot recovered by the next producer that needs it. If `f` panics the
    /// value is dropped and the slot released.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<Vec<f64>>::new(2).unwrap();
    /// q.put(vec![1.0, 2.0, 3.5]).unwrap();
    /// let sum = q.get_with(|v| v.iter().map(|x| x.to_native()).sum::<f64>()).unwrap();
    /// assert_eq!(sum, 6.5);
    /// ```
    pub fn get_with<R>(&self, f: impl FnOnce(&T::Archived) -> R) -> Result<R, GetError> {
        self.get_with_wait(Wait::Until(None), f).map_err(GetError::from)
    }

    /// [`get_with`](Self::get_with) without waiting.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u32>::new(2).unwrap();
    /// assert!(q.try_get_with(|v| *v).is_err());
    /// q.put(4).unwrap();
    /// assert_eq!(q.try_get_with(|v| v.to_native() * 2).unwrap(), 8);
    /// ```
    pub fn try_get_with<R>(&self, f: impl FnOnce(&T::Archived) -> R) -> Result<R, TryGetError> {
        self.get_with_wait(Wait::Never, f).map_err(TryGetError::from)
    }

    /// [`get_with`](Self::get_with), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = zeroproc_mp::Queue::<u32>::new(2).unwrap();
    /// assert!(q.get_with_timeout(Duration::from_millis(1), |v| *v).is_err());
    /// ```
    pub fn get_with_timeout<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<R, GetTimeoutError> {
        self.get_with_wait(Wait::Until(deadline_after(timeout)), f)
    }

    /// [`get_with`](Self::get_with), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = zeroproc_mp::Queue::<u32>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// let d = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(q.get_with_deadline(d, |v| v.to_native()).unwrap(), 1);
    /// ```
    pub fn get_with_deadline<R>(
        &self,
        deadline: Instant,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<R, GetTimeoutError> {
        self.get_with_wait(Wait::Until(Some(deadline)), f)
    }

    pub(crate) fn get_wait(&self, wait: Wait) -> Result<T, GetTimeoutError> {
        let inline = |bytes: &[u8]| {
            let (_, a) = envelope::decode::<T>(bytes)?;
            deserialize::<T>(a).map_err(DecodeError::Invalid)
        };
        match self.take(wait, inline)? {
            Taken::Inline(t) => Ok(t),
            Taken::Spilled(g, mut reg) => {
                let r = deserialize::<T>(&g);
                reg.free_claimed(g);
                self.map.heap_freed();
                r.map_err(|e| corrupt(DecodeError::Invalid(e)))
            }
        }
    }

    pub(crate) fn get_ref_wait(&self, wait: Wait) -> Result<Ref<'_, T>, GetTimeoutError> {
        let g = match wait {
            Wait::Never => self.ring.try_pop_guard().map_err(|e| match e {
                TryPopError::Empty => GetTimeoutError::Timeout,
                TryPopError::Closed => GetTimeoutError::Closed,
                TryPopError::Corrupt(c) => GetTimeoutError::Corrupt(CorruptError::Ring(c)),
            }),
            Wait::Until(d) => self.ring.pop_guard_deadline(d).map_err(|e| match e {
                PopTimeoutError::Timeout => GetTimeoutError::Timeout,
                PopTimeoutError::Closed => GetTimeoutError::Closed,
                PopTimeoutError::Corrupt(c) => GetTimeoutError::Corrupt(CorruptError::Ring(c)),
            }),
        }?;
        let h = Header::read(&g).map_err(corrupt)?;
        if !h.is_spilled() {
            // Read in its slot: the slot stays claimed while the `Ref` lives.
            return Ref::slot(g).map_err(corrupt);
        }
        let heap = self
            .map
            .heap()
            .ok_or(DecodeError::BadSpill("the queue has no spill heap"))
            .map_err(corrupt)?;
        // Registered before the claim (reclaimed by its nonce if we die before claiming:
        // the ring then releases the slot unread), claimed with our owner token, which
        // names us in the block itself (`holds.rs`).
        let mut reg = holds::register(&self.map, &g);
        let (_, sg) = decode_spilled_as::<T>(&g, heap, holds::my_token(), |o| reg.owned(o))
            .map_err(corrupt)?;
        // The heap block is ours now; the slot goes back to the producers at once.
        drop(g);
        Ok(Ref::spilled(sg, reg, &self.map))
    }

    pub(crate) fn get_with_wait<R>(
        &self,
        wait: Wait,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<R, GetTimeoutError> {
        let mut f = Some(f);
        let inline = |bytes: &[u8]| {
            let (_, a) = envelope::decode::<T>(bytes)?;
            Ok(f.take().expect("called once")(a))
        };
        match self.take(wait, inline)? {
            Taken::Inline(r) => Ok(r),
            Taken::Spilled(g, mut reg) => {
                // A panic in `f` unwinds through `reg` first (declared after `g`, dropped
                // before it): the entry is cleared before the block is freed.
                let r = f.take().expect("not called inline")(&g);
                reg.free_claimed(g);
                self.map.heap_freed();
                Ok(r)
            }
        }
    }

    /// Takes one slot: an inline envelope is handed to `inline` while the slot is held; a
    /// spilled one has its heap block claimed (validated) and is returned.
    fn take<R>(
        &self,
        wait: Wait,
        inline: impl FnOnce(&[u8]) -> Result<R, DecodeError>,
    ) -> Result<Taken<'_, T, R>, GetTimeoutError> {
        let heap = self.map.heap();
        let read = |bytes: &[u8]| -> Result<Taken<'_, T, R>, DecodeError> {
            let h = Header::read(bytes)?;
            if !h.is_spilled() {
                return inline(bytes).map(Taken::Inline);
            }
            let heap = heap.ok_or(DecodeError::BadSpill("the queue has no spill heap"))?;
            // Registered before the claim (reclaimed by its nonce if we die before
            // claiming: the ring then releases the slot unread), claimed with our owner
            // token, which names us in the block itself (`holds.rs`).
            let mut reg = holds::register(&self.map, bytes);
            let (_, g) = decode_spilled_as::<T>(bytes, heap, holds::my_token(), |o| reg.owned(o))?;
            Ok(Taken::Spilled(g, reg))
        };
        let r = match wait {
            Wait::Never => self.ring.try_pop_with(read).map_err(|e| match e {
                TryPopError::Empty => GetTimeoutError::Timeout,
                TryPopError::Closed => GetTimeoutError::Closed,
                TryPopError::Corrupt(c) => GetTimeoutError::Corrupt(CorruptError::Ring(c)),
            }),
            Wait::Until(d) => self.ring.pop_with_deadline(d, read).map_err(|e| match e {
                PopTimeoutError::Timeout => GetTimeoutError::Timeout,
                PopTimeoutError::Closed => GetTimeoutError::Closed,
                PopTimeoutError::Corrupt(c) => GetTimeoutError::Corrupt(CorruptError::Ring(c)),
            }),
        }?;
        r.map_err(corrupt)
    }
}
