//! `Condition`: a condition variable used with a [`Lock`](super::Lock).

use super::error::{LockResult, OwnerDied};
use super::lock::LockGuard;
use super::time;
use crate::wait::FifoQueue;
use std::fmt;
use std::time::{Duration, Instant};

/// A condition variable (Python's `Condition`) for waiting, under a [`Lock`](super::Lock),
/// until shared state changes. Works between processes and threads.
///
/// A queue of waiters in the order of their `wait` calls (`crate::wait::FifoQueue`: a
/// slot per waiter, each sleeping on its own word), so that `notify(n)` wakes the `n`
/// oldest of the waiters registered before it, as Python's (the others sleep on to their
/// deadline), `notify_all` wakes every one of them, a waiter that starts waiting after a
/// notify cannot take that notify's wake-up, and a notify with nobody waiting costs no
/// syscall. A waiter whose process is stopped (SIGSTOP, a debugger) is passed over while
/// a running one can take the wake-up, and keeps its place (CPython's
/// `multiprocessing.Condition` passes it over too). All-zero bytes are a valid `Condition`
/// (536 bytes). Use one `Condition` with one `Lock` (nothing checks this across
/// processes). **Differs:** past 64 waiters at once, the extra ones wait unordered, after
/// the queued ones (still at most `n` notified in all); at most 1,048,575 of those.
///
/// The guard is passed by value and handed back, as with `std::sync::Condvar`; if the lock
/// has to be recovered from a dead holder while re-acquiring, the guard comes back wrapped
/// in [`OwnerDied`]. Wake-ups may be spurious: prefer [`wait_for`](Self::wait_for).
///
/// **Death:** a waiter that dies in `wait` is harmless: the first notify that reaches it
/// in the queue finds it dead (its wake woke nobody and its process is gone), dequeues it
/// and wakes the next waiter instead, at once; until then it holds its place (and shows in
/// `Debug`'s count). One killed after a notify granted it a wake-up, before it took it,
/// holds its place until a live sleeper's one-second look passes that wake-up to the
/// oldest waiter queued before that notify (if any). A `wait` that finds all 64 places
/// taken dequeues the dead. A process that dies holding the lock is handled by the lock's
/// robustness. A notifier that dies before notifying leaves waiters waiting (use the timed
/// forms).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use zeroproc_shm::sync::{Condition, Lock};
///
/// let s = Arc::new((Lock::new(), Condition::new(), AtomicBool::new(false)));
/// let s2 = s.clone();
/// let t = std::thread::spawn(move || {
///     let _g = s2.0.lock().unwrap();
///     s2.2.store(true, Ordering::Relaxed);
///     s2.1.notify_all();
/// });
/// let g = s.0.lock().unwrap();
/// let g = s.1.wait_for(g, || s.2.load(Ordering::Relaxed)).unwrap();
/// drop(g);
/// t.join().unwrap();
/// ```
#[repr(C)]
pub struct Condition {
    /// The waiters, in the order of their `wait` calls (`crate::wait::FifoQueue`).
    queue: FifoQueue,
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of a timed wait with its guard: `(guard, true)` unless the deadline passed.
type Timed<'a> = (LockGuard<'a>, bool);

impl Condition {
    /// A new condition (all-zero bytes).
    ///
    /// # Example
    /// ```
    /// let c = zeroproc_shm::sync::Condition::new();
    /// c.notify_all(); // nobody waits: no syscall
    /// ```
    pub const fn new() -> Self {
        Self { queue: FifoQueue::new() }
    }

    /// Releases the lock, sleeps until notified (or spuriously woken), re-acquires the lock.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let s = Arc::new((Lock::new(), Condition::new()));
    /// let g = s.0.lock().unwrap();
    /// let s2 = s.clone();
    /// let t = std::thread::spawn(move || { let _g = s2.0.lock().unwrap(); s2.1.notify_one(); });
    /// let g = s.1.wait(g).unwrap(); // t can only notify after we released the lock here
    /// drop(g);
    /// t.join().unwrap();
    /// ```
    pub fn wait<'a>(&self, guard: LockGuard<'a>) -> LockResult<LockGuard<'a>> {
        match self.wait_until(guard, None) {
            Ok((g, _)) => Ok(g),
            Err(died) => Err(died.map(|(g, _)| g)),
        }
    }

    /// Like [`wait`](Self::wait), for at most `timeout`. The flag is `false` if the time ran
    /// out (Python's `wait(timeout)` result).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(), Condition::new());
    /// let (g, notified) = cond.wait_timeout(lock.lock().unwrap(), Duration::from_millis(5)).unwrap();
    /// assert!(!notified);
    /// assert!(lock.is_locked());
    /// drop(g);
    /// ```
    pub fn wait_timeout<'a>(
        &self,
        guard: LockGuard<'a>,
        timeout: Duration,
    ) -> LockResult<Timed<'a>> {
        self.wait_until(guard, time::deadline_after(timeout))
    }

    /// Like [`wait`](Self::wait), until `deadline`; `false` if it passed. The lock is
    /// re-acquired in every case (that part has no deadline; the lock's robustness
    /// guarantees it ends).
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(), Condition::new());
    /// let d = Instant::now() + Duration::from_millis(5);
    /// let (_g, notified) = cond.wait_deadline(lock.lock().unwrap(), d).unwrap();
    /// assert!(!notified);
    /// ```
    pub fn wait_deadline<'a>(
        &self,
        guard: LockGuard<'a>,
        deadline: Instant,
    ) -> LockResult<Timed<'a>> {
        self.wait_until(guard, Some(deadline))
    }

    /// Waits until `pred()` is true (checked under the lock before each wait).
    ///
    /// On `Err(OwnerDied(guard))` the lock was recovered from a dead holder while
    /// re-acquiring; the predicate has not been re-checked (the state may need repair).
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(), Condition::new());
    /// let g = cond.wait_for(lock.lock().unwrap(), || true).unwrap(); // already true
    /// drop(g);
    /// ```
    pub fn wait_for<'a>(
        &self,
        guard: LockGuard<'a>,
        mut pred: impl FnMut() -> bool,
    ) -> LockResult<LockGuard<'a>> {
        let mut g = guard;
        while !pred() {
            g = self.wait(g)?;
        }
        Ok(g)
    }

    /// Like [`wait_for`](Self::wait_for), for at most `timeout`. The flag is the
    /// predicate's last value (`false`: it still did not hold when the time ran out).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(), Condition::new());
    /// let t = Duration::from_millis(5);
    /// let (_g, ok) = cond.wait_for_timeout(lock.lock().unwrap(), t, || false).unwrap();
    /// assert!(!ok);
    /// ```
    pub fn wait_for_timeout<'a>(
        &self,
        guard: LockGuard<'a>,
        timeout: Duration,
        pred: impl FnMut() -> bool,
    ) -> LockResult<Timed<'a>> {
        self.wait_for_until(guard, time::deadline_after(timeout), pred)
    }

    /// Like [`wait_for`](Self::wait_for), until `deadline`; the flag is the predicate's
    /// last value. On `Err(OwnerDied((guard, flag)))` the flag is the predicate evaluated
    /// right after the recovery.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zeroproc_shm::sync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(), Condition::new());
    /// let d = Instant::now() + Duration::from_millis(5);
    /// let (_g, ok) = cond.wait_for_deadline(lock.lock().unwrap(), d, || true).unwrap();
    /// assert!(ok);
    /// ```
    pub fn wait_for_deadline<'a>(
        &self,
        guard: LockGuard<'a>,
        deadline: Instant,
        pred: impl FnMut() -> bool,
    ) -> LockResult<Timed<'a>> {
        self.wait_for_until(guard, Some(deadline), pred)
    }

    /// Wakes up to `n` waiters (Python's `notify(n)`: the `n` oldest of the waiters
    /// registered before this call, in the order of their `wait` calls, return notified;
    /// `notify(0)` wakes none). Call it after
    /// changing the state under the lock (holding the lock while notifying is allowed but
    /// not required; a waiter registers under the lock, so one registering meanwhile may
    /// be missed without it).
    ///
    /// # Example
    /// ```
    /// let c = zeroproc_shm::sync::Condition::new();
    /// c.notify(2);
    /// ```
    #[inline]
    pub fn notify(&self, n: u32) {
        self.queue.notify(n);
    }

    /// Wakes one waiter (`notify(1)`).
    ///
    /// # Example
    /// ```
    /// zeroproc_shm::sync::Condition::new().notify_one();
    /// ```
    #[inline]
    pub fn notify_one(&self) {
        self.notify(1)
    }

    /// Wakes every waiter.
    ///
    /// # Example
    /// ```
    /// zeroproc_shm::sync::Condition::new().notify_all();
    /// ```
    #[inline]
    pub fn notify_all(&self) {
        self.notify(u32::MAX)
    }

    /// The one wait implementation: `(guard, notified)`.
    fn wait_until<'a>(
        &self,
        guard: LockGuard<'a>,
        deadline: Option<Instant>,
    ) -> LockResult<Timed<'a>> {
        // Under the lock: queued in the order of the `wait` calls, and counted by every
        // notify made under the lock after it.
        let entry = self.queue.enqueue();
        let lock = guard.lock;
        drop(guard);
        let notified = self.queue.sleep(entry, deadline, |d| Some(time::recheck_end(d)));
        match lock.lock() {
            Ok(g) => Ok((g, notified)),
            Err(died) => Err(died.map(|g| (g, notified))),
        }
    }

    fn wait_for_until<'a>(
        &self,
        guard: LockGuard<'a>,
        deadline: Option<Instant>,
        mut pred: impl FnMut() -> bool,
    ) -> LockResult<Timed<'a>> {
        let mut g = guard;
        loop {
            if pred() {
                return Ok((g, true));
            }
            if time::expired(deadline) {
                return Ok((g, false));
            }
            match self.wait_until(g, deadline) {
                Ok((next, _)) => g = next,
                Err(died) => {
                    let g = died.into_inner().0;
                    let holds = pred();
                    return Err(OwnerDied::new((g, holds)));
                }
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for printing.
        f.debug_struct("Condition").field("waiters", &self.queue.queued()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::lock::tests::dead_pid;
    use super::super::Lock;
    use super::*;

    #[test]
    fn owner_died_while_re_acquiring_is_surfaced_with_the_guard() {
        let (lock, cond) = (Lock::new(), Condition::new());
        let g = lock.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // Wait until the waiter has released the lock, then forge a dead holder.
                let g = lock.lock().unwrap();
                std::mem::forget(g);
                lock.set_raw(dead_pid());
                cond.notify_all();
            });
            let r = cond.wait_for_timeout(g, Duration::from_secs(20), || false);
            let (g, holds) = r.expect_err("the lock was recovered").into_inner();
            assert!(!holds);
            assert_eq!(lock.owner(), Some(std::process::id()));
            drop(g);
        });
        assert!(!lock.is_locked());
    }
}
