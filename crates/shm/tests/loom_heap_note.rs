//! Loom model of the heap's *noted blocks* (`heap/README.md`, "Noted blocks";
//! `Heap::alloc_noted`, `free_noted`, `reclaim_noted`): an owner that takes a block from a
//! Treiber free list and gives it back, naming it in its note in between, is "killed"
//! after any step outside the two documented windows (W1: between the pop CAS and the
//! note's store; W2: between the note's clear and the push's CAS), while another thread
//! allocates and frees from the same list; then a reclaimer gives back whatever the dead
//! owner's note names, still concurrently with the other thread. Afterwards every block
//! must be in the list exactly once, FREE: no leak, and no double push (which would put a
//! block in the list twice or hand it to two owners).
//!
//! The heap is not compiled under loom (`lib.rs`), so its steps are restated here, one
//! atomic per step, with the orderings of `stack.rs` and `alloc.rs`.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-shm --release --test loom_heap_note`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use zeroproc_shm::atomic::{AtomicU64, Ordering};

const FREE: u64 = 1;
const ALLOC: u64 = 2;
const BLOCKS: usize = 3; // index 0 is "none", as in the heap
const IDX: u64 = 0xFF;

struct Heap {
    /// tag << 8 | idx of the first free block.
    head: AtomicU64,
    word: [AtomicU64; BLOCKS],
    link: [AtomicU64; BLOCKS],
}

impl Heap {
    /// Blocks 1 and 2, both free: 1 -> 2.
    fn new() -> Self {
        let h = Heap {
            head: AtomicU64::new(1),
            word: std::array::from_fn(|_| AtomicU64::new(FREE)),
            link: std::array::from_fn(|_| AtomicU64::new(0)),
        };
        // Relaxed: before any thread is spawned.
        h.link[1].store(2, Ordering::Relaxed);
        h
    }

    fn push(&self, i: u64) {
        // Relaxed: validated by the CAS.
        let mut h = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release CAS.
            self.link[i as usize].store(h & IDX, Ordering::Relaxed);
            let new = ((h >> 8) + 1) << 8 | i;
            match self.head.compare_exchange(h, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => h = now,
            }
        }
    }

    /// `pop_noted` + the ALLOC store; `live` is asked before each step after which the
    /// owner may die (false: it dies there). `Err(())`: died.
    fn alloc(&self, note: Option<&AtomicU64>, live: &mut impl FnMut() -> bool) -> Result<u64, ()> {
        // Acquire: pairs with the Release push.
        let mut h = self.head.load(Ordering::Acquire);
        let i = loop {
            let i = h & IDX;
            if i == 0 {
                return Ok(0);
            }
            // Relaxed: a stale value fails the CAS (the tag moved).
            let n = self.link[i as usize].load(Ordering::Relaxed);
            if !live() {
                return Err(()); // died before the CAS: nothing taken
            }
            let new = ((h >> 8) + 1) << 8 | n;
            match self.head.compare_exchange(h, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break i,
                Err(now) => h = now,
            }
        };
        // (W1: a death here leaks; not modelled.)
        if let Some(n) = note {
            // Relaxed: read by the reclaimer after the owner's death (join).
            n.store(i, Ordering::Relaxed);
        }
        if !live() {
            return Err(()); // popped and noted, header still FREE
        }
        // Relaxed: the block is ours.
        self.word[i as usize].store(ALLOC, Ordering::Relaxed);
        Ok(i)
    }

    /// `free_noted`. `Err(())`: died.
    fn free(
        &self,
        i: u64,
        note: Option<&AtomicU64>,
        live: &mut impl FnMut() -> bool,
    ) -> Result<(), ()> {
        if !live() {
            return Err(()); // holding it, ALLOC
        }
        // Relaxed: arbitrates between frees only.
        let w = &self.word[i as usize];
        assert!(w.compare_exchange(ALLOC, FREE, Ordering::Relaxed, Ordering::Relaxed).is_ok());
        if !live() {
            return Err(()); // FREE, in no list, still noted
        }
        if let Some(n) = note {
            // Relaxed: as in `alloc`.
            n.store(0, Ordering::Relaxed);
        }
        // (W2: a death from here to the push's CAS leaks; not modelled.)
        self.push(i);
        Ok(())
    }

    /// `reclaim_noted` on a dead owner's note (the caller took it over).
    fn reclaim(&self, note: &AtomicU64) {
        // Relaxed: the owner is dead and joined.
        let i = note.load(Ordering::Relaxed);
        if i == 0 {
            return;
        }
        let w = &self.word[i as usize];
        // Relaxed: as in `free`; FREE means the owner died inside its pop or free.
        match w.compare_exchange(ALLOC, FREE, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {}
            Err(now) => assert_eq!(now, FREE, "a noted block in an unknown state"),
        }
        note.store(0, Ordering::Relaxed);
        self.push(i);
    }

    /// The free list once every thread is done: each block once, each FREE.
    fn assert_whole(&self) {
        let mut seen = [false; BLOCKS];
        let mut i = self.head.load(Ordering::Acquire) & IDX;
        while i != 0 {
            assert!(!seen[i as usize], "block {i} is in the list twice");
            seen[i as usize] = true;
            assert_eq!(self.word[i as usize].load(Ordering::Relaxed), FREE, "block {i}");
            i = self.link[i as usize].load(Ordering::Relaxed);
        }
        assert!(seen[1] && seen[2], "a block leaked: {seen:?}");
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Kill points of the owner's program (alloc then free): the `k`-th call of `live` says
/// false; `STEPS` past the last one, the owner completes.
const STEPS: usize = 5;

#[test]
fn a_noted_block_is_never_lost_nor_pushed_twice_whatever_step_its_owner_dies_at() {
    for k in 0..=STEPS {
        model(move || {
            let heap = Arc::new(Heap::new());
            let note = Arc::new(AtomicU64::new(0));
            let owner = {
                let (heap, note) = (heap.clone(), note.clone());
                thread::spawn(move || {
                    let mut n = 0;
                    let mut live = || {
                        n += 1;
                        n <= k
                    };
                    let Ok(i) = heap.alloc(Some(&note), &mut live) else { return };
                    if i != 0 {
                        let _ = heap.free(i, Some(&note), &mut live);
                    }
                })
            };
            let other = {
                let heap = heap.clone();
                thread::spawn(move || {
                    let mut live = || true;
                    let i = heap.alloc(None, &mut live).unwrap();
                    if i != 0 {
                        heap.free(i, None, &mut live).unwrap();
                    }
                })
            };
            owner.join().unwrap();
            heap.reclaim(&note); // concurrently with `other`
            other.join().unwrap();
            heap.assert_whole();
        });
    }
}
