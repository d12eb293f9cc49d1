//! The waiter/grant word of a [`Condition`](super::Condition): who waits, and how many
//! of them a notify has granted a wake-up that none has taken yet.
//!
//! ```text
//! bits 32..64  waiters: registered (under the lock) and not yet returned
//! bits  0..32  granted: wake-ups given by notifies and not yet taken (≤ waiters)
//! ```
//!
//! `notify(n)` grants `min(n, waiters - granted)`: only waiters no wake-up is meant for
//! yet can be given one, so `notify(n)` lets at most `n` waiters return notified (Python's
//! rule). A waiter returns notified only by taking a grant, which also unregisters it in
//! the same CAS; a waiter whose deadline passes unregisters (or takes a grant still
//! there: notified just in time). Every change is a SeqCst RMW on this one word; the
//! pairing with the condition's `seq` word is written in `condition.rs` (`sleep`).

use crate::atomic::{AtomicU64, Ordering};

const ONE_WAITER: u64 = 1 << 32;

#[inline]
fn waiters(s: u64) -> u32 {
    (s >> 32) as u32
}

#[inline]
fn granted(s: u64) -> u32 {
    s as u32
}

/// Counts a new waiter (under the condition's lock, before it is released).
#[inline]
pub(super) fn register(word: &AtomicU64) {
    // SeqCst: one total order with the grants and takes on this word and the `seq` bumps
    // (see `Condition::sleep`).
    word.fetch_add(ONE_WAITER, Ordering::SeqCst);
}

/// Grants up to `n` wake-ups to waiters that have none yet; returns how many.
#[inline]
pub(super) fn grant(word: &AtomicU64, n: u32) -> u32 {
    // SeqCst: as in `register`; the CAS re-validates what this load saw.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        let g = n.min(waiters(s) - granted(s));
        if g == 0 {
            return 0;
        }
        // SeqCst: as in `register` (the failure load re-reads the word for the retry).
        match word.compare_exchange_weak(s, s + u64::from(g), Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return g,
            Err(seen) => s = seen,
        }
    }
}

/// Takes a granted wake-up, unregistering the caller with it; false if none is there.
#[inline]
pub(super) fn take(word: &AtomicU64) -> bool {
    // SeqCst: as in `register`.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        if granted(s) == 0 {
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

/// A waiter whose deadline passed: unregisters it, taking a grant if one is there (then
/// it was notified, just in time: true).
#[inline]
pub(super) fn leave(word: &AtomicU64) -> bool {
    // SeqCst: as in `register`.
    let mut s = word.load(Ordering::SeqCst);
    loop {
        let took = granted(s) != 0;
        let next = s - ONE_WAITER - u64::from(took);
        // SeqCst: as in `register`.
        match word.compare_exchange_weak(s, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return took,
            Err(seen) => s = seen,
        }
    }
}

/// The number of registered waiters (a snapshot, for `Debug`).
pub(super) fn waiting(word: &AtomicU64) -> u32 {
    // Relaxed: a snapshot for printing.
    waiters(word.load(Ordering::Relaxed))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn grants_never_exceed_the_waiters_without_one() {
        let w = AtomicU64::new(0);
        assert_eq!(grant(&w, 3), 0); // nobody waits
        (0..3).for_each(|_| register(&w));
        assert_eq!(grant(&w, 2), 2);
        assert_eq!(grant(&w, u32::MAX), 1);
        assert_eq!(grant(&w, 1), 0);
        assert!(take(&w) && take(&w));
        assert!(leave(&w)); // the third grant, taken at the deadline
        assert!(!take(&w));
        assert_eq!(w.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_waiter_leaving_without_a_grant_unregisters() {
        let w = AtomicU64::new(0);
        register(&w);
        assert!(!leave(&w));
        assert_eq!(grant(&w, 1), 0);
    }
}
