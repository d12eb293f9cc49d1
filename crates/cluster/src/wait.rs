//! `wait` and `as_completed` over [`ClusterFuture`]s: the executor's own
//! ([`zeroproc_sched::wait`], [`zeroproc_sched::as_completed`]), which take any
//! [`Waitable`] — a cluster future is one, woken as its cluster stores outcomes.

use crate::future::ClusterFuture;
use std::time::Instant;
use zeroproc_sched::Waitable;

impl<R: Send + 'static, E: Send + 'static> Waitable for ClusterFuture<R, E> {
    fn is_done(&self) -> bool {
        self.done()
    }

    fn is_failed(&self) -> bool {
        // As a pool's future: a cancelled one does not count for `FirstException`.
        // `done` first: `exception_kind` blocks until the job is done. It still answers
        // once an `.await` by reference took the outcome (before: `None`, so such a failed
        // future did not end a `FirstException` wait).
        self.done()
            && self.exception_kind().is_some_and(|k| k != zeroproc_sched::JobErrorKind::Cancelled)
    }

    fn block_until(&self, deadline: Option<Instant>, ready: &dyn Fn() -> bool) -> bool {
        self.shared.clone().wait_until(deadline, ready)
    }

    fn wake_source(&self) -> usize {
        std::sync::Arc::as_ptr(&self.shared) as usize
    }
}
