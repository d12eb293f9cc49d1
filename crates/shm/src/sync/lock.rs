//! `Lock`: a robust process-shared mutex on one futex word (Drepper's mutex, with the
//! owner's pid in the word so a dead holder can be detected and replaced).

use super::error::{LockResult, LockTimeoutError, OwnerDied, TryLockError};
use super::owner::{self, PID_MASK};
use super::time::{self, Slices, SPIN_LIMIT};
use crate::atomic::{spin_hint, AtomicU64, Ordering};
use crate::futex::{self, WaitOutcome};
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// Set while a waiter may sleep on the word: the releaser must `futex_wake`.
const WAITERS: u64 = 1 << 31;

/// The futex half of the word (bits 0..32: pid and `WAITERS`) as the kernel compares it.
#[inline]
fn low(w: u64) -> u32 {
    w as u32
}

/// How an internal acquire ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acquired {
    /// Taken from a free lock.
    Clean,
    /// Taken over from an owner whose process had exited.
    OwnerDied,
    /// The deadline passed first.
    Timeout,
}

/// A robust mutual-exclusion lock that works between processes (in a shared-memory
/// segment) and between threads.
///
/// One 64-bit word: `0` when free, otherwise the owner's pid and the low 32 bits of its
/// start time, plus a "waiters" bit. An uncontended `lock` is one compare-and-swap; an
/// uncontended unlock is one swap (the futex wake syscall happens only when someone
/// sleeps; sleepers wait on the word's pid half). All-zero bytes are a valid unlocked
/// `Lock`.
///
/// **Robust:** when a process dies holding the lock, the next acquirer gets it with an
/// [`OwnerDied`] indication instead of waiting forever. Waiters sleep in bounded slices
/// (1 ms doubling to 64 ms) and after each slice check the owner's liveness; a dead owner
/// (including an exited but unreaped zombie) is replaced with one compare-and-swap from the
/// observed word, so exactly one taker wins. [`try_lock`](Self::try_lock) checks too.
///
/// * **Ownership is per process.** The word records a pid, not a thread: threads of one
///   process still exclude each other (through the guard), but recovery happens only when
///   the whole process has exited. Do not `fork` while holding a guard: the child's copy
///   of the guard would unlock the parent's lock.
/// * **Pid reuse** does not hide a dead owner: the word records the owner's start time
///   too (`/proc/PID/stat`), so a process that got the dead owner's pid — another one, or
///   the waiter itself — is told apart from it. It can never let two owners in (the
///   takeover CAS expects the exact word). Processes must share a pid namespace; where
///   `/proc` cannot be read the pid alone decides, and a reused pid delays recovery until
///   the new process exits.
/// * No fairness guarantee (a running thread may barge ahead of a woken sleeper).
///
/// **Between processes**, a `Lock` must live in shared memory: `Lock::new()` is an
/// ordinary value in this process's memory. With zeroproc, put it in a
/// `zeroproc::SharedCell` (`SharedCell::new(Lock::new())`), pass `cell.handle()` to the
/// `Process` or job, and `attach()` it there (the `zeroproc` crate docs have the example);
/// or place it in a segment yourself (the [module](super) docs).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use zeroproc_shm::sync::Lock;
///
/// let shared = Arc::new((Lock::new(), AtomicU64::new(0)));
/// let threads: Vec<_> = (0..4).map(|_| {
///     let s = shared.clone();
///     std::thread::spawn(move || for _ in 0..1000 {
///         let _g = s.0.lock().unwrap();
///         // A non-atomic read-modify-write, made safe by the lock.
///         let v = s.1.load(Ordering::Relaxed);
///         s.1.store(v + 1, Ordering::Relaxed);
///     })
/// }).collect();
/// threads.into_iter().for_each(|t| t.join().unwrap());
/// assert_eq!(shared.1.load(Ordering::Relaxed), 4000);
/// ```
#[repr(C)]
pub struct Lock {
    word: AtomicU64,
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// A new, unlocked lock (all-zero bytes).
    ///
    /// # Example
    /// ```
    /// let lock = zeroproc_shm::sync::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    pub const fn new() -> Self {
        Self { word: AtomicU64::new(0) }
    }

    /// Blocks until the lock is acquired.
    ///
    /// Returns `Err(OwnerDied(guard))` when the previous holder's process died holding it:
    /// the caller holds the lock either way.
    ///
    /// # Example
    /// ```
    /// let lock = zeroproc_shm::sync::Lock::new();
    /// let guard = lock.lock().unwrap_or_else(|died| died.into_inner());
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        match self.acquire(None) {
            Acquired::Clean => Ok(self.guard()),
            Acquired::OwnerDied => Err(OwnerDied::new(self.guard())),
            Acquired::Timeout => unreachable!("no deadline was given"),
        }
    }

    /// Acquires the lock if that is possible without blocking.
    ///
    /// A held lock whose owner has died is taken over (`Err(OwnerDied(guard))`); checking
    /// that costs a liveness probe (a few syscalls) each time the lock is found held.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::{Lock, TryLockError};
    /// let lock = Lock::new();
    /// let g = lock.try_lock().unwrap();
    /// assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(g);
    /// assert!(lock.try_lock().is_ok());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        match self.try_acquire() {
            Some(Acquired::Clean) => Ok(self.guard()),
            Some(_) => Err(TryLockError::OwnerDied(OwnerDied::new(self.guard()))),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Like [`lock`](Self::lock), giving up after `timeout` (see
    /// [`lock_deadline`](Self::lock_deadline)).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_shm::sync::{Lock, LockTimeoutError};
    /// let lock = Lock::new();
    /// let _held = lock.lock().unwrap();
    /// let r = lock.lock_timeout(Duration::from_millis(20));
    /// assert!(matches!(r, Err(LockTimeoutError::Timeout)));
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<LockGuard<'_>, LockTimeoutError<LockGuard<'_>>> {
        match time::deadline_after(timeout) {
            Some(d) => self.lock_deadline(d),
            None => self.lock().map_err(LockTimeoutError::OwnerDied),
        }
    }

    /// Like [`lock`](Self::lock), giving up at `deadline` with
    /// [`LockTimeoutError::Timeout`]. Sub-second remainders are honoured.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zeroproc_shm::sync::Lock;
    /// let lock = Lock::new();
    /// let g = lock.lock_deadline(Instant::now() + Duration::from_millis(10)).unwrap();
    /// drop(g);
    /// ```
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<LockGuard<'_>, LockTimeoutError<LockGuard<'_>>> {
        match self.acquire(Some(deadline)) {
            Acquired::Clean => Ok(self.guard()),
            Acquired::OwnerDied => Err(LockTimeoutError::OwnerDied(OwnerDied::new(self.guard()))),
            Acquired::Timeout => Err(LockTimeoutError::Timeout),
        }
    }

    /// Whether some process holds the lock (a racy snapshot, for diagnostics).
    ///
    /// # Example
    /// ```
    /// let lock = zeroproc_shm::sync::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot; it orders nothing.
        self.word.load(Ordering::Relaxed) != 0
    }

    /// The pid of the process holding the lock, if any (a racy snapshot).
    ///
    /// # Example
    /// ```
    /// let lock = zeroproc_shm::sync::Lock::new();
    /// let _g = lock.lock().unwrap();
    /// assert_eq!(lock.owner(), Some(std::process::id()));
    /// ```
    pub fn owner(&self) -> Option<u32> {
        // Relaxed: a snapshot; it orders nothing.
        let pid = low(self.word.load(Ordering::Relaxed)) & PID_MASK;
        (pid != 0).then_some(pid)
    }

    /// The owner part of the word (`stamp << 32 | pid`, 0 when free; a racy snapshot).
    pub(super) fn owner_word(&self) -> u64 {
        // Relaxed: a snapshot; `RLock::held_by_me` explains why that suffices there.
        self.word.load(Ordering::Relaxed) & !WAITERS
    }

    /// The word's pid half, where sleepers wait.
    fn futex_addr(&self) -> *const u32 {
        futex::low_half(&self.word)
    }

    fn guard(&self) -> LockGuard<'_> {
        LockGuard { lock: self, _not_send: PhantomData }
    }

    /// Acquires, waiting until `deadline` (forever if `None`). The one implementation
    /// behind every blocking form of `Lock` and `RLock`.
    #[inline]
    pub(super) fn acquire(&self, deadline: Option<Instant>) -> Acquired {
        let me = owner::my_owner();
        // Acquire: pairs with the Release swap in `release`, so everything the previous
        // holder wrote under the lock is visible to us.
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Acquired::Clean;
        }
        self.acquire_slow(me, deadline)
    }

    /// One attempt: `None` when a live owner holds the lock.
    #[inline]
    pub(super) fn try_acquire(&self) -> Option<Acquired> {
        let me = owner::my_owner();
        // Acquire: pairs with the Release swap in `release`.
        match self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Some(Acquired::Clean),
            // Keep the waiters bit: sleepers may be queued behind the dead owner.
            Err(seen) => self.take_over(me, seen, seen & WAITERS).then_some(Acquired::OwnerDied),
        }
    }

    /// If the owner recorded in `seen` has exited, replaces `seen` by `me | extra` and
    /// returns true. Of several concurrent takers at most one succeeds (the CAS expects the
    /// exact word observed, and a dead process can never store that word again: a later
    /// process with its pid has another start time). An owner word with our pid and another
    /// stamp is an earlier process that had our pid: gone, not us.
    #[cold]
    fn take_over(&self, me: u64, seen: u64, extra: u64) -> bool {
        let owner = seen & !WAITERS;
        if owner == 0 || owner == me || !owner::owner_is_gone(owner) {
            return false;
        }
        // Acquire: pairs with the Release swap of the last regular `release`. The dead
        // owner's own writes were made before it exited, which we observed through the
        // kernel (kill/pidfd), a full barrier.
        self.word.compare_exchange(seen, me | extra, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[cold]
    fn acquire_slow(&self, me: u64, deadline: Option<Instant>) -> Acquired {
        // Phase 1: spin while the holder is likely to release soon and nobody sleeps yet.
        for _ in 0..SPIN_LIMIT {
            // Relaxed: a hint only; the CAS acquires.
            let c = self.word.load(Ordering::Relaxed);
            if c == 0 {
                // Acquire: pairs with the Release swap in `release`.
                let r = self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed);
                if r.is_ok() {
                    return Acquired::Clean;
                }
            } else if c & WAITERS != 0 {
                break; // others already sleep: queue behind them
            }
            spin_hint();
        }
        // Phase 2: sleep in bounded slices, checking the owner's liveness after each.
        let mut slices = Slices::new();
        loop {
            // Relaxed: the CASes below carry the ordering.
            let c = self.word.load(Ordering::Relaxed);
            if c == 0 {
                // Take it with WAITERS set: others may still sleep, and only the bit makes
                // our release wake them (Drepper's "mutex3").
                // Acquire: pairs with the Release swap in `release`.
                let r = self.word.compare_exchange(
                    0,
                    me | WAITERS,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                );
                if r.is_ok() {
                    return Acquired::Clean;
                }
                continue;
            }
            if c & WAITERS == 0 {
                // Relaxed: only announces a sleeper. The releaser's swap is an RMW on the
                // same word, so it reads this bit if it comes later in the word's order;
                // if it came earlier, this CAS fails (the word is 0 or another owner's).
                let r = self.word.compare_exchange(
                    c,
                    c | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if r.is_err() {
                    continue;
                }
            }
            let end = slices.next_end(deadline);
            // The kernel re-checks the pid half `== low(c | WAITERS)` atomically with
            // queueing us, so a release between our CAS and this call (the swap to 0) makes
            // it return at once. (A change of the stamp half alone — the same pid taken
            // over by a later process — is seen after the slice.)
            // SAFETY: the pid half of our own word: aligned, mapped while `self` lives.
            let r = unsafe { futex::wait_raw(self.futex_addr(), low(c | WAITERS), Some(end)) };
            if r != WaitOutcome::Timeout {
                continue; // woken, value changed or interrupted: look again
            }
            // A slice passed with the word unchanged: is the owner still alive?
            // Relaxed: `take_over`'s CAS re-validates the exact value.
            let now = self.word.load(Ordering::Relaxed);
            if now != 0 && self.take_over(me, now, WAITERS) {
                return Acquired::OwnerDied;
            }
            if time::expired(deadline) {
                return Acquired::Timeout;
            }
        }
    }

    /// Releases the lock held by this process; does nothing if another process holds it.
    ///
    /// That other process is the parent of a child forked while it held the lock, dropping
    /// its copy of the parent's guard (it returned from the scope holding it): the lock is
    /// owned by a process, and that process still holds it. Before, the drop released it
    /// under the parent's feet, letting a third process into the section the parent was
    /// still in. **Differs** from CPython, whose `multiprocessing.Lock` has no owner: a
    /// forked child's `release()` (or the end of its `with` block) releases the parent's
    /// lock (measured, 3.11); see docs/python-mapping.md.
    #[inline]
    pub(super) fn release(&self) {
        // Only the owner can change the word's owner part (others set WAITERS at most, or
        // take over a dead owner's, and we are alive), so a check before the swap holds.
        if self.owner_word() != owner::my_owner() {
            return;
        }
        // Release: pairs with the Acquire CAS of the next owner in `acquire`/`try_acquire`.
        let prev = self.word.swap(0, Ordering::Release);
        debug_assert_eq!(low(prev) & PID_MASK, owner::my_pid(), "released a lock we do not own");
        if prev & WAITERS != 0 {
            self.wake_one();
        }
    }

    #[cold]
    fn wake_one(&self) {
        futex::wake_raw(self.futex_addr(), 1);
    }

    /// Test hook: overwrite the word (forging a dead owner).
    #[cfg(test)]
    pub(super) fn set_raw(&self, w: u64) {
        // Relaxed: single-threaded test setup.
        self.word.store(w, Ordering::Relaxed);
    }

    /// Test hook: the raw word.
    #[cfg(test)]
    pub(super) fn raw(&self) -> u64 {
        // Relaxed: test inspection.
        self.word.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for printing.
        let w = self.word.load(Ordering::Relaxed);
        f.debug_struct("Lock")
            .field("owner", &(low(w) & PID_MASK))
            .field("waiters", &(w & WAITERS != 0))
            .finish()
    }
}

/// Proof that this process holds a [`Lock`]; dropping it unlocks.
///
/// The guard is `!Send`: it is released by the thread that acquired it.
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// let lock = zeroproc_shm::sync::Lock::new();
/// needs_send(lock.lock().unwrap());
/// ```
///
/// # Example
/// ```
/// let lock = zeroproc_shm::sync::Lock::new();
/// {
///     let _guard = lock.lock().unwrap();
///     assert!(lock.is_locked());
/// }
/// assert!(!lock.is_locked());
/// ```
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct LockGuard<'a> {
    pub(super) lock: &'a Lock,
    _not_send: PhantomData<*const ()>,
}

impl LockGuard<'_> {
    /// Unlocks (the same as dropping the guard; Python's `release`).
    ///
    /// # Example
    /// ```
    /// let lock = zeroproc_shm::sync::Lock::new();
    /// let g = lock.lock().unwrap();
    /// g.unlock();
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock(self) {
        drop(self)
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").field("lock", self.lock).finish()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A pid that certainly belongs to no running process: an exited, reaped child (as a
    /// lock word's owner, without a start-time stamp).
    pub(crate) fn dead_pid() -> u64 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid.into()
    }

    /// Another process that had this process's pid: our pid, another start-time stamp.
    fn my_pid_earlier() -> u64 {
        owner::my_owner() ^ (0x5a << 32)
    }

    #[test]
    fn try_lock_takes_over_from_a_dead_owner_keeping_the_waiters_bit() {
        let lock = Lock::new();
        let dead = dead_pid();
        lock.set_raw(dead | WAITERS);
        match lock.try_lock() {
            Err(TryLockError::OwnerDied(g)) => {
                assert_eq!(lock.raw(), owner::my_owner() | WAITERS);
                drop(g.into_inner());
            }
            r => panic!("expected OwnerDied, got {r:?}"),
        }
        assert_eq!(lock.raw(), 0);
        assert!(lock.try_lock().is_ok(), "works normally after recovery");
    }

    #[test]
    fn lock_and_lock_timeout_take_over_from_a_dead_owner() {
        let lock = Lock::new();
        lock.set_raw(dead_pid());
        let g = lock.lock().expect_err("owner died").into_inner();
        drop(g);
        lock.set_raw(dead_pid());
        let r = lock.lock_timeout(Duration::from_secs(10));
        assert!(matches!(r, Err(LockTimeoutError::OwnerDied(_))));
        drop(r);
        assert!(lock.lock().is_ok());
    }

    #[test]
    fn a_live_foreign_owner_is_waited_for_and_then_recovered_from() {
        let lock = Lock::new();
        let mut c = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let start = crate::process::start_time(c.id()).unwrap();
        lock.set_raw(u64::from(start as u32) << 32 | u64::from(c.id()));
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        let r = lock.lock_timeout(Duration::from_millis(30));
        assert!(matches!(r, Err(LockTimeoutError::Timeout)));
        c.kill().unwrap(); // not reaped yet: a zombie counts as gone
        let r = lock.lock_timeout(Duration::from_secs(10));
        assert!(matches!(r, Err(LockTimeoutError::OwnerDied(_))), "{r:?}");
        drop(r);
        c.wait().unwrap();
    }

    /// A holder that died and whose pid this process got: before the start-time stamp its
    /// word looked like ours, so `lock` waited for itself for ever.
    #[test]
    fn a_dead_holder_whose_pid_is_now_ours_is_taken_over() {
        let lock = Lock::new();
        lock.set_raw(my_pid_earlier());
        match lock.try_lock() {
            Err(TryLockError::OwnerDied(g)) => drop(g.into_inner()),
            r => panic!("expected OwnerDied, got {r:?}"),
        }
        lock.set_raw(my_pid_earlier() | WAITERS);
        let r = lock.lock_timeout(Duration::from_secs(10));
        assert!(matches!(r, Err(LockTimeoutError::OwnerDied(_))), "{r:?}");
        drop(r);
        lock.set_raw(my_pid_earlier());
        let g = lock.lock().expect_err("the earlier process died").into_inner();
        assert_eq!(lock.raw(), owner::my_owner() | WAITERS);
        drop(g);
        // Held by another thread of this very process: waited for, never taken over.
        let g = lock.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
                let r = lock.lock_timeout(Duration::from_millis(30));
                assert!(matches!(r, Err(LockTimeoutError::Timeout)), "{r:?}");
            });
        });
        drop(g);
    }

    /// A holder that died and whose pid a live process got: told apart by its start time.
    #[test]
    fn a_dead_holder_whose_pid_a_live_process_got_is_taken_over() {
        let lock = Lock::new();
        let mut c = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let start = crate::process::start_time(c.id()).unwrap() as u32;
        lock.set_raw(u64::from(start ^ 0x5a) << 32 | u64::from(c.id()) | WAITERS);
        let r = lock.lock_timeout(Duration::from_secs(10));
        assert!(matches!(r, Err(LockTimeoutError::OwnerDied(_))), "{r:?}");
        drop(r);
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
