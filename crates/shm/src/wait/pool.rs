//! The overflow of a [`FifoQueue`](super::FifoQueue): waiters that found all its slots
//! taken wait here, unordered, and `notify(n)` grants what the slots did not take of its
//! `n` to them — so that at most `n` waiters return notified whatever their number.
//! This was `sync::Condition`'s whole protocol from mpsem31 to cond33 (`grants.rs`).
//!
//! Two words: `seq`, +1 on every notify that grants a wake-up (its low 32 bits are the
//! futex word), and the grant word:
//!
//! ```text
//! bits  0..20  pool:    wake-ups granted and not yet taken (≤ waiters)
//! bits 20..40  waiters: registered (under the lock) and not yet returned
//! bits 40..64  epoch:   +1 (wrapping) by every notify that grants a wake-up
//! ```
//!
//! A waiter registers with the epoch of that moment (its *key*). `grant(n)` grants
//! `min(n, waiters - pool)` and advances the epoch in the same CAS, so the waiters it
//! counted are exactly those registered before it. A waiter may take a wake-up from the
//! pool only once the epoch differs from its key — a grant came after it registered — so
//! one that registers after a notify cannot take that notify's wake-up from a sleeper it
//! was meant for (it waits for the next grant). Taking also unregisters, in the same CAS.
//! A waiter whose deadline passes unregisters, or takes a wake-up still there if it may
//! (notified just in time).
//!
//! Invariant: `pool ≤ waiters − (waiters registered since the last grant)`, since a grant
//! covers only waiters registered before it and every registration adds one waiter; so a
//! notify with `n ≥ 1` always grants when a waiter registered since the last grant waits.
//! A dead waiter stays counted here (no slot to tell who it was): a wake-up granted to it
//! is left in the pool, where the next eligible waiter takes it (a spurious wake-up).
//!
//! Horizon: the epoch has 24 bits. A waiter that sleeps across exactly a multiple of 2^24
//! grants, with the epoch stopping on its key, waits for the next grant; should its
//! deadline pass first, it leaves and its grant goes with it (`leave`), so the pool never
//! counts more grants than waiters.
//!
//! Orderings: every access to both words is SeqCst, one total order. A waiter's round is
//! `load seq` then `take`; a notifier's is `grant` then `seq += 1` then wake. If the take
//! misses the grant, it precedes the grant, so the `seq` read before it precedes the bump:
//! the futex call finds the word changed, or the waiter is queued before the wake. The
//! kernel compares 32 bits of `seq`: a waiter stalled across exactly a multiple of 2^32
//! bumps finds its grant at its next recheck (1 s).

use crate::atomic::{AtomicU64, Ordering};
use crate::futex::{self, WaitOutcome};
use std::time::Instant;

const POOL_BITS: u32 = 20;
const WAITER_SHIFT: u32 = POOL_BITS;
const EPOCH_SHIFT: u32 = 40;
const FIELD_MASK: u64 = (1 << POOL_BITS) - 1;
const EPOCH_MASK: u64 = (1 << 24) - 1;
const ONE_WAITER: u64 = 1 << WAITER_SHIFT;

/// The most waiters one condition counts (20 bits).
const MAX_WAITERS: u32 = FIELD_MASK as u32;

#[inline]
fn pool(s: u64) -> u32 {
    (s & FIELD_MASK) as u32
}

#[inline]
fn waiters(s: u64) -> u32 {
    ((s >> WAITER_SHIFT) & FIELD_MASK) as u32
}

/// The epoch of `s`: what a waiter keeps as its key.
#[inline]
fn epoch(s: u64) -> u32 {
    ((s >> EPOCH_SHIFT) & EPOCH_MASK) as u32
}

/// `s` with one more epoch (wrapping within its 24 bits) and `g` more in the pool.
#[inline]
fn granted(s: u64, g: u32) -> u64 {
    let next_epoch = ((u64::from(epoch(s)) + 1) & EPOCH_MASK) << EPOCH_SHIFT;
    ((s & !(EPOCH_MASK << EPOCH_SHIFT)) + u64::from(g)) | next_epoch
}

/// Counts a new waiter (under the condition's lock, before it is released); returns its
/// key.
///
/// # Panics
/// With [`MAX_WAITERS`] waiting already.
#[inline]
fn register(word: &AtomicU64) -> u32 {
    // SeqCst: one total order with the grants and takes on this word and the `seq` bumps
    // (see `Condition::sleep`); the CAS re-validates what this load saw.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        assert!(
            waiters(s) < MAX_WAITERS,
            "more than {MAX_WAITERS} overflow waiters on one Condition"
        );
        // SeqCst: as above (the failure load re-reads the word for the retry).
        match word.compare_exchange_weak(s, s + ONE_WAITER, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return epoch(s),
            Err(seen) => s = seen,
        }
    }
}

/// Grants up to `n` wake-ups to the waiters registered so far that have none; returns
/// how many (0: nothing changed).
#[inline]
fn grant(word: &AtomicU64, n: u32) -> u32 {
    // SeqCst: as in `register`.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        // Saturating: `pool ≤ waiters` holds (`leave` keeps it across the epoch horizon);
        // kept so that a word damaged from outside cannot make this wrap.
        let g = n.min(waiters(s).saturating_sub(pool(s)));
        if g == 0 {
            return 0;
        }
        // SeqCst: as in `register`.
        match word.compare_exchange_weak(s, granted(s, g), Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return g,
            Err(seen) => s = seen,
        }
    }
}

/// Takes a granted wake-up if one is there and a grant came after the caller registered
/// with `key`, unregistering it in the same CAS; false otherwise.
#[inline]
fn take(word: &AtomicU64, key: u32) -> bool {
    // SeqCst: as in `register`.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        if pool(s) == 0 || epoch(s) == key {
            return false;
        }
        // SeqCst: as in `register`.
        match word.compare_exchange_weak(s, s - ONE_WAITER - 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(seen) => s = seen,
        }
    }
}

/// A waiter whose deadline passed: unregisters it, taking a wake-up if it may (see
/// [`take`]; then it was notified just in time: true).
#[inline]
fn leave(word: &AtomicU64, key: u32) -> bool {
    // SeqCst: as in `register`.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        let took = pool(s) != 0 && epoch(s) != key;
        let mut next = s - ONE_WAITER - u64::from(took);
        // Only across the epoch horizon can a waiter leave without taking while every
        // waiter holds a grant (the pool would exceed the waiters by one): that grant was
        // the leaver's and goes with it. Left in the pool, it was counted against every
        // later waiter, so a lone waiter was never granted one again (a lost wake-up).
        if pool(next) > waiters(next) {
            next -= 1;
        }
        // SeqCst: as in `register`.
        match word.compare_exchange_weak(s, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return took,
            Err(seen) => s = seen,
        }
    }
}

/// The number of registered waiters (a snapshot, for `Debug`).
fn waiting(word: &AtomicU64) -> u32 {
    // Relaxed: a snapshot for printing.
    waiters(word.load(Ordering::Relaxed))
}

/// The overflow waiters of a [`FifoQueue`](super::FifoQueue) (see the module docs).
#[repr(C)]
pub(super) struct GrantPool {
    /// Bumped by every notify that grants a wake-up; waiters sleep on its low half.
    seq: AtomicU64,
    /// Waiters, wake-ups granted to them and not yet taken, and the grant epoch.
    state: AtomicU64,
}

impl GrantPool {
    #[cfg(not(loom))]
    pub(super) const fn new() -> Self {
        Self { seq: AtomicU64::new(0), state: AtomicU64::new(0) }
    }

    #[cfg(loom)]
    pub(super) fn new() -> Self {
        Self { seq: AtomicU64::new(0), state: AtomicU64::new(0) }
    }

    /// Counts a new waiter (under the condition's lock); returns its key.
    pub(super) fn register(&self) -> u32 {
        register(&self.state)
    }

    /// Grants up to `n` wake-ups to the waiters registered so far and wakes as many;
    /// returns how many.
    pub(super) fn notify(&self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let g = grant(&self.state, n);
        if g > 0 {
            // SeqCst: after the grant (see the module docs): a waiter whose take missed it
            // read `seq` before this bump, so its futex call finds the word changed or is
            // woken below.
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex::wake_low(&self.seq, g);
        }
        g
    }

    /// A registered waiter's sleep (`key` from [`register`](Self::register)): until it
    /// takes a granted wake-up (true) or `deadline` passes (false; it unregisters, or takes
    /// a wake-up that came just in time). `recheck(deadline)` is each sleep's end.
    pub(super) fn sleep(
        &self,
        key: u32,
        deadline: Option<Instant>,
        recheck: impl Fn(Option<Instant>) -> Option<Instant>,
    ) -> bool {
        loop {
            // SeqCst: see the module docs (read before the look).
            let seen = self.seq.load(Ordering::SeqCst);
            if take(&self.state, key) {
                return true;
            }
            let r = futex::wait_low(&self.seq, seen as u32, recheck(deadline));
            if r == WaitOutcome::Timeout && super::fifo::expired(deadline) {
                return leave(&self.state, key);
            }
        }
    }

    /// Waiters counted (a snapshot, for `Debug`).
    pub(super) fn waiting(&self) -> u32 {
        waiting(&self.state)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn grants_go_to_the_waiters_registered_before_them() {
        let w = AtomicU64::new(0);
        assert_eq!(grant(&w, 3), 0); // nobody waits
        let keys: Vec<u32> = (0..3).map(|_| register(&w)).collect();
        assert_eq!(grant(&w, 2), 2);
        let late = register(&w);
        assert!(!take(&w, late), "registered after the grant");
        assert!(take(&w, keys[0]) && take(&w, keys[1]));
        assert!(!take(&w, keys[2]), "the pool is empty");
        assert_eq!(grant(&w, u32::MAX), 2); // the third early waiter and the late one
        assert!(take(&w, late));
        assert!(leave(&w, keys[2])); // its grant, taken at the deadline
        assert_eq!(w.load(Ordering::Relaxed) & !(EPOCH_MASK << EPOCH_SHIFT), 0);
    }

    #[test]
    fn a_waiter_leaving_without_a_grant_unregisters() {
        let w = AtomicU64::new(0);
        let k = register(&w);
        assert!(!leave(&w, k));
        assert_eq!(grant(&w, 1), 0);
    }

    /// A waiter with a grant waiting for it sleeps across exactly 2^24 grants (the epoch
    /// back on its key), then its deadline passes: it leaves without the grant. Before, the
    /// grant stayed in the pool with nobody to take it, and every later notify while one
    /// waiter waited granted nothing (pool = waiters): that waiter slept for ever.
    #[test]
    fn a_waiter_leaving_across_the_epoch_horizon_takes_its_grant_away() {
        let w = AtomicU64::new(0);
        let sleeper = register(&w);
        assert_eq!(grant(&w, 1), 1);
        for _ in 0..EPOCH_MASK {
            let other = register(&w);
            assert_eq!(grant(&w, 1), 1);
            assert!(take(&w, other));
        }
        assert_eq!(epoch(w.load(Ordering::Relaxed)), sleeper, "the epoch is back on its key");
        assert!(!leave(&w, sleeper), "it cannot tell its grant from an older one");
        let lone = register(&w);
        assert_eq!(grant(&w, 1), 1, "a notify grants the lone waiter a wake-up");
        assert!(take(&w, lone));
        assert_eq!(w.load(Ordering::Relaxed) & !(EPOCH_MASK << EPOCH_SHIFT), 0);
    }

    #[test]
    fn the_epoch_wraps_within_its_bits() {
        let s = (EPOCH_MASK << EPOCH_SHIFT) | (3 * ONE_WAITER) | 1;
        let t = granted(s, 2);
        assert_eq!((epoch(t), waiters(t), pool(t)), (0, 3, 3));
    }
}
