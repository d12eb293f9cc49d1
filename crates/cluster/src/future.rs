//! `ClusterFuture`: the handle to one job submitted to a [`ClusterPool`](crate::ClusterPool),
//! with the methods of [`zeroproc_sched::JobFuture`] (Python's `Future`).

use crate::shared::{Dest, Shared};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, JobErrorKind, Message, Never};

type Outcome<R, E = Never> = Result<R, JobError<E>>;
type Callback<R, E> = Box<dyn FnOnce(&Outcome<R, E>) + Send>;

/// The result slot of one job.
pub(crate) struct Slot<R, E = Never> {
    value: Mutex<Option<Outcome<R, E>>>,
    /// Set (Release) once `value` holds the outcome and the callbacks ran.
    done: AtomicBool,
    callbacks: Mutex<Vec<Callback<R, E>>>,
    /// Turns a result envelope into the outcome (`R`, or the job's own `Err(E)`).
    decode: fn(&[u8]) -> Outcome<R, E>,
    /// The task `.await`ing the job, woken once the outcome is stored.
    waker: Mutex<Option<Waker>>,
    /// The outcome is `Cancelled` (what `cancel` answers inside the future's own
    /// callbacks, while `value` is locked).
    cancelled: AtomicBool,
    /// The outcome's error kind (`None`: a value), set with it: what `exception_kind`,
    /// `cancelled` and `wait` answer once an `.await` by reference took the outcome.
    kind: OnceLock<Option<JobErrorKind>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// The slot (by address) whose callbacks this thread is running, if any.
    static IN_CALLBACKS_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is running the callbacks of the slot at `slot`.
fn in_own_callbacks<T: ?Sized>(slot: &Arc<T>) -> bool {
    IN_CALLBACKS_OF.with(|c| c.get()) == Arc::as_ptr(slot) as *const () as usize
}

impl<R, E> Slot<R, E> {
    pub(crate) fn new(decode: fn(&[u8]) -> Outcome<R, E>) -> Arc<Self> {
        Arc::new(Slot {
            decode,
            value: Mutex::new(None),
            done: AtomicBool::new(false),
            callbacks: Mutex::new(Vec::new()),
            waker: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            kind: OnceLock::new(),
        })
    }

    fn is_done(&self) -> bool {
        // Acquire: pairs with the Release stores in `complete` / `after`.
        self.done.load(Ordering::Acquire)
    }
}

/// Decodes a result envelope (validated by bytecheck, then deserialized); a panicking
/// user `Deserialize` is a `Decode` error.
pub(crate) fn decode<R: Message>(env: &[u8]) -> Outcome<R> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let (_, a) = zeroproc_codec::envelope::decode::<R>(env).map_err(|e| e.to_string())?;
        rkyv::deserialize::<R, rkyv::rancor::Error>(a).map_err(|e| format!("deserialize: {e}"))
    }));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(message)) => Err(JobError::Decode { message }),
        Err(_) => Err(JobError::Decode { message: "the result's Deserialize panicked".into() }),
    }
}

/// A job that returns `Result<T, E>`: its `Err(e)` is `JobError::Job(e)`.
pub(crate) fn decode_fallible<T, E>(env: &[u8]) -> Outcome<T, E>
where
    Result<T, E>: Message,
{
    match decode::<Result<T, E>>(env) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(JobError::Job(e)),
        Err(e) => Err(widen(e)),
    }
}

/// A failure that is not the job's own error, as a `JobError<E>`.
fn widen<E>(e: JobError<Never>) -> JobError<E> {
    e.widen()
}

impl<R: Send + 'static, E: Send + 'static> Dest for Slot<R, E> {
    fn complete(&self, _index: u64, outcome: Result<&[u8], JobError<Never>>) -> bool {
        let v = match outcome {
            Ok(env) => (self.decode)(env),
            Err(e) => Err(widen(e)),
        };
        let mut g = lock(&self.value);
        if g.is_some() {
            return false;
        }
        // Relaxed: read by `cancel` in a callback, which `after` runs in this thread or in
        // the progress thread that took this slot from the deferred list (its lock orders
        // this store before that read).
        self.cancelled.store(matches!(v, Err(JobError::Cancelled)), Ordering::Relaxed);
        // Set once, before `done` (Release) and under the value lock: read once done.
        let _ = self.kind.set(v.as_ref().err().map(|e| e.kind()));
        *g = Some(v);
        if lock(&self.callbacks).is_empty() {
            // Release: pairs with the Acquire in `is_done`.
            self.done.store(true, Ordering::Release);
            return lock(&self.waker).is_some();
        }
        true
    }

    fn runs_user_code(&self) -> bool {
        !lock(&self.callbacks).is_empty()
    }

    fn after(&self) {
        let g = lock(&self.value);
        // Marked while they run (the previous mark restored: a callback that waits for
        // another future may run that one's callbacks here).
        let outer = IN_CALLBACKS_OF.with(|c| c.replace(self as *const Self as usize));
        zeroproc_sched::raw::run_callbacks(g.as_ref(), &self.callbacks);
        IN_CALLBACKS_OF.with(|c| c.set(outer));
        // Release: pairs with the Acquire in `is_done`.
        self.done.store(true, Ordering::Release);
        drop(g);
        // Taken out first: in an `if let` on the lock the guard lived through `wake`, and a
        // waker that polls this future inline (an executor running the task at once)
        // deadlocked the progress thread on this very lock.
        let waker = lock(&self.waker).take();
        if let Some(w) = waker {
            // The user's code, on the progress thread: a panic there must not unwind
            // through it (every pool of the process would stop making progress).
            zeroproc_sched::raw::contain(|| w.wake());
        }
    }
}

/// A job submitted to a [`ClusterPool`](crate::ClusterPool): query it, wait for it, cancel
/// it. The same methods as [`zeroproc_sched::JobFuture`]; use [`crate::wait`] and
/// [`crate::as_completed`] over many.
///
/// ```
/// zeroproc_cluster::init();
/// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
/// let f = pool.submit(|x: u64| x * x, 7);
/// assert_eq!(f.result(), Ok(49));
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
#[must_use = "a future that is dropped still runs, but its result is lost"]
pub struct ClusterFuture<R, E = Never> {
    pub(crate) slot: Arc<Slot<R, E>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) token: u64,
    /// Dropping it unfinished terminates the job (`cancel_on_drop`).
    pub(crate) cancel_on_drop: bool,
}

impl<R, E> std::fmt::Debug for ClusterFuture<R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterFuture")
            .field("token", &self.token)
            .field("done", &self.slot.is_done())
            .finish()
    }
}

impl<R: Send + 'static, E: Send + 'static> ClusterFuture<R, E> {
    /// A future that is already failed (the job was never sent).
    pub(crate) fn failed(shared: Arc<Shared>, e: JobError<Never>) -> Self {
        let slot = Slot::new(|_| unreachable!("a failed future decodes nothing"));
        slot.complete(0, Err(e));
        ClusterFuture { slot, shared, token: 0, cancel_on_drop: false }
    }

    /// The job's number in this cluster pool (stable; 0 for a job never sent).
    pub fn id(&self) -> u64 {
        self.token
    }

    /// True once the job has a result or an error (including cancellation).
    pub fn done(&self) -> bool {
        if !self.slot.is_done() {
            self.shared.progress();
        }
        self.slot.is_done()
    }

    /// True while a worker is running the job. For a job on a node this asks the node (a
    /// message round trip); a job still waiting on rank 0 is not running.
    pub fn running(&self) -> bool {
        !self.done() && self.shared.running(self.token)
    }

    /// True if the job was cancelled (also after an `.await` by reference took the
    /// outcome: before, it said false then).
    pub fn cancelled(&self) -> bool {
        self.done() && self.slot.kind.get() == Some(&Some(JobErrorKind::Cancelled))
    }

    /// Cancels the job if it has not started: true and the future completes with
    /// [`JobError::Cancelled`] — it will never run; false if it runs or finished (Python's
    /// `cancel`; true again on a future already cancelled, as there). A job still queued on the controller is cancelled here; a job sent to a
    /// node is cancelled there (exact, as on one machine), which takes a message round trip.
    pub fn cancel(&self) -> bool {
        if self.done() {
            return self.cancelled();
        }
        if in_own_callbacks(&self.slot) {
            // Finished: its callbacks run (waiting for it here would never return; its
            // outcome is locked while they run).
            // Relaxed: stored before the callbacks were handed over (see `complete`).
            return self.slot.cancelled.load(Ordering::Relaxed);
        }
        match self.shared.request_cancel(self.token, false) {
            // Revoked in rank 0's own pool: its `Cancelled` outcome comes through the
            // pool's outbox; as in Python, the future is done when `cancel` returns true.
            Some(true) => {
                self.shared.wait_until(None, || self.slot.is_done());
                true
            }
            Some(false) => false,
            // Sent to its node: its answer (the outcome `Cancelled`, or a refusal) is
            // awaited for at most the answer wait (30 s). A node that does not answer
            // (frozen, unreachable) leaves the job's fate unknown: false, as for a job
            // that may run (before, cluster30: this waited for ever).
            None => {
                let until = Instant::now() + crate::shared::node_wait(crate::shared::ANSWER_WAIT);
                let answered = self.shared.wait_until(Some(until), || {
                    self.slot.is_done() || self.shared.take_refusal(self.token)
                });
                if !answered {
                    self.shared.report_silent(self.token, "cancel", "cancel() says false");
                }
                self.cancelled()
            }
        }
    }

    /// Stops the job whether or not it runs: a queued job is cancelled, a running job's
    /// worker is killed (on its node) and respawned; the future completes with
    /// [`JobError::Cancelled`]. False if the job was already done.
    pub fn terminate(&self) -> bool {
        if self.done() || in_own_callbacks(&self.slot) {
            return false;
        }
        // Done when this returns (a job revoked or killed in rank 0's own pool reports
        // through its outbox; one on a node answers over MPI).
        if self.shared.request_cancel(self.token, true) != Some(false) {
            // A node that does not answer within the answer wait (frozen, unreachable):
            // the future fails `Cancelled` here, as `terminate` promises (the node kills
            // the job if it ever reads the command); before (cluster30) this, and the drop
            // of a `cancel_on_drop` future, waited for ever.
            let until = Instant::now() + crate::shared::node_wait(crate::shared::ANSWER_WAIT);
            if !self.shared.wait_until(Some(until), || self.slot.is_done()) {
                self.shared.report_silent(self.token, "terminate", "its future fails Cancelled");
                self.shared.fail_owed(self.token, JobError::Cancelled);
            }
        }
        true
    }

    /// Makes dropping this future unfinished [`terminate`](Self::terminate) its job (a
    /// queued job never runs; a running one's worker is killed on its node). For a whole
    /// pool: [`ClusterBuilder::cancel_on_drop`](crate::ClusterBuilder::cancel_on_drop).
    ///
    /// ```
    /// zeroproc_cluster::init();
    /// use std::time::Duration;
    /// let pool = zeroproc_cluster::ClusterPool::builder().local_workers(1).build()?;
    /// let slow = pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(60)), ()).cancel_on_drop();
    /// if let Err(gave_up) = slow.result_timeout(Duration::from_millis(10)) {
    ///     drop(gave_up); // the worker is freed at once
    /// }
    /// assert_eq!(pool.submit(|x: u32| x * 2, 21).result(), Ok(42));
    /// # Ok::<(), zeroproc_cluster::ClusterError>(())
    /// ```
    pub fn cancel_on_drop(mut self) -> Self {
        self.cancel_on_drop = true;
        self
    }

    /// Runs `f` with the outcome once the job is done (at once, in this thread, if it is
    /// done already); otherwise on the pool's progress thread — never on a thread waiting
    /// for another future, whose wait (and `result_timeout`) a slow callback would
    /// overrun, as on one machine. (A future cancelled by `cancel` runs its callbacks in
    /// the cancelling thread, as Python's; once the pool has ended, the thread that
    /// receives the outcome runs them.) The future is done once its callbacks have run:
    /// inside one of them, waiting for it panics (it would never return), a callback
    /// added runs next. A panicking callback is contained.
    pub fn add_done_callback(&self, f: impl FnOnce(&Outcome<R, E>) + Send + 'static) {
        if in_own_callbacks(&self.slot) {
            // From one of this future's own callbacks: queued, it runs next (`after` runs
            // the list until none is left). Before, this waited for them: for ever.
            lock(&self.slot.callbacks).push(Box::new(f));
            return;
        }
        {
            let g = lock(&self.slot.value);
            if g.is_none() {
                if self.slot.is_done() {
                    // Done and empty: an `.await` by reference took the outcome. Before,
                    // `f` was queued and never ran.
                    drop(g);
                    taken();
                }
                lock(&self.slot.callbacks).push(Box::new(f));
                return;
            }
        }
        // Done: wait for the pending callbacks to finish, then run this one.
        self.shared.wait_until(None, || self.slot.is_done());
        let g = lock(&self.slot.value);
        match g.as_ref() {
            Some(v) => zeroproc_sched::raw::run_callback(f, v),
            // Silently never running `f` could leave its receiver waiting for ever.
            None => taken(),
        }
    }

    /// Waits until done or `deadline` (`None`: no limit); true if done.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.slot.is_done() {
            return true;
        }
        if in_own_callbacks(&self.slot) {
            // As `JobFuture`'s: done only once its callbacks have run. Before, this waited
            // for ever (and the pool's progress thread with it).
            panic!(
                "a ClusterFuture was waited for (result, exception, wait_*) inside one of its \
                 own done-callbacks: it is done only once they have run, so this would never \
                 return; use the outcome the callback is given"
            );
        }
        if deadline.is_some() {
            // Its callbacks go to the progress thread too: a slow one must not overrun
            // this wait's time-out (the future is done only once they have run).
            return self.shared.wait_until(deadline, || self.slot.is_done());
        }
        // With no time-out, this thread runs them itself (it waits for them anyway).
        let me = Arc::as_ptr(&self.slot) as *const () as usize;
        crate::shared::waiting_for(me, || self.shared.wait_until(None, || self.slot.is_done()))
    }

    /// Waits until the job is done, leaving the outcome in the future (for
    /// [`result`](Self::result), [`exception`](Self::exception), ...).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits until the job is done or `deadline` passes; true if done.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    /// Waits at most `timeout`; true if done.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits for the outcome.
    pub fn result(self) -> Outcome<R, E> {
        self.wait_until(None);
        self.take()
    }

    /// Waits at most `timeout`; the future is handed back if the job is not done.
    pub fn result_timeout(self, timeout: Duration) -> Result<Outcome<R, E>, Self> {
        self.result_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline`; the future is handed back if the job is not done.
    pub fn result_deadline(self, deadline: Instant) -> Result<Outcome<R, E>, Self> {
        self.result_until(Some(deadline))
    }

    fn result_until(self, deadline: Option<Instant>) -> Result<Outcome<R, E>, Self> {
        if self.wait_until(deadline) {
            Ok(self.take())
        } else {
            Err(self)
        }
    }

    /// Waits for the outcome and returns what kind of error it is, if any, leaving the
    /// outcome in place (as `JobFuture::exception_kind`: it still answers after an
    /// `.await` by reference took the outcome; before, it said `None` then, as for a job
    /// that succeeded).
    pub fn exception_kind(&self) -> Option<JobErrorKind> {
        self.wait_until(None);
        self.slot.kind.get().copied().flatten()
    }

    /// Waits for the outcome and returns its error, if any — message included (Python's
    /// `exception()`), leaving the outcome in place. Panics, as `JobFuture::exception`
    /// does, if an `.await` by reference took the outcome (before, it said `None` then).
    pub fn exception(&self) -> Option<JobError<E>>
    where
        E: Clone,
    {
        self.wait_until(None);
        match lock(&self.slot.value).as_ref() {
            Some(v) => v.as_ref().err().cloned(),
            None => taken(),
        }
    }

    /// The outcome of a done future. Panics (as `JobFuture`'s) if an `.await` by reference
    /// took it: before, a `JobError::Decode` said so, naming a decoding failure.
    fn take(self) -> Outcome<R, E> {
        let v = lock(&self.slot.value).take();
        v.unwrap_or_else(|| taken())
    }
}

/// A done future whose outcome an earlier `.await` (or `poll`) by reference returned was
/// asked for it again (as `JobFuture`'s: a future hands its outcome over once).
#[cold]
#[track_caller]
fn taken() -> ! {
    panic!(
        "this ClusterFuture's outcome was already taken by an earlier `.await` (or poll) \
         that returned it: a future hands its outcome over once (Python's keeps it); use \
         the value that `.await` gave"
    )
}

impl<R, E> Drop for ClusterFuture<R, E> {
    /// With `cancel_on_drop`, an unfinished job is terminated (without waiting for it).
    fn drop(&mut self) {
        if self.cancel_on_drop && self.token != 0 && !self.slot.is_done() {
            let _ = self.shared.request_cancel(self.token, true);
        }
    }
}

/// `.await` the outcome. The job's outcome arrives through the pool's progress thread (or
/// any thread waiting on the pool), which wakes the task; no async runtime is needed
/// beyond the one polling this future.
///
/// ```
/// zeroproc_cluster::init();
/// let pool = zeroproc_cluster::ClusterPool::builder().build()?;
/// let f = pool.submit(|x: u64| x + 1, 41);
/// # struct W(std::thread::Thread);
/// # impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// # let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
/// # let mut cx = std::task::Context::from_waker(&waker);
/// let mut f = std::pin::pin!(f);
/// let r = loop { // a minimal executor; in async code: `f.await`
///     if let std::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { break r; }
///     std::thread::park();
/// };
/// assert_eq!(r, Ok(42));
/// # use std::future::Future;
/// # Ok::<(), zeroproc_cluster::ClusterError>(())
/// ```
impl<R: Send + 'static, E: Send + 'static> std::future::Future for ClusterFuture<R, E> {
    type Output = Outcome<R, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<R, E>> {
        if !self.slot.is_done() {
            *lock(&self.slot.waker) = Some(cx.waker().clone());
            // Re-check after registering: an outcome stored in between would not wake us.
            if !self.done() {
                return Poll::Pending;
            }
        }
        // A second poll after `Ready` panics, as `JobFuture`'s (it was a `Decode` error).
        let v = lock(&self.slot.value).take();
        Poll::Ready(v.unwrap_or_else(|| taken()))
    }
}
