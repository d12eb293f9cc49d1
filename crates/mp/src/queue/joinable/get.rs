//! [`JoinableQueue`]'s reading side and properties: the same as [`Queue`](crate::Queue)'s (taking a
//! value does not finish its task; `task_done` does).

use crate::channel::message::Message;
use crate::channel::Ref;
use crate::queue::error::{GetError, GetTimeoutError, TryGetError};
use crate::queue::joinable::JoinableQueue;
use std::time::{Duration, Instant};

impl<T: Message> JoinableQueue<T> {
    /// `r`, counting a value taken by this process (`takers.rs`).
    fn took<R, E>(&self, r: Result<R, E>) -> Result<R, E> {
        if r.is_ok() {
            super::takers::took(&self.q.map.header().tasks.0);
        }
        r
    }

    /// Takes the oldest value, waiting while the queue is empty (see [`Queue::get`](crate::Queue::get)).
    /// Call [`task_done`](Self::task_done) once it is processed.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.get().unwrap(), 1);
    /// q.task_done().unwrap();
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.took(self.q.get())
    }

    /// See [`Queue::try_get`](crate::Queue::try_get).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.try_get().is_err());
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.took(self.q.try_get())
    }

    /// See [`Queue::get_timeout`](crate::Queue::get_timeout).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.get_timeout(std::time::Duration::from_millis(1)).is_err());
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.took(self.q.get_timeout(timeout))
    }

    /// See [`Queue::get_deadline`](crate::Queue::get_deadline).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.get_deadline(std::time::Instant::now()).is_err());
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetTimeoutError> {
        self.took(self.q.get_deadline(deadline))
    }

    /// See [`Queue::get_ref`](crate::Queue::get_ref).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(4).unwrap();
    /// assert_eq!(*q.get_ref().unwrap(), 4);
    /// ```
    pub fn get_ref(&self) -> Result<Ref<'_, T>, GetError> {
        self.took(self.q.get_ref())
    }

    /// See [`Queue::try_get_ref`](crate::Queue::try_get_ref).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.try_get_ref().is_err());
    /// ```
    pub fn try_get_ref(&self) -> Result<Ref<'_, T>, TryGetError> {
        self.took(self.q.try_get_ref())
    }

    /// See [`Queue::get_ref_deadline`](crate::Queue::get_ref_deadline).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.get_ref_deadline(std::time::Instant::now()).is_err());
    /// ```
    pub fn get_ref_deadline(&self, deadline: Instant) -> Result<Ref<'_, T>, GetTimeoutError> {
        self.took(self.q.get_ref_deadline(deadline))
    }

    /// See [`Queue::get_with`](crate::Queue::get_with).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(4).unwrap();
    /// assert_eq!(q.get_with(|v| *v + 1).unwrap(), 5);
    /// ```
    pub fn get_with<R>(&self, f: impl FnOnce(&T::Archived) -> R) -> Result<R, GetError> {
        self.took(self.q.get_with(f))
    }

    /// See [`Queue::try_get_with`](crate::Queue::try_get_with).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.try_get_with(|v| *v).is_err());
    /// ```
    pub fn try_get_with<R>(&self, f: impl FnOnce(&T::Archived) -> R) -> Result<R, TryGetError> {
        self.took(self.q.try_get_with(f))
    }

    /// See [`Queue::get_with_deadline`](crate::Queue::get_with_deadline).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.get_with_deadline(std::time::Instant::now(), |v| *v).is_err());
    /// ```
    pub fn get_with_deadline<R>(
        &self,
        deadline: Instant,
        f: impl FnOnce(&T::Archived) -> R,
    ) -> Result<R, GetTimeoutError> {
        self.took(self.q.get_with_deadline(deadline, f))
    }
}

impl<T> JoinableQueue<T> {
    /// See [`Queue::capacity`](crate::Queue::capacity).
    ///
    /// ```
    /// assert_eq!(zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap().capacity(), 2);
    /// ```
    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }

    /// See [`Queue::slot_size`](crate::Queue::slot_size).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert_eq!(q.slot_size(), zeroproc_mp::queue::DEFAULT_SLOT_SIZE);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.q.slot_size()
    }

    /// See [`Queue::len`](crate::Queue::len).
    ///
    /// ```
    /// assert_eq!(zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// See [`Queue::is_empty`](crate::Queue::is_empty).
    ///
    /// ```
    /// assert!(zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// See [`Queue::is_full`](crate::Queue::is_full).
    ///
    /// ```
    /// assert!(!zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.q.is_full()
    }

    /// See [`Queue::close`](crate::Queue::close): puts are refused (not counted), gets drain then report
    /// `Closed`. Unfinished tasks stay counted.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.close();
    /// assert!(q.put(1).is_err());
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    pub fn close(&self) {
        self.q.close()
    }

    /// See [`Queue::is_closed`](crate::Queue::is_closed).
    ///
    /// ```
    /// assert!(!zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.q.is_closed()
    }
}
