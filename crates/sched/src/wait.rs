//! `wait` and `as_completed` over many futures (Python's `concurrent.futures.wait` and
//! `as_completed`).

use crate::error::JobError;
use crate::future::JobFuture;
use std::time::{Duration, Instant};

/// When [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done.
    FirstCompleted,
    /// As soon as any future fails (or when all are done).
    FirstException,
    /// When every future is done.
    AllCompleted,
}

impl<R: Send + 'static, E: Send + 'static> JobFuture<R, E> {
    /// Done with an error (without taking the outcome).
    fn failed(&self) -> bool {
        self.done() && self.is_err_outcome()
    }

    fn is_err_outcome(&self) -> bool {
        self.exception_kind().is_some()
    }
}

/// `(done, not_done)` as returned by [`wait`].
pub type Split<R, E> = (Vec<JobFuture<R, E>>, Vec<JobFuture<R, E>>);

/// Waits until `when` holds for `futures` or `timeout` passes, and splits them into
/// `(done, not_done)`, each in the input order.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{wait, Pool, ReturnWhen};
/// use std::time::Duration;
/// let pool = Pool::builder().workers(2).build()?;
/// let fast = pool.submit(|x: u64| x, 1);
/// let slow = pool.submit(|ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms }, 2000);
/// let (done, not_done) = wait(vec![fast, slow], ReturnWhen::FirstCompleted, Some(Duration::from_secs(1)));
/// assert_eq!((done.len(), not_done.len()), (1, 1));
/// for f in not_done { f.cancel(); }
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
pub fn wait<R, E>(
    futures: Vec<JobFuture<R, E>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> Split<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
{
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let cond = |fs: &[JobFuture<R, E>]| match when {
        ReturnWhen::FirstCompleted => fs.is_empty() || fs.iter().any(|f| f.done()),
        ReturnWhen::AllCompleted => fs.iter().all(|f| f.done()),
        ReturnWhen::FirstException => {
            fs.iter().all(|f| f.done()) || fs.iter().any(|f| f.done() && f.failed())
        }
    };
    if !cond(&futures) {
        if let Some(first) = futures.first() {
            let shared = first.inner.shared.clone();
            shared.wait_until(deadline, || cond(&futures));
        }
    }
    futures.into_iter().partition(|f| f.done())
}

/// Yields futures as they complete (Python's `as_completed`); see [`as_completed`].
pub struct AsCompleted<R, E = crate::Never> {
    pending: Vec<JobFuture<R, E>>,
    deadline: Option<Instant>,
    timed_out: bool,
}

/// An iterator over `futures` yielding each one when it is done (those already done
/// first). With [`AsCompleted::timeout`], iteration ends early when the time is up;
/// [`AsCompleted::timed_out`] then says so and [`AsCompleted::into_remaining`] hands back
/// the futures not yet done.
///
/// ```
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
/// let fs: Vec<_> = (1..=4u64).map(|x| pool.submit(|x: u64| x * 10, x)).collect();
/// let mut total = 0;
/// for f in zeroproc_sched::as_completed(fs) {
///     total += f.result().unwrap();
/// }
/// assert_eq!(total, 100);
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
pub fn as_completed<R, E>(futures: impl IntoIterator<Item = JobFuture<R, E>>) -> AsCompleted<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
{
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
    pub fn into_remaining(self) -> Vec<JobFuture<R, E>> {
        self.pending
    }
}

impl<R: Send + 'static, E: Send + 'static> Iterator for AsCompleted<R, E> {
    type Item = JobFuture<R, E>;

    fn next(&mut self) -> Option<JobFuture<R, E>> {
        if self.pending.is_empty() || self.timed_out {
            return None;
        }
        let find = |fs: &[JobFuture<R, E>]| fs.iter().position(|f| f.done());
        if let Some(i) = find(&self.pending) {
            return Some(self.pending.remove(i));
        }
        let shared = self.pending[0].inner.shared.clone();
        let pending = &self.pending;
        if !shared.wait_until(self.deadline, || find(pending).is_some()) {
            self.timed_out = true;
            return None;
        }
        let i = find(&self.pending)?;
        Some(self.pending.remove(i))
    }
}

// `JobError` is used in docs above.
#[allow(unused_imports)]
use JobError as _;
