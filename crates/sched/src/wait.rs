//! `wait` and `as_completed` over many futures (Python's `concurrent.futures.wait` and
//! `as_completed`).

use crate::error::JobError;
use crate::future::JobFuture;
use std::time::{Duration, Instant};

/// When [`wait`] returns (Python's `return_when`: `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`). "Exception" means any [`JobError`] but a cancellation — a panic, a
/// dead worker, a time limit, the job's own `Err` ...
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{wait, Pool, ReturnWhen};
/// let pool = Pool::builder().workers(2).build()?;
/// let fs = vec![
///     pool.submit(|x: u64| if x == 3 { panic!("bad item") } else { x }, 3),
///     pool.submit(|ms: u64| { std::thread::sleep(std::time::Duration::from_millis(ms)); ms }, 60_000),
/// ];
/// let (done, not_done) = wait(fs, ReturnWhen::FirstException, None);
/// assert_eq!(done.len(), 1); // the panicked job: stop early, without waiting a minute
/// for f in not_done {
///     f.terminate();
/// }
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done.
    FirstCompleted,
    /// As soon as any future fails (or when all are done). A cancelled future (its error
    /// is [`JobError::Cancelled`](crate::JobError::Cancelled)) does not count, as in
    /// Python, where `FIRST_EXCEPTION` ignores cancelled futures.
    FirstException,
    /// When every future is done.
    AllCompleted,
}

/// What [`wait`] and [`as_completed`] wait on: a pool's [`JobFuture`], or a cluster's
/// future (`zeroproc::cluster`), so one `wait` serves both.
pub trait Waitable {
    /// The outcome is in.
    fn is_done(&self) -> bool;
    /// The outcome is in and is an error other than a cancellation (what
    /// [`ReturnWhen::FirstException`] returns for).
    fn is_failed(&self) -> bool;
    /// Blocks until `ready()` holds or `deadline` (`None`: for ever) passes, woken as this
    /// future's pool (or cluster) stores outcomes; true if it holds. `ready` may look at
    /// futures of other pools too: [`wait`] and [`as_completed`] then call this in short
    /// slices, one pool after the other (see [`wake_source`](Self::wake_source)).
    fn block_until(&self, deadline: Option<Instant>, ready: &dyn Fn() -> bool) -> bool;

    /// What wakes [`block_until`](Self::block_until): futures of one pool (or cluster)
    /// share it. Futures with different sources in one [`wait`] are waited for in turn,
    /// in slices of at most 2 ms: a sleep on one pool is not woken by another
    /// pool's completions (it was woken by the 100 ms sleep slice only). The default, one
    /// source for every future, suits an implementor with a single waking source.
    fn wake_source(&self) -> usize {
        0
    }
}

/// The longest sleep on one pool while [`wait`] or [`as_completed`] also waits for futures
/// of other pools: their completions are seen at most this late (plus one slice per
/// further pool).
pub(crate) const MIXED_SLICE: Duration = Duration::from_millis(2);

/// One future per distinct [`Waitable::wake_source`] among `fs` (their indices).
fn sources<F: Waitable>(fs: &[&F]) -> Vec<usize> {
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for (i, f) in fs.iter().enumerate() {
        let s = f.wake_source();
        if !seen.iter().any(|&(src, _)| src == s) {
            seen.push((s, i));
        }
    }
    seen.into_iter().map(|(_, i)| i).collect()
}

/// Blocks until `ready()` or `deadline`, woken by the completions of every pool that `fs`
/// come from: one pool's own sleep when they share one; else short sleeps on each in turn
/// (from 50 µs, doubling up to `MIXED_SLICE`). True if `ready()`.
fn block_any<F: Waitable>(fs: &[&F], deadline: Option<Instant>, ready: &dyn Fn() -> bool) -> bool {
    let reps = sources(fs);
    match reps.as_slice() {
        [] => return ready(),
        [one] => return fs[*one].block_until(deadline, ready),
        _ => {}
    }
    let mut slice = Duration::from_micros(50);
    loop {
        for &i in &reps {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return ready();
            }
            let until = match (now.checked_add(slice), deadline) {
                (Some(s), Some(d)) => Some(s.min(d)),
                (s, d) => s.or(d),
            };
            if fs[i].block_until(until, ready) {
                return true;
            }
        }
        slice = (slice * 2).min(MIXED_SLICE);
    }
}

impl<R: Send + 'static, E: Send + 'static> Waitable for JobFuture<R, E> {
    fn is_done(&self) -> bool {
        self.done()
    }

    fn is_failed(&self) -> bool {
        // `done` first: `exception_kind` blocks until the job is done.
        self.done() && failed(self.exception_kind())
    }

    fn block_until(&self, deadline: Option<Instant>, ready: &dyn Fn() -> bool) -> bool {
        self.inner.shared.clone().wait_until(deadline, ready)
    }

    fn wake_source(&self) -> usize {
        std::sync::Arc::as_ptr(&self.inner.shared) as usize
    }
}

/// `(done, not_done)` as returned by [`wait`] (Python's `DoneAndNotDoneFutures`, as a
/// pair of `Vec`s in the input order).
pub type Split<F> = (Vec<F>, Vec<F>);

/// Waits until `when` holds for `futures` or `timeout` passes, and splits them into
/// `(done, not_done)`, each in the input order (`timeout`: `None` waits as long as it
/// takes). The futures are moved in and handed back, so their outcomes can be taken
/// with [`result`](JobFuture::result); to tell which input each is, keep their
/// [`id`](JobFuture::id)s or make the job return what identifies it.
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
pub fn wait<F: Waitable>(futures: Vec<F>, when: ReturnWhen, timeout: Option<Duration>) -> Split<F> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let cond = |fs: &[F]| match when {
        ReturnWhen::FirstCompleted => fs.is_empty() || fs.iter().any(|f| f.is_done()),
        ReturnWhen::AllCompleted => fs.iter().all(|f| f.is_done()),
        ReturnWhen::FirstException => {
            fs.iter().all(|f| f.is_done()) || fs.iter().any(|f| f.is_failed())
        }
    };
    if !cond(&futures) {
        let refs: Vec<&F> = futures.iter().collect();
        block_any(&refs, deadline, &|| cond(&futures));
    }
    futures.into_iter().partition(|f| f.is_done())
}

/// Whether a future whose error kind (if done) is `kind` counts for
/// [`ReturnWhen::FirstException`]: failed, and not cancelled (before, a cancelled future
/// ended the wait at once, where Python's waits on).
pub(crate) fn failed(kind: Option<crate::JobErrorKind>) -> bool {
    kind.is_some_and(|k| k != crate::JobErrorKind::Cancelled)
}

/// Yields futures as they complete (Python's `as_completed`); see [`as_completed`].
#[must_use = "`as_completed` is an iterator: it waits only as it is iterated"]
pub struct AsCompleted<F> {
    /// The futures in input order; `None` once yielded. Taking one leaves a hole instead
    /// of shifting the rest: `Vec::remove` made iterating over `n` futures already done
    /// quadratic (200,000 done futures: 7.0 s, where `wait` took 8.5 ms).
    pending: Vec<Option<F>>,
    /// The futures left, as a list in input order: `(previous, next)` index for each
    /// slot, slot `pending.len()` the list's head and end. A search walks the futures
    /// left only: skipping holes by an index, holes behind a future not done yet (a
    /// slow first one) were scanned again at every take — quadratic.
    links: Vec<(usize, usize)>,
    /// Futures not yielded yet.
    left: usize,
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
///
/// The futures do not say which input they were for (Python code often keeps a
/// `{future: input}` dict): key the inputs by [`JobFuture::id`], or have the job return
/// its input with its result.
///
/// ```
/// zeroproc_sched::init();
/// use std::collections::HashMap;
/// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
/// let urls = ["a.example", "bb.example", "ccc.example"];
/// let mut input_of = HashMap::new(); // Python: {executor.submit(f, u): u for u in urls}
/// let fs: Vec<_> = urls
///     .iter()
///     .map(|u| {
///         let f = pool.submit(|s: String| s.len(), u.to_string());
///         input_of.insert(f.id(), *u);
///         f
///     })
///     .collect();
/// for f in zeroproc_sched::as_completed(fs) {
///     let url = input_of[&f.id()];
///     assert_eq!(f.result(), Ok(url.len()));
/// }
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
pub fn as_completed<F: Waitable>(futures: impl IntoIterator<Item = F>) -> AsCompleted<F> {
    let pending: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    let left = pending.len();
    let end = left + 1;
    let links = (0..end).map(|i| ((i + end - 1) % end, (i + 1) % end)).collect();
    AsCompleted { pending, links, left, deadline: None, timed_out: false }
}

impl<F: Waitable> AsCompleted<F> {
    /// Stop yielding after `d` (from now). Where Python's `as_completed` raises
    /// `TimeoutError`, the iteration ends: check [`timed_out`](Self::timed_out) after the
    /// loop and take the rest back with [`into_remaining`](Self::into_remaining).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let nap = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let fs = vec![pool.submit(nap, 1), pool.submit(nap, 60_000)];
    /// let mut it = zeroproc_sched::as_completed(fs).timeout(Duration::from_secs(2));
    /// let first = it.by_ref().next().unwrap(); // `by_ref`: keep `it` for afterwards
    /// assert_eq!(first.result(), Ok(1));
    /// assert!(it.next().is_none()); // the time-out passed
    /// assert!(it.timed_out());
    /// for late in it.into_remaining() {
    ///     late.terminate();
    /// }
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.deadline = Instant::now().checked_add(d);
        self
    }

    /// True if iteration ended because the time-out passed (false when every future was
    /// yielded). See [`timeout`](Self::timeout).
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The futures not yielded yet (after a time-out, or a `break` out of the loop), in
    /// their input order. See [`timeout`](Self::timeout).
    pub fn into_remaining(self) -> Vec<F> {
        self.pending.into_iter().flatten().collect()
    }

    /// The futures left, in input order, with their indices.
    fn live(&self) -> impl Iterator<Item = (usize, &F)> + '_ {
        let end = self.pending.len();
        let mut i = self.links[end].1;
        std::iter::from_fn(move || {
            if i == end {
                return None;
            }
            let at = i;
            i = self.links[at].1;
            Some((at, self.pending[at].as_ref().expect("a slot in the list is left")))
        })
    }

    /// The index of the first future left that is done, if any.
    fn find_done(&self) -> Option<usize> {
        self.live().find(|(_, f)| f.is_done()).map(|(i, _)| i)
    }

    /// Takes the future at `i` (which is left), unlinking it: O(1).
    fn take(&mut self, i: usize) -> Option<F> {
        let f = self.pending[i].take();
        self.left -= 1;
        let (p, n) = self.links[i];
        self.links[p].1 = n;
        self.links[n].0 = p;
        f
    }
}

impl<F: Waitable> Iterator for AsCompleted<F> {
    type Item = F;

    fn next(&mut self) -> Option<F> {
        if self.left == 0 || self.timed_out {
            return None;
        }
        if let Some(i) = self.find_done() {
            return self.take(i);
        }
        let live: Vec<&F> = self.live().map(|(_, f)| f).collect();
        if !block_any(&live, self.deadline, &|| live.iter().any(|f| f.is_done())) {
            self.timed_out = true;
            return None;
        }
        let i = self.find_done()?;
        self.take(i)
    }
}

// `JobError` is used in docs above.
#[allow(unused_imports)]
use JobError as _;

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that is done (`.1`) or never will be, carrying `N` bytes (as a future with
    /// its state inline would: moving it costs what moving such a future costs).
    struct Fake<const N: usize>(u32, bool, #[allow(dead_code)] [u8; N]);

    impl<const N: usize> Waitable for Fake<N> {
        fn is_done(&self) -> bool {
            self.1
        }
        fn is_failed(&self) -> bool {
            false
        }
        fn block_until(&self, _: Option<Instant>, ready: &dyn Fn() -> bool) -> bool {
            ready()
        }
    }

    /// 50,000 futures already done are yielded in input order, each once, at a cost linear
    /// in their number. `Vec::remove` of the first made it quadratic: 50,000 × 25,000 KiB
    /// moved on average, minutes here (with `JobFuture`s, 200,000 done futures took 7.0 s
    /// where `wait` took 8.5 ms). A hang detector, not a speed assertion: the linear
    /// version takes milliseconds; the bound is a minute.
    #[test]
    fn as_completed_over_many_done_futures_is_not_quadratic() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let n = 50_000u32;
            let fs = (0..n).map(|i| Fake(i, true, [i as u8; 1024]));
            let order: Vec<u32> = as_completed(fs).map(|d| std::hint::black_box(d).0).collect();
            let _ = tx.send(order == (0..n).collect::<Vec<_>>());
        });
        let ok = rx.recv_timeout(Duration::from_secs(60)).expect("as_completed hung");
        assert!(ok, "not every future once, in input order");
    }

    /// A slow first future (Python's reason for `as_completed`) and 200,000 done ones
    /// behind it: each take is O(1). On 48d2e07 the taken futures left holes that `first`
    /// could not pass (the slow one is still there), and every `next` scanned all the
    /// holes before it found the next done future: 200,000² / 2 slots of 72 bytes, over
    /// a minute here (before 48d2e07 `Vec::remove` moved as many). Walking a list of
    /// the futures left makes it linear. A hang detector, not a speed
    /// assertion: the linear version takes milliseconds; the bound is a minute.
    #[test]
    fn as_completed_behind_a_slow_first_future_is_not_quadratic() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let n = 200_000u32;
            let fs = (0..=n).map(|i| Fake(i, i != 0, [0u8; 64]));
            let mut it = as_completed(fs);
            let order: Vec<u32> = Iterator::take(&mut it, n as usize).map(|f| f.0).collect();
            let rest: Vec<u32> = it.into_remaining().into_iter().map(|f| f.0).collect();
            let _ = tx.send(order == (1..=n).collect::<Vec<_>>() && rest == [0]);
        });
        let ok = rx.recv_timeout(Duration::from_secs(60)).expect("as_completed hung");
        assert!(ok, "not every done future once, in input order, with the slow one left");
    }

    /// Futures not yielded come back in input order after a `break`.
    #[test]
    fn into_remaining_keeps_input_order_after_some_were_yielded() {
        let fs = (0..5).map(|i| Fake(i, true, [0u8; 1024]));
        let mut it = as_completed(fs);
        assert_eq!(it.next().map(|d| d.0), Some(0));
        assert_eq!(it.next().map(|d| d.0), Some(1));
        let rest: Vec<u32> = it.into_remaining().into_iter().map(|d| d.0).collect();
        assert_eq!(rest, [2, 3, 4]);
    }
}
