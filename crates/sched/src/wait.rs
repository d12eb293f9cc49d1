//! `wait` and `as_completed` over many futures (Python's `concurrent.futures.wait` and
//! `as_completed`).

use crate::error::JobError;
use crate::future::JobFuture;
use std::sync::Arc;
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
///
/// They take the futures themselves, not references: Python's `as_completed(fs)` leaves
/// `fs` as it was, here the futures move in and come back one by one (or split into done
/// and not done), each ready for its `result()`. Passing `&futs` is refused with a message
/// saying so (rustc's own suggestion would be `&as_completed(&futs)`):
///
/// ```compile_fail,E0277
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build().unwrap();
/// let futs = vec![pool.submit(|x: u64| x, 1)];
/// // error[E0277]: `&JobFuture<u64>` is not a future `wait` or `as_completed` can take
/// for f in zeroproc_sched::as_completed(&futs) {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a future `wait` or `as_completed` can take",
    label = "a `JobFuture` (or a cluster's future) is needed here, by value",
    note = "`wait` and `as_completed` take the futures themselves, not references \
            (`as_completed(futs)`, not `as_completed(&futs)`): they hand each one back (as \
            done or not done), ready for its `result()`; to keep a future's input, key it \
            by `f.id()`"
)]
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

    /// Arranges for `waker` to be woken once this future is done — at once if it is done
    /// already; [`is_done`](Self::is_done) holds by the time it is woken (it may be woken
    /// more than once) — so that [`as_completed`] finds what completed without looking at
    /// every future left. True if arranged; false if this implementor cannot (the default):
    /// `as_completed` then looks at the future at every wake-up, a cost proportional to
    /// the futures left that do not arrange it.
    fn wake_when_done(&self, waker: &std::task::Waker) -> bool {
        let _ = waker;
        false
    }
}

/// The longest sleep on one pool while [`wait`] or [`as_completed`] also waits for futures
/// of other pools: their completions are seen at most this late (plus one slice per
/// further pool).
pub(crate) const MIXED_SLICE: Duration = Duration::from_millis(2);

/// Blocks until `ready()` or `deadline`, woken by the completions of every pool that the
/// futures come from, given one future per [`Waitable::wake_source`] (`reps`): one
/// pool's own sleep when they share one; else short sleeps on each in turn (from 50 µs,
/// doubling up to `MIXED_SLICE`). True if `ready()`.
fn block_reps<F: Waitable>(
    reps: &[&F],
    deadline: Option<Instant>,
    ready: &dyn Fn() -> bool,
) -> bool {
    match reps {
        [] => return ready(),
        [one] => return one.block_until(deadline, ready),
        _ => {}
    }
    let mut slice = Duration::from_micros(50);
    loop {
        for f in reps {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return ready();
            }
            let until = match (now.checked_add(slice), deadline) {
                (Some(s), Some(d)) => Some(s.min(d)),
                (s, d) => s.or(d),
            };
            if f.block_until(until, ready) {
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

    fn wake_when_done(&self, waker: &std::task::Waker) -> bool {
        JobFuture::wake_when_done(self, waker)
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
    let n = futures.len();
    let met = |done: usize, failed: bool| match when {
        ReturnWhen::FirstCompleted => n == 0 || done > 0,
        ReturnWhen::AllCompleted => done == n,
        ReturnWhen::FirstException => done == n || failed,
    };
    // What is known done, counted once each; a newly done future is asked whether it
    // failed once. Futures learn of completions as `as_completed` does (a waker pushing
    // the index, see `AsCompleted`): a wake-up costs what completed, where each used to
    // ask every future (`FirstException`: n² looks over n completions).
    let mut t = Tally { seen: vec![false; n], done: 0, failed: false, when };
    for (i, f) in futures.iter().enumerate() {
        if f.is_done() {
            t.mark(i, f);
        }
    }
    // A time-out already past (Python's `timeout=0`, a poll) looks once: no wakers.
    let past = deadline.is_some_and(|d| Instant::now() >= d);
    if !met(t.done, t.failed) && !past {
        let woken = Arc::new(Woken::default());
        let mut polled = Vec::new();
        let mut reps: Vec<(usize, usize)> = Vec::new();
        for (i, f) in futures.iter().enumerate() {
            if t.seen[i] {
                continue;
            }
            let src = f.wake_source();
            if !reps.iter().any(|&(s, _)| s == src) {
                reps.push((src, i));
            }
            let waker = std::task::Waker::from(Arc::new(Note { woken: woken.clone(), index: i }));
            if !f.wake_when_done(&waker) {
                polled.push(i);
            }
        }
        // The sleepers stay valid: a future that completes stays in the list.
        let reps: Vec<&F> = reps.iter().map(|&(_, i)| &futures[i]).collect();
        loop {
            for i in std::mem::take(&mut *woken.lock()) {
                t.mark(i, &futures[i]);
            }
            polled.retain(|&i| {
                let now = futures[i].is_done();
                if now {
                    t.mark(i, &futures[i]);
                }
                !now
            });
            if met(t.done, t.failed) {
                break;
            }
            let ready = || !woken.lock().is_empty() || polled.iter().any(|&i| futures[i].is_done());
            if !block_reps(&reps, deadline, &ready) {
                break;
            }
        }
    }
    futures.into_iter().partition(|f| f.is_done())
}

/// What [`wait`] knows is done: each future counted once, and asked once whether it
/// failed (for [`ReturnWhen::FirstException`] only).
struct Tally {
    seen: Vec<bool>,
    done: usize,
    failed: bool,
    when: ReturnWhen,
}

impl Tally {
    /// Counts the done future `f` (at `i`) unless it was counted already.
    fn mark<F: Waitable>(&mut self, i: usize, f: &F) {
        if !self.seen[i] {
            self.seen[i] = true;
            self.done += 1;
            self.failed |= self.when == ReturnWhen::FirstException && f.is_failed();
        }
    }
}

/// Whether a future whose error kind (if done) is `kind` counts for
/// [`ReturnWhen::FirstException`]: failed, and not cancelled (before, a cancelled future
/// ended the wait at once, where Python's waits on).
pub(crate) fn failed(kind: Option<crate::JobErrorKind>) -> bool {
    kind.is_some_and(|k| k != crate::JobErrorKind::Cancelled)
}

/// Yields futures as they complete (Python's `as_completed`); see [`as_completed`].
///
/// # How it finds the next one
///
/// Each future that can ([`Waitable::wake_when_done`]: a pool's) is given a waker naming
/// its index when the iterator is made; a completion wakes it, which pushes the index on
/// `woken` (under its lock). A `next` takes the indices pushed so far, and blocks (on the
/// futures' pools) only until `woken` is not empty: each wait costs what completed, not
/// the futures left. Before, every `next` that blocked gathered every future left and
/// looked at each of them at each wake-up (and each `done()` of one not done tried the
/// pool lock): iterating over `n` futures completing one by one was quadratic.
///
/// Why nothing is missed: a pool's future stores the waker, then sets its `WAKER` bit;
/// the completion sets `DONE`, and whichever of the two steps comes second sees the
/// other (`future_state.rs`, model-checked in `crates/ring/tests/loom_future.rs`): the
/// waker is woken by the completion's `after`, or at once by `wake_when_done`. The push
/// happens in `after` before it notifies the pool's waiters (`notify_waiters`): the
/// blocked `next` re-checks `woken` after each notification (the pool's wait protocol,
/// as for any `ready` condition), and the lock on `woken` orders the push before its
/// read. An index may be pushed twice (a completion racing the registration): a slot
/// already taken is skipped. The registration racing a store (with and without a
/// callback) is model-checked: `as_completed_registration_during_the_store_is_woken_once_done`
/// in `crates/ring/tests/loom_future.rs` (woken at least once, and done by then).
#[must_use = "`as_completed` is an iterator: it waits only as it is iterated"]
pub struct AsCompleted<F> {
    /// The futures in input order; `None` once yielded.
    pending: Vec<Option<F>>,
    /// Indices to yield next: those done when the iterator was made (in input order),
    /// then what `woken` reported (in completion order).
    ready: std::collections::VecDeque<usize>,
    /// Indices pushed by the futures' wakers.
    woken: Arc<Woken>,
    /// The futures that cannot notify (`wake_when_done` false), as a list in input order:
    /// `(previous, next)` index for each slot, slot `pending.len()` the list's head and
    /// end; `polled[i]` says whether slot `i` is in it. A search walks only this list.
    links: Vec<(usize, usize)>,
    polled: Vec<bool>,
    /// Per wake source, the indices of its futures (taken ones are dropped lazily from
    /// the end): what a blocking `next` sleeps on, one live future per source.
    sources: Vec<Vec<usize>>,
    /// Futures not yielded yet.
    left: usize,
    deadline: Option<Instant>,
    timed_out: bool,
}

/// The indices woken futures pushed (see [`AsCompleted`]).
#[derive(Default)]
struct Woken(std::sync::Mutex<Vec<usize>>);

impl Woken {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        // Only pushes and swaps happen under it: a poisoned list is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The waker of one future of an [`AsCompleted`]: pushes its index.
struct Note {
    woken: Arc<Woken>,
    index: usize,
}

impl std::task::Wake for Note {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.lock().push(self.index);
    }
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
    let n = pending.len();
    let woken = Arc::new(Woken::default());
    let mut ready = std::collections::VecDeque::new();
    let mut polled = vec![false; n];
    let mut links = vec![(n, n); n + 1];
    let mut tail = n;
    let mut sources: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, f) in pending.iter().enumerate() {
        let f = f.as_ref().expect("every slot is filled");
        if f.is_done() {
            ready.push_back(i);
            continue;
        }
        let src = f.wake_source();
        match sources.iter_mut().find(|(s, _)| *s == src) {
            Some((_, v)) => v.push(i),
            None => sources.push((src, vec![i])),
        }
        let waker = std::task::Waker::from(Arc::new(Note { woken: woken.clone(), index: i }));
        if !f.wake_when_done(&waker) {
            polled[i] = true;
            links[tail].1 = i;
            links[i] = (tail, n);
            links[n].0 = i;
            tail = i;
        }
    }
    AsCompleted {
        pending,
        ready,
        woken,
        links,
        polled,
        sources: sources.into_iter().map(|(_, v)| v).collect(),
        left: n,
        deadline: None,
        timed_out: false,
    }
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

    /// The polled futures left (those that cannot notify), in input order, with their
    /// indices.
    fn polled_live(&self) -> impl Iterator<Item = (usize, &F)> + '_ {
        polled_list(&self.pending, &self.links)
    }

    /// Takes the future at `i` if it is still there, unlinking it if it is polled: O(1).
    fn take(&mut self, i: usize) -> Option<F> {
        let f = self.pending[i].take()?;
        self.left -= 1;
        if self.polled[i] {
            let (p, n) = self.links[i];
            self.links[p].1 = n;
            self.links[n].0 = p;
        }
        Some(f)
    }

    /// One future left per wake source (dropping taken indices from each source's end:
    /// each index once in all).
    fn reps(&mut self) -> Vec<usize> {
        let mut reps = Vec::with_capacity(self.sources.len());
        for v in &mut self.sources {
            while let Some(&i) = v.last() {
                if self.pending[i].is_some() {
                    reps.push(i);
                    break;
                }
                v.pop();
            }
        }
        self.sources.retain(|v| !v.is_empty());
        reps
    }
}

/// The polled futures left in `pending`, walking `links` (see [`AsCompleted`]).
fn polled_list<'a, F>(
    pending: &'a [Option<F>],
    links: &'a [(usize, usize)],
) -> impl Iterator<Item = (usize, &'a F)> + 'a {
    let end = pending.len();
    let mut i = links[end].1;
    std::iter::from_fn(move || {
        if i == end {
            return None;
        }
        let at = i;
        i = links[at].1;
        Some((at, pending[at].as_ref().expect("a slot in the list is left")))
    })
}

impl<F: Waitable> Iterator for AsCompleted<F> {
    type Item = F;

    fn next(&mut self) -> Option<F> {
        loop {
            if self.left == 0 || self.timed_out {
                return None;
            }
            while let Some(i) = self.ready.pop_front() {
                if let Some(f) = self.take(i) {
                    return Some(f);
                }
            }
            self.ready.extend(std::mem::take(&mut *self.woken.lock()));
            if !self.ready.is_empty() {
                continue;
            }
            let found = self.polled_live().find(|(_, f)| f.is_done()).map(|(i, _)| i);
            if let Some(i) = found {
                return self.take(i);
            }
            let reps = self.reps();
            let (pending, links, woken) = (&self.pending, &self.links, &self.woken);
            let reps: Vec<&F> = reps.iter().map(|&i| pending[i].as_ref().expect("left")).collect();
            let ready = || {
                !woken.lock().is_empty() || polled_list(pending, links).any(|(_, f)| f.is_done())
            };
            if !block_reps(&reps, self.deadline, &ready) {
                self.timed_out = true;
                return None;
            }
        }
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
        let ok = zeroproc_testkit::within(Duration::from_secs(60), move || {
            let n = 50_000u32;
            let fs = (0..n).map(|i| Fake(i, true, [i as u8; 1024]));
            let order: Vec<u32> = as_completed(fs).map(|d| std::hint::black_box(d).0).collect();
            order == (0..n).collect::<Vec<_>>()
        });
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
        let ok = zeroproc_testkit::within(Duration::from_secs(60), move || {
            let n = 200_000u32;
            let fs = (0..=n).map(|i| Fake(i, i != 0, [0u8; 64]));
            let mut it = as_completed(fs);
            let order: Vec<u32> = Iterator::take(&mut it, n as usize).map(|f| f.0).collect();
            let rest: Vec<u32> = it.into_remaining().into_iter().map(|f| f.0).collect();
            order == (1..=n).collect::<Vec<_>>() && rest == [0]
        });
        assert!(ok, "not every done future once, in input order, with the slow one left");
    }

    /// A pool simulated in one thread: futures complete in a random order, one each time
    /// a waiter blocks; each is woken through the waker it was given, as a pool's is.
    struct Sim {
        done: Vec<std::sync::atomic::AtomicBool>,
        wakers: std::sync::Mutex<Vec<Option<std::task::Waker>>>,
        order: Vec<usize>,
        next: std::sync::atomic::AtomicUsize,
        /// `is_done` calls: what a wait costs.
        looks: std::sync::atomic::AtomicUsize,
        notify: bool,
    }

    struct Simulated(usize, Arc<Sim>);

    impl Waitable for Simulated {
        fn is_done(&self) -> bool {
            self.1.looks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.1.done[self.0].load(std::sync::atomic::Ordering::Acquire)
        }
        fn is_failed(&self) -> bool {
            self.1.looks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
        fn block_until(&self, _: Option<Instant>, ready: &dyn Fn() -> bool) -> bool {
            use std::sync::atomic::Ordering::{AcqRel, Release};
            let sim = &self.1;
            while !ready() {
                let k = sim.next.fetch_add(1, AcqRel);
                let i = *sim.order.get(k).expect("ready() never held: a completion was missed");
                sim.done[i].store(true, Release);
                let w = sim.wakers.lock().unwrap()[i].take();
                if let Some(w) = w {
                    w.wake();
                }
            }
            true
        }
        fn wake_when_done(&self, waker: &std::task::Waker) -> bool {
            if !self.1.notify {
                return false;
            }
            self.1.wakers.lock().unwrap()[self.0] = Some(waker.clone());
            if self.1.done[self.0].load(std::sync::atomic::Ordering::Acquire) {
                waker.wake_by_ref();
            }
            true
        }
    }

    fn simulated(n: usize, notify: bool) -> (Vec<Simulated>, Arc<Sim>) {
        // A fixed pseudo-random permutation (xorshift, Fisher-Yates).
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for i in (1..n).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let sim = Arc::new(Sim {
            done: (0..n).map(|_| std::sync::atomic::AtomicBool::new(false)).collect(),
            wakers: std::sync::Mutex::new((0..n).map(|_| None).collect()),
            order,
            next: std::sync::atomic::AtomicUsize::new(0),
            looks: std::sync::atomic::AtomicUsize::new(0),
            notify,
        });
        ((0..n).map(|i| Simulated(i, sim.clone())).collect(), sim)
    }

    /// 200,000 futures completing one by one in a random order: each `next` blocks, and
    /// costs what completed. Before, a blocking `next` gathered every future left and
    /// looked at each at every wake-up: about n²/2 = 2·10¹⁰ looks here (minutes; with a
    /// pool's futures each look at one not done also tried the pool lock). Counted, not
    /// timed: the looks must be O(n); the watchdog only catches a hang.
    #[test]
    fn as_completed_over_futures_completing_in_random_order_is_not_quadratic() {
        let (in_order, looks) = zeroproc_testkit::within(Duration::from_secs(60), move || {
            let n = 200_000;
            let (fs, sim) = simulated(n, true);
            let got: Vec<usize> = as_completed(fs).map(|f| f.0).collect();
            let looks = sim.looks.load(std::sync::atomic::Ordering::Relaxed);
            (got == sim.order, looks)
        });
        assert!(in_order, "not yielded in completion order, each once");
        assert!(looks <= 2 * 200_000, "{looks} looks at futures for 200,000 completions");
    }

    /// `wait(FirstException)` over 200,000 futures completing one by one in a random order,
    /// none failing: it waits for all, at a cost linear in their number. Before, every
    /// wake-up asked every future whether it had failed: n² = 4·10¹⁰ looks here (the
    /// watchdog's minute ran out). Counted, not timed.
    #[test]
    fn wait_for_the_first_exception_over_many_futures_is_not_quadratic() {
        let (done, not_done, looks) =
            zeroproc_testkit::within(Duration::from_secs(60), move || {
                let n = 200_000;
                let (fs, sim) = simulated(n, true);
                let (done, not_done) = wait(fs, ReturnWhen::FirstException, None);
                let looks = sim.looks.load(std::sync::atomic::Ordering::Relaxed);
                (done.len(), not_done.len(), looks)
            });
        assert_eq!((done, not_done), (200_000, 0));
        assert!(looks <= 4 * 200_000, "{looks} looks at futures for 200,000 completions");
    }

    /// A zero time-out (Python's `wait(fs, timeout=0)`, a poll, often in a loop) looks
    /// once and registers no waker: no allocation per future, and no waker left behind
    /// for every later completion to wake.
    #[test]
    fn a_zero_timeout_wait_registers_no_waker() {
        let (fs, sim) = simulated(100, true);
        let (done, not_done) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::ZERO));
        assert_eq!((done.len(), not_done.len()), (0, 100));
        assert!(sim.wakers.lock().unwrap().iter().all(Option::is_none), "a waker was registered");
        assert_eq!(sim.next.load(std::sync::atomic::Ordering::Relaxed), 0, "it slept");
    }

    /// Futures that cannot notify (the trait's default) are still found, as before: by
    /// looking at them at each wake-up.
    #[test]
    fn as_completed_still_finds_futures_that_cannot_notify() {
        let n = 300;
        let (fs, sim) = simulated(n, false);
        let got: Vec<usize> = as_completed(fs).map(|f| f.0).collect();
        assert_eq!(got, sim.order);
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
