//! In-process (threaded) tests of `Event` and `Condition`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_shm::sync::{Condition, Event, Lock, TryLockError};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn event_set_clear_is_set() {
    let ev = Event::new();
    assert!(!ev.is_set());
    ev.set();
    ev.set(); // idempotent
    assert!(ev.is_set());
    assert!(ev.wait_timeout(Duration::ZERO));
    ev.clear();
    assert!(!ev.is_set());
    assert!(!ev.wait_timeout(Duration::ZERO));
}

#[test]
fn event_wait_timeout_honours_sub_second_remainders() {
    let ev = Event::new();
    for t in [Duration::from_millis(120), Duration::from_millis(1050)] {
        let start = Instant::now();
        assert!(!ev.wait_timeout(t));
        let took = start.elapsed();
        assert!(took >= t, "{t:?} returned early after {took:?}");
    }
    assert!(!ev.wait_deadline(Instant::now() - Duration::from_millis(1)));
}

#[test]
fn event_set_wakes_every_waiter_and_publishes_prior_writes() {
    let ev = Event::new();
    let payload = AtomicU64::new(0);
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..4)
            .map(|i| {
                let (ev, payload) = (&ev, &payload);
                s.spawn(move || {
                    if i % 2 == 0 {
                        ev.wait();
                    } else {
                        assert!(ev.wait_timeout(LONG));
                    }
                    payload.load(Ordering::Relaxed)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        payload.store(42, Ordering::Relaxed);
        ev.set();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 42);
        }
    });
}

#[test]
fn event_wait_deadline_returns_true_when_set_in_time() {
    let ev = Event::new();
    std::thread::scope(|s| {
        let t = s.spawn(|| ev.wait_deadline(Instant::now() + LONG));
        std::thread::sleep(Duration::from_millis(20));
        ev.set();
        assert!(t.join().unwrap());
    });
}

#[test]
fn condition_producers_and_consumers_lose_nothing() {
    let (lock, cond) = (Lock::new(), Condition::new());
    let items = AtomicU64::new(0); // protected by `lock`
    let consumed = AtomicU64::new(0);
    const PER_PRODUCER: u64 = 2000;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_PRODUCER {
                    let _g = lock.lock().unwrap();
                    items.store(items.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    cond.notify_one();
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_PRODUCER {
                    let g = lock.lock().unwrap();
                    let g = cond.wait_for(g, || items.load(Ordering::Relaxed) > 0).unwrap();
                    items.store(items.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
                    consumed.fetch_add(1, Ordering::Relaxed);
                    drop(g);
                }
            });
        }
    });
    assert_eq!(consumed.load(Ordering::Relaxed), 2 * PER_PRODUCER);
    assert_eq!(items.load(Ordering::Relaxed), 0);
}

#[test]
fn condition_notify_all_wakes_every_waiter() {
    let (lock, cond, go) = (Lock::new(), Condition::new(), AtomicBool::new(false));
    let waiting = AtomicU32::new(0);
    std::thread::scope(|s| {
        let ts: Vec<_> = (0..5)
            .map(|_| {
                s.spawn(|| {
                    let g = lock.lock().unwrap();
                    waiting.fetch_add(1, Ordering::Relaxed);
                    let (g, ok) =
                        cond.wait_for_timeout(g, LONG, || go.load(Ordering::Relaxed)).unwrap();
                    drop(g);
                    ok
                })
            })
            .collect();
        while waiting.load(Ordering::Relaxed) < 5 {
            std::thread::yield_now();
        }
        {
            let _g = lock.lock().unwrap();
            go.store(true, Ordering::Relaxed);
        }
        cond.notify_all(); // after unlocking: allowed
        for t in ts {
            assert!(t.join().unwrap(), "a waiter missed notify_all");
        }
    });
}

#[test]
fn condition_notify_n_releases_enough_waiters() {
    let (lock, cond) = (Lock::new(), Condition::new());
    let tickets = AtomicU32::new(0); // protected by `lock`
    let served = AtomicU32::new(0);
    let waiting = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let g = lock.lock().unwrap();
                waiting.fetch_add(1, Ordering::Relaxed);
                let (g, ok) =
                    cond.wait_for_timeout(g, LONG, || tickets.load(Ordering::Relaxed) > 0).unwrap();
                assert!(ok, "a ticket holder was never woken");
                tickets.store(tickets.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
                served.fetch_add(1, Ordering::Relaxed);
                drop(g);
            });
        }
        while waiting.load(Ordering::Relaxed) < 4 {
            std::thread::yield_now();
        }
        for round in 1..=2 {
            let g = lock.lock().unwrap();
            tickets.store(2, Ordering::Relaxed);
            cond.notify(2);
            drop(g);
            while served.load(Ordering::Relaxed) < 2 * round {
                std::thread::yield_now();
            }
        }
    });
    assert_eq!(served.load(Ordering::Relaxed), 4);
}

#[test]
fn condition_wait_timeout_returns_false_holding_the_lock() {
    let (lock, cond) = (Lock::new(), Condition::new());
    for t in [Duration::from_millis(80), Duration::from_millis(1020)] {
        let start = Instant::now();
        let (g, notified) = cond.wait_timeout(lock.lock().unwrap(), t).unwrap();
        assert!(!notified);
        assert!(start.elapsed() >= t);
        let blocked = std::thread::scope(|s| {
            s.spawn(|| matches!(lock.try_lock(), Err(TryLockError::WouldBlock))).join().unwrap()
        });
        assert!(blocked, "wait_timeout must return with the lock held");
        drop(g);
    }
}

#[test]
fn condition_wait_for_timeout_reports_the_predicate() {
    let (lock, cond, flag) = (Lock::new(), Condition::new(), AtomicBool::new(false));
    let t = Duration::from_millis(60);
    let (g, ok) = cond.wait_for_timeout(lock.lock().unwrap(), t, || false).unwrap();
    assert!(!ok);
    drop(g);
    std::thread::scope(|s| {
        let w = s.spawn(|| {
            let g = lock.lock().unwrap();
            let d = Instant::now() + LONG;
            let (g, ok) = cond.wait_for_deadline(g, d, || flag.load(Ordering::Relaxed)).unwrap();
            drop(g);
            ok
        });
        std::thread::sleep(Duration::from_millis(20));
        let g = lock.lock().unwrap();
        flag.store(true, Ordering::Relaxed);
        cond.notify_one();
        drop(g);
        assert!(w.join().unwrap());
    });
}
