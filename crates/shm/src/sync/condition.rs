//! `Condition`: a condition variable used with a [`Lock`](super::Lock).

use super::error::{LockResult, OwnerDied};
use super::grants;
use super::lock::LockGuard;
use super::time;
use crate::atomic::{AtomicU64, Ordering};
use crate::futex::{self, WaitOutcome};
use std::fmt;
use std::time::{Duration, Instant};

/// A condition variable (Python's `Condition`) for waiting, under a [`Lock`](super::Lock),
/// until shared state changes. Works between processes and threads.
///
/// Two words: a sequence counter (the futex word) bumped by every notify that wakes
/// someone, and a word counting the waiters and the wake-ups granted to them
/// (`grants.rs`), so that `notify(n)` lets at most `n` of the waiters registered before
/// it return notified (as Python's; the others sleep on to their deadline), `notify_all`
/// wakes every one of them, a waiter that starts waiting after a notify cannot take that
/// notify's wake-up, and a notify with nobody waiting costs no syscall. Which `n` of the
/// earlier waiters are woken is not fixed (Python wakes the oldest). All-zero bytes are a
/// valid `Condition`. Use one `Condition` with one `Lock` (nothing checks this across
/// processes); at most 1,048,575 waiters at once.
///
/// The guard is passed by value and handed back, as with `std::sync::Condvar`; if the lock
/// has to be recovered from a dead holder while re-acquiring, the guard comes back wrapped
/// in [`OwnerDied`]. Wake-ups may be spurious: prefer [`wait_for`](Self::wait_for).
///
/// **Death:** a waiter that dies is harmless: it stays counted, so a later `notify` may
/// grant it a wake-up, which the next waiter that may take it takes (a spurious wake-up,
/// reported as notified). It stays counted for the condition's life: every `notify_all`
/// grants each dead waiter a wake-up again (measured: 3 waiters SIGKILLed in `wait`, then
/// after each `notify_all`, 4 of 5 live waiters returned notified from one `notify(1)`;
/// CPython: 1), and 1,048,575 deaths fill the waiter count (`wait` then panics);
/// one killed just after a notify woke it leaves that wake-up to a live sleeper, which
/// finds it within a second. A process that dies holding the lock
/// is handled by the lock's robustness. A notifier that dies before notifying leaves
/// waiters waiting (use the timed forms).
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
    /// Bumped by every notify that grants a wake-up; waiters sleep on its low half. 64
    /// bits, so that no number of notifies made while a waiter is descheduled brings it
    /// back to the waiter's key.
    seq: AtomicU64,
    /// Waiters (registered under the lock, not yet returned) and wake-ups granted to them
    /// and not yet taken (`grants.rs`).
    state: AtomicU64,
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
        Self { seq: AtomicU64::new(0), state: AtomicU64::new(0) }
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

    /// Wakes up to `n` waiters (Python's `notify(n)`: at most `n` of the waiters
    /// registered before this call return notified; `notify(0)` wakes none). Call it after
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
        let granted = grants::grant(&self.state, n);
        if granted != 0 {
            // SeqCst: after the grant in the one total order (see `sleep`): a waiter that
            // missed the grant read its key before this bump, so its futex call finds the
            // word changed or is woken below.
            self.seq.fetch_add(1, Ordering::SeqCst);
            wake(&self.seq, granted);
        }
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
        // Under the lock: a notifier that changes the state under it afterwards counts us.
        let key = grants::register(&self.state);
        let lock = guard.lock;
        drop(guard);
        let notified = self.sleep(key, deadline);
        match lock.lock() {
            Ok(g) => Ok((g, notified)),
            Err(died) => Err(died.map(|g| (g, notified))),
        }
    }

    /// A registered waiter's sleep (`key`: its registration epoch, `grants.rs`): until it
    /// takes a granted wake-up (true) or `deadline` passes (false; it unregisters, or takes
    /// a wake-up that came just in time). Each round reads `seq` *before* looking for a
    /// wake-up it may take: a grant made after that look is followed by a `seq` bump (one
    /// SeqCst order with the grant word), so the futex call finds the word changed or is
    /// queued before the notifier's wake. The kernel compares `seq`'s low half only:
    /// should exactly a multiple of 2^32 bumps pass while the waiter is descheduled before
    /// its futex call, it sleeps, and finds its wake-up after [`RECHECK`](time::RECHECK).
    /// A woken waiter that finds none it may take (another waiter took it) sleeps again.
    fn sleep(&self, key: u32, deadline: Option<Instant>) -> bool {
        // SeqCst: see above.
        let seen = self.seq.load(Ordering::SeqCst);
        if grants::take(&self.state, key) {
            return true;
        }
        self.sleep_on(key, seen, deadline)
    }

    /// [`sleep`](Self::sleep)'s rounds after its first look: sleep while `seq` is `seen`,
    /// then read `seq` again and look for a wake-up.
    fn sleep_on(&self, key: u32, mut seen: u64, deadline: Option<Instant>) -> bool {
        loop {
            let end = time::recheck_end(deadline);
            // SAFETY: the low half of our own `seq`: aligned, mapped while `self` lives.
            let r = unsafe { futex::wait_raw(futex::low_half(&self.seq), seen as u32, Some(end)) };
            if r == WaitOutcome::Timeout && time::expired(deadline) {
                return grants::leave(&self.state, key);
            }
            // SeqCst: see `sleep`.
            seen = self.seq.load(Ordering::SeqCst);
            if grants::take(&self.state, key) {
                return true;
            }
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

#[cold]
fn wake(word: &AtomicU64, n: u32) {
    futex::wake_raw(futex::low_half(word), n);
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for printing.
        f.debug_struct("Condition").field("waiters", &grants::waiting(&self.state)).finish()
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

    /// A waiter descheduled between its registration and its futex call while exactly
    /// 2^32 notifies passed: with the 32-bit `seq` the kernel found the waiter's key
    /// again, and the waiter slept to its deadline (for ever without one), told it was not
    /// notified.
    #[test]
    fn a_waiter_stalled_across_2_pow_32_notifies_is_woken() {
        let cond = Condition::new();
        // Registration (`wait_until`'s first step, under the lock), then `sleep`'s first
        // look: no grant yet.
        let key = grants::register(&cond.state);
        let seen = cond.seq.load(Ordering::SeqCst);
        assert!(!grants::take(&cond.state, key));
        // What a grant for it and 2^32 notifies in all leave.
        assert_eq!(grants::grant(&cond.state, 1), 1);
        cond.seq.fetch_add(1 << 32, Ordering::SeqCst);
        assert!(cond.sleep_on(key, seen, Some(Instant::now() + Duration::from_secs(20))));
        assert_eq!(grants::waiting(&cond.state), 0);
    }
}
