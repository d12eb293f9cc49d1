//! Loom model of the pool's claim words (`crates/sched/src/claim.rs`, included here as it
//! is: that file takes its atomics from `zeroproc_shm::atomic`, which are loom's under
//! `cfg(loom)`; the sched crate itself does not build under loom, its codec dependency
//! does not). The protocol: a job runs at most once, whoever tries to start it — its
//! worker, that worker's successor re-reading the ring, or the controller revoking it to
//! move or cancel it — and a word reused for a new id never lets an old claim through.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_claim`
#![cfg(loom)]

#[path = "../../sched/src/claim.rs"]
#[allow(dead_code, unused_imports)]
mod claim;

use claim::{
    aim_kill_words, job_finished_words, repair_word, revoke_word, start_word, state_word, Claim,
};
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use zeroproc_shm::atomic::{AtomicU64, Ordering};

/// A worker, a dead worker's successor and the controller race for one queued job:
/// exactly one wins, and the word says who. The word still names the previous job of its
/// slot (3, resolved: RUNNING), which is what "queued" is for job 7: nothing is written
/// when a job is placed.
#[test]
fn one_of_start_start_revoke_wins() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(3 << 2 | 2));
        assert_eq!(state_word(&word, 7), Claim::Queued);
        let wins = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..2 {
            let (w, wins, runs) = (word.clone(), wins.clone(), runs.clone());
            hs.push(thread::spawn(move || {
                if start_word(&w, 7) {
                    wins.fetch_add(1, Ordering::Relaxed);
                    runs.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let revoked = revoke_word(&word, 7);
        for h in hs {
            h.join().unwrap();
        }
        let runs = runs.load(Ordering::Relaxed);
        assert_eq!(runs + usize::from(revoked), 1, "exactly one winner");
        let expect = if revoked { Claim::Revoked } else { Claim::Running };
        assert_eq!(state_word(&word, 7), expect);
    });
}

/// The controller resolves job 7 (revoked), reuses its word for job 9 and publishes it
/// with a Release store (the ring's commit), writing nothing to the word; a stale worker still trying job 7 fails, the
/// worker that reads job 9's record (Acquire) starts it, and data written before the
/// publish is visible to it.
#[test]
fn a_reused_word_never_admits_the_old_id() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(0));
        let tail = Arc::new(AtomicU64::new(0));
        let payload = Arc::new(AtomicU64::new(0));
        let w = word.clone();
        let stale = thread::spawn(move || start_word(&w, 7));
        let (w, t, p) = (word.clone(), tail.clone(), payload.clone());
        let fresh = thread::spawn(move || {
            // The worker sees job 9's record only after the commit (tail, Acquire).
            (t.load(Ordering::Acquire) == 1).then(|| (start_word(&w, 9), p.load(Ordering::Relaxed)))
        });
        let revoked = revoke_word(&word, 7);
        if revoked {
            // Job 7 is resolved: reuse its word for job 9 — payload, then commit (the word
            // is not written: naming job 7, it says job 9 is queued).
            payload.store(42, Ordering::Relaxed);
            tail.store(1, Ordering::Release);
        }
        let stale_won = stale.join().unwrap();
        assert!(revoked != stale_won, "job 7: exactly one of revoke and start");
        if let Some((won, seen)) = fresh.join().unwrap() {
            assert!(won, "a published job 9 is startable");
            assert_eq!(seen, 42, "the record written before the commit is visible");
        }
    });
}

/// A dead worker's successor re-reads the ring from its last released record: job 7,
/// which the dead worker claimed, and job 9, queued behind it on the same word's next
/// lap. The successor must skip 7 (even while the controller races to revoke 9 and
/// re-place it) and run 9 at most once; 7 never runs again whatever it reads.
#[test]
fn a_successor_never_reruns_a_claimed_job() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(7 << 2 | 2)); // job 7: RUNNING (its worker died)
        let w = word.clone();
        let successor = thread::spawn(move || (start_word(&w, 7), start_word(&w, 9)));
        let revoked9 = revoke_word(&word, 9);
        let (ran7, ran9) = successor.join().unwrap();
        assert!(!ran7, "a claimed job never runs twice");
        assert!(ran9 != revoked9, "job 9: exactly one of start and revoke");
        assert!(!start_word(&word, 7) && !start_word(&word, 9), "resolved ids stay resolved");
        assert_eq!(state_word(&word, 7), Claim::Other);
    });
}

/// An aimed kill (`WorkerControl::aim_kill`): the controller aims at job 7 and, if told
/// to, sends the SIGKILL (here: sets `killed`, which ends the worker at its next look),
/// while the worker finishes job 7 and goes on to job 9 only if `job_finished_words` lets
/// it (else it waits until the aim is withdrawn or the kill lands). A sent kill never
/// finds the worker on job 9, and a withdrawn aim never keeps the worker waiting.
#[test]
fn an_aimed_kill_never_lands_on_the_next_job() {
    loom::model(|| {
        let current = Arc::new(AtomicU64::new(7));
        let kill_for = Arc::new(AtomicU64::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let on_next = Arc::new(AtomicBool::new(false));
        let worker = {
            let (current, kill_for, killed, on_next) =
                (current.clone(), kill_for.clone(), killed.clone(), on_next.clone());
            thread::spawn(move || {
                if !job_finished_words(&current, &kill_for) {
                    loop {
                        if killed.load(Ordering::Relaxed) {
                            return; // the SIGKILL landed while it waited
                        }
                        if kill_for.load(Ordering::Relaxed) == 0 {
                            break; // withdrawn
                        }
                        zeroproc_shm::atomic::spin_hint();
                    }
                }
                current.store(9, Ordering::Release);
                on_next.store(true, Ordering::Relaxed);
            })
        };
        let fired = aim_kill_words(&kill_for, &current, 7);
        if fired {
            killed.store(true, Ordering::Relaxed);
        }
        worker.join().unwrap();
        if fired {
            assert!(!on_next.load(Ordering::Relaxed), "the kill for job 7 landed on job 9");
        } else {
            assert_eq!(kill_for.load(Ordering::Relaxed), 0, "the aim was not withdrawn");
            assert!(on_next.load(Ordering::Relaxed), "the worker did not go on");
        }
    });
}

/// Damage repair (`pool/damage.rs`) races its worker: the word of queued job 5 was
/// overwritten with a newer id (100, never placed; the newest id placed on the worker is
/// 9). The worker meets job 5 while the controller repairs the word and then reuses it for
/// job 13 (its next lap, newer than every id placed before the repair): job 5 never runs,
/// whatever the order, and job 13 runs once its record is published.
#[test]
fn a_repaired_word_skips_the_damaged_job_and_admits_the_next_lap() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(100 << 2 | 2)); // the stray write
        let tail = Arc::new(AtomicU64::new(0));
        let (w, t) = (word.clone(), tail.clone());
        let worker = thread::spawn(move || {
            let ran5 = start_word(&w, 5);
            let ran13 = (t.load(Ordering::Acquire) == 1).then(|| start_word(&w, 13));
            (ran5, ran13)
        });
        assert!(repair_word(&word, 9), "the damaged word was not repaired");
        assert_ne!(state_word(&word, 5), Claim::Queued, "job 5 looks startable after repair");
        tail.store(1, Ordering::Release); // job 13 placed: nothing written to the word
        let (ran5, ran13) = worker.join().unwrap();
        assert!(!ran5, "the job of a damaged word ran (it was failed as skipped)");
        if let Some(ran13) = ran13 {
            assert!(ran13, "the next lap's job was skipped after the repair");
        }
        assert!(!start_word(&word, 5) && !start_word(&word, 9), "repaired ids stay resolved");
    });
}

/// Repair never takes a live claim: the word of job 7 (previous lap: job 3, resolved) is
/// not damaged; the worker claims 7 while the controller repairs the region with newest
/// id 9. The claim stands and the word keeps saying so.
#[test]
fn repair_leaves_an_undamaged_word_and_its_claim_alone() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(3 << 2 | 2));
        let w = word.clone();
        let worker = thread::spawn(move || start_word(&w, 7));
        let repaired = repair_word(&word, 9);
        let ran = worker.join().unwrap();
        assert!(!repaired, "an undamaged word was rewritten");
        assert!(ran, "the worker lost job 7 to the repair");
        assert_eq!(state_word(&word, 7), Claim::Running);
        assert!(!revoke_word(&word, 7), "a claimed job was revoked");
    });
}
