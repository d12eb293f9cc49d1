//! `RLock`: a reentrant robust lock, owned by one thread of one process at a time.

use super::error::{LockResult, LockTimeoutError, OwnerDied, TryLockError};
use super::lock::{Acquired, Lock};
use super::owner;
use super::time;
use crate::atomic::{AtomicU32, Ordering};
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// A reentrant lock (Python's `RLock`): the thread that holds it may acquire it again;
/// it is released when every guard is dropped. Works between processes and threads.
///
/// Built on a [`Lock`] (the owner's pid, robust in the same way) plus the owning thread's
/// kernel thread id and a recursion count; all-zero bytes are a valid unlocked `RLock`.
/// When the owning process dies at any recursion depth, the next acquirer gets the lock
/// with [`OwnerDied`] and a depth of 1.
///
/// # Example
/// ```
/// use zeroproc_shm::sync::RLock;
/// let r = RLock::new();
/// let a = r.lock().unwrap();
/// let b = r.lock().unwrap(); // same thread: no deadlock
/// assert_eq!(r.depth(), 2);
/// drop(b);
/// drop(a);
/// assert!(!r.is_locked());
/// ```
#[repr(C)]
pub struct RLock {
    lock: Lock,
    /// Kernel thread id of the owning thread; 0 when free.
    tid: AtomicU32,
    /// Recursion depth; written only by the owning thread.
    count: AtomicU32,
}

impl Default for RLock {
    fn default() -> Self {
        Self::new()
    }
}

impl RLock {
    /// A new, unlocked reentrant lock (all-zero bytes).
    ///
    /// # Example
    /// ```
    /// assert!(!zeroproc_shm::sync::RLock::new().is_locked());
    /// ```
    pub const fn new() -> Self {
        Self { lock: Lock::new(), tid: AtomicU32::new(0), count: AtomicU32::new(0) }
    }

    /// Blocks until the calling thread holds the lock (at once if it already does).
    ///
    /// `Err(OwnerDied(guard))`: the previous owner's process died holding it; the caller
    /// holds it now (depth 1).
    ///
    /// # Example
    /// ```
    /// let r = zeroproc_shm::sync::RLock::new();
    /// let g = r.lock().unwrap();
    /// assert_eq!(r.depth(), 1);
    /// drop(g);
    /// ```
    #[inline]
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        if self.held_by_me() {
            return Ok(self.reenter());
        }
        match self.lock.acquire(None) {
            Acquired::Clean => Ok(self.enter()),
            Acquired::OwnerDied => Err(OwnerDied::new(self.enter())),
            Acquired::Timeout => unreachable!("no deadline was given"),
        }
    }

    /// Acquires without blocking, if the lock is free, already held by this thread, or
    /// held by a dead process (`OwnerDied`).
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::{RLock, TryLockError};
    /// let r = RLock::new();
    /// let a = r.try_lock().unwrap();
    /// let b = r.try_lock().unwrap(); // reentrant
    /// let other = std::thread::scope(|s| s.spawn(|| r.try_lock().is_err()).join().unwrap());
    /// assert!(other);
    /// drop((b, a));
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        if self.held_by_me() {
            return Ok(self.reenter());
        }
        match self.lock.try_acquire() {
            Some(Acquired::Clean) => Ok(self.enter()),
            Some(_) => Err(TryLockError::OwnerDied(OwnerDied::new(self.enter()))),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Like [`lock`](Self::lock), giving up after `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let r = zeroproc_shm::sync::RLock::new();
    /// let _g = r.lock_timeout(Duration::from_millis(10)).unwrap();
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RLockGuard<'_>, LockTimeoutError<RLockGuard<'_>>> {
        match time::deadline_after(timeout) {
            Some(d) => self.lock_deadline(d),
            None => self.lock().map_err(LockTimeoutError::OwnerDied),
        }
    }

    /// Like [`lock`](Self::lock), giving up at `deadline`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zeroproc_shm::sync::{LockTimeoutError, RLock};
    /// let r = RLock::new();
    /// let _mine = r.lock().unwrap();
    /// std::thread::scope(|s| {
    ///     let t = s.spawn(|| {
    ///         let d = Instant::now() + Duration::from_millis(10);
    ///         matches!(r.lock_deadline(d), Err(LockTimeoutError::Timeout))
    ///     });
    ///     assert!(t.join().unwrap());
    /// });
    /// ```
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<RLockGuard<'_>, LockTimeoutError<RLockGuard<'_>>> {
        if self.held_by_me() {
            return Ok(self.reenter());
        }
        match self.lock.acquire(Some(deadline)) {
            Acquired::Clean => Ok(self.enter()),
            Acquired::OwnerDied => Err(LockTimeoutError::OwnerDied(OwnerDied::new(self.enter()))),
            Acquired::Timeout => Err(LockTimeoutError::Timeout),
        }
    }

    /// Whether some thread of some process holds the lock (a racy snapshot).
    ///
    /// # Example
    /// ```
    /// let r = zeroproc_shm::sync::RLock::new();
    /// assert!(!r.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// How many guards the *calling thread* holds (0 if it does not own the lock).
    ///
    /// # Example
    /// ```
    /// let r = zeroproc_shm::sync::RLock::new();
    /// let _a = r.lock().unwrap();
    /// let _b = r.lock().unwrap();
    /// assert_eq!(r.depth(), 2);
    /// assert_eq!(std::thread::scope(|s| s.spawn(|| r.depth()).join().unwrap()), 0);
    /// ```
    pub fn depth(&self) -> u32 {
        if self.held_by_me() {
            // Relaxed: written only by this (owning) thread.
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether the calling thread owns the lock.
    ///
    /// The word's owner (pid and start-time stamp) equals ours only while a thread of this
    /// process holds the lock — an earlier process that had our pid (and maybe a thread id
    /// equal to ours: a main thread's is its pid) has another stamp — and
    /// `tid` equals our thread id only if *we* stored it (thread ids are unique among live
    /// threads and we reset it before releasing), so Relaxed loads suffice: we can only
    /// observe our own tid through our own program order.
    #[inline]
    fn held_by_me(&self) -> bool {
        // Relaxed: see above; no data is read on the strength of this check.
        self.lock.owner_word() == owner::my_owner()
            && self.tid.load(Ordering::Relaxed) == owner::my_tid()
    }

    /// Records this thread as owner after the inner lock was acquired.
    fn enter(&self) -> RLockGuard<'_> {
        // Relaxed: protected by the inner lock (acquired with Acquire just before). This
        // overwrites whatever a dead owner left behind.
        self.tid.store(owner::my_tid(), Ordering::Relaxed);
        // Relaxed: as above.
        self.count.store(1, Ordering::Relaxed);
        RLockGuard { rlock: self, _not_send: PhantomData }
    }

    #[inline]
    fn reenter(&self) -> RLockGuard<'_> {
        // Relaxed: only the owning thread touches `count` while it owns the lock.
        let c = self.count.load(Ordering::Relaxed);
        let next = c.checked_add(1).expect("RLock recursion depth overflow");
        // Relaxed: as above.
        self.count.store(next, Ordering::Relaxed);
        RLockGuard { rlock: self, _not_send: PhantomData }
    }

    #[inline]
    fn exit(&self) {
        // A forked child's copy of its parent's guard (see `Lock::release`): the lock, and
        // its shared depth, are the parent's.
        if !self.held_by_me() {
            return;
        }
        // Relaxed: only the owning thread touches `count`.
        let c = self.count.load(Ordering::Relaxed);
        debug_assert!(c > 0, "RLock released more often than acquired");
        // Relaxed: as above.
        self.count.store(c - 1, Ordering::Relaxed);
        if c == 1 {
            // Relaxed: ordered before the inner lock's Release swap, which publishes it.
            self.tid.store(0, Ordering::Relaxed);
            self.lock.release();
        }
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: snapshots for printing.
        f.debug_struct("RLock")
            .field("owner_pid", &self.lock.owner())
            .field("owner_tid", &self.tid.load(Ordering::Relaxed))
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

/// One level of ownership of an [`RLock`]; dropping it releases that level. `!Send`.
///
/// # Example
/// ```
/// let r = zeroproc_shm::sync::RLock::new();
/// let g = r.lock().unwrap();
/// g.unlock();
/// assert!(!r.is_locked());
/// ```
#[must_use = "dropping the guard releases one level at once"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Releases this level (the same as dropping the guard).
    ///
    /// # Example
    /// ```
    /// let r = zeroproc_shm::sync::RLock::new();
    /// let a = r.lock().unwrap();
    /// let b = r.lock().unwrap();
    /// b.unlock();
    /// assert_eq!(r.depth(), 1);
    /// a.unlock();
    /// ```
    pub fn unlock(self) {
        drop(self)
    }
}

impl Drop for RLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.rlock.exit();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").field("rlock", self.rlock).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::lock::tests::dead_pid;
    use super::*;

    #[test]
    fn recovers_from_a_dead_owner_at_any_depth() {
        let r = RLock::new();
        r.lock.set_raw(dead_pid());
        r.tid.store(12345, Ordering::Relaxed);
        r.count.store(7, Ordering::Relaxed);
        let g = r.lock().expect_err("owner died").into_inner();
        assert_eq!(r.depth(), 1);
        let g2 = r.lock().unwrap();
        assert_eq!(r.depth(), 2);
        drop((g2, g));
        assert!(!r.is_locked());
        assert_eq!(r.tid.load(Ordering::Relaxed), 0);
    }

    /// An earlier process with our pid died holding it, in the thread whose id is ours
    /// (a main thread's id is its pid): before the start-time stamp, `lock` took that for
    /// re-entry and went on counting the dead holder's depth, never releasing.
    #[test]
    fn a_dead_holder_with_our_pid_and_tid_is_not_re_entered() {
        let r = RLock::new();
        r.lock.set_raw(owner::my_owner() ^ (0x5a << 32));
        r.tid.store(owner::my_tid(), Ordering::Relaxed);
        r.count.store(3, Ordering::Relaxed);
        assert_eq!(r.depth(), 0, "not ours");
        let g = r.lock().expect_err("the earlier process died").into_inner();
        assert_eq!(r.depth(), 1);
        drop(g);
        assert!(!r.is_locked());
    }
}
