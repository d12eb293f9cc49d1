//! In-process (threaded) tests of `Semaphore`, `BoundedSemaphore` and `Barrier`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_shm::sync::{Barrier, BarrierError, BoundedSemaphore, ReleaseError, Semaphore};

const LONG: Duration = Duration::from_secs(60);

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn semaphore_bounds_concurrency() {
    const K: u32 = 3;
    let sem = Semaphore::new(K);
    let (holders, max) = (AtomicU32::new(0), AtomicU32::new(0));
    std::thread::scope(|s| {
        for t in 0..8 {
            let (sem, holders, max) = (&sem, &holders, &max);
            s.spawn(move || {
                for i in 0..300 {
                    match (t + i) % 3 {
                        0 => sem.acquire(),
                        1 => assert!(sem.acquire_timeout(LONG)),
                        _ => {
                            while !sem.try_acquire() {
                                std::thread::yield_now();
                            }
                        }
                    }
                    let h = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(h, Ordering::SeqCst);
                    std::thread::yield_now();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    sem.release(1);
                }
            });
        }
    });
    let max = max.load(Ordering::SeqCst);
    assert!((1..=K).contains(&max), "{max} holders at once with {K} permits");
    assert_eq!(sem.value(), K);
}

#[test]
fn semaphore_try_and_timeout_fail_when_empty() {
    let sem = Semaphore::new(0);
    assert!(!sem.try_acquire());
    for t in [Duration::from_millis(100), Duration::from_millis(1030)] {
        let start = Instant::now();
        assert!(!sem.acquire_timeout(t));
        assert!(start.elapsed() >= t, "{t:?} returned early");
    }
    assert!(!sem.acquire_deadline(Instant::now() - Duration::from_millis(1)));
    sem.release(1);
    assert!(sem.acquire_deadline(Instant::now() - Duration::from_millis(1)), "no wait needed");
}

#[test]
fn semaphore_release_n_wakes_n_sleepers() {
    let sem = Semaphore::new(0);
    let got = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                sem.acquire();
                got.fetch_add(1, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(got.load(Ordering::Relaxed), 0);
        sem.release(2);
        wait_until("two acquirers", || got.load(Ordering::Relaxed) == 2);
        sem.release(1);
    });
    assert_eq!(got.load(Ordering::Relaxed), 3);
    assert_eq!(sem.value(), 0);
}

#[test]
fn semaphore_timed_acquire_succeeds_when_released_in_time() {
    let sem = Semaphore::new(0);
    std::thread::scope(|s| {
        let t = s.spawn(|| sem.acquire_timeout(LONG));
        std::thread::sleep(Duration::from_millis(20));
        sem.release(1);
        assert!(t.join().unwrap());
    });
}

#[test]
fn bounded_semaphore_refuses_over_release() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(1), Err(ReleaseError::AboveBound { value: 2, released: 1, bound: 2 }));
    assert_eq!(sem.value(), 2, "a refused release changes nothing");
    assert!(sem.try_acquire());
    assert!(sem.release(2).is_err(), "1 + 2 > 2");
    assert_eq!(sem.release(0), Ok(()));
    assert_eq!(sem.release(1), Ok(()));
    assert_eq!(sem.value(), 2);
    assert!(sem.try_acquire() && sem.try_acquire() && !sem.try_acquire());
    assert!(!sem.acquire_timeout(Duration::from_millis(30)));
    sem.release(2).unwrap();
    assert!(!sem.release(1).unwrap_err().to_string().is_empty());
}

#[test]
fn barrier_is_reusable_with_one_leader_and_distinct_indices_per_round() {
    const P: u32 = 4;
    const ROUNDS: usize = 50;
    let b = Barrier::new(P);
    let arrived: Vec<AtomicU32> = (0..ROUNDS).map(|_| AtomicU32::new(0)).collect();
    let leaders: Vec<AtomicU32> = (0..ROUNDS).map(|_| AtomicU32::new(0)).collect();
    let indices: Vec<AtomicU64> = (0..ROUNDS).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for t in 0..P {
            let (b, arrived, leaders, indices) = (&b, &arrived, &leaders, &indices);
            s.spawn(move || {
                for r in 0..ROUNDS {
                    // Relaxed on purpose: the barrier must make these visible.
                    arrived[r].fetch_add(1, Ordering::Relaxed);
                    let res = if t == 0 { b.wait_timeout(LONG) } else { b.wait() }.unwrap();
                    assert_eq!(arrived[r].load(Ordering::Relaxed), P, "left round {r} early");
                    if res.is_leader() {
                        leaders[r].fetch_add(1, Ordering::Relaxed);
                        assert_eq!(res.index(), P - 1);
                    }
                    indices[r].fetch_or(1 << res.index(), Ordering::Relaxed);
                }
            });
        }
    });
    for r in 0..ROUNDS {
        assert_eq!(leaders[r].load(Ordering::Relaxed), 1, "round {r}");
        assert_eq!(indices[r].load(Ordering::Relaxed), (1 << P) - 1, "round {r}");
    }
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken());
}

#[test]
fn barrier_abort_breaks_waiters_and_later_calls_until_reset() {
    let b = Barrier::new(3);
    std::thread::scope(|s| {
        let ws: Vec<_> = (0..2).map(|_| s.spawn(|| b.wait())).collect();
        wait_until("two waiters", || b.n_waiting() == 2);
        b.abort();
        for w in ws {
            assert_eq!(w.join().unwrap(), Err(BarrierError::Broken));
        }
    });
    assert!(b.is_broken());
    assert_eq!(b.wait(), Err(BarrierError::Broken));
    assert_eq!(b.wait_timeout(Duration::from_millis(1)), Err(BarrierError::Broken));
    b.reset();
    assert!(!b.is_broken());
    std::thread::scope(|s| {
        let ws: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait_timeout(LONG))).collect();
        for w in ws {
            assert!(w.join().unwrap().is_ok());
        }
    });
}

#[test]
fn barrier_timeout_breaks_it_for_the_others() {
    let b = Barrier::new(3);
    std::thread::scope(|s| {
        let other = s.spawn(|| b.wait());
        wait_until("the other party", || b.n_waiting() == 1);
        let t = Duration::from_millis(150);
        let start = Instant::now();
        assert_eq!(b.wait_timeout(t), Err(BarrierError::Timeout));
        assert!(start.elapsed() >= t);
        assert_eq!(other.join().unwrap(), Err(BarrierError::Broken));
    });
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.wait(), Err(BarrierError::Broken));
    b.reset();
    assert_eq!(b.wait_timeout(Duration::from_millis(1)), Err(BarrierError::Timeout));
}

#[test]
fn barrier_reset_breaks_current_waiters_and_leaves_it_fresh() {
    let b = Barrier::new(3);
    std::thread::scope(|s| {
        let ws: Vec<_> = (0..2).map(|_| s.spawn(|| b.wait())).collect();
        wait_until("two waiters", || b.n_waiting() == 2);
        b.reset();
        for w in ws {
            assert_eq!(w.join().unwrap(), Err(BarrierError::Broken));
        }
    });
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    std::thread::scope(|s| {
        let ws: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait().map(|r| r.is_leader()))).collect();
        let leaders = ws.into_iter().map(|w| w.join().unwrap().unwrap());
        assert_eq!(leaders.filter(|&l| l).count(), 1);
    });
}

#[test]
fn barrier_of_one_never_waits() {
    let b = Barrier::new(1);
    for _ in 0..3 {
        let r = b.wait().unwrap();
        assert!(r.is_leader());
        assert_eq!(r.index(), 0);
    }
}

#[test]
#[should_panic(expected = "parties")]
fn barrier_of_zero_parties_is_refused() {
    let _ = Barrier::new(0);
}
