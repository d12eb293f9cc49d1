//! Loom model of the growth protocol of `zeroproc_shm::extent` (growable segments and
//! heaps): growers reserve memory, then publish the new length; claimers carve ranges
//! below the published length and touch them. A claimed byte whose reservation is not
//! visible to the claimer would be a SIGBUS in the real thing; here it fails an assert.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-shm --release --test loom_extent`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use zeroproc_shm::atomic::{AtomicBool, AtomicU64, Ordering};
use zeroproc_shm::extent::{claim, Extent};

const PAGES: usize = 4;

struct Region {
    extent: Extent,
    bump: AtomicU64,
    /// "The file": a flag per page, set by a grower's reservation (`fallocate`).
    reserved: [AtomicBool; PAGES],
}

impl Region {
    fn new(initial: u64) -> Self {
        let r = Region {
            extent: Extent::new(initial),
            bump: AtomicU64::new(0),
            reserved: std::array::from_fn(|_| AtomicBool::new(false)),
        };
        for p in 0..initial as usize {
            // Relaxed: before any thread is spawned (spawn synchronises).
            r.reserved[p].store(true, Ordering::Relaxed);
        }
        r
    }

    /// A grower: reserve the pages below `to`, then publish.
    fn grow(&self, to: u64) {
        for p in 0..to as usize {
            // Relaxed: the reservation is a system call in the real thing; its ordering
            // comes from the Release in `publish`, which is what is being checked.
            self.reserved[p].store(true, Ordering::Relaxed);
        }
        self.extent.publish(to);
    }

    /// A claimer: claim one page and "touch" it; returns the page.
    fn claim_and_touch(&self) -> Option<u64> {
        let at = claim(&self.bump, &self.extent, 1)?;
        // Relaxed: ordered after the Acquire inside `claim` (via `Extent::get`).
        assert!(self.reserved[at as usize].load(Ordering::Relaxed), "page {at} not reserved");
        Some(at)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// One grower, two claimers: every claimed page is reserved, claims are disjoint, and
/// none lies past the final extent.
#[test]
fn claimed_memory_is_always_reserved() {
    model(|| {
        let r = Arc::new(Region::new(1));
        let g = {
            let r = r.clone();
            thread::spawn(move || r.grow(3))
        };
        let c = {
            let r = r.clone();
            thread::spawn(move || [r.claim_and_touch(), r.claim_and_touch()])
        };
        let mine = [r.claim_and_touch(), r.claim_and_touch()];
        g.join().unwrap();
        let theirs = c.join().unwrap();
        let mut got: Vec<u64> = mine.into_iter().chain(theirs).flatten().collect();
        got.sort_unstable();
        let n = got.len();
        got.dedup();
        assert_eq!(got.len(), n, "a page was claimed twice");
        assert!(got.iter().all(|&p| p < r.extent.get()));
        assert!(r.bump.load(Ordering::Relaxed) <= r.extent.get());
    });
}

/// Two growers racing to different lengths: the extent ends at the larger one and a
/// claimer never sees a length whose pages are missing.
#[test]
fn racing_growers_end_at_the_larger_length() {
    model(|| {
        let r = Arc::new(Region::new(1));
        let gs: Vec<_> = [2u64, 4]
            .into_iter()
            .map(|to| {
                let r = r.clone();
                thread::spawn(move || r.grow(to))
            })
            .collect();
        let claimed = r.claim_and_touch();
        for g in gs {
            g.join().unwrap();
        }
        assert_eq!(r.extent.get(), 4);
        assert!(claimed.is_some(), "the initial page is always there");
        assert!(r.claim_and_touch().is_some());
    });
}
