//! In-process (threaded) tests of `Lock` and `RLock`: mutual exclusion, try/timeout
//! forms (with sub-second remainders), wake-up of many sleepers, reentrancy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_shm::sync::{Lock, LockTimeoutError, RLock, TryLockError};

const THREADS: u64 = 4;
const ITERS: u64 = 20_000;

/// A non-atomic read-modify-write (relaxed load, then store), widened by an occasional
/// yield between the two: lost updates show up unless the caller excludes the others.
fn racy_increment(c: &AtomicU64, i: u64) {
    let v = c.load(Ordering::Relaxed);
    if i % 64 == 0 {
        std::thread::yield_now();
    }
    c.store(v + 1, Ordering::Relaxed);
}

#[test]
fn lock_gives_mutual_exclusion() {
    let (lock, counter) = (Lock::new(), AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..ITERS {
                    let _g = lock.lock().unwrap();
                    racy_increment(&counter, i);
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * ITERS);
    assert!(!lock.is_locked());
}

#[test]
fn try_lock_would_block_while_held_and_reports_the_owner() {
    let lock = Lock::new();
    let g = lock.lock().unwrap();
    assert_eq!(lock.owner(), Some(std::process::id()));
    std::thread::scope(|s| {
        let r = s.spawn(|| matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(r.join().unwrap());
    });
    drop(g);
    assert_eq!(lock.owner(), None);
    assert!(lock.try_lock().is_ok());
}

#[test]
fn lock_timeout_honours_sub_second_and_mixed_remainders() {
    let lock = Lock::new();
    let _held = lock.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for t in [Duration::from_millis(150), Duration::from_millis(1100)] {
                let start = Instant::now();
                let r = lock.lock_timeout(t);
                assert!(matches!(r, Err(LockTimeoutError::Timeout)), "{t:?}: {r:?}");
                let took = start.elapsed();
                assert!(took >= t, "{t:?} timed out early, after {took:?}");
                assert!(took < t + Duration::from_secs(10), "{t:?} overran: {took:?}");
            }
            // A deadline already in the past fails at once on a held lock...
            let r = lock.lock_deadline(Instant::now() - Duration::from_millis(1));
            assert!(matches!(r, Err(LockTimeoutError::Timeout)));
        })
        .join()
        .unwrap();
    });
    // ...but still succeeds on a free one.
    let free = Lock::new();
    assert!(free.lock_deadline(Instant::now() - Duration::from_millis(1)).is_ok());
}

#[test]
fn lock_timeout_succeeds_when_the_holder_releases_in_time() {
    let lock = Lock::new();
    let g = lock.lock().unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| lock.lock_timeout(Duration::from_secs(30)).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        drop(g);
        assert!(t.join().unwrap());
    });
}

#[test]
fn every_sleeper_is_woken_in_turn() {
    // Many threads fall asleep on a held lock; a single release must chain through all of
    // them (each acquirer re-arms the waiters bit), with no lost wake-up.
    let lock = Lock::new();
    let done = AtomicU64::new(0);
    let g = lock.lock().unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    let _g = lock.lock_timeout(Duration::from_secs(60)).expect("lost wake-up");
                    std::thread::yield_now();
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_millis(30));
        drop(g);
    });
    assert_eq!(done.load(Ordering::Relaxed), 8);
    assert!(!lock.is_locked());
}

#[test]
fn rlock_is_reentrant_and_excludes_other_threads_until_fully_released() {
    let r = RLock::new();
    let a = r.lock().unwrap();
    let b = r.try_lock().unwrap();
    let c = r.lock_timeout(Duration::from_millis(1)).unwrap();
    assert_eq!(r.depth(), 3);
    let other_blocked = |r: &RLock| {
        std::thread::scope(|s| {
            s.spawn(|| matches!(r.try_lock(), Err(TryLockError::WouldBlock))).join().unwrap()
        })
    };
    assert!(other_blocked(&r));
    drop(c);
    drop(b);
    assert_eq!(r.depth(), 1);
    assert!(other_blocked(&r), "still held at depth 1");
    drop(a);
    assert_eq!(r.depth(), 0);
    assert!(!r.is_locked());
    assert!(!other_blocked(&r), "free once every guard is gone");
}

#[test]
fn rlock_gives_mutual_exclusion_with_nested_acquires() {
    let (r, counter) = (RLock::new(), AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..ITERS / 4 {
                    let _outer = r.lock().unwrap();
                    let _inner = r.lock().unwrap();
                    racy_increment(&counter, i);
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * (ITERS / 4));
    assert!(!r.is_locked());
}

#[test]
fn rlock_timeout_fails_for_another_thread_but_not_for_the_owner() {
    let r = RLock::new();
    let _g = r.lock().unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let start = Instant::now();
            let res = r.lock_timeout(Duration::from_millis(120));
            (matches!(res, Err(LockTimeoutError::Timeout)), start.elapsed())
        });
        let (timed_out, took) = t.join().unwrap();
        assert!(timed_out);
        assert!(took >= Duration::from_millis(120));
    });
    let past = Instant::now() - Duration::from_secs(1);
    assert!(r.lock_deadline(past).is_ok(), "the owner re-enters regardless of the deadline");
}
