//! `JobFuture`: the handle to one submitted job.
//!
//! States: **pending** (queued in a worker's submission ring or running) → **done** (a
//! value or a [`JobError`]). Completions are stored by whichever controller thread drains
//! the completion rings (see `pool/core.rs`); done-callbacks run right after, in that
//! thread, outside the pool's lock. The outcome slot, the callback list and the waker are
//! coordinated by one state word (`future_state.rs`, which gives the protocol): a job with
//! no callback and no waker stores its outcome with one atomic step and no lock.

use crate::error::{JobError, JobErrorKind, Never};
use crate::future_state::{State, CALLBACKS, WAKER};
use crate::pool::core::{Complete, Shared};
use crate::pool::locked::Locked;
use crate::spill::SpillHeap;
use crate::taken::TakenKind;
use std::cell::UnsafeCell;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

type Outcome<R, E> = Result<R, JobError<E>>;
type Callback<R, E> = Box<dyn FnOnce(&Outcome<R, E>) + Send>;

/// The shared state of one job.
pub(crate) struct Inner<R, E> {
    pub(crate) shared: Arc<Shared>,
    /// Which worker's ring holds the job (set at submission, under the pool lock).
    pub(crate) worker: AtomicUsize,
    /// The job's current id (set at submission, changed when the job is moved to another
    /// worker: `pool/balance.rs`), which routes cancel/terminate.
    pub(crate) id: AtomicU64,
    /// The id the job was submitted under: what `JobFuture::id` reports, stable.
    first_id: AtomicU64,
    /// Stored / done / callbacks / waker (`future_state.rs`).
    state: State,
    /// This job counts in `Shared::interest` (a callback or waker is registered).
    interested: AtomicBool,
    /// Dropping the `JobFuture` unfinished cancels the job (`JobFuture::cancel_on_drop`).
    cancel_on_drop: AtomicBool,
    /// The kind of the outcome an `.await` by reference took (`JobFuture::poll`):
    /// `cancelled()`, `cancel()`, `exception_kind()` and `wait` still answer for it.
    taken_kind: TakenKind,
    /// The outcome: written once by the storer before `STORED`, read by `after` and, once
    /// done, by the future's owner (who of them when: `future_state.rs`).
    value: UnsafeCell<Option<Outcome<R, E>>>,
    /// The callback list, the waker, and the right to read `value` through `&` once done
    /// (never taken by a job with no callback, no waker and no such read).
    slow: Mutex<Slow<R, E>>,
    decode: fn(&[u8], Option<&SpillHeap>) -> Outcome<R, E>,
}

/// What only futures with callbacks or wakers use.
struct Slow<R, E> {
    callbacks: Vec<Callback<R, E>>,
    waker: Option<Waker>,
}

// SAFETY: `value` is the only field that is not `Sync` by itself. It is written only by
// the storer, before `STORED` is set (storers are serialized by the pool lock); after that
// it is read through `&` by `after` (before `DONE`), or by the `&` readers once `DONE` is
// set, those under the `slow` lock (one at a time: the outcome need not be `Sync`, as with
// the `Mutex` this replaces), and it is taken only by the owner of the `JobFuture` with
// exclusive access once `DONE` is set (`future_state.rs`). So the outcome is only ever
// moved between threads (`R`, `E`: `Send`), never shared.
unsafe impl<R: Send, E: Send> Sync for Inner<R, E> {}

/// A callback run once on a stored outcome.
pub type DoneCallback<V> = Box<dyn FnOnce(&V) + Send>;

/// Runs and empties `callbacks` on the stored outcome `v` until no more arrive, each
/// contained (a panicking callback does not stop the others). The caller holds the value
/// lock, so a callback registered meanwhile is either taken here or sees the outcome
/// stored. Used by zeroproc-cluster's future (via `raw`); [`JobFuture`] runs its list in
/// its own `after`, coordinated by its state word instead (`future_state.rs`).
pub fn run_callbacks<V>(v: Option<&V>, callbacks: &Mutex<Vec<DoneCallback<V>>>) {
    loop {
        let cbs = std::mem::take(&mut *lock(callbacks));
        if cbs.is_empty() {
            return;
        }
        if let Some(v) = v {
            for cb in cbs {
                // A panicking callback is contained: the others still run.
                run_callback(cb, v);
            }
        }
    }
}

/// Runs one done-callback on `v`, contained: its panic reaches neither the caller nor the
/// future's other callbacks. The panic hook has printed the panic (thread, place,
/// message); this says on standard error whose it was and that it was caught, as Python
/// logs "exception calling callback for <Future …>" and goes on (before, nothing said the
/// panic was a callback's, nor that the program went on). Public through
/// [`raw`](crate::raw), for zeroproc-cluster.
///
/// ```
/// use zeroproc_sched::raw::run_callback;
/// let mut seen = 0;
/// run_callback(|v: &u32| seen = *v, &7);
/// assert_eq!(seen, 7);
/// run_callback(|_: &u32| panic!("a callback's own bug"), &7); // contained, named on stderr
/// ```
pub fn run_callback<V>(cb: impl FnOnce(&V), v: &V) {
    if crate::job::contain(|| cb(v)).is_none() {
        // `note!`, not `eprintln!`: that panics when standard error is a broken pipe (the
        // program piped into `head`), and the panic unwound through the callback thread
        // (the future was never marked done: `result()` waited for ever) or out of
        // `add_done_callback`. Nor a write to `io::stderr()`: a test harness captures
        // `note!` with the panic hook's message (`tests/callback_panic_named.rs`).
        crate::note!("{CALLBACK_PANICKED}");
    }
}

/// What [`run_callback`] says after a callback's panic.
pub const CALLBACK_PANICKED: &str = "zeroproc: the panic above was raised by a future's \
    done-callback (add_done_callback) and caught there: the future's outcome and its other \
    callbacks are not affected (as Python logs \"exception calling callback\" and goes on)";

thread_local! {
    /// The future (its `Inner`'s address) whose callbacks this thread is running, if any.
    static IN_CALLBACKS_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

thread_local! {
    /// The future (its `Inner`'s address) whose outcome this thread reads under the slow
    /// lock (`Inner::read`), if any.
    static READING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Restores the previous [`READING`] mark when an `Inner::read` ends (unwinding too).
struct Reading(usize);

impl Drop for Reading {
    fn drop(&mut self) {
        READING.with(|r| r.set(self.0));
    }
}

/// Whether this thread is running the callbacks of the future at `inner`.
fn in_own_callbacks(inner: usize) -> bool {
    IN_CALLBACKS_OF.with(|c| c.get()) == inner
}

/// Marks this thread as running the callbacks of the future at `inner` until dropped
/// (restoring the previous mark: a callback that waits for another future may run that
/// future's callbacks here, `pool/callbacks.rs`).
struct Running(usize);

impl Running {
    fn mark(inner: usize) -> Running {
        Running(IN_CALLBACKS_OF.with(|c| c.replace(inner)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        IN_CALLBACKS_OF.with(|c| c.set(self.0));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking callback must not poison the future for everyone else.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<R, E> Inner<R, E> {
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        // Acquire (in `State::load`): pairs with the Release step that set `DONE` (in
        // `set` or `after`), so `value` is visible.
        self.state.is_done()
    }

    /// Reads the outcome through `&`, once done, under the slow lock (`Sync` impl above).
    ///
    /// Re-entrant in one thread: `f` may read this same future again (a callback added to
    /// a done future runs in `f` and may ask its own future's `exception_kind`; before,
    /// that deadlocked on the slow lock held here).
    fn read<T>(&self, f: impl FnOnce(Option<&Outcome<R, E>>) -> T) -> T {
        debug_assert!(self.is_done());
        let me = self as *const Self as usize;
        if READING.with(|r| r.get()) == me {
            // SAFETY: an outer `read` of this future in this thread holds the slow lock:
            // done, no one writes `value`, the owner cannot take it while it lends the
            // future out by `&` (as the outer read's caller does), and the other `&`
            // readers wait for that lock; this thread's readers share the outcome by `&`
            // in one thread, which needs no `Sync`.
            return f(unsafe { (*self.value.get()).as_ref() });
        }
        let _g = lock(&self.slow);
        let _mark = Reading(READING.with(|r| r.replace(me)));
        // SAFETY: done, so no one writes `value` any more and only the owner takes it (not
        // while the owner lends the future out by `&`, as here); other `&` readers wait for
        // the slow lock we hold.
        f(unsafe { (*self.value.get()).as_ref() })
    }
}

impl<R: Send + 'static, E: Send + 'static> Inner<R, E> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        decode: fn(&[u8], Option<&SpillHeap>) -> Outcome<R, E>,
    ) -> Arc<Self> {
        Arc::new(Inner {
            cancel_on_drop: AtomicBool::new(shared.cancel_on_drop),
            shared,
            worker: AtomicUsize::new(usize::MAX),
            id: AtomicU64::new(0),
            first_id: AtomicU64::new(0),
            state: State::new(),
            interested: AtomicBool::new(false),
            taken_kind: TakenKind::default(),
            value: UnsafeCell::new(None),
            slow: Mutex::new(Slow { callbacks: Vec::new(), waker: None }),
            decode,
        })
    }

    /// Counts this job in the pool's `interest` (once).
    fn register_interest(&self) {
        // Relaxed (both): a counter the supervisor reads as a hint.
        if !self.interested.swap(true, Ordering::Relaxed) {
            self.shared.interest.fetch_add(1, Ordering::Relaxed);
            self.shared.wake_supervisor();
        }
    }

    /// Withdraws `register_interest` (once).
    fn drop_interest(&self) {
        // Relaxed (both): as above.
        if self.interested.swap(false, Ordering::Relaxed) {
            self.shared.interest.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Stores the outcome unless one is stored already. Returns true when `after` must
    /// run (callbacks or a waker registered) — the caller does that outside the pool lock.
    ///
    /// Callers are serialized: `complete`/`fail` run under the pool lock, `ready` before
    /// the future is shared. No lock of the future is taken: a late completion (after a
    /// cancel, or of a job that was moved) returns at the first check, and one that stores
    /// never waits for `after`, which may be running callbacks that submit (taking the
    /// pool lock this storer holds).
    #[inline]
    fn set(&self, v: Outcome<R, E>) -> bool {
        if self.state.is_stored() {
            return false; // already cancelled / completed: a late completion is dropped
        }
        // SAFETY: not stored yet, and storers are serialized (above): no one else writes
        // `value`, and no one reads it before `STORED` (`future_state.rs`).
        unsafe { *self.value.get() = Some(v) };
        self.state.publish() & (CALLBACKS | WAKER) != 0
    }
}

impl<R: Send + 'static, E: Send + 'static> Complete for Inner<R, E> {
    fn complete(
        &self,
        _: &mut Locked<'_>,
        _seq: u64,
        st: u32,
        bytes: &[u8],
        heap: Option<&SpillHeap>,
    ) -> bool {
        use crate::job::status;
        let v = match st {
            status::OK => (self.decode)(bytes, heap),
            status::PANICKED => {
                Err(JobError::Panicked { message: String::from_utf8_lossy(bytes).into_owned() })
            }
            status::SKIPPED => Err(JobError::Cancelled),
            status::TOO_LARGE => {
                Err(JobError::TooLarge { message: String::from_utf8_lossy(bytes).into_owned() })
            }
            _ => Err(JobError::Decode { message: String::from_utf8_lossy(bytes).into_owned() }),
        };
        self.set(v)
    }

    fn fail(&self, _: &mut Locked<'_>, _seq: u64, e: JobError<Never>) -> bool {
        self.set(Err(e.map_job(|n| match n {})))
    }

    fn has_callbacks(&self) -> bool {
        // Called after the storing `set` (which saw the bit if a callback was pushed).
        self.state.load() & CALLBACKS != 0
    }

    fn after(&self) {
        if self.state.load() & CALLBACKS != 0 {
            // A callback that reaches this same future (through state it shares) is told
            // apart (`JobFuture::wait_until`, `add_done_callback`): it would wait for itself.
            let running = Running::mark(self as *const Self as usize);
            // SAFETY: stored (the storing `set` happened before this hook was handed
            // here), not done yet: only this `after` reads `value` now and no one writes
            // or takes it until `finish` below (`future_state.rs`).
            let v = unsafe { (*self.value.get()).as_ref() };
            loop {
                let mut g = lock(&self.slow);
                let cbs = std::mem::take(&mut g.callbacks);
                if cbs.is_empty() {
                    // Under the list lock with the list empty: a registration after this
                    // sees `DONE` and runs its callback itself.
                    self.state.finish();
                    break;
                }
                drop(g);
                if let Some(v) = v {
                    for cb in cbs {
                        // A panicking callback is contained: the others still run.
                        run_callback(cb, v);
                    }
                }
            }
            drop(running);
        }
        // Done now (set by the storing `set`, or by `finish` above).
        self.drop_interest();
        if self.state.load() & WAKER != 0 {
            // Taken out first: in an `if let` on the lock, the guard lived through `wake`,
            // and a waker that looks at this future (`exception_kind`, an inline poll that
            // registers a callback) deadlocked the waking thread on this very lock.
            let waker = lock(&self.slow).waker.take();
            if let Some(w) = waker {
                // The user's code, run by whichever thread stored the outcome — the
                // supervisor among them: a panic there must not unwind through it (it
                // died, and the pool enforced no time limit and hung).
                crate::job::contain(|| w.wake());
            }
        }
        self.shared.notify_waiters();
    }

    fn assign(&self, worker: usize, id: u64) {
        // Relaxed: read by the thread that receives the future, after `dispatch` returns
        // (program order / the hand-over of the future).
        self.worker.store(worker, Ordering::Relaxed);
        self.id.store(id, Ordering::Relaxed);
        // Relaxed (both): as above; only the first assignment names the job for users.
        if self.first_id.load(Ordering::Relaxed) == 0 {
            self.first_id.store(id, Ordering::Relaxed);
        }
    }
}

/// A submitted job: query it, wait for it, cancel it, or `.await` it.
///
/// `R` is the job's result type; `E` is its own error type when the function returns
/// `Result` ([`Pool::submit_fallible`](crate::Pool::submit_fallible)).
///
/// ```
/// zeroproc_sched::init();
/// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
/// let f = pool.submit(|x: u64| x * x, 7);
/// assert_eq!(f.result(), Ok(49));
/// # Ok::<(), zeroproc_sched::BuildError>(())
/// ```
#[must_use = "a future that is dropped still runs, but its result is lost"]
pub struct JobFuture<R, E = Never> {
    pub(crate) inner: Arc<Inner<R, E>>,
}

impl<R, E> std::fmt::Debug for JobFuture<R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed (both): a diagnostic snapshot.
        f.debug_struct("JobFuture")
            .field("id", &self.inner.id.load(Ordering::Relaxed))
            .field("worker", &self.inner.worker.load(Ordering::Relaxed))
            .field("done", &self.inner.is_done())
            .finish()
    }
}

impl<R: Send + 'static, E: Send + 'static> JobFuture<R, E> {
    /// A future that is already done with `v` (a submission that failed).
    pub(crate) fn ready(shared: Arc<Shared>, v: Outcome<R, E>) -> Self {
        let inner = Inner::new(shared, |_, _| unreachable!("never decoded"));
        inner.set(v);
        JobFuture { inner }
    }

    /// The job's id: unique within its pool, and the same for the job's whole life (also
    /// when the pool moves it to another worker, and from the `submit` on for a job that
    /// first waits in the pool's backlog). Handy as a key when futures are kept in a map
    /// or logged.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let (a, b) = (pool.submit(|x: u32| x, 1), pool.submit(|x: u32| x, 2));
    /// assert_ne!(a.id(), b.id());
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn id(&self) -> u64 {
        // Relaxed: set before the future was returned to the caller.
        self.inner.first_id.load(Ordering::Relaxed)
    }

    /// The id the pool routes the job by now (it changes when the job moves).
    fn job(&self) -> u64 {
        // Relaxed: changed only under the pool lock, which every user of the value takes
        // or re-checks (a stale id finds nothing to cancel or kill).
        self.inner.id.load(Ordering::Relaxed)
    }

    /// True once the job has a result or an error (including cancellation). Never waits
    /// (Python's `done()`); the outcome is then taken with [`result`](Self::result).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 50);
    /// while !f.done() {
    ///     std::thread::sleep(Duration::from_millis(5)); // ... do other work meanwhile
    /// }
    /// assert_eq!(f.result(), Ok(()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    #[inline]
    pub fn done(&self) -> bool {
        if !self.inner.is_done() {
            self.inner.shared.poll();
        }
        self.inner.is_done()
    }

    /// True while a worker is running the job (false while it is queued, and once done).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 100);
    /// let queued = pool.submit(|x: u32| x, 1); // behind `f` on the only worker
    /// while !f.running() && !f.done() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!queued.running() || queued.done()); // not started while `f` runs
    /// assert_eq!(f.result(), Ok(()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn running(&self) -> bool {
        !self.done() && self.inner.shared.is_running(self.job())
    }

    /// True if the job was cancelled (by [`cancel`](Self::cancel),
    /// [`terminate`](Self::terminate) or a cancelling shutdown). See [`cancel`](Self::cancel)
    /// for an example.
    pub fn cancelled(&self) -> bool {
        self.done()
            && self.inner.read(|v| match v {
                Some(v) => matches!(v, Err(JobError::Cancelled)),
                // Taken by an `.await` by reference (`poll`): what it was is kept.
                None => self.inner.taken_kind.get() == Some(Some(JobErrorKind::Cancelled)),
            })
    }

    /// Cancels the job if it has not started: returns true and the future completes with
    /// [`JobError::Cancelled`] — the job will never run; false if it is running or done,
    /// true again if it was cancelled already (like Python's `cancel`: after a true,
    /// [`cancelled`](Self::cancelled) holds). Exact: the job is taken back with one
    /// compare-exchange that a worker starting it would have won. To stop a job that is
    /// running too, use [`terminate`](Self::terminate).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let busy = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 200);
    /// let queued = pool.submit(|x: u32| x * 2, 21); // waits behind `busy`
    /// assert!(queued.cancel());
    /// assert!(queued.cancelled());
    /// assert_eq!(queued.result(), Err(zeroproc_sched::JobError::Cancelled));
    /// assert_eq!(busy.result(), Ok(()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            // Python: a cancelled future's `cancel()` is True again.
            return self.cancelled();
        }
        let shared = &self.inner.shared;
        if shared.forked() {
            return false; // the job is the parent's (and the pool lock may be the parent's)
        }
        let mut core = shared.lock();
        // After draining: a job whose completion is already in a ring is done, not
        // cancellable (its result must not be reported as cancelled).
        core.drain_all(shared);
        let cancelled = !self.inner.state.is_stored() && core.cancel(shared, self.job());
        let mut after_hooks = core.take_after();
        drop(core);
        // This future's own hook runs here, callbacks included, as Python's `cancel` sets
        // the state and invokes the callbacks before it returns: handed to the callback
        // thread with the others', `cancelled()` and `done()` said false after a true
        // `cancel()` (clu33; `tests/cancel_with_callback.rs`). Other futures completed by
        // the drain above keep theirs on the callback thread.
        let me = Arc::as_ptr(&self.inner) as *const ();
        let own = after_hooks.iter().position(|a| Arc::as_ptr(a) as *const () == me);
        let own = own.map(|i| after_hooks.swap_remove(i));
        shared.run_after(after_hooks);
        if let Some(a) = own {
            a.after();
        }
        shared.notify_waiters();
        cancelled
    }

    /// Stops the job whether or not it runs: a queued job is cancelled; a running job's
    /// worker is killed (SIGKILL) and respawned, and the future completes with
    /// [`JobError::Cancelled`]. Other jobs are not affected (queued jobs of that worker
    /// move to other workers or its successor). Returns whether the future ends with
    /// `Cancelled`: false if the job was already done, or finished (or lost its worker)
    /// before the kill was aimed at it — then the future holds the job's own outcome.
    /// (Before 2026-12-06 it said true also for a job that finished in that moment, whose
    /// future then held its result: within the first 4 terminates of 2–8 µs jobs,
    /// `terminate_race.rs`.)
    /// Python's futures cannot do this (`cancel` refuses a running job).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let stuck = pool.submit(|_: ()| -> u32 { loop { std::thread::park() } }, ());
    /// while !stuck.running() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!stuck.cancel()); // running: cancel cannot take it back ...
    /// assert!(stuck.terminate()); // ... terminate kills its worker
    /// assert_eq!(stuck.result(), Err(JobError::Cancelled));
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2)); // a fresh worker serves
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn terminate(&self) -> bool {
        if self.done() {
            return false;
        }
        if self.cancel() {
            return true;
        }
        // False: it finished first, or its worker died (its own outcome). True: the kill
        // is aimed, and wins over a result handed back just before it lands (`drain`).
        self.inner.shared.kill_running(self.job(), JobError::Cancelled)
    }

    /// Makes dropping this future unfinished [`terminate`](Self::terminate) its job (a
    /// queued job never runs; a running one is stopped). For a whole pool:
    /// [`PoolBuilder::cancel_on_drop`](crate::PoolBuilder::cancel_on_drop).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let slow = pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(60)), ()).cancel_on_drop();
    /// // An async caller's time-out gives up on it: the worker is freed at once.
    /// if let Err(gave_up) = slow.result_timeout(Duration::from_millis(10)) {
    ///     drop(gave_up);
    /// }
    /// assert_eq!(pool.submit(|x: u32| x * 2, 21).result(), Ok(42));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn cancel_on_drop(self) -> Self {
        // Relaxed: read by `drop` in the thread that owns the future.
        self.inner.cancel_on_drop.store(true, Ordering::Relaxed);
        self
    }

    /// Runs `f` with the outcome once the job is done: at once in this thread if it is
    /// done already, else on the pool's callback thread — never on the supervisor, which
    /// handles worker deaths and time-outs, nor on a thread waiting for another future of
    /// the pool, whose deadline a blocking `f` would overrun — outside the pool's lock, so
    /// `f` may submit more jobs and wait for them. The future counts as done once its
    /// callbacks have run: inside one of them it is not done yet (Python's is), so waiting
    /// for it there (`result`, `exception`, `wait_*`) panics — use the outcome `f` is given
    /// — while adding a callback to it there runs that one next (as does one added from
    /// another thread while its callbacks run: queued behind them, not waiting for them).
    /// A panic in `f` is caught (the other callbacks still run) in every case.
    ///
    /// Panics if an earlier `.await` (or `poll`) of this future by reference returned the
    /// outcome already (`(&mut f).await`, `tokio::select!` on `&mut f`): a future hands its
    /// outcome over once.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::sync::mpsc;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let (tx, rx) = mpsc::channel();
    /// let f = pool.submit(|x: u64| x * x, 12);
    /// f.add_done_callback(move |outcome| tx.send(outcome.clone()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), Ok(144)); // the callback's copy
    /// assert_eq!(f.result(), Ok(144)); // the outcome is still in the future
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    ///
    /// A callback that submits more work — Python's callback calling `ex.submit` on the
    /// executor it closes over — holds the pool in an `Arc` (`Pool` is `Send + Sync`).
    /// Here each job's callback submits the next one until a limit; the last `Arc` may be
    /// dropped inside a callback (the pool then shuts down on the callback thread):
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::sync::{mpsc, Arc};
    /// use zeroproc_sched::{JobFuture, Pool};
    ///
    /// fn double(n: u64) -> u64 {
    ///     n * 2
    /// }
    /// fn then_next(pool: Arc<Pool>, f: &JobFuture<u64>, seen: mpsc::Sender<u64>) {
    ///     f.add_done_callback(move |outcome| {
    ///         let v = *outcome.as_ref().unwrap();
    ///         seen.send(v).unwrap();
    ///         if v < 1000 {
    ///             let next = pool.submit(double, v); // dropping `next` leaves the job running
    ///             then_next(pool, &next, seen);
    ///         }
    ///     });
    /// }
    ///
    /// let pool = Arc::new(Pool::builder().workers(2).build()?);
    /// let (tx, rx) = mpsc::channel();
    /// then_next(pool.clone(), &pool.submit(double, 1), tx);
    /// drop(pool); // the callbacks hold the pool while the chain runs
    /// let seen: Vec<u64> = rx.iter().collect(); // ends when the last callback drops `tx`
    /// assert_eq!(seen, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&Result<R, JobError<E>>) + Send + 'static) {
        let inner = &self.inner;
        if in_own_callbacks(Arc::as_ptr(inner) as usize) {
            // From one of this future's own callbacks (`CALLBACKS` is set, `DONE` is not):
            // queued, it runs next, as `after` runs the list until none is left.
            lock(&inner.slow).callbacks.push(Box::new(f));
            return;
        }
        if !inner.is_done() {
            inner.register_interest();
            let mut g = lock(&inner.slow);
            if inner.state.add_callback() {
                // Not done: a storer that comes later sees `CALLBACKS` and runs `after`;
                // an `after` running now takes the list (under this lock) before it can
                // set `DONE` (`future_state.rs`).
                g.callbacks.push(Box::new(f));
                return;
            }
            drop(g);
            // Done meanwhile: `after` has run (or will not run); count no interest.
            inner.drop_interest();
        }
        // Contained like a callback of a pending future: its panic does not reach the
        // caller.
        let ran = inner.read(|v| v.map(|v| run_callback(f, v)));
        if ran.is_none() {
            taken(); // silently never running `f` could leave its receiver waiting for ever
        }
    }

    /// Waits until the job is done, leaving the outcome in the future: the
    /// [`wait_timeout`](Self::wait_timeout) / [`wait_deadline`](Self::wait_deadline) family
    /// without a limit (Python's `wait([f])`). [`result`](Self::result) waits too and takes
    /// the outcome; this one only borrows, e.g. to wait before
    /// [`exception`](Self::exception) or for a future kept in a collection.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let fs = vec![pool.submit(|x: u64| x, 1), pool.submit(|x: u64| x, 2)];
    /// fs.iter().for_each(|f| f.wait());
    /// assert!(fs.iter().all(|f| f.done()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits until done or `deadline`; true if done. The outcome stays in the future (take
    /// it with [`result`](Self::result)); see [`wait_timeout`](Self::wait_timeout).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::{Duration, Instant};
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|x: u64| x + 1, 1);
    /// assert!(f.wait_deadline(Instant::now() + Duration::from_secs(10)));
    /// assert_eq!(f.result(), Ok(2));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    /// Has `waker` woken once the job is done (at once if it is done already), for
    /// `as_completed` (`wait.rs`): the async waker slot and its protocol
    /// (`future_state.rs`: no wake-up is lost), without counting the job in the pool's
    /// `interest` (the iterating thread drains completions itself while it waits; a
    /// supervisor wake-up per future cost more than the wait). The wake comes after
    /// [`done`](Self::done) holds; it may come twice. False in a forked child (the
    /// future never completes there; its waits fail it instead).
    pub(crate) fn wake_when_done(&self, waker: &Waker) -> bool {
        let inner = &self.inner;
        if inner.is_done() {
            waker.wake_by_ref();
            return true;
        }
        if inner.shared.forked() {
            return false;
        }
        lock(&inner.slow).waker = Some(waker.clone());
        // Stored before `WAKER` is set, as in `poll`: a later storer's `after` wakes it;
        // a `DONE` set first shows here.
        if inner.state.add_waker() {
            waker.wake_by_ref();
        }
        true
    }

    /// Waits until done or `deadline` (`None`: forever); true if done.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let inner = &self.inner;
        if inner.is_done() {
            return true;
        }
        if inner.shared.forked() {
            self.fail_forked();
            return true;
        }
        if in_own_callbacks(Arc::as_ptr(inner) as usize) {
            // Python's future is done while its callbacks run; this one is done once they
            // have run, so this would wait for itself for ever.
            panic!(
                "a JobFuture was waited for (result, exception, wait_*) inside one of its own \
                 done-callbacks: it is done only once they have run, so this would never \
                 return; use the outcome the callback is given"
            );
        }
        inner.shared.wait_until(deadline, || inner.is_done())
    }

    /// Waits at most `timeout`; true if done. Unlike
    /// [`result_timeout`](Self::result_timeout) it only borrows the future, and a `false`
    /// says nothing about the job (it may be queued or running; it goes on either way). To
    /// wait with no limit, [`wait`](Self::wait).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300);
    /// if !f.wait_timeout(Duration::from_millis(1)) {
    ///     println!("still working..."); // e.g. report progress, then wait again
    /// }
    /// assert!(f.wait_timeout(Duration::from_secs(30)));
    /// assert_eq!(f.result(), Ok(()));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(zeroproc_shm::wait::deadline_after(timeout))
    }

    /// Waits for the outcome and returns it (Python's `result()`): the job's value, or the
    /// [`JobError`] that says why there is none (a panic, a dead worker, a time limit,
    /// cancellation ...). Consumes the future. In `async` code, `.await` the future instead.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobError;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let n: u64 = pool.submit(|x: u64| x * 3, 14).result().expect("the job failed");
    /// assert_eq!(n, 42);
    /// let e = pool.submit(|x: u64| 100 / x, 0).result().unwrap_err();
    /// assert!(matches!(e, JobError::Panicked { .. }), "{e}"); // division by zero
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    #[inline]
    pub fn result(self) -> Result<R, JobError<E>> {
        match self.result_until(None) {
            Ok(v) => v,
            Err(_) => unreachable!("no deadline"),
        }
    }

    /// Waits at most `timeout` for the outcome; hands the future back if it is not done.
    ///
    /// The two layers: the outer `Result` is "did it finish in time" (`Err(future)`: not
    /// yet, the job goes on — wait again, [`cancel`](Self::cancel) or
    /// [`terminate`](Self::terminate) it), the inner one is the outcome, as from
    /// [`result`](Self::result). (Python raises `TimeoutError` here; there is no
    /// [`JobError::Timeout`] from this method.)
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let nap = |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms };
    /// let mut f = pool.submit(nap, 200);
    /// let ms = loop {
    ///     match f.result_timeout(Duration::from_millis(20)) {
    ///         Ok(Ok(ms)) => break ms,                      // done, with a value
    ///         Ok(Err(e)) => panic!("the job failed: {e}"), // done, with a JobError
    ///         Err(pending) => f = pending,                 // not done yet: keep waiting
    ///     }
    /// };
    /// assert_eq!(ms, 200);
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn result_timeout(self, timeout: Duration) -> Result<Result<R, JobError<E>>, Self> {
        self.result_until(zeroproc_shm::wait::deadline_after(timeout))
    }

    /// Waits until `deadline` for the outcome; hands the future back if it is not done by
    /// then. The two layers are as in [`result_timeout`](Self::result_timeout).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::{Duration, Instant};
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let deadline = Instant::now() + Duration::from_secs(30); // one budget for all
    /// let fs: Vec<_> = (1..=3u64).map(|x| pool.submit(|x: u64| x * x, x)).collect();
    /// let mut total = 0;
    /// for f in fs {
    ///     match f.result_deadline(deadline) {
    ///         Ok(outcome) => total += outcome?,
    ///         Err(late) => {
    ///             late.terminate(); // out of time: stop it
    ///         }
    ///     }
    /// }
    /// assert_eq!(total, 14);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn result_deadline(self, deadline: Instant) -> Result<Result<R, JobError<E>>, Self> {
        self.result_until(Some(deadline))
    }

    /// In a forked child (`fork.rs`), an unfinished future of the parent's pool never
    /// completes there: it fails now with the error naming the fork (its callbacks run
    /// here; the child has no callback thread).
    #[cold]
    fn fail_forked(&self) {
        // Storers must be serialized (`set`); the pool lock may be held by a thread of the
        // parent that does not exist here, so the child's failures take a lock of their own
        // (no drainer runs in the child: `forked()` keeps every use off the shared state).
        static FORKED_STORES: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _serial = FORKED_STORES.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &self.inner;
        let e = JobError::Decode { message: inner.shared.forked_message() };
        if inner.set(Err(e)) {
            inner.after();
        }
    }

    /// `result` (`None`) and its bounded forms.
    fn result_until(self, deadline: Option<Instant>) -> Result<Result<R, JobError<E>>, Self> {
        if !self.wait_until(deadline) {
            return Err(self);
        }
        let mut f = self;
        Ok(f.take())
    }

    /// Takes the outcome of a done future (`&mut`: its owner, no one else reads it now).
    #[inline]
    fn take(&mut self) -> Outcome<R, E> {
        debug_assert!(self.inner.is_done());
        // SAFETY: done, so no one writes `value` any more and `after` no longer reads it;
        // the `&` readers go through a `&JobFuture`, which cannot exist while we hold
        // `&mut` (`future_state.rs`).
        unsafe { (*self.inner.value.get()).take() }.unwrap_or_else(|| taken())
    }

    /// [`take`](Self::take) for `poll`, which leaves the future behind (`(&mut f).await`):
    /// the outcome's kind is kept (`taken.rs`) for [`cancelled`](Self::cancelled),
    /// [`cancel`](Self::cancel), [`exception_kind`](Self::exception_kind) and `wait`
    /// (Python's future keeps its outcome). Before, `cancelled` said false for a cancelled
    /// job once its outcome was awaited, and `wait(FirstException)` panicked on the future
    /// (`tests/await_taken.rs`).
    fn take_polled(&mut self) -> Outcome<R, E> {
        let v = self.take();
        self.inner.taken_kind.record(v.as_ref().err().map(|e| e.kind()));
        v
    }

    /// Waits for the outcome and returns what kind of error it is, if any, leaving the
    /// outcome in place (for the error with its message: [`exception`](Self::exception)).
    /// Unlike `exception`, it needs no `E: Clone`. It still answers after an `.await` (or
    /// `poll`) of this future by reference took the outcome (`(&mut f).await`,
    /// `tokio::select!` on `&mut f`): the kind is kept, as Python's future keeps its
    /// exception (the error itself was handed over: [`exception`](Self::exception) panics
    /// then).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::JobErrorKind;
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let ok = pool.submit(|x: u32| x, 1);
    /// let bad = pool.submit(|_: u32| -> u32 { std::process::abort() }, 1);
    /// assert_eq!(ok.exception_kind(), None);
    /// assert_eq!(bad.exception_kind(), Some(JobErrorKind::WorkerDied));
    /// assert_eq!(ok.result(), Ok(1)); // still there
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn exception_kind(&self) -> Option<JobErrorKind> {
        self.wait_until(None);
        let kind = self.inner.read(|v| v.map(|v| v.as_ref().err().map(|e| e.kind())));
        kind.or_else(|| self.inner.taken_kind.get()).unwrap_or_else(|| taken())
    }

    /// Waits for the outcome and returns its error, if any — message included (Python's
    /// `exception()`), leaving the outcome in place.
    ///
    /// Panics if an earlier `.await` (or `poll`) of this future by reference returned the
    /// outcome already (`(&mut f).await`, `tokio::select!` on `&mut f`): a future hands its
    /// outcome over once, and the error went with it (its kind is still there:
    /// [`exception_kind`](Self::exception_kind)).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|x: u32| if x > 1 { panic!("{x} is too big") } else { x }, 9);
    /// let e = f.exception().expect("it failed");
    /// assert!(e.to_string().contains("9 is too big"), "{e}");
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn exception(&self) -> Option<JobError<E>>
    where
        E: Clone,
    {
        self.wait_until(None);
        let e = self.inner.read(|v| v.map(|v| v.as_ref().err().cloned()));
        e.unwrap_or_else(|| taken())
    }
}

/// A done future whose outcome an earlier `.await` (or `poll`) returned was asked for it
/// again. Python's future keeps its outcome for ever; a Rust future hands its output over
/// once (`(&mut f).await`, `tokio::select!` on `&mut f` leave the future behind, empty).
#[cold]
#[track_caller]
fn taken() -> ! {
    panic!(
        "this JobFuture's outcome was already taken by an earlier `.await` (or poll) that \
         returned it: a future hands its outcome over once (Python's keeps it); use the \
         value that `.await` gave"
    )
}

impl<R, E> Drop for JobFuture<R, E> {
    fn drop(&mut self) {
        // Relaxed: set by `cancel_on_drop` in this thread, or at creation.
        if !self.inner.cancel_on_drop.load(Ordering::Relaxed) || self.inner.is_done() {
            return;
        }
        if self.inner.shared.forked() {
            return; // the job is the parent's
        }
        // Not done: take it back if queued, else kill its worker.
        let shared = &self.inner.shared;
        let mut core = shared.lock();
        core.drain_all(shared);
        // Relaxed: changed only under the pool lock, which we hold.
        let id = self.inner.id.load(Ordering::Relaxed);
        let stored = self.inner.state.is_stored();
        let cancelled = stored || core.cancel(shared, id);
        let after_hooks = core.take_after();
        drop(core);
        shared.run_after(after_hooks);
        if !cancelled {
            shared.kill_running(id, JobError::Cancelled);
        }
    }
}

impl<R: Send + 'static, E: Send + 'static> std::future::Future for JobFuture<R, E> {
    type Output = Result<R, JobError<E>>;

    /// Completes when the job does. The pool's supervisor thread drains completions while
    /// no thread blocks on the pool, so awaiting needs no runtime support.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done() {
            return Poll::Ready(this.take_polled());
        }
        if this.inner.shared.forked() {
            this.fail_forked();
            return Poll::Ready(this.take_polled());
        }
        this.inner.register_interest();
        lock(&this.inner.slow).waker = Some(cx.waker().clone());
        // The waker is stored before `WAKER` is set: a storer or `after` that comes later
        // wakes it; one that set `DONE` first shows here (`future_state.rs`).
        if this.inner.state.add_waker() {
            this.inner.drop_interest();
            return Poll::Ready(this.take_polled());
        }
        Poll::Pending
    }
}
