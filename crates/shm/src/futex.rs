//! Futex wait/wake on a 32-bit word that may live in shared memory.
//!
//! The calls use the *shared* futex operations (`FUTEX_WAIT`/`FUTEX_WAKE`, never the
//! `_PRIVATE` variants), so the kernel keys the wait queue on the backing page (inode +
//! offset) and a waiter in one process is woken by a waker in another, whatever address each
//! process mapped the segment at.
//!
//! Every blocking operation in zeroproc funnels into [`wait`] with an optional deadline;
//! the `_timeout` forms convert their duration into a deadline once, at the top.
//!
//! Under `cfg(loom)` the kernel is replaced by a model (one mutex + condvar) that keeps the
//! futex contract: the value check and the enqueue are atomic with respect to `wake`. A
//! protocol that loses a wake-up therefore deadlocks the model and loom reports it.

use crate::atomic::AtomicU32;
use std::time::Instant;

/// Why [`wait`] returned. Callers always re-check their condition: every outcome but
/// `Timeout` may be spurious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// A `wake` call (or a spurious wake-up) ended the sleep.
    Woken,
    /// The word no longer held the expected value when the kernel checked it.
    ValueChanged,
    /// The deadline passed.
    Timeout,
    /// A signal interrupted the sleep.
    Interrupted,
}

/// Sleeps while `word == expected`, until woken or until `deadline` (if any) passes.
///
/// # Example
/// ```
/// use std::sync::atomic::AtomicU32;
/// use std::time::{Duration, Instant};
/// use zeroproc_shm::futex::{wait, WaitOutcome};
/// let word = AtomicU32::new(0);
/// // The value differs from `expected`: returns at once.
/// assert_eq!(wait(&word, 1, None), WaitOutcome::ValueChanged);
/// // Nobody wakes us: the deadline ends the sleep.
/// let d = Instant::now() + Duration::from_millis(5);
/// assert_eq!(wait(&word, 0, Some(d)), WaitOutcome::Timeout);
/// ```
#[cfg(not(loom))]
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
    // SAFETY: a `&AtomicU32` is a valid, aligned 32-bit word that outlives the call.
    unsafe { wait_raw(word.as_ptr(), expected, deadline) }
}

/// [`wait`] on the 32-bit word at `addr`, which may be one half of a wider atomic (the
/// kernel reads it; no Rust access is made).
///
/// # Safety
/// `addr` is 4-aligned and points at memory that stays mapped for the whole call.
#[cfg(not(loom))]
pub(crate) unsafe fn wait_raw(
    addr: *const u32,
    expected: u32,
    deadline: Option<Instant>,
) -> WaitOutcome {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let ts_ptr = match deadline {
        None => std::ptr::null(),
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                return WaitOutcome::Timeout;
            }
            let rem = d - now;
            ts.tv_sec = rem.as_secs().min(i64::MAX as u64) as libc::time_t;
            ts.tv_nsec = rem.subsec_nanos() as libc::c_long;
            &ts as *const libc::timespec
        }
    };
    // SAFETY: `addr` is a valid, aligned 32-bit word for the duration of the call (the
    // caller's contract); the kernel only reads it. `ts_ptr` is null or points at `ts`,
    // alive until the call returns.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return WaitOutcome::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => WaitOutcome::ValueChanged,
        Some(libc::ETIMEDOUT) => WaitOutcome::Timeout,
        Some(libc::EINTR) => WaitOutcome::Interrupted,
        // EFAULT/EINVAL would mean a bad address: excluded by the caller's contract.
        _ => WaitOutcome::Woken,
    }
}

/// Wakes up to `n` waiters sleeping on `word`; returns how many were woken.
///
/// # Example
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use zeroproc_shm::futex::wake;
/// let word = AtomicU32::new(0);
/// word.store(1, Ordering::Release);
/// assert_eq!(wake(&word, u32::MAX), 0); // nobody was sleeping
/// ```
#[cfg(not(loom))]
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    wake_raw(word.as_ptr(), n)
}

/// The address of the low 32 bits of `word` (its first four bytes on little-endian
/// targets): where sleepers on a 64-bit word whose low half changes with every event wait.
#[cfg(not(loom))]
pub(crate) fn low_half(word: &std::sync::atomic::AtomicU64) -> *const u32 {
    let p = word.as_ptr().cast::<u32>();
    if cfg!(target_endian = "little") {
        p
    } else {
        p.wrapping_add(1)
    }
}

/// [`wake`] for the 32-bit word at `addr` (see [`wait_raw`]).
#[cfg(not(loom))]
pub(crate) fn wake_raw(addr: *const u32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32);
    // SAFETY: FUTEX_WAKE does not access memory beyond looking up the futex key for the
    // address; an unmapped one only makes it fail (EFAULT, returned as 0 woken).
    let r = unsafe { libc::syscall(libc::SYS_futex, addr, libc::FUTEX_WAKE, n) };
    r.max(0) as usize
}

#[cfg(loom)]
mod model {
    use super::{Instant, WaitOutcome};
    use loom::sync::{Condvar, Mutex};
    loom::lazy_static! {
        pub(super) static ref GEN: Mutex<u64> = Mutex::new(0);
        pub(super) static ref CV: Condvar = Condvar::new();
    }

    /// A modelled `FUTEX_WAIT`: `unchanged` (read under the model's lock, as the kernel
    /// compares under its bucket lock) says whether the word still holds the expected
    /// value; a deadline is an immediate time-out.
    pub(super) fn wait(unchanged: impl FnOnce() -> bool, deadline: Option<Instant>) -> WaitOutcome {
        let mut g = GEN.lock().unwrap();
        if !unchanged() {
            return WaitOutcome::ValueChanged;
        }
        if deadline.is_some() {
            return WaitOutcome::Timeout;
        }
        let gen = *g;
        while *g == gen {
            g = CV.wait(g).unwrap();
        }
        WaitOutcome::Woken
    }
}

/// Loom model of `FUTEX_WAIT`; a deadline is modelled as an immediate time-out.
#[cfg(loom)]
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
    use crate::atomic::Ordering;
    model::wait(|| word.load(Ordering::SeqCst) == expected, deadline)
}

/// Loom model of `FUTEX_WAKE`: wakes every modelled waiter (a superset of the real call).
#[cfg(loom)]
pub fn wake(_word: &AtomicU32, _n: u32) -> usize {
    let mut g = model::GEN.lock().unwrap();
    *g += 1;
    model::CV.notify_all();
    1
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn wake_reaches_a_sleeper() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait(&w2, 0, None);
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        w.store(1, Ordering::Release);
        wake(&w, 1);
        t.join().unwrap();
    }

    #[test]
    fn sub_second_timeouts_are_honoured() {
        // raw_sync's timed waits break on sub-second remainders; ours must not.
        let w = AtomicU32::new(0);
        let start = Instant::now();
        let out = wait(&w, 0, Some(start + Duration::from_millis(30)));
        assert_eq!(out, WaitOutcome::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A deadline in the past returns without sleeping.
        assert_eq!(wait(&w, 0, Some(start)), WaitOutcome::Timeout);
    }
}

/// [`wait`] on the low 32 bits of a 64-bit atomic (the half a sleeper's expected value
/// is compared with; see [`low_half`]).
#[cfg(not(loom))]
pub(crate) fn wait_low(
    word: &crate::atomic::AtomicU64,
    expected: u32,
    deadline: Option<Instant>,
) -> WaitOutcome {
    // SAFETY: the low half of a live `&AtomicU64`: 4-aligned, mapped for the whole call.
    unsafe { wait_raw(low_half(word), expected, deadline) }
}

/// [`wake`] for sleepers on the low half of a 64-bit atomic ([`wait_low`]).
#[cfg(not(loom))]
pub(crate) fn wake_low(word: &crate::atomic::AtomicU64, n: u32) -> usize {
    wake_raw(low_half(word), n)
}

/// Loom model of [`wait_low`]: as [`wait`], comparing the word's low 32 bits.
#[cfg(loom)]
pub(crate) fn wait_low(
    word: &crate::atomic::AtomicU64,
    expected: u32,
    deadline: Option<Instant>,
) -> WaitOutcome {
    use crate::atomic::Ordering;
    model::wait(|| word.load(Ordering::SeqCst) as u32 == expected, deadline)
}

/// Loom model of [`wake_low`]: wakes every modelled waiter and reports none woken, so
/// that callers take their "nobody was asleep there" path (a liveness probe) in every
/// execution: the model has no way to tell a dead sleeper from an absent one.
#[cfg(loom)]
pub(crate) fn wake_low(_word: &crate::atomic::AtomicU64, _n: u32) -> usize {
    let mut g = model::GEN.lock().unwrap();
    *g += 1;
    model::CV.notify_all();
    0
}
