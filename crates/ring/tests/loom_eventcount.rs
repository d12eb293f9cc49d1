//! Loom model of the [`EventCount`] sleep/wake handshake on its own (with the futex model
//! from `zeroproc_shm::futex`, where a lost wake-up is a deadlock loom reports).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_eventcount`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use zeroproc_shm::atomic::{AtomicU32, Ordering};
use zeroproc_shm::wait::EventCount;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// The waiter loop every blocking call uses: check, prepare, re-check, sleep.
fn wait_until(ev: &EventCount, cond: impl Fn() -> bool) {
    loop {
        if cond() {
            return;
        }
        let key = ev.prepare_wait();
        if cond() {
            ev.cancel_wait();
            return;
        }
        ev.wait(key, None);
    }
}

/// One waiter, one notifier, one condition flag: the waiter always wakes.
#[test]
fn no_lost_wakeup_one_waiter() {
    model(|| {
        let s = Arc::new((AtomicU32::new(0), EventCount::new()));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            // Release: pairs with the waiter's Acquire load of the flag.
            s2.0.store(1, Ordering::Release);
            s2.1.notify_one();
        });
        // Acquire: pairs with the Release store above.
        wait_until(&s.1, || s.0.load(Ordering::Acquire) == 1);
        t.join().unwrap();
        assert_eq!(s.1.waiters(), 0, "every prepare_wait is matched by wait or cancel_wait");
    });
}

/// Two successive notifications and a waiter that needs both: each sleep must end (the
/// epoch moves on every notify that saw a waiter, so a stale key never sleeps).
#[test]
fn repeated_notifications_wake_every_wait() {
    model(|| {
        let s = Arc::new((AtomicU32::new(0), EventCount::new()));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            for _ in 0..2 {
                // Release: pairs with the waiter's Acquire loads of the counter.
                s2.0.fetch_add(1, Ordering::Release);
                s2.1.notify_one();
            }
        });
        // Acquire: pairs with the Release increments above.
        wait_until(&s.1, || s.0.load(Ordering::Acquire) >= 1);
        wait_until(&s.1, || s.0.load(Ordering::Acquire) == 2);
        t.join().unwrap();
        assert_eq!(s.1.waiters(), 0);
    });
}
