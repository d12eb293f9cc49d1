//! `wait` and `as_completed` over [`ClusterFuture`]s (Python's `concurrent.futures.wait`
//! and `as_completed`), with the semantics of [`zeroproc_sched::wait`] /
//! [`zeroproc_sched::as_completed`].

use crate::future::ClusterFuture;
use std::time::{Duration, Instant};
use zeroproc_sched::{Never, ReturnWhen};

/// `(done, not_done)` as returned by [`wait`].
pub type Split<R, E = Never> = (Vec<ClusterFuture<R, E>>, Vec<ClusterFuture<R, E>>);

/// Waits until `when` holds for `futures` or `timeout` passes, and splits them into
/// `(done, not_done)`, each in the input order.
///
/// ```
/// zeroproc_cluster::init();
/// use zeroproc_cluster::{wait, ClusterPool, ReturnWhen};
/// use std::time::Duration;
/// let pool = ClusterPool::builder().build()?;
/// let fast = pool.submit(|x: u64| x, 1);
/// let slow = pool.submit(|ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms }, 2000);
/// let (done, not_done) = wait(vec![fast, slow], ReturnWhen::FirstCompleted, Some(Duration::from_secs(1)));
/// assert_eq!((done.len(), not_done.len()), (1, 1));
/// for f in not_done {
///     f.terminate();
/// }
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
pub fn wait<R: Send + 'static, E: Send + 'static>(
    futures: Vec<ClusterFuture<R, E>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> Split<R, E> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let cond = |fs: &[ClusterFuture<R, E>]| match when {
        ReturnWhen::FirstCompleted => fs.is_empty() || fs.iter().any(|f| f.done()),
        ReturnWhen::AllCompleted => fs.iter().all(|f| f.done()),
        ReturnWhen::FirstException => {
            fs.iter().all(|f| f.done()) || fs.iter().any(|f| f.exception_kind().is_some())
        }
    };
    if !cond(&futures) {
        if let Some(first) = futures.first() {
            let shared = first.shared.clone();
            shared.wait_until(deadline, || cond(&futures));
        }
    }
    futures.into_iter().partition(|f| f.done())
}

/// Yields futures as they complete; see [`as_completed`].
pub struct AsCompleted<R, E = Never> {
    pending: Vec<ClusterFuture<R, E>>,
    deadline: Option<Instant>,
    timed_out: bool,
}

/// An iterator over `futures` yielding each one when it is done (those already done
/// first); [`AsCompleted::timeout`] ends it early.
pub fn as_completed<R: Send + 'static, E: Send + 'static>(
    futures: impl IntoIterator<Item = ClusterFuture<R, E>>,
) -> AsCompleted<R, E> {
    AsCompleted { pending: futures.into_iter().collect(), deadline: None, timed_out: false }
}

impl<R: Send + 'static, E: Send + 'static> AsCompleted<R, E> {
    /// Stop yielding after `d` (from now).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.deadline = Instant::now().checked_add(d);
        self
    }

    /// True if iteration ended because the time-out passed.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The futures not yielded yet.
    pub fn into_remaining(self) -> Vec<ClusterFuture<R, E>> {
        self.pending
    }
}

impl<R: Send + 'static, E: Send + 'static> Iterator for AsCompleted<R, E> {
    type Item = ClusterFuture<R, E>;

    fn next(&mut self) -> Option<ClusterFuture<R, E>> {
        if self.pending.is_empty() || self.timed_out {
            return None;
        }
        let find = |fs: &[ClusterFuture<R, E>]| fs.iter().position(|f| f.done());
        if let Some(i) = find(&self.pending) {
            return Some(self.pending.remove(i));
        }
        let shared = self.pending[0].shared.clone();
        let pending = &self.pending;
        if !shared.wait_until(self.deadline, || find(pending).is_some()) {
            self.timed_out = true;
            return None;
        }
        let i = find(&self.pending)?;
        Some(self.pending.remove(i))
    }
}
