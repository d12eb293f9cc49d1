//! An event count: lets a thread sleep until "something changed" without losing a wake-up,
//! while the notifier pays one fence and one load when nobody sleeps.
//!
//! Protocol (also in `README.md`):
//!
//! ```text
//! waiter                                notifier
//! ------                                --------
//! key = prepare_wait()                  <make condition true>   (e.g. tail.store(Release))
//!   waiters += 1        (SeqCst)        notify():
//!   key = epoch         (SeqCst)          fence(SeqCst)
//! if condition { cancel_wait(); done }    if waiters > 0 (Relaxed after the fence):
//! wait(key):                                 epoch += 1 (SeqCst)
//!   futex_wait(epoch, key)                   futex_wake(epoch, n)
//!   waiters -= 1
//! ```
//!
//! Why no wake-up is lost: the waiter's `waiters += 1` and the notifier's condition store
//! are both followed by a SeqCst operation/fence before each side reads the other's
//! variable (Dekker). Either the notifier sees `waiters > 0` (and bumps the epoch, so the
//! waiter's futex_wait returns with `ValueChanged` or is woken), or the waiter's re-check
//! of the condition sees the notifier's store and it does not sleep.
//!
//! A waiter process that dies between `prepare_wait` and the decrement leaves `waiters`
//! one too high. That costs notifiers a futex_wake syscall per notify (no correctness
//! loss); [`EventCount::reset_waiters`] is available to an owner that knows no one waits.

use crate::atomic::{fence, AtomicU32, Ordering};
use crate::futex::{self, WaitOutcome};
use std::time::Instant;

/// A process-shared event count (two 32-bit words; `#[repr(C)]`, lives in shared memory).
///
/// # Example
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use zeroproc_shm::wait::EventCount;
///
/// let ready = Arc::new((AtomicBool::new(false), EventCount::new()));
/// let r2 = ready.clone();
/// let t = std::thread::spawn(move || {
///     r2.0.store(true, Ordering::Release);
///     r2.1.notify_all();
/// });
/// loop {
///     if ready.0.load(Ordering::Acquire) { break; }
///     let key = ready.1.prepare_wait();
///     if ready.0.load(Ordering::Acquire) { ready.1.cancel_wait(); break; }
///     ready.1.wait(key, None);
/// }
/// t.join().unwrap();
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct EventCount {
    epoch: AtomicU32,
    waiters: AtomicU32,
}

/// The epoch observed by [`EventCount::prepare_wait`]; pass it to [`EventCount::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "pass the key to wait() or call cancel_wait()"]
pub struct WaitKey(u32);

impl Default for EventCount {
    fn default() -> Self {
        Self::new()
    }
}

impl EventCount {
    /// A fresh event count (epoch 0, no waiters).
    pub fn new() -> Self {
        Self { epoch: AtomicU32::new(0), waiters: AtomicU32::new(0) }
    }

    /// Announces the intent to sleep. The caller must re-check its condition after this
    /// and then call either [`wait`](Self::wait) or [`cancel_wait`](Self::cancel_wait).
    #[inline]
    pub fn prepare_wait(&self) -> WaitKey {
        // SeqCst: pairs with the SeqCst fence in `notify_*` (Dekker: the notifier either
        // sees this increment or we see its condition store on our re-check).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // SeqCst fence: pairs with the SeqCst fence in `notify_*`. In the C11 model a SeqCst
        // RMW does not order the caller's later (Acquire) re-check of its condition against
        // the notifier's fence; two SeqCst fences do (fence-fence rule), so either the
        // notifier's `waiters` load sees our increment or our re-check sees its store.
        // Loom finds the lost wake-up without it (tests/loom_eventcount.rs in zeroproc-ring).
        // On x86 this is one extra `mfence` on the sleep path only.
        fence(Ordering::SeqCst);
        // SeqCst: the epoch read must not move above the increment.
        WaitKey(self.epoch.load(Ordering::SeqCst))
    }

    /// Withdraws a [`prepare_wait`](Self::prepare_wait) whose re-check found the condition true.
    #[inline]
    pub fn cancel_wait(&self) {
        // Relaxed: only a counter; notifiers read it after their own fence.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps until notified after `key` was taken, or until `deadline`.
    /// Returns `false` only on time-out. Wake-ups may be spurious: re-check the condition.
    pub fn wait(&self, key: WaitKey, deadline: Option<Instant>) -> bool {
        let mut timed_out = false;
        loop {
            match futex::wait(&self.epoch, key.0, deadline) {
                WaitOutcome::Interrupted => continue,
                WaitOutcome::Timeout => timed_out = true,
                WaitOutcome::Woken | WaitOutcome::ValueChanged => {}
            }
            break;
        }
        // Relaxed: see `cancel_wait`.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        !timed_out
    }

    /// Wakes one sleeper, if any sleeps. Call after making the condition true.
    #[inline]
    pub fn notify_one(&self) {
        self.notify(1)
    }

    /// Wakes every sleeper. Call after making the condition true.
    #[inline]
    pub fn notify_all(&self) {
        self.notify(u32::MAX)
    }

    /// Wakes up to `n` sleepers, if any sleep. Call after making the condition true.
    #[inline]
    pub fn notify(&self, n: u32) {
        // SeqCst: pairs with the SeqCst increment in `prepare_wait` (see module docs).
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.notify_slow(n);
        }
    }

    #[cold]
    fn notify_slow(&self, n: u32) {
        // SeqCst: a waiter that read the old epoch either is already in futex_wait (and is
        // woken below) or will see the new value and not sleep.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.epoch, n);
    }

    /// [`notify_all`](Self::notify_all) without its fence, for a caller that has just
    /// executed a SeqCst fence *after* making the condition true (for example a ring
    /// commit, which fences to check its own sleepers). Saves one fence per call on a hot
    /// path; with no such fence in between, a sleeper could miss the wake-up.
    ///
    /// ```
    /// use std::sync::atomic::{fence, AtomicBool, Ordering};
    /// let ev = zeroproc_shm::wait::EventCount::new();
    /// let flag = AtomicBool::new(false);
    /// flag.store(true, Ordering::Release);
    /// fence(Ordering::SeqCst);
    /// ev.notify_all_after_fence();
    /// ```
    #[inline]
    pub fn notify_all_after_fence(&self) {
        // Relaxed: ordered by the caller's SeqCst fence, which pairs with the fence in
        // `prepare_wait` exactly as the one in `notify` does.
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.notify_slow(u32::MAX);
        }
    }

    /// How many waiters are registered (diagnostics; racy by nature).
    pub fn waiters(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        self.waiters.load(Ordering::Relaxed)
    }

    /// Clears the waiter count, for an owner that knows no process sleeps here (for example
    /// after every peer of a ring died).
    pub fn reset_waiters(&self) {
        // Relaxed: by contract nobody is concurrently waiting.
        self.waiters.store(0, Ordering::Relaxed);
    }
}
