//! `Semaphore`: a counter of permits (Python's `threading.Semaphore`).

use super::time::{self, SPIN_LIMIT};
use crate::atomic::{spin_hint, AtomicU32, Ordering};
use crate::wait::EventCount;
use std::fmt;
use std::time::{Duration, Instant};

/// A counting semaphore that works between processes and threads.
///
/// The permit count is one 32-bit word; sleeping goes through an
/// [`EventCount`](crate::wait::EventCount), so `release` makes a wake syscall only when some
/// acquirer sleeps. Any process may release a permit another acquired (permits are not
/// owned), as in Python. All-zero bytes are a valid `Semaphore` with value 0.
///
/// **Death:** a permit held by a process that dies is **lost**: the count stays one lower
/// for good. There is no owner tracking because permits are anonymous by design (the
/// releaser need not be the acquirer, and a semaphore is often used to *signal*), and a
/// per-holder table would have to be bounded in shared memory. Code that needs recovery
/// should pair each permit with a robust [`Lock`](super::Lock) or have a supervisor
/// `release` on behalf of the dead process. A waiter that dies is harmless (it only costs
/// later releases a futile wake syscall); one that dies just after a `release` woke it
/// takes that wake-up with it, and another sleeper finds the permit at its next look,
/// at most a second later (sleepers look again every second).
///
/// # Example
/// ```
/// use zeroproc_shm::sync::Semaphore;
/// let sem = Semaphore::new(2);
/// sem.acquire();
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire()); // both permits taken
/// sem.release(2);
/// assert_eq!(sem.value(), 2);
/// ```
#[repr(C)]
pub struct Semaphore {
    value: AtomicU32,
    ec: EventCount,
}

impl Default for Semaphore {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Semaphore {
    /// A semaphore holding `value` permits.
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(value: u32) -> Self {
        Self { value: AtomicU32::new(value), ec: EventCount::new() }
    }

    /// Takes a permit, blocking until one is available.
    ///
    /// # Example
    /// ```
    /// let sem = zeroproc_shm::sync::Semaphore::new(1);
    /// sem.acquire();
    /// assert_eq!(sem.value(), 0);
    /// ```
    #[inline]
    pub fn acquire(&self) {
        let got = self.acquire_until(None);
        debug_assert!(got);
    }

    /// Takes a permit if one is available now.
    ///
    /// # Example
    /// ```
    /// let sem = zeroproc_shm::sync::Semaphore::new(0);
    /// assert!(!sem.try_acquire());
    /// ```
    #[inline]
    #[must_use = "false means no permit was taken"]
    pub fn try_acquire(&self) -> bool {
        // Relaxed: the CAS in `take` carries the ordering.
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v == 0 {
                return false;
            }
            match self.take(v) {
                Ok(()) => return true,
                Err(seen) => v = seen,
            }
        }
    }

    /// Takes a permit, waiting at most `timeout`; `false` if none became available.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let sem = zeroproc_shm::sync::Semaphore::new(0);
    /// assert!(!sem.acquire_timeout(Duration::from_millis(5)));
    /// ```
    #[must_use = "false means no permit was taken"]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(time::deadline_after(timeout))
    }

    /// Takes a permit, waiting until `deadline`; `false` if none became available.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let sem = zeroproc_shm::sync::Semaphore::new(1);
    /// assert!(sem.acquire_deadline(Instant::now() + Duration::from_millis(5)));
    /// ```
    #[must_use = "false means no permit was taken"]
    pub fn acquire_deadline(&self, deadline: Instant) -> bool {
        self.acquire_until(Some(deadline))
    }

    /// Adds `n` permits and wakes up to `n` waiters.
    ///
    /// # Panics
    /// If the count would exceed `u32::MAX`.
    ///
    /// # Example
    /// ```
    /// let sem = zeroproc_shm::sync::Semaphore::new(0);
    /// sem.release(3);
    /// assert_eq!(sem.value(), 3);
    /// ```
    #[inline]
    pub fn release(&self, n: u32) {
        if let Err(v) = self.release_up_to(n, u32::MAX) {
            panic!("Semaphore::release({n}) overflows the count {v}");
        }
    }

    /// The number of permits available now (a racy snapshot).
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Semaphore::new(4).value(), 4);
    /// ```
    pub fn value(&self) -> u32 {
        // Relaxed: a snapshot; it orders nothing.
        self.value.load(Ordering::Relaxed)
    }

    /// Adds `n` permits unless the count would exceed `max`; `Err(count seen)` otherwise.
    #[inline]
    pub(super) fn release_up_to(&self, n: u32, max: u32) -> Result<(), u32> {
        if n == 0 {
            return Ok(());
        }
        // Release: pairs with the Acquire CAS in `take`, handing the releaser's writes to
        // the next acquirer. The event count's SeqCst fence in `notify_*` follows it.
        self.value.fetch_update(Ordering::Release, Ordering::Relaxed, |v| {
            v.checked_add(n).filter(|&s| s <= max)
        })?;
        if n == 1 {
            self.ec.notify_one();
        } else {
            self.ec.notify_all();
        }
        Ok(())
    }

    /// One CAS from the observed count `v > 0` to `v - 1`.
    #[inline]
    fn take(&self, v: u32) -> Result<(), u32> {
        // Acquire: pairs with the Release RMW in `release_up_to` (every release extends
        // the release sequence on this word).
        self.value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed).map(drop)
    }

    #[inline]
    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire() || self.acquire_slow(deadline)
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        for _ in 0..SPIN_LIMIT {
            spin_hint();
            if self.try_acquire() {
                return true;
            }
        }
        loop {
            let key = self.ec.prepare_wait();
            // SeqCst: the re-check after `prepare_wait`'s SeqCst increment; pairs with the
            // SeqCst fence in `EventCount::notify_*` (Dekker: either the releaser sees us
            // registered, or we see its permit here).
            if self.value.load(Ordering::SeqCst) != 0 {
                self.ec.cancel_wait();
                if self.try_acquire() {
                    return true;
                }
                continue;
            }
            // At most `RECHECK`: `release(1)` wakes one sleeper, and a sleeper that dies
            // between its wake-up and its `try_acquire` (a process SIGKILLed there) takes
            // that wake-up with it; the permit is then available while we sleep on. A
            // slice that ends without a wake-up is only a look at the count (and the
            // epoch's 32 bits, as for `Barrier`).
            if !self.ec.wait(key, Some(time::recheck_end(deadline))) && time::expired(deadline) {
                // Timed out: a permit that arrived at the last moment still counts.
                return self.try_acquire();
            }
            if self.try_acquire() {
                return true;
            }
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("value", &self.value()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Waits (bounded) until `n` sleepers are registered on `s`'s event count, then a
    /// little longer so that they are queued in the kernel too.
    fn until_sleepers(s: &Semaphore, n: u32) {
        let t = Instant::now();
        while s.ec.waiters() < n {
            assert!(t.elapsed() < Duration::from_secs(10), "sleeper {n} never registered");
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// `release(1)` wakes one sleeper. If that sleeper never takes the permit — a process
    /// SIGKILLed right after its futex wait returned — its wake-up is gone with it. Another
    /// sleeper must still find the permit: before, it slept until its deadline (for ever in
    /// `acquire()`) beside an available permit.
    #[test]
    fn a_wake_up_taken_by_a_waiter_that_dies_does_not_strand_the_permit() {
        let sem = Arc::new(Semaphore::new(0));
        // The victim: asleep on the event count first (the kernel wakes same-priority
        // futex sleepers in FIFO order), it returns from its wait and takes nothing, as a
        // process killed there would.
        let victim = {
            let s = sem.clone();
            std::thread::spawn(move || {
                let key = s.ec.prepare_wait();
                s.ec.wait(key, Some(Instant::now() + Duration::from_secs(20)))
            })
        };
        until_sleepers(&sem, 1);
        let live = {
            let s = sem.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                (s.acquire_timeout(Duration::from_secs(15)), t.elapsed())
            })
        };
        until_sleepers(&sem, 2);
        sem.release(1);
        assert!(victim.join().unwrap(), "the victim was not the sleeper woken");
        let (got, waited) = live.join().unwrap();
        assert!(got, "the live waiter never got the permit");
        assert!(
            waited < Duration::from_secs(5),
            "the live waiter found the permit after {waited:?}"
        );
    }
}
