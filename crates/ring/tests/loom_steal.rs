//! Loom model of taking a running batch's unstarted items (`crates/sched/src/steal.rs`,
//! included here as it is: it takes its atomics from `zeroproc_shm::atomic`, loom's under
//! `cfg(loom)`). The protocol: an item the supervisor takes is never run by the worker,
//! and every item is run by the worker, taken, or handed back in its result.
//!
//! Loom cannot call `membarrier(2)`. What it gives the protocol is modelled: a SeqCst
//! fence in the thief between its store of `hand_back` and its second load of the claim
//! word (the syscall's own barriers in the caller), and, in the worker, a full barrier
//! ordering the claim store before the `hand_back` load — the barrier the kernel runs
//! on the worker's CPU (or its context switch) while the thief waits, which turns the
//! worker's `compiler_fence` into a full fence for exactly the accesses that race with
//! the thief (Linux's membarrier(2): "transform the compiler barrier into a memory
//! barrier"); `steal::claim_item` is a SeqCst fence under loom for that reason.
//!
//! Both models fail without the thief's fence (a barrier that does nothing: checked,
//! steal36), so they do exercise the handshake.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_steal`
#![cfg(loom)]

#[path = "../../sched/src/steal.rs"]
#[allow(dead_code, unused_imports)]
mod steal;

use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;
use loom::thread;
use steal::{claim_item, claim_value, steal_words, Steal};
use zeroproc_shm::atomic::{fence, AtomicU64, Ordering};

/// The worker's half: runs batch `id` of `n` items as `job::run_batch` does, marking each
/// item run; returns where it stopped (`n`: ran them all).
fn worker(word: &AtomicU64, hand_back: &AtomicU64, id: u64, ran: &[AtomicBool]) -> usize {
    let base = claim_value(id, 0).unwrap();
    word.store(base, Ordering::Relaxed);
    for (i, r) in ran.iter().enumerate() {
        if claim_item(word, hand_back, base, id, i) {
            return i;
        }
        r.store(true, Ordering::Relaxed);
    }
    ran.len()
}

/// The thief's half with the membarrier modelled as a SeqCst fence.
fn thief(word: &AtomicU64, hand_back: &AtomicU64, id: u64) -> Steal {
    steal_words(word, hand_back, id, || {
        fence(Ordering::SeqCst);
        true
    })
}

fn items(n: usize) -> Arc<Vec<AtomicBool>> {
    Arc::new((0..n).map(|_| AtomicBool::new(false)).collect())
}

/// A batch of 3 items and one steal: a taken item never runs; the worker stops at the
/// first taken item or the one before it (then its result hands that one back); every
/// item is run, handed back or taken, exactly one of these.
#[test]
fn a_taken_item_never_runs_and_none_is_lost() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(0));
        let hand_back = Arc::new(AtomicU64::new(0));
        let ran = items(3);
        let h = {
            let (w, hb, ran) = (word.clone(), hand_back.clone(), ran.clone());
            thread::spawn(move || worker(&w, &hb, 7, &ran))
        };
        let took = thief(&word, &hand_back, 7);
        let stopped = h.join().unwrap();
        let taken_from = match took {
            Steal::Took(c0) => {
                let c0 = c0 as usize;
                assert!(c0 >= 1, "item 0 is never taken");
                assert!(stopped == c0 || stopped + 1 == c0, "stopped {stopped}, taken {c0}");
                c0
            }
            Steal::Asked | Steal::NotYet => 3,
        };
        for (i, r) in ran.iter().enumerate() {
            let run = r.load(Ordering::Relaxed);
            let handed_back = i >= stopped && i < taken_from;
            let taken = i >= taken_from;
            assert_eq!(u8::from(run) + u8::from(handed_back) + u8::from(taken), 1, "item {i}");
        }
    });
}

/// The worker finishes batch 7 and starts batch 9 on the same claim word while the thief
/// tries batch 7: a count of the new batch equal to the old one is never taken for it
/// (the claim word names its batch), so nothing of batch 7 that ran is taken.
#[test]
fn a_later_batch_on_the_word_is_never_taken_for_an_earlier_one() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(0));
        let hand_back = Arc::new(AtomicU64::new(0));
        let (first, second) = (items(2), items(2));
        let h = {
            let (w, hb) = (word.clone(), hand_back.clone());
            let (first, second) = (first.clone(), second.clone());
            thread::spawn(move || {
                let s = worker(&w, &hb, 7, &first);
                worker(&w, &hb, 9, &second);
                s
            })
        };
        let took = thief(&word, &hand_back, 7);
        let stopped = h.join().unwrap();
        if let Steal::Took(c0) = took {
            for i in c0 as usize..2 {
                assert!(!first[i].load(Ordering::Relaxed), "taken item {i} ran");
            }
            assert!(stopped <= c0 as usize);
        }
        // Batch 9 is never asked: it runs every item.
        assert!(second.iter().all(|r| r.load(Ordering::Relaxed)));
    });
}
