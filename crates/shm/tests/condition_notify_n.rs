//! `Condition::notify(n)` wakes at most `n` of the registered waiters, as Python's
//! `Condition.notify(n)` does; `notify(0)` wakes none.
//!
//! Found by mpsem31: five processes in `wait_timeout(3 s)`, then `notify(2)` under the
//! lock — all five returned "notified" (CPython 3.11: two `True`, three `False` after 3 s);
//! `notify(0)` also woke all five (CPython: none). The sleepers' one-second re-check
//! took any change of the notify counter since they registered for their own notify.
//! Threads share the mechanism with processes, so threads keep this test fast.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zeroproc_shm::sync::{Condition, Lock};

/// Longer than the sleepers' one-second re-check, so a waiter that takes another's
/// notify is caught.
const WAIT: Duration = Duration::from_millis(2500);

/// Starts `waiters` threads in `wait_timeout(WAIT)`, calls `notify` once all of them
/// registered (each counts itself under the lock before waiting), and returns how many
/// were told they were notified.
fn notified_of(waiters: u32, notify: impl FnOnce(&Condition)) -> u32 {
    let (lock, cond, registered) = (Lock::new(), Condition::new(), AtomicU32::new(0));
    let notified = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..waiters {
            s.spawn(|| {
                let g = lock.lock().unwrap();
                registered.fetch_add(1, Ordering::Relaxed);
                let (g, woken) = cond.wait_timeout(g, WAIT).unwrap();
                if woken {
                    notified.fetch_add(1, Ordering::Relaxed);
                }
                drop(g);
            });
        }
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let g = lock.lock().unwrap();
            // Under the lock: every counted waiter has registered with the condition.
            if registered.load(Ordering::Relaxed) == waiters {
                notify(&cond);
                drop(g);
                break;
            }
            drop(g);
            assert!(Instant::now() < until, "the waiters did not start within 30 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    notified.load(Ordering::Relaxed)
}

#[test]
fn notify_n_wakes_at_most_n_registered_waiters() {
    assert_eq!(notified_of(5, |c| c.notify(2)), 2);
}

/// Past the 64 ordered places, the extra waiters wait unordered, and still at most `n`
/// return notified (cond33's first FIFO queue woke every overflow waiter at any notify:
/// 70 waiters, `notify(1)`: 7 notified).
#[test]
fn notify_n_wakes_at_most_n_of_more_waiters_than_ordered_places() {
    assert_eq!(notified_of(70, |c| c.notify(3)), 3);
    assert_eq!(notified_of(70, |c| c.notify(66)), 66);
}

#[test]
fn notify_zero_wakes_nobody() {
    assert_eq!(notified_of(3, |c| c.notify(0)), 0);
}

#[test]
fn notify_one_twice_wakes_two() {
    assert_eq!(
        notified_of(4, |c| {
            c.notify_one();
            c.notify_one();
        }),
        2
    );
}

#[test]
fn notify_all_wakes_every_registered_waiter() {
    assert_eq!(notified_of(5, |c| c.notify_all()), 5);
}

/// A waiter that registers after a notify cannot take the wake-up that notify granted to
/// a sleeper registered before it: the sleeper returns notified, the late waiter sleeps
/// on. (With anonymous wake-ups a looping waiter could take them all, and a sleeper
/// registered before a `notify_all` slept on: a lost wake-up.) Deterministic: the
/// notifier holds the lock across the late registration, so the sleeper cannot run its
/// take before the late waiter has had every chance at it.
#[test]
fn a_waiter_registered_after_a_notify_cannot_take_its_wake_up() {
    let (lock, cond) = (Lock::new(), Condition::new());
    let (registered, early_notified) = (AtomicU32::new(0), AtomicU32::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            let g = lock.lock().unwrap();
            registered.store(1, Ordering::Relaxed);
            let (g, woken) = cond.wait_timeout(g, Duration::from_secs(30)).unwrap();
            early_notified.store(u32::from(woken) + 1, Ordering::Relaxed);
            drop(g);
        });
        let until = Instant::now() + Duration::from_secs(30);
        let g = loop {
            let g = lock.lock().unwrap();
            if registered.load(Ordering::Relaxed) == 1 {
                break g;
            }
            drop(g);
            assert!(Instant::now() < until, "the early waiter did not start");
            std::thread::sleep(Duration::from_millis(5));
        };
        cond.notify(1);
        // The late waiter, under the same lock (the early one cannot re-acquire it yet):
        // it must not be told it was notified.
        let (g, late_woken) = cond.wait_timeout(g, Duration::from_millis(1500)).unwrap();
        assert!(!late_woken, "the late waiter took the early waiter's wake-up");
        drop(g);
    });
    assert_eq!(early_notified.load(Ordering::Relaxed), 2, "the early waiter was not notified");
}

/// A bounded buffer on two conditions with `notify_one` only (every wake-up counts):
/// 3 producers and 3 consumers move 60,000 items; a lost wake-up would leave a thread
/// waiting out its 20 s time-out, which fails the test.
#[test]
fn a_bounded_buffer_with_notify_one_loses_no_wake_up() {
    const ITEMS: u32 = 20_000;
    let lock = Lock::new();
    let (not_empty, not_full) = (Condition::new(), Condition::new());
    let (len, taken) = (AtomicU32::new(0), AtomicU32::new(0));
    let limit = Duration::from_secs(20);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..ITEMS {
                    let g = lock.lock().unwrap();
                    let (g, ok) = not_full
                        .wait_for_timeout(g, limit, || len.load(Ordering::Relaxed) < 4)
                        .unwrap();
                    assert!(ok, "a producer waited {limit:?}: a lost wake-up");
                    len.fetch_add(1, Ordering::Relaxed);
                    not_empty.notify_one();
                    drop(g);
                }
            });
            s.spawn(|| {
                for _ in 0..ITEMS {
                    let g = lock.lock().unwrap();
                    let (g, ok) = not_empty
                        .wait_for_timeout(g, limit, || len.load(Ordering::Relaxed) > 0)
                        .unwrap();
                    assert!(ok, "a consumer waited {limit:?}: a lost wake-up");
                    len.fetch_sub(1, Ordering::Relaxed);
                    taken.fetch_add(1, Ordering::Relaxed);
                    not_full.notify_one();
                    drop(g);
                }
            });
        }
    });
    assert_eq!(taken.load(Ordering::Relaxed), 3 * ITEMS);
}
