//! Loom model of a `JobFuture`'s state word (`crates/sched/src/future_state.rs`, included
//! here as it is: it takes its atomics from `zeroproc_shm::atomic`, loom's under
//! `cfg(loom)`; the sched crate itself does not build under loom). The steps around the
//! word — storing the outcome (`Inner::set`), `after`, `add_done_callback` and `poll` in
//! `crates/sched/src/future.rs` — are restated below with loom's `UnsafeCell` and `Mutex`
//! in the same order, so that loom checks both the word's protocol and that the outcome
//! slot is never read and written concurrently. What is checked: no callback is lost or
//! run twice, no wake-up is lost, a future reports done only once its callbacks have run,
//! and the slot has no data race.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_future`
#![cfg(loom)]

#[path = "../../sched/src/future_state.rs"]
#[allow(dead_code, unused_imports)]
mod future_state;

use future_state::{State, CALLBACKS, WAKER};
use loom::cell::UnsafeCell;
use loom::sync::{Arc, Mutex};
use loom::thread;
use zeroproc_shm::atomic::{AtomicUsize, Ordering};

type Callback = Box<dyn FnOnce(u64) + Send>;

/// The parts of `future::Inner` the protocol touches.
struct Fut {
    state: State,
    value: UnsafeCell<Option<u64>>,
    /// `Inner::slow`: the callback list and the waker (a counter of wake-ups here).
    slow: Mutex<(Vec<Callback>, Option<Arc<AtomicUsize>>)>,
}

impl Fut {
    fn new() -> Arc<Fut> {
        Arc::new(Fut {
            state: State::new(),
            value: UnsafeCell::new(None),
            slow: Mutex::new((Vec::new(), None)),
        })
    }

    /// `Inner::set` (storers are serialized by the pool lock); true: run `after`.
    fn set(&self, v: u64) -> bool {
        if self.state.is_stored() {
            return false;
        }
        // SAFETY: loom's cell checks the claim: not stored yet and storers serialized, so
        // no one else touches the slot before `publish` (as in `Inner::set`).
        self.value.with_mut(|p| unsafe { *p = Some(v) });
        self.state.publish() & (CALLBACKS | WAKER) != 0
    }

    /// `Inner::after`.
    fn after(&self) {
        if self.state.load() & CALLBACKS != 0 {
            // `Inner::after` takes its reference to the slot here, before the loop.
            // SAFETY: stored, not done: only this `after` reads the slot until `finish`
            // (loom's cell reports any concurrent write).
            let _v = self.value.with(|p| unsafe { (*p).is_some() });
            loop {
                let mut g = self.slow.lock().unwrap();
                let cbs = std::mem::take(&mut g.0);
                if cbs.is_empty() {
                    self.state.finish();
                    break;
                }
                drop(g);
                for cb in cbs {
                    // The callback holds a shared reference to the slot while it runs.
                    // SAFETY: as above; the read happens before `finish`.
                    self.value.with(|p| cb(unsafe { (*p).unwrap() }));
                }
            }
        }
        if self.state.load() & WAKER != 0 {
            if let Some(w) = self.slow.lock().unwrap().1.take() {
                // Release: a waker that hands work to another thread synchronizes with it
                // (`as_completed`'s pushes its index under a lock, `wait.rs`).
                w.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// `JobFuture::add_done_callback` (from outside the future's own callbacks).
    fn add_done_callback(&self, cb: Callback) {
        if !self.state.is_done() {
            let mut g = self.slow.lock().unwrap();
            if self.state.add_callback() {
                g.0.push(cb);
                return;
            }
        }
        // `Inner::read` takes the list lock.
        let _g = self.slow.lock().unwrap();
        // SAFETY: done, so no one writes the slot; the owner's take needs `&mut` in the real
        // code (loom's cell reports a race if the model allowed one).
        self.value.with(|p| cb(unsafe { (*p).unwrap() }));
    }

    /// `JobFuture::poll` with `waker`: `Some(value)` when ready (the owner takes it).
    fn poll(&self, waker: &Arc<AtomicUsize>) -> Option<u64> {
        if self.state.is_done() {
            return Some(self.take());
        }
        self.slow.lock().unwrap().1 = Some(waker.clone());
        if self.state.add_waker() {
            return Some(self.take());
        }
        None
    }

    /// `JobFuture::wake_when_done` (for `as_completed`, `crates/sched/src/wait.rs`):
    /// `note` is woken once the future is done — by `after`, or here when the store came
    /// first. Unlike `poll` it takes nothing.
    fn wake_when_done(&self, note: &Arc<AtomicUsize>) {
        if self.state.is_done() {
            note.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.slow.lock().unwrap().1 = Some(note.clone());
        if self.state.add_waker() {
            note.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `JobFuture::take`: the owner, once done.
    fn take(&self) -> u64 {
        assert!(self.state.is_done());
        // SAFETY: done: no writer and no `after` reader any more (`future_state.rs`); loom's
        // cell checks it.
        self.value.with_mut(|p| unsafe { (*p).take().unwrap() })
    }
}

/// A callback that counts its runs and checks the outcome it is given.
fn counting(runs: &Arc<AtomicUsize>) -> Callback {
    let runs = runs.clone();
    Box::new(move |v| {
        assert_eq!(v, 42);
        runs.fetch_add(1, Ordering::Relaxed);
    })
}

/// The storer (a draining thread, running `after` itself) races a callback registration
/// from another thread: the callback runs exactly once, in either thread, and the future
/// is done once it has.
#[test]
fn a_callback_registered_during_the_store_runs_once() {
    loom::model(|| {
        let f = Fut::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let (f2, r2) = (f.clone(), runs.clone());
        let reg = thread::spawn(move || f2.add_done_callback(counting(&r2)));
        if f.set(42) {
            f.after();
        }
        reg.join().unwrap();
        assert!(f.state.is_done());
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert_eq!(f.take(), 42);
    });
}

/// A callback was registered before the store; while `after` runs it (on the storer's
/// thread), the owner registers a second one, waits for done and takes the outcome (the
/// owner: only it can take, and nothing else holds the future then): both callbacks run
/// once, done comes only after them, and the take never overlaps `after`'s reads of the
/// slot (loom's cell checks that).
#[test]
fn done_waits_for_every_callback_and_the_take_never_races_them() {
    loom::model(|| {
        let f = Fut::new();
        let runs = Arc::new(AtomicUsize::new(0));
        f.add_done_callback(counting(&runs));
        let (f3, r3) = (f.clone(), runs.clone());
        let owner = thread::spawn(move || {
            f3.add_done_callback(counting(&r3));
            while !f3.state.is_done() {
                thread::yield_now();
            }
            // Done means every callback registered before it has run.
            let seen = r3.load(Ordering::Relaxed);
            (seen, f3.take())
        });
        assert!(f.set(42), "a registered callback makes the store ask for `after`");
        f.after();
        let (seen, v) = owner.join().unwrap();
        assert_eq!(v, 42);
        assert_eq!(seen, 2, "done only once both callbacks ran");
        assert_eq!(runs.load(Ordering::Relaxed), 2);
    });
}

/// An async poll races the store: either the poll is ready with the outcome, or its waker
/// is woken (no lost wake-up).
#[test]
fn a_poll_during_the_store_is_ready_or_woken() {
    loom::model(|| {
        let f = Fut::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let (f2, w2) = (f.clone(), woken.clone());
        let poller = thread::spawn(move || f2.poll(&w2));
        if f.set(42) {
            f.after();
        }
        match poller.join().unwrap() {
            Some(v) => assert_eq!(v, 42),
            None => {
                assert_eq!(woken.load(Ordering::Relaxed), 1, "a pending poll is woken");
                assert_eq!(f.take(), 42);
            }
        }
    });
}

/// A poll races a store that also runs a callback: the waker is woken only once the
/// callback has run (done), or the poll sees done itself.
#[test]
fn a_poll_with_a_callback_is_woken_after_the_callback() {
    loom::model(|| {
        let f = Fut::new();
        let runs = Arc::new(AtomicUsize::new(0));
        f.add_done_callback(counting(&runs));
        let woken = Arc::new(AtomicUsize::new(0));
        let (f2, w2, r2) = (f.clone(), woken.clone(), runs.clone());
        let poller = thread::spawn(move || {
            let ready = f2.poll(&w2);
            if ready.is_some() {
                assert_eq!(r2.load(Ordering::Relaxed), 1, "ready only once the callback ran");
            }
            ready
        });
        assert!(f.set(42));
        f.after();
        if poller.join().unwrap().is_none() {
            assert_eq!(woken.load(Ordering::Relaxed), 1, "a pending poll is woken");
            assert_eq!(f.take(), 42);
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    });
}

/// `as_completed` registers its waker while the store (and, in the second case, a
/// callback) runs: the waker is woken at least once (twice at most: by `after` and by the
/// registration itself when both see the other), and the future is done by then —
/// `as_completed` yields an index it was woken for without looking again. The woken
/// count is read after both threads end; the done check is made in the registering
/// thread after its own wake, and in `after` before it wakes (the word has `DONE` when
/// `after` loads `WAKER`).
#[test]
fn as_completed_registration_during_the_store_is_woken_once_done() {
    for with_callback in [false, true] {
        loom::model(move || {
            let f = Fut::new();
            let runs = Arc::new(AtomicUsize::new(0));
            if with_callback {
                f.add_done_callback(counting(&runs));
            }
            let note = Arc::new(AtomicUsize::new(0));
            let (f2, n2) = (f.clone(), note.clone());
            let reg = thread::spawn(move || {
                f2.wake_when_done(&n2);
                // Acquire: `as_completed` reads its list under the lock the wake took.
                if n2.load(Ordering::Acquire) > 0 {
                    // Woken here, or by an `after` that finished: done either way.
                    assert!(f2.state.is_done(), "woken before done");
                }
            });
            if f.set(42) {
                f.after();
            }
            reg.join().unwrap();
            let woken = note.load(Ordering::Relaxed);
            assert!((1..=2).contains(&woken), "woken {woken} times");
            assert!(f.state.is_done());
            assert_eq!(runs.load(Ordering::Relaxed), usize::from(with_callback));
            assert_eq!(f.take(), 42);
        });
    }
}

/// Two storers (a completion and a cancel, serialized by the pool lock) race a callback
/// registration: one outcome is stored, the late one is dropped without touching the
/// slot, and the callback sees the stored one once.
#[test]
fn a_late_second_store_is_dropped() {
    loom::model(|| {
        let f = Fut::new();
        let pool = Arc::new(Mutex::new(()));
        let runs = Arc::new(AtomicUsize::new(0));
        let (f2, r2) = (f.clone(), runs.clone());
        let reg = thread::spawn(move || f2.add_done_callback(counting(&r2)));
        let (f3, p3) = (f.clone(), pool.clone());
        let late = thread::spawn(move || {
            let g = p3.lock().unwrap();
            let after = f3.set(42);
            drop(g);
            if after {
                f3.after();
            }
        });
        let g = pool.lock().unwrap();
        let after = f.set(42);
        drop(g);
        if after {
            f.after();
        }
        late.join().unwrap();
        reg.join().unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert_eq!(f.take(), 42);
    });
}

/// The owner polls (pending: a waker is registered), registers a callback, waits for done
/// and takes the outcome, while the storer stores (seeing the waker) and runs `after`. A
/// registration that finds the future done must leave no `CALLBACKS` bit behind: `after`
/// would then read the slot while the owner takes it (loom's cell catches that).
#[test]
fn a_registration_that_finds_done_leaves_after_alone() {
    loom::model(|| {
        let f = Fut::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let (f2, r2, w2) = (f.clone(), runs.clone(), woken.clone());
        let owner = thread::spawn(move || {
            if let Some(v) = f2.poll(&w2) {
                return v;
            }
            f2.add_done_callback(counting(&r2));
            while !f2.state.is_done() {
                thread::yield_now();
            }
            f2.take()
        });
        if f.set(42) {
            f.after();
        }
        assert_eq!(owner.join().unwrap(), 42);
    });
}
