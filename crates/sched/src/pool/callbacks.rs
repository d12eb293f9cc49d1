//! The callback thread: the done-callbacks of jobs whose completion the **supervisor**
//! delivers run here, never on the supervisor itself — it reaps dead workers and enforces
//! time-outs, which a callback that blocks must not hold up.
//!
//! Which thread runs a callback: this thread (one per pool, started on first use), for
//! every completion, whichever thread drains it — a thread waiting on this pool (`result`,
//! `wait`, `as_completed`, a `map` iterator) hands the hooks with callbacks over here
//! instead of running them (`Shared::run_after`): a blocking callback there overran that
//! thread's own deadline. Wakers (no user callback) still run in the draining thread, the
//! supervisor included (`Shared::defer_after`): a callback here may await another future
//! of the pool with a `block_on` of its own — unless that future has callbacks too, which
//! are queued here behind the waiting one (a blocking `result()` there works: it runs
//! the queued hooks while it waits). Callbacks queued here run in completion order; one that blocks
//! delays the callbacks behind it, nothing else. A thread here that waits on another
//! future of the pool runs the queued callbacks while it waits (so a callback may wait
//! for a job whose own callback is queued behind it).

use super::core::Complete;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

thread_local! {
    /// True on a pool's callback thread.
    static ON_CALLBACK_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on a pool's callback thread (its hooks run in place there).
pub(crate) fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(|c| c.get())
}

/// Queue of `after` hooks and the thread that runs them.
#[derive(Default)]
pub(crate) struct Callbacks {
    inner: Arc<Queue>,
    started: Mutex<bool>,
    /// The thread exists (a lock-free early-out for `pump`, called on every poll).
    running: AtomicBool,
}

#[derive(Default)]
struct Queue {
    items: Mutex<(VecDeque<Arc<dyn Complete>>, bool)>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Arc<dyn Complete>>, bool)> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Thread body: runs hooks until closed and empty.
    fn serve(&self) {
        ON_CALLBACK_THREAD.with(|c| c.set(true));
        loop {
            let next = {
                let mut g = self.lock();
                loop {
                    if let Some(a) = g.0.pop_front() {
                        break Some(a);
                    }
                    if g.1 {
                        break None;
                    }
                    g = self.ready.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            };
            match next {
                // Each callback is already contained (`job::contain`) in `after`.
                Some(a) => a.after(),
                None => return,
            }
        }
    }
}

impl Callbacks {
    /// Hands `after` hooks to the callback thread (starting it on first use); runs them
    /// here if no thread could be started (they would never run).
    pub(crate) fn defer(&self, after: Vec<Arc<dyn Complete>>) {
        if after.is_empty() {
            return;
        }
        self.start();
        // Relaxed: stored under `started`'s mutex, which `start` just took.
        if !self.running.load(Ordering::Relaxed) {
            after.iter().for_each(|a| a.after());
            return;
        }
        self.inner.lock().0.extend(after);
        self.inner.ready.notify_one();
    }

    fn start(&self) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        let q = self.inner.clone();
        let spawned =
            std::thread::Builder::new().name("zeroproc-callbacks".into()).spawn(move || q.serve());
        // Without a thread the hooks would never run: run them on the next pump instead
        // (`started` stays false, so this is retried).
        *started = spawned.is_ok();
        // Relaxed: a hint for `pump`; the queue itself is under its mutex.
        self.running.store(*started, Ordering::Relaxed);
    }

    /// On the callback thread: runs the hooks queued so far (called while that thread
    /// waits on the pool). Elsewhere: nothing.
    #[inline]
    pub(crate) fn pump(&self) {
        // Relaxed: only this pool's callback thread (started before it could call this)
        // has work here; any other thread just returns.
        if !self.running.load(Ordering::Relaxed) || !ON_CALLBACK_THREAD.with(|c| c.get()) {
            return;
        }
        loop {
            let next = self.inner.lock().0.pop_front();
            match next {
                Some(a) => a.after(),
                None => return,
            }
        }
    }

    /// No more hooks: the thread exits once the queue is empty.
    pub(crate) fn close(&self) {
        self.inner.lock().1 = true;
        self.inner.ready.notify_all();
    }
}
