//! Loom model of the condition variable's FIFO queue (`zeroproc_shm::wait::FifoQueue`,
//! protocol in `src/wait/README.md`, "FIFO queue"): grants go to the oldest waiter queued
//! before the notify, a waiter leaving at its deadline races a grant without losing it,
//! and a dead waiter neither keeps a grant nor blocks the notify. A lost wake-up leaves a
//! model thread asleep for ever: loom reports the deadlock.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-shm --release --test loom_fifo`
#![cfg(loom)]

use loom::sync::atomic::AtomicU32;
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::time::Instant;
use zeroproc_shm::atomic::Ordering;
use zeroproc_shm::process::model::{mark_dead, set_current};
use zeroproc_shm::wait::FifoQueue;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// The lock a condition is used with, and how many waiters queued under it.
struct Cv {
    lock: Mutex<u32>,
    q: FifoQueue,
    returned: AtomicU32,
}

fn cv() -> Arc<Cv> {
    Arc::new(Cv { lock: Mutex::new(0), q: FifoQueue::new(), returned: AtomicU32::new(0) })
}

/// A waiter: queues under the lock (counting itself there), then sleeps; `deadline`
/// `Some` is an immediate time-out in the model. Returns whether it was notified.
fn wait(c: &Cv, deadline: Option<Instant>) -> bool {
    let e = {
        let mut g = c.lock.lock().unwrap();
        *g += 1;
        c.q.enqueue()
    };
    // No clock in the model: sleep until woken (or time out at once with a deadline).
    let r = c.q.sleep(e, deadline, |d| d);
    // SeqCst: read by the notifier, nothing else published.
    c.returned.fetch_add(1, Ordering::SeqCst);
    r
}

/// Spins (yielding to the model) until `n` waiters queued under the lock.
fn until_queued(c: &Cv, n: u32) {
    while *c.lock.lock().unwrap() < n {
        thread::yield_now();
    }
}

/// Two waiters queued in order; `notify(1)` wakes the first, and the second only returns
/// after the second `notify(1)`.
#[test]
fn notify_one_wakes_the_oldest() {
    model(|| {
        let c = cv();
        let c1 = c.clone();
        let first = thread::spawn(move || wait(&c1, None));
        until_queued(&c, 1);
        let c2 = c.clone();
        let second = thread::spawn(move || wait(&c2, None));
        until_queued(&c, 2);
        assert_eq!(c.q.notify(1), 1);
        assert!(first.join().unwrap());
        // SeqCst: pairs with the waiters' increments.
        assert_eq!(c.returned.load(Ordering::SeqCst), 1, "the younger waiter returned too");
        assert_eq!(c.q.notify(1), 1);
        assert!(second.join().unwrap());
        assert_eq!(c.q.queued(), 0);
    });
}

/// The oldest waiter leaves at its deadline while `notify(1)` grants it: either it
/// returns notified (then a second notify wakes the other), or the grant goes to the
/// other waiter. Never both asleep.
#[test]
fn a_leaving_waiter_and_a_grant_lose_no_wake_up() {
    model(|| {
        let c = cv();
        let c1 = c.clone();
        let leaver = thread::spawn(move || wait(&c1, Some(Instant::now())));
        until_queued(&c, 1);
        let c2 = c.clone();
        let sleeper = thread::spawn(move || wait(&c2, None));
        until_queued(&c, 2);
        c.q.notify(1);
        if leaver.join().unwrap() {
            c.q.notify(1);
        }
        assert!(sleeper.join().unwrap());
        assert_eq!(c.q.queued(), 0);
    });
}

/// The oldest waiter dies after queueing (before or while it would sleep): `notify(1)`
/// finds it gone once its wake woke nobody, dequeues it and wakes the live waiter; if the
/// death comes after the grant, a live thread's `rescue` (a sleeper's recheck) passes it on.
#[test]
fn a_dead_waiter_keeps_no_wake_up() {
    model(|| {
        let c = cv();
        let c1 = c.clone();
        let dead = thread::spawn(move || {
            set_current(2);
            let _e = {
                let mut g = c1.lock.lock().unwrap();
                *g += 1;
                c1.q.enqueue()
            };
            mark_dead(2);
        });
        until_queued(&c, 1);
        let c2 = c.clone();
        let live = thread::spawn(move || {
            set_current(3);
            wait(&c2, None)
        });
        until_queued(&c, 2);
        c.q.notify(1);
        dead.join().unwrap();
        c.q.rescue();
        assert!(live.join().unwrap());
        assert_eq!(c.q.queued(), 0, "the dead waiter's slot was freed");
    });
}

/// A waiter granted a wake-up dies before taking it; a waiter queued after that grant
/// is not given it by `rescue` (it could not have been woken by that notify: it would
/// return notified with nobody having notified it), and the next `notify(1)` wakes it.
#[test]
fn a_dead_waiters_grant_does_not_go_to_a_later_waiter() {
    model(|| {
        let c = cv();
        let c1 = c.clone();
        let dead = thread::spawn(move || {
            set_current(2);
            let mut g = c1.lock.lock().unwrap();
            *g += 1;
            let _e = c1.q.enqueue();
            drop(g);
            // Dies after the grant (the notifier's liveness probe saw it alive).
            while *c1.lock.lock().unwrap() < 100 {
                thread::yield_now();
            }
            mark_dead(2);
        });
        until_queued(&c, 1);
        assert_eq!(c.q.notify(1), 1);
        *c.lock.lock().unwrap() = 100;
        dead.join().unwrap();
        let c2 = c.clone();
        let late = thread::spawn(move || {
            set_current(3);
            wait(&c2, None)
        });
        until_queued(&c, 101);
        c.q.rescue();
        assert_eq!(c.q.notify(1), 1, "the late waiter was woken by the rescue");
        assert!(late.join().unwrap());
        assert_eq!(c.q.queued(), 0);
    });
}
