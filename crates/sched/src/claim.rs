//! Claim words: the one place that decides whether a queued job runs — exactly once.
//!
//! A job is put into one worker's submission ring, but it is not committed to that worker
//! until the worker **claims** it: one compare-exchange on the job's claim word, which the
//! controller can beat with its own compare-exchange to **revoke** the job (to move it to
//! an idle worker, or to cancel it). Exactly one of the two wins.
//!
//! ```text
//! word = id << 2 | state          (one word per id % CLAIM_SLOTS, in the pool segment)
//!
//!   word names an older id  ──worker CAS──▶ (id, RUNNING)   the job runs here, once
//!   (job `id` is QUEUED:                 │
//!    nothing was written for it)         └─ controller CAS ─▶ (id, REVOKED)
//!                                            the record is skipped by whoever reads it
//! ```
//!
//! * **Queued is implicit.** The ids that share a word strictly increase (a worker's ids
//!   come from its own region, `Regions::id`, lap after lap), so a word naming an *older*
//!   id than the job's means nobody has claimed or revoked the job yet. Placing a job
//!   writes nothing here: the controller used to store `(id, QUEUED)` before each commit,
//!   which pulled the word's cache line away from the worker and back once per job — one
//!   sixth of a tiny `submit`'s cost with one worker (docs/performance.md, "Claim words
//!   without a store per job").
//! * A worker runs a record only if its CAS from an older id to `(id, RUNNING)` succeeds.
//!   A word naming this id (`RUNNING`: a predecessor that died ran it; `REVOKED`) or a
//!   newer one (the word was reused after this job was resolved) means skip it, and no
//!   completion is written. This replaces per-ring FIFO accounting: a successor that
//!   re-reads records of a dead predecessor can never run one twice.
//! * The controller reuses a word for a newer id only after the old id was resolved (its
//!   completion drained, or it failed, or it was revoked). Every resolution of a job that
//!   a worker may still read leaves the word naming that id (`RUNNING` or `REVOKED`) —
//!   also retiring a slot whose worker still runs (`Core::retire` revokes before it
//!   fails), and failing the unstarted jobs of a slot given up after failed starts
//!   (`Core::fail_unstarted`: a slot given up because no process could be created gets
//!   one again later, which reads its ring on). So a stale claim of an old id always
//!   fails.
//! * On a worker's death the controller reads the words of the jobs that worker holds:
//!   `RUNNING` without a drained completion is the job that died with it (it fails);
//!   queued jobs never started and are moved or left to the successor.

// The atomics of `zeroproc_shm::atomic` are loom's under `cfg(loom)`: this file is
// model-checked as it is (`crates/ring/tests/loom_claim.rs` includes it).
use zeroproc_shm::atomic::{fence, AtomicU64, Ordering};

/// Claim words in a pool segment (256 KiB). Each worker has a region of them
/// ([`Regions`]); at most half of a region is in use at once (`Core::alloc_id` refuses
/// more in-flight jobs for that worker), so a free word for a new id is found in a few
/// probes.
pub const CLAIM_SLOTS: usize = 1 << 15;

const RUNNING: u64 = 2;
const REVOKED: u64 = 3;
const STATE: u64 = 3;

/// What a claim word says about one job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Not claimed or revoked yet (the word names an older id): for a job in a ring, a
    /// worker may claim it and the controller may revoke it.
    Queued,
    /// A worker claimed it (it runs, ran, or died running it).
    Running,
    /// The controller took it back.
    Revoked,
    /// The word belongs to a newer id (this one was resolved and its word reused).
    Other,
}

/// The claim words (`#[repr(C)]`, in the pool segment after the worker control blocks).
#[repr(C, align(64))]
pub struct ClaimTable {
    words: [AtomicU64; CLAIM_SLOTS],
}

impl ClaimTable {
    #[inline]
    fn word(&self, id: u64) -> &AtomicU64 {
        &self.words[slot_of(id)]
    }

    /// Worker: claims job `id`; true if this process must run it.
    #[inline]
    pub(crate) fn start(&self, id: u64) -> bool {
        start_word(self.word(id), id)
    }

    /// Controller: takes job `id` back if no worker claimed it yet; true if it did.
    #[inline]
    pub(crate) fn revoke(&self, id: u64) -> bool {
        revoke_word(self.word(id), id)
    }

    /// What the word says about `id`.
    #[inline]
    pub(crate) fn state(&self, id: u64) -> Claim {
        state_word(self.word(id), id)
    }

    /// Controller, repairing damage (`pool/damage.rs`): every word of `slots` that names
    /// an id newer than `newest` — which no claim writes, as no newer id was placed — is
    /// set to `(newest, REVOKED)`: "resolved" for every id placed so far, "queued" for
    /// every later one. Returns how many words were repaired.
    #[cold]
    pub(crate) fn repair_newer(&self, slots: std::ops::Range<usize>, newest: u64) -> usize {
        self.words[slots].iter().filter(|w| repair_word(w, newest)).count()
    }

    /// Test hook: overwrites the word of `id` with `value` (damage).
    #[cfg(test)]
    pub(crate) fn overwrite(&self, id: u64, value: u64) {
        // Relaxed: a test's stray write.
        self.word(id).store(value, Ordering::Relaxed);
    }
}

/// Moves `w` from a word naming an id older than `id` to `(id, to)`; false once the word
/// names `id` or a newer id (someone else resolved this job first, or the word was reused).
#[inline]
fn take_word(w: &AtomicU64, id: u64, to: u64) -> bool {
    // Relaxed: only a first guess; the compare-exchange below decides.
    let mut v = w.load(Ordering::Relaxed);
    // A failed exchange hands back the word's current value: retried only while it still
    // names an older id, so this loops at most once per other party's change of the word.
    while v >> 2 < id {
        // AcqRel: a success pairs with the controller's Acquire reads of the word (`state`,
        // a failed `revoke`) and with the other party's exchange; exactly one exchange from
        // an older id to this id succeeds (one word, one modification order).
        match w.compare_exchange_weak(v, id << 2 | to, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => v = now,
        }
    }
    false
}

/// [`ClaimTable::start`] on one word.
#[inline]
pub(crate) fn start_word(w: &AtomicU64, id: u64) -> bool {
    take_word(w, id, RUNNING)
}

/// [`ClaimTable::revoke`] on one word.
#[inline]
pub(crate) fn revoke_word(w: &AtomicU64, id: u64) -> bool {
    take_word(w, id, REVOKED)
}

/// One word of [`ClaimTable::repair_newer`]; true if it was repaired.
#[inline]
pub(crate) fn repair_word(w: &AtomicU64, newest: u64) -> bool {
    // Relaxed: only a first guess; the compare-exchange decides.
    let mut v = w.load(Ordering::Relaxed);
    while v >> 2 > newest {
        // AcqRel: as in `take_word`. No claim races with this exchange: a worker cannot
        // claim an id the word already counts as resolved, and no newer id was placed.
        match w.compare_exchange_weak(v, newest << 2 | REVOKED, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => return true,
            Err(now) => v = now,
        }
    }
    false
}

/// [`ClaimTable::state`] on one word.
#[inline]
pub(crate) fn state_word(w: &AtomicU64, id: u64) -> Claim {
    // Acquire: pairs with the worker's AcqRel `start`.
    let v = w.load(Ordering::Acquire);
    if v >> 2 < id {
        return Claim::Queued;
    }
    if v >> 2 > id {
        return Claim::Other;
    }
    match v & STATE {
        RUNNING => Claim::Running,
        REVOKED => Claim::Revoked,
        _ => Claim::Other,
    }
}

/// Controller half of an aimed kill (`WorkerControl::aim_kill`, which documents the
/// protocol): aims at job `id` in `kill_for`, then reads the worker's `current`; true (the
/// aim stays) if the worker is on `id`, else the aim is withdrawn and false.
#[inline]
pub(crate) fn aim_kill_words(kill_for: &AtomicU64, current: &AtomicU64, id: u64) -> bool {
    // Relaxed: ordered before the load below by the SeqCst fence.
    kill_for.store(id, Ordering::Relaxed);
    // SeqCst: pairs with the fence in `job_finished_words` (store, fence, load on both
    // sides: at least one side sees the other's store). Fences, not SeqCst accesses: loom
    // models those as AcqRel, and `loom_claim.rs` checks this protocol as written.
    fence(Ordering::SeqCst);
    // Relaxed: only compared (nothing is read on its strength).
    if id != 0 && current.load(Ordering::Relaxed) == id {
        return true;
    }
    // Relaxed: a withdrawn aim publishes nothing; a worker waiting on it sees it soon.
    kill_for.store(0, Ordering::Relaxed);
    false
}

/// Worker half (`WorkerControl::job_finished`): clears `current` once the job's completion
/// is committed (or its claim failed: the record is skipped), then reads `kill_for`; true
/// if the worker may claim another job.
#[inline]
pub(crate) fn job_finished_words(current: &AtomicU64, kill_for: &AtomicU64) -> bool {
    // Release: publishes the finished job to `current()` readers (Acquire).
    current.store(0, Ordering::Release);
    // SeqCst: pairs with the fence in `aim_kill_words`.
    fence(Ordering::SeqCst);
    // Relaxed: ordered after the store above by the fence.
    kill_for.load(Ordering::Relaxed) == 0
}

/// Most workers a pool may have: each gets a claim region of at least 64 words, so at
/// least 32 of its jobs can be in flight.
pub const MAX_WORKERS: usize = CLAIM_SLOTS / 64;

/// Largest region: 512 words, so at most 256 jobs in flight per worker (a submission past
/// that goes to another worker or waits for room), and a controller table that stays in
/// cache (512 entries per worker; a table spanning every claim slot made every job's
/// bookkeeping a cache miss — measured on W2: docs/performance.md).
const MAX_REGION: usize = 512;

/// The claim word (and controller table slot) of job `id`: `id % CLAIM_SLOTS`. The
/// controller chooses ids so that each worker's jobs fall in a region of their own
/// (`Core::alloc_id`): consecutive jobs of one worker share cache lines (one miss per
/// eight claims), jobs of different workers never do (no false sharing of the CAS).
#[inline]
pub(crate) fn slot_of(id: u64) -> usize {
    id as usize % CLAIM_SLOTS
}

/// The ids of worker `w`'s jobs when each of `workers` gets a region of the claim table:
/// its `seq`-th job (from 1) gets an id whose slot is in the region, distinct from every
/// other worker's and from its own other jobs' within `region` jobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Regions {
    /// Claim words per worker (a power of two, at least 8).
    pub region: u64,
    /// `log2(region)`: ids are computed with shifts and masks (a division by a
    /// run-time divisor cost ~40 cycles per job here, twice per submission).
    shift: u32,
}

impl Regions {
    /// Regions for `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        let per = (CLAIM_SLOTS / workers.max(1)).clamp(8, MAX_REGION);
        let shift = per.ilog2(); // round down to a power of two
        Regions { region: 1 << shift, shift }
    }

    /// Claim slots in use by `workers` workers: `0..slots()`.
    pub(crate) fn slots(&self, workers: usize) -> usize {
        workers * self.region as usize
    }

    /// The claim words of worker `w`'s region.
    pub(crate) fn words(&self, w: usize) -> std::ops::Range<usize> {
        let start = w << self.shift;
        start..start + self.region as usize
    }

    /// The id of worker `w`'s `seq`-th job (`seq` ≥ 1; never 0).
    #[inline]
    pub(crate) fn id(&self, w: usize, seq: u64) -> u64 {
        let lap = seq >> self.shift;
        let within = seq & (self.region - 1);
        lap * CLAIM_SLOTS as u64 + ((w as u64) << self.shift) + within + CLAIM_SLOTS as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_regions_are_disjoint_and_ids_unique() {
        for workers in [1usize, 2, 3, 5, 64, 65, 100, 257, MAX_WORKERS] {
            let r = Regions::new(workers);
            let mut seen = std::collections::HashSet::new();
            for w in 0..workers {
                for seq in 1..3 * r.region {
                    let id = r.id(w, seq);
                    assert!(id != 0 && seen.insert(id), "id {id} twice");
                    let slot = slot_of(id) as u64;
                    assert_eq!(slot / r.region, w as u64, "worker {w} left its region");
                }
            }
        }
    }

    /// The protocol's premise (module docs): the ids that share a word strictly increase,
    /// so a word naming an older id means "queued" for a newer one.
    #[test]
    fn ids_sharing_a_word_strictly_increase() {
        for workers in [1usize, 2, 3, 64, MAX_WORKERS] {
            let r = Regions::new(workers);
            let mut last = std::collections::HashMap::new();
            for w in 0..workers.min(4) {
                for seq in 1..4 * r.region {
                    let id = r.id(w, seq);
                    if let Some(prev) = last.insert(slot_of(id), id) {
                        assert!(id > prev, "slot {}: id {id} after {prev}", slot_of(id));
                    }
                }
            }
        }
    }

    /// Every pool size gets a power-of-two region of at least 64 words (`MAX_WORKERS`'s
    /// promise: 32 jobs in flight per worker) that fits the table with the others'.
    #[test]
    fn regions_fit_the_table_for_every_pool_size() {
        for workers in 1..=MAX_WORKERS {
            let r = Regions::new(workers);
            assert!(r.region.is_power_of_two(), "{workers}: {}", r.region);
            assert!((64..=MAX_REGION as u64).contains(&r.region), "{workers}: {}", r.region);
            assert!(r.slots(workers) <= CLAIM_SLOTS, "{workers}");
            // The last worker's last id of a lap stays below `slots()`.
            assert!(slot_of(r.id(workers - 1, r.region - 1)) < r.slots(workers), "{workers}");
        }
    }
}
