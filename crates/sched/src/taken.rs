//! What a `JobFuture` remembers of an outcome that an `.await` by reference took
//! (`(&mut f).await`, `tokio::select!` on `&mut f`): the future stays behind, done and
//! empty, and Python's future would still answer `done()`, `cancelled()` and
//! `exception()` for it. The value and the error's message are gone (they were handed
//! over); their kind is kept here, so that `cancelled`, `exception_kind` and
//! `wait(FirstException)` still answer. Before, `wait(FirstException)` panicked on such a
//! future (`tests/await_taken.rs`).

use crate::error::JobErrorKind;
use std::sync::atomic::{AtomicU8, Ordering};

/// Nothing taken by a poll (the outcome is in the future, or not in yet).
const NOT_TAKEN: u8 = 0;
/// A value was taken (the job succeeded).
const TAKEN_OK: u8 = 1;
/// An error of kind `JobErrorKind::ALL[b - TAKEN_ERR]` was taken.
const TAKEN_ERR: u8 = 2;

/// The kind of the outcome a poll took, if one did.
#[derive(Debug, Default)]
pub(crate) struct TakenKind(AtomicU8);

impl TakenKind {
    /// Records that a poll took an outcome of kind `kind` (`None`: a value).
    pub(crate) fn record(&self, kind: Option<JobErrorKind>) {
        let b = match kind {
            None => TAKEN_OK,
            Some(k) => {
                let i = JobErrorKind::ALL.iter().position(|&a| a == k);
                // Every kind is in `ALL` (its doc and `error.rs` tests); 11 of them fit a u8.
                TAKEN_ERR + i.expect("a JobErrorKind missing from JobErrorKind::ALL") as u8
            }
        };
        // Relaxed (and in `get`): written by the future's owner under `&mut`, read through
        // `&` by that owner or by a thread the owner lent the future to afterwards (the
        // lending itself orders the write before the read).
        self.0.store(b, Ordering::Relaxed);
    }

    /// `Some(kind)` if a poll took the outcome (`kind` `None`: it was a value), else `None`.
    pub(crate) fn get(&self) -> Option<Option<JobErrorKind>> {
        match self.0.load(Ordering::Relaxed) {
            NOT_TAKEN => None,
            TAKEN_OK => Some(None),
            b => Some(Some(JobErrorKind::ALL[(b - TAKEN_ERR) as usize])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let t = TakenKind::default();
        assert_eq!(t.get(), None);
        t.record(None);
        assert_eq!(t.get(), Some(None));
        for &k in JobErrorKind::ALL {
            t.record(Some(k));
            assert_eq!(t.get(), Some(Some(k)));
        }
    }
}
