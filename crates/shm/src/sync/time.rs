//! Deadlines and the bounded sleep slices of waiters that must watch an owner's liveness.

use std::time::{Duration, Instant};

/// Spins a waiter makes (re-reading the word) before it sleeps on the futex.
pub(super) const SPIN_LIMIT: u32 = 100;

/// The first sleep slice of a waiter that polls its owner's liveness.
const FIRST_SLICE: Duration = Duration::from_millis(1);
/// The longest sleep slice: a dead owner is noticed at most this long after it died
/// (plus scheduling), once the waiter's slices have grown.
pub(super) const MAX_SLICE: Duration = Duration::from_millis(64);

/// How long a sleeper on a 64-bit counter's low half sleeps at most before it compares the
/// whole counter again (`Event`, `Condition`): the kernel compares only 32 bits, so a
/// sleeper stalled just before its futex call across a multiple of 2^32 (`Condition`) or
/// 2^30 (`Event`) changes would otherwise sleep through them until the next change. The
/// same for a `Barrier` sleeper on its event count's 32-bit epoch.
pub(super) const RECHECK: Duration = Duration::from_secs(1);

/// The end of a sleep that must look again after [`RECHECK`]: `deadline` if sooner.
pub(super) fn recheck_end(deadline: Option<Instant>) -> Instant {
    let now = Instant::now();
    let end = now.checked_add(RECHECK).unwrap_or(now);
    match deadline {
        Some(d) if d < end => d,
        _ => end,
    }
}

pub(super) use crate::wait::deadline_after;

/// Whether `deadline` (if any) has passed.
#[inline]
pub(super) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Sleep slices growing from 1 ms to [`MAX_SLICE`] by doubling.
#[derive(Debug)]
pub(super) struct Slices {
    next: Duration,
}

impl Slices {
    pub(super) fn new() -> Self {
        Self { next: FIRST_SLICE }
    }

    /// The end of the next slice, never later than `deadline`.
    pub(super) fn next_end(&mut self, deadline: Option<Instant>) -> Instant {
        let now = Instant::now();
        let end = now.checked_add(self.next).unwrap_or(now);
        self.next = (self.next * 2).min(MAX_SLICE);
        match deadline {
            Some(d) if d < end => d,
            _ => end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_grow_to_the_cap_and_respect_the_deadline() {
        let mut s = Slices::new();
        for _ in 0..20 {
            s.next_end(None);
        }
        assert_eq!(s.next, MAX_SLICE);
        let d = Instant::now() + Duration::from_micros(10);
        assert!(s.next_end(Some(d)) <= d);
        assert!(deadline_after(Duration::MAX).is_none());
        assert!(expired(Some(Instant::now())));
        assert!(!expired(None));
    }
}
