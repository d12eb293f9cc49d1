//! Loom models of the MPMC slot protocol (`zeroproc_ring::mpmc`), run over the same
//! protocol code as the shared-memory ring (heap storage, loom atomics and cells):
//!
//! * every record is delivered exactly once (1–2 producers, 1–2 consumers, capacity 2,
//!   including wrap-around while full, and per-producer order);
//! * a consumer "killed" after its claim (before or after advancing `head`) loses exactly
//!   the record it held, and the ring recovers its slot;
//! * a producer "killed" mid-write (before or after advancing `tail`) does not hang the
//!   consumers, who skip its tombstone; its partial record is never delivered;
//! * sleep/wake through the event counts with the futex model: a lost wake-up is a
//!   deadlock loom reports (consumer waiting for a record, producer waiting for space);
//! * close racing a push: a push that returned `Ok` is always delivered before `Closed`.
//!
//! "Processes" are model threads with their own pid (`process::model::set_current`) that
//! die with `process::model::mark_dead`.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_mpmc`
//! (preemption bound: `LOOM_MAX_PREEMPTIONS`, default 2 here).
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use zeroproc_ring::mpmc::{DiePoint, ModelRing, TryPopError, TryPushError};
use zeroproc_shm::process::model::{mark_dead, set_current};
use zeroproc_shm::wait::EventCount;

/// Runs a model with the preemption bound of `LOOM_MAX_PREEMPTIONS` (default 3), capped
/// at `cap` for models whose state space explodes beyond it.
fn model_capped(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(3).min(cap));
    b.check(f);
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_capped(usize::MAX, f)
}

/// Counts model executions that reached an interesting state (std atomics: they survive
/// across executions), so a test can check the model really explored it.
struct Seen(StdAtomicUsize);

impl Seen {
    const fn new() -> Self {
        Seen(StdAtomicUsize::new(0))
    }
    fn hit(&self) {
        self.0.fetch_add(1, StdOrdering::Relaxed);
    }
    fn get(&self) -> usize {
        self.0.load(StdOrdering::Relaxed)
    }
}

/// `zeroproc_shm::wait::block_on`'s sleep phase without time slices: polls `f` until it yields a
/// value, sleeping on `ev` in between (prepare, re-check, wait). Spinning with
/// `yield_now` would let loom starve the thread everyone waits for.
fn block<T>(ev: &EventCount, mut f: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(t) = f() {
            return t;
        }
        let key = ev.prepare_wait();
        if let Some(t) = f() {
            ev.cancel_wait();
            return t;
        }
        ev.wait(key, None);
    }
}

fn push_blocking(r: &ModelRing, item: &[u8]) {
    block(r.not_full(), || match r.try_push(item) {
        Ok(()) => Some(()),
        Err(TryPushError::Full(_)) => None,
        Err(e) => panic!("push: {e}"),
    })
}

fn pop_blocking(r: &ModelRing) -> Vec<u8> {
    block(r.not_empty(), || match r.try_pop() {
        Ok(v) => Some(v),
        Err(TryPopError::Empty) => None,
        Err(e) => panic!("pop: {e}"),
    })
}

/// What a sleeper's periodic time-out (`zeroproc_shm::wait::MAX_SLEEP_SLICE`) does after a peer
/// died without notifying: every sleeper polls again.
fn time_passes(r: &ModelRing) {
    r.not_empty().notify_all();
    r.not_full().notify_all();
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn two_producers_one_consumer_exactly_once() {
    model(|| {
        let r = Arc::new(ModelRing::new(2, 16));
        let ps: Vec<_> = (1..=2u8)
            .map(|p| {
                let r = r.clone();
                thread::spawn(move || push_blocking(&r, &[p]))
            })
            .collect();
        let got = vec![pop_blocking(&r), pop_blocking(&r)];
        for p in ps {
            p.join().unwrap();
        }
        assert_eq!(sorted(got), vec![vec![1], vec![2]]);
        assert_eq!(r.try_pop(), Err(TryPopError::Empty));
        assert!(r.is_empty());
    });
}

#[test]
fn two_producers_three_records_wrap_while_full() {
    // Bound 3 takes minutes here; 2 already interleaves both producers with the wrap.
    model_capped(2, || {
        let r = Arc::new(ModelRing::new(2, 16));
        let a = {
            let r = r.clone();
            thread::spawn(move || {
                push_blocking(&r, &[1, 0]);
                push_blocking(&r, &[1, 1]);
            })
        };
        let b = {
            let r = r.clone();
            thread::spawn(move || push_blocking(&r, &[2, 0]))
        };
        let got: Vec<_> = (0..3).map(|_| pop_blocking(&r)).collect();
        a.join().unwrap();
        b.join().unwrap();
        // Per-producer order is preserved for a single consumer.
        let first: Vec<_> = got.iter().filter(|v| v[0] == 1).map(|v| v[1]).collect();
        assert_eq!(first, vec![0, 1]);
        assert!(got.contains(&vec![2, 0]));
        assert_eq!(r.try_pop(), Err(TryPopError::Empty));
    });
}

#[test]
fn one_producer_two_consumers_exactly_once() {
    model(|| {
        let r = Arc::new(ModelRing::new(2, 16));
        let p = {
            let r = r.clone();
            thread::spawn(move || {
                push_blocking(&r, &[1]);
                push_blocking(&r, &[2]);
            })
        };
        let c = {
            let r = r.clone();
            thread::spawn(move || pop_blocking(&r))
        };
        let mine = pop_blocking(&r);
        let theirs = c.join().unwrap();
        p.join().unwrap();
        assert_eq!(sorted(vec![mine, theirs]), vec![vec![1], vec![2]]);
        assert_eq!(r.try_pop(), Err(TryPopError::Empty));
    });
}

/// A consumer (pid 2) dies holding a claim: exactly its record is lost, nothing else, and
/// the ring recovers its slot. The main thread consumes, and pushes a third record into
/// the full ring (capacity 2), which needs a slot back — maybe the victim's.
fn dead_consumer(at: DiePoint) {
    static LOST: Seen = Seen::new();
    static RECOVERED_BY_PRODUCER: Seen = Seen::new();
    model(move || {
        const RUNNING: usize = 0;
        const DIED_HOLDING: usize = 1;
        const DIED_EMPTY: usize = 2;
        let r = Arc::new(ModelRing::new(2, 16));
        r.try_push([1]).unwrap();
        r.try_push([2]).unwrap();
        let state = Arc::new(AtomicUsize::new(RUNNING));
        let victim = {
            let (r, state) = (r.clone(), state.clone());
            thread::spawn(move || {
                set_current(2);
                let held = r.pop_then_die(at);
                mark_dead(2);
                // Release: pairs with the main thread's Acquire load below.
                state
                    .store(if held.is_ok() { DIED_HOLDING } else { DIED_EMPTY }, Ordering::Release);
                time_passes(&r);
                held.ok()
            })
        };
        let mut got = vec![pop_blocking(&r)];
        push_blocking(&r, &[3]);
        if r.stats().dead_readers == 1 {
            RECOVERED_BY_PRODUCER.hit();
        }
        loop {
            let next = block(r.not_empty(), || {
                // Acquire: pairs with the victim's Release store.
                let s = state.load(Ordering::Acquire);
                if got.len() == 3 || (s == DIED_HOLDING && got.len() == 2) {
                    return Some(None);
                }
                match r.try_pop() {
                    Ok(v) => Some(Some(v)),
                    Err(TryPopError::Empty) => None,
                    Err(e) => panic!("pop: {e}"),
                }
            });
            match next {
                Some(v) => got.push(v),
                None => break,
            }
        }
        let lost = victim.join().unwrap();
        if lost.is_some() {
            LOST.hit();
        }
        let mut all = got.clone();
        all.extend(lost.clone());
        assert_eq!(sorted(all), vec![vec![1], vec![2], vec![3]], "lost exactly {lost:?}");
        // The ring still works (recovering the dead slot if that was not needed yet).
        push_blocking(&r, &[4]);
        push_blocking(&r, &[5]);
        assert_eq!(pop_blocking(&r), vec![4]);
        assert_eq!(pop_blocking(&r), vec![5]);
        assert_eq!(r.try_pop(), Err(TryPopError::Empty));
        assert!(r.stats().dead_readers <= 1);
    });
    assert!(LOST.get() > 0 && RECOVERED_BY_PRODUCER.get() > 0, "the model missed the death");
}

#[test]
fn dead_consumer_after_claim_loses_only_its_record() {
    dead_consumer(DiePoint::BeforeIndexHelp);
}

#[test]
fn dead_consumer_mid_read_loses_only_its_record() {
    dead_consumer(DiePoint::MidOperation);
}

/// A producer (pid 2) dies holding a claim: the consumer still gets the live producer's
/// record (skipping the tombstone), the partial record never appears, the ring works on.
fn dead_producer(at: DiePoint) {
    static SKIPPED_FIRST: Seen = Seen::new();
    model(move || {
        let r = Arc::new(ModelRing::new(2, 16));
        let victim = {
            let r = r.clone();
            thread::spawn(move || {
                set_current(2);
                let claimed = r.push_then_die(&[7, 7, 7, 7], at);
                mark_dead(2);
                time_passes(&r);
                claimed
            })
        };
        let live = {
            let r = r.clone();
            thread::spawn(move || push_blocking(&r, &[1]))
        };
        assert_eq!(pop_blocking(&r), vec![1]);
        if r.stats().tombstones_skipped == 1 {
            SKIPPED_FIRST.hit(); // the consumer had to get past the dead writer's slot
        }
        assert!(victim.join().unwrap(), "an empty ring always has a slot to claim");
        live.join().unwrap();
        // The next record is delivered past the tombstone, wherever it was.
        push_blocking(&r, &[2]);
        assert_eq!(pop_blocking(&r), vec![2]);
        assert_eq!(r.try_pop(), Err(TryPopError::Empty));
        let st = r.stats();
        assert_eq!(st.dead_writers, 1);
        assert_eq!(st.tombstones_skipped, 1);
    });
    assert!(SKIPPED_FIRST.get() > 0, "the model missed a tombstone ahead of the record");
}

#[test]
fn dead_producer_after_claim_is_skipped() {
    dead_producer(DiePoint::BeforeIndexHelp);
}

#[test]
fn dead_producer_mid_write_is_skipped() {
    dead_producer(DiePoint::MidOperation);
}

#[test]
fn consumer_sleeping_on_empty_is_woken() {
    model(|| {
        let r = Arc::new(ModelRing::new(2, 16));
        let p = {
            let r = r.clone();
            thread::spawn(move || push_blocking(&r, &[1]))
        };
        assert_eq!(pop_blocking(&r), vec![1]);
        p.join().unwrap();
        assert_eq!(r.not_empty().waiters(), 0);
    });
}

#[test]
fn producer_sleeping_on_full_is_woken() {
    model(|| {
        let r = Arc::new(ModelRing::new(1, 16));
        r.try_push([0]).unwrap();
        let p = {
            let r = r.clone();
            thread::spawn(move || push_blocking(&r, &[1]))
        };
        assert_eq!(pop_blocking(&r), vec![0]);
        assert_eq!(pop_blocking(&r), vec![1]);
        p.join().unwrap();
        assert_eq!(r.not_full().waiters(), 0);
    });
}

#[test]
fn close_never_loses_an_accepted_push() {
    model(|| {
        let r = Arc::new(ModelRing::new(2, 16));
        let p = {
            let r = r.clone();
            thread::spawn(move || r.try_push_with(1, |b| b[0] = 1).is_ok())
        };
        let c = {
            let r = r.clone();
            thread::spawn(move || r.close())
        };
        let mut got = Vec::new();
        loop {
            let next = block(r.not_empty(), || match r.try_pop() {
                Ok(v) => Some(Some(v)),
                Err(TryPopError::Empty) => None,
                Err(TryPopError::Closed) => Some(None),
                Err(e) => panic!("pop: {e}"),
            });
            match next {
                Some(v) => got.push(v),
                None => break,
            }
        }
        let accepted = p.join().unwrap();
        c.join().unwrap();
        assert_eq!(got.len(), accepted as usize, "accepted={accepted} got={got:?}");
        assert!(r.is_closed() && r.capacity() == 2);
    });
}
