//! `Event`: a flag processes can wait on (Python's `threading.Event`).

use super::time::{self, SPIN_LIMIT};
use crate::atomic::{spin_hint, AtomicU64, Ordering};
use crate::futex::{self, WaitOutcome};
use std::fmt;
use std::time::{Duration, Instant};

/// The flag itself.
const SET: u64 = 1;
/// Set while a waiter may sleep on the word: `set` must `futex_wake`.
const WAITERS: u64 = 2;
/// Generation: bits 2..64, bumped by every `set` that changes the flag.
const GEN_ONE: u64 = 4;

/// A flag that processes (or threads) can set, clear and wait for.
///
/// One 64-bit word: the flag, a "waiters" bit, and a 62-bit generation counter bumped by
/// every `set`. A waiter returns `true` once the flag is set **or** a `set` happened after
/// it began waiting, so a `set` immediately followed by `clear` still wakes every waiter
/// (as with Python's `Event`), however many pulses pass while it is descheduled. `set`
/// makes the futex wake syscall only when someone sleeps. All-zero bytes are a valid,
/// clear `Event`.
///
/// **Death:** a waiter that dies is harmless (at most one futile wake syscall later); a
/// process that dies before calling `set` leaves waiters waiting until their timeouts.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use zeroproc_shm::sync::Event;
/// let ev = Arc::new(Event::new());
/// let e2 = ev.clone();
/// let t = std::thread::spawn(move || e2.wait());
/// ev.set();
/// t.join().unwrap();
/// assert!(ev.is_set());
/// ```
#[repr(C)]
pub struct Event {
    word: AtomicU64,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// A new, clear event (all-zero bytes).
    ///
    /// # Example
    /// ```
    /// assert!(!zeroproc_shm::sync::Event::new().is_set());
    /// ```
    pub const fn new() -> Self {
        Self { word: AtomicU64::new(0) }
    }

    /// Sets the flag and wakes every waiter. Does nothing if the flag is already set.
    ///
    /// Writes made before `set` are visible to a waiter whose `wait` returned because of
    /// it.
    ///
    /// # Example
    /// ```
    /// let ev = zeroproc_shm::sync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    #[inline]
    pub fn set(&self) {
        // Relaxed: the CAS below carries the ordering.
        let mut v = self.word.load(Ordering::Relaxed);
        loop {
            if v & SET != 0 {
                return;
            }
            let new = (v.wrapping_add(GEN_ONE) & !WAITERS) | SET;
            // Release: pairs with the Acquire loads in `wait_until`, publishing the
            // setter's earlier writes. Being an RMW on the waiters' word, it reads any
            // WAITERS bit a sleeper installed before it.
            match self.word.compare_exchange_weak(v, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => v = seen,
            }
        }
        if v & WAITERS != 0 {
            wake_all(&self.word);
        }
    }

    /// Test hook: what `n` ≥ 1 `set`/`clear` pulses from now leave (the generation `n`
    /// steps on, the flag and the waiters bit clear), without making them.
    #[cfg(test)]
    fn pulsed(&self, n: u64) {
        // Relaxed: single-threaded test setup.
        let v = self.word.load(Ordering::Relaxed);
        let new = v.wrapping_add(GEN_ONE.wrapping_mul(n)) & !(SET | WAITERS);
        self.word.store(new, Ordering::Relaxed);
    }

    /// Clears the flag (waiters that already returned are unaffected).
    ///
    /// # Example
    /// ```
    /// let ev = zeroproc_shm::sync::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        // Relaxed: clearing publishes nothing. The WAITERS bit and generation are kept, so
        // a sleeper still gets woken by the next `set`.
        self.word.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Whether the flag is set.
    ///
    /// # Example
    /// ```
    /// let ev = zeroproc_shm::sync::Event::new();
    /// assert!(!ev.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the Release CAS in `set`.
        self.word.load(Ordering::Acquire) & SET != 0
    }

    /// Blocks until the flag is set.
    ///
    /// # Example
    /// ```
    /// let ev = zeroproc_shm::sync::Event::new();
    /// ev.set();
    /// ev.wait(); // returns at once
    /// ```
    pub fn wait(&self) {
        let woke = self.wait_until(None);
        debug_assert!(woke);
    }

    /// Waits up to `timeout`; returns `true` if the flag was set (Python's `wait(timeout)`).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let ev = zeroproc_shm::sync::Event::new();
    /// assert!(!ev.wait_timeout(Duration::from_millis(10)));
    /// ev.set();
    /// assert!(ev.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(time::deadline_after(timeout))
    }

    /// Waits until `deadline`; returns `true` if the flag was set (or a `set` happened
    /// while waiting), `false` on time-out.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let ev = zeroproc_shm::sync::Event::new();
    /// assert!(!ev.wait_deadline(Instant::now() + Duration::from_millis(5)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    #[inline]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the Release CAS in `set`.
        let v = self.word.load(Ordering::Acquire);
        if v & SET != 0 {
            return true;
        }
        self.wait_slow(v & !(SET | WAITERS), deadline)
    }

    #[cold]
    fn wait_slow(&self, gen: u64, deadline: Option<Instant>) -> bool {
        let fired = |v: u64| v & SET != 0 || v & !(SET | WAITERS) != gen;
        for _ in 0..SPIN_LIMIT {
            // Acquire: pairs with the Release CAS in `set`.
            if fired(self.word.load(Ordering::Acquire)) {
                return true;
            }
            spin_hint();
        }
        loop {
            // Acquire: pairs with the Release CAS in `set`.
            let v = self.word.load(Ordering::Acquire);
            if fired(v) {
                return true;
            }
            if v & WAITERS == 0 {
                // Relaxed: only announces a sleeper; `set`'s RMW on this word reads it if it
                // comes later, and if it came earlier this CAS fails.
                let r = self.word.compare_exchange_weak(
                    v,
                    v | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if r.is_err() {
                    continue;
                }
            }
            // The kernel compares the word's low half with that of `v | WAITERS`
            // atomically with queueing us: a `set` after our CAS changes it (the flag and
            // the generation's low bits), so we either are woken or do not sleep — unless
            // exactly a multiple of 2^30 pulses passed while we were descheduled between
            // the CAS and the call: then the low halves match, and the sleep ends after
            // `RECHECK` to compare all 62 generation bits above.
            let end = time::recheck_end(deadline);
            // SAFETY: the low half of our own word: aligned, mapped while `self` lives.
            let r = unsafe {
                futex::wait_raw(futex::low_half(&self.word), (v | WAITERS) as u32, Some(end))
            };
            if r == WaitOutcome::Timeout && time::expired(deadline) {
                // Acquire: pairs with the Release CAS in `set`.
                return fired(self.word.load(Ordering::Acquire));
            }
        }
    }
}

#[cold]
fn wake_all(word: &AtomicU64) {
    futex::wake_raw(futex::low_half(word), u32::MAX);
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_then_clear_pulse_wakes_a_registered_waiter() {
        let ev = Event::new();
        std::thread::scope(|s| {
            let t = s.spawn(|| ev.wait_timeout(Duration::from_secs(20)));
            // Once the waiter has installed WAITERS it has recorded the generation.
            // Relaxed: test polling.
            while ev.word.load(Ordering::Relaxed) & WAITERS == 0 {
                std::thread::yield_now();
            }
            ev.set();
            ev.clear();
            assert!(t.join().unwrap(), "the pulse was lost");
        });
        assert!(!ev.is_set());
    }

    #[test]
    fn clear_keeps_the_waiters_bit() {
        let ev = Event::new();
        // Relaxed: single-threaded test.
        ev.word.store(WAITERS, Ordering::Relaxed);
        ev.clear();
        assert_eq!(ev.word.load(Ordering::Relaxed), WAITERS);
        ev.set();
        assert_eq!(ev.word.load(Ordering::Relaxed), GEN_ONE | SET);
    }

    /// A waiter descheduled (after it read the generation) across exactly 2^30 pulses:
    /// with the 30-bit generation the word was as it had left it, and the waiter waited
    /// on to its deadline (for ever without one) though every pulse was for it.
    #[test]
    fn a_waiter_stalled_across_2_pow_30_pulses_still_returns_true() {
        // The hook leaves what real pulses leave.
        let (a, b) = (Event::new(), Event::new());
        for _ in 0..3 {
            a.set();
            a.clear();
        }
        b.pulsed(3);
        assert_eq!(a.word.load(Ordering::Relaxed), b.word.load(Ordering::Relaxed));
        let ev = Event::new();
        let g0 = ev.word.load(Ordering::Relaxed) & !(SET | WAITERS);
        ev.pulsed(1 << 30);
        assert!(ev.wait_slow(g0, Some(Instant::now() + Duration::from_secs(20))));
        ev.pulsed((1 << 32) - (1 << 30));
        assert!(ev.wait_slow(g0, Some(Instant::now() + Duration::from_secs(20))));
    }

    /// The same stall just before the futex call: the kernel, comparing 32 bits, lets the
    /// waiter sleep; it must look at the whole generation again after `RECHECK`.
    #[test]
    fn a_sleeper_whose_low_half_matches_after_2_pow_30_pulses_looks_again() {
        let ev = Event::new();
        std::thread::scope(|s| {
            let t = s.spawn(|| ev.wait_timeout(Duration::from_secs(30)));
            // Relaxed: test polling for the waiter's WAITERS bit.
            while ev.word.load(Ordering::Relaxed) & WAITERS == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            // 2^30 generations on, the low half (flag, waiters bit, low generation bits)
            // unchanged, nobody woken: as if the pulses passed before it was queued.
            ev.word.fetch_add(GEN_ONE << 30, Ordering::Relaxed);
            assert!(t.join().unwrap(), "the pulses were lost");
        });
    }
}
