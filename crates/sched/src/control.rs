//! The pool's shared segment: one header, one control block per worker, and each worker's
//! submission and completion rings, all in one memfd segment the workers attach.
//!
//! ```text
//! [segment header 256] [PoolHeader + function table] [WorkerControl × n] [ClaimTable]
//! [sub 0][comp 0] [sub 1][comp 1] …
//! ```
//!
//! Every field is an atomic with a single writer (named on the field); readers are the
//! controller (statistics, liveness, job accounting) and the worker's successor after a
//! respawn. The accounting protocol is in `README.md` beside this file.

use crate::claim::ClaimTable;
use crate::fntable::FnTable;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use zeroproc_ring::spsc::{size_for, RingHeader};
use zeroproc_shm::wait::EventCount;
use zeroproc_shm::{Layout, Offset, HEADER_SIZE};

/// Worker control block states (`WorkerControl::state`).
pub(crate) mod state {
    /// Process started, not yet attached.
    pub const STARTING: u32 = 0;
    /// Attached, rings claimed, initializer run: serving jobs.
    pub const READY: u32 = 1;
    /// The handshake failed (other build, bad segment): the worker exits.
    pub const REFUSED: u32 = 2;
    /// The initializer panicked: the worker exits.
    pub const INIT_FAILED: u32 = 3;
    /// The worker found its submission ring corrupt (exit code 95): the slot is retired.
    pub const CORRUPT_SUBMISSION: u32 = 4;
    /// The worker found its completion ring corrupt (exit code 95): the slot is retired.
    pub const CORRUPT_COMPLETION: u32 = 5;
    /// The worker reached `max_jobs_per_worker` and is exiting (stored just before its
    /// `exit`): the supervisor gives it the grace a worker asked to stop gets, then
    /// SIGKILLs it, since `exit` runs handlers a job may have left (`atexit`, static
    /// destructors) that can block for ever. Counts as a started worker, not a failed
    /// start.
    pub const RETIRING: u32 = 6;
    /// The worker read its STOP (a shutdown), or reached `max_jobs_per_worker`, and, before
    /// its `exit`, shuts down the pools its jobs built and never dropped and waits for the
    /// `Process` children they started and left running, as Python's worker joins its
    /// non-daemon children at its exit: the supervisor's exit grace starts only once it
    /// leaves this state (back to `READY` after a STOP, on to `RETIRING` when retiring),
    /// unless it is stopped (SIGSTOP), which the grace runs out on as before.
    pub const JOINING: u32 = 7;
}

/// Layout identity checked when a worker attaches the pool segment.
pub const POOL_LAYOUT: Layout = Layout::new("zeroproc-pool", 9)
    .with_type::<PoolHeader>()
    .with_type::<ClaimTable>()
    .with_type::<FnTable>()
    .with_type::<WorkerControl>()
    .with_type::<Observed>();

/// Head of the pool segment.
#[repr(C, align(64))]
pub struct PoolHeader {
    /// Notified by a worker after each completion it publishes, and by the controller when
    /// a future completes; waiters for any result sleep here.
    pub completions: EventCount,
    /// Number of worker control blocks that follow. Written once at creation.
    pub workers: AtomicU32,
    /// Capacity of each ring. Written once at creation.
    pub ring_capacity: AtomicU64,
    /// The spill heap's state ([`heap_state`]); its segment id follows.
    pub heap_state: AtomicU32,
    /// Bytes of `heap_id` in use.
    pub heap_id_len: AtomicU32,
    /// The spill heap's segment id (UTF-8), written before `heap_state = READY`.
    pub heap_id: [AtomicU8; HEAP_ID_MAX],
    /// The functions submitted to this pool: a worker calls only these (`fntable.rs`).
    pub fns: FnTable,
    /// The first initializer failure's message: 0 (none), [`INIT_FAILURE_WRITING`] (a
    /// worker claimed it and is writing), else its length in bytes + 1. Claimed by CAS
    /// from 0, so one worker writes; the length is stored (Release) after the bytes and
    /// before that worker's INIT_FAILED state.
    pub init_failure_len: AtomicU32,
    /// That message (UTF-8, cut to [`INIT_FAILURE_MAX`] bytes).
    pub init_failure: [AtomicU8; INIT_FAILURE_MAX],
    /// Jobs `submit` accepted that wait for room on the controller (`pool/backlog.rs`),
    /// published by the supervisor at each tick for observers (`zeroproc top`).
    pub backlog: Stat,
    /// Arrays the controller has dropped (`zeroproc_mp::shared::cache::drops`), published
    /// by the supervisor at each tick: a worker that sees it change sweeps its caches
    /// before its next job (`worker/serve.rs`).
    pub array_drops: AtomicU64,
}

/// Longest spill-heap segment id the pool header holds.
pub const HEAP_ID_MAX: usize = 128;

/// Longest initializer failure message the pool header holds.
pub const INIT_FAILURE_MAX: usize = 1024;

/// `PoolHeader::init_failure_len` while the claiming worker writes the message.
pub const INIT_FAILURE_WRITING: u32 = u32::MAX;

impl PoolHeader {
    /// Records the initializer's failure message, if no worker has yet (worker side).
    pub(crate) fn record_init_failure(&self, msg: &str) {
        // Relaxed on failure: another worker's message is kept, nothing is read.
        // Acquire on success is not needed: the bytes are ours to write from here.
        if self
            .init_failure_len
            .compare_exchange(0, INIT_FAILURE_WRITING, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let b = &msg.as_bytes()[..msg.len().min(INIT_FAILURE_MAX)];
        for (slot, &c) in self.init_failure.iter().zip(b) {
            // Relaxed: published by the Release store of the length below.
            slot.store(c, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire in `init_failure` (the bytes above).
        self.init_failure_len.store(b.len() as u32 + 1, Ordering::Release);
    }

    /// The recorded initializer failure message, if one was written (controller side).
    pub(crate) fn init_failure(&self) -> Option<String> {
        // Acquire: pairs with the Release store in `record_init_failure`.
        let n = self.init_failure_len.load(Ordering::Acquire);
        if n == 0 || n == INIT_FAILURE_WRITING {
            return None;
        }
        let n = (n as usize - 1).min(INIT_FAILURE_MAX);
        // Relaxed (the bytes): ordered by the Acquire above.
        let bytes: Vec<u8> =
            self.init_failure[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// `PoolHeader::heap_state` values.
pub(crate) mod heap_state {
    /// Not created yet: it is created on first need (by the controller, or by the
    /// supervisor when a worker asks for it).
    pub const PENDING: u32 = 0;
    /// A worker needs it: the supervisor creates it at its next check.
    pub const REQUESTED: u32 = 3;
    /// Created; `heap_id` is valid.
    pub const READY: u32 = 1;
    /// Disabled (`spill_heap(0)`): oversized payloads are errors.
    pub const NONE: u32 = 2;
    /// Its creation failed: a worker that needs it stores REQUESTED (from this state) once
    /// per attach, and the controller tries again if its last try is a second old, else
    /// answers FAILED again (`SpillSource::get`).
    pub const FAILED: u32 = 4;
}

impl PoolHeader {
    /// Publishes the spill heap's segment id (or that there is none).
    pub(crate) fn publish_heap(&self, id: Option<&str>) {
        match id.filter(|i| i.len() <= HEAP_ID_MAX) {
            Some(id) => {
                for (slot, b) in self.heap_id.iter().zip(id.bytes()) {
                    // Relaxed: published by the Release store of the state below.
                    slot.store(b, Ordering::Relaxed);
                }
                // Relaxed: as above.
                self.heap_id_len.store(id.len() as u32, Ordering::Relaxed);
                // Release: pairs with the Acquire load in `heap`.
                self.heap_state.store(heap_state::READY, Ordering::Release);
            }
            // Release: as above.
            None => self.heap_state.store(heap_state::NONE, Ordering::Release),
        }
    }

    /// Publishes that the spill heap could not be created (yet: see
    /// [`heap_state::FAILED`]).
    pub(crate) fn publish_heap_failed(&self) {
        // Release: pairs with the Acquire load in `heap`, as in `publish_heap`.
        self.heap_state.store(heap_state::FAILED, Ordering::Release);
    }

    /// The spill heap's state and, when ready, its segment id.
    pub(crate) fn heap(&self) -> (u32, Option<String>) {
        // Acquire: pairs with the Release store in `publish_heap`.
        let st = self.heap_state.load(Ordering::Acquire);
        if st != heap_state::READY {
            return (st, None);
        }
        // Relaxed (both): ordered by the Acquire load above.
        let n = (self.heap_id_len.load(Ordering::Relaxed) as usize).min(HEAP_ID_MAX);
        let bytes: Vec<u8> = self.heap_id[..n].iter().map(|b| b.load(Ordering::Relaxed)).collect();
        (st, String::from_utf8(bytes).ok())
    }
}

/// One worker's block. Writer: the worker process in that slot (whichever incarnation).
#[repr(C, align(64))]
pub struct WorkerControl {
    /// Handshake state ([`state`]); futex-free, polled by the controller while starting.
    pub state: AtomicU32,
    /// Pid of the current incarnation.
    pub pid: AtomicU32,
    /// Job id being run, 0 when idle. Stored just *before* the job's claim (`claim.rs`; a
    /// failed claim clears it again, as a finished job does: [`start_job`]) and cleared
    /// after its completion is committed, so a claimed job that has not finished is always
    /// `current`: what per-job time-outs, `terminate` and observers look at (the
    /// accounting itself is in the claim words).
    ///
    /// [`start_job`]: WorkerControl::start_job
    pub current: AtomicU64,
    /// A kill the controller aims at job `kill_for` (0: none): see [`aim_kill`] and
    /// [`finish_job`]. Written by the controller only; reset before a respawn.
    ///
    /// [`aim_kill`]: WorkerControl::aim_kill
    /// [`finish_job`]: WorkerControl::finish_job
    pub kill_for: AtomicU64,
    /// CLOCK_MONOTONIC ns at which `current` started (per-job time-outs; only for jobs
    /// with a time-out).
    pub started_ns: AtomicU64,
    /// Jobs completed (all incarnations).
    pub jobs_done: Stat,
    /// Nanoseconds spent running jobs.
    pub busy_ns: Stat,
    /// Nanoseconds spent waiting for jobs.
    pub idle_ns: Stat,
    /// CLOCK_MONOTONIC ns at which the current busy period started, 0 while idle (stored
    /// at the idle/busy boundaries only, so an observer can count the busy time not yet
    /// flushed into `busy_ns`).
    pub busy_since: Stat,
    /// Job bytes read from the submission ring.
    pub bytes_in: Stat,
    /// Result bytes written to the completion ring.
    pub bytes_out: Stat,
    /// A spill-heap block holding this worker's result whose reference record is not
    /// published yet: its offset, and its nonce (0: none; `spill::HELD_ALLOCATING`: being
    /// allocated, the offset once the heap returned it). The worker records the intent
    /// before every allocation, the offset right after it, the nonce once the claim word
    /// holds it, and clears the nonce once the record is published or the block given back
    /// (`spill::record_held`); a worker that dies in between (killed right after the
    /// allocation, while the result is written, or while its `Drop` runs) leaves them for
    /// the supervisor, which, after it has drained the dead worker's completions, frees an
    /// allocated unstamped block by its offset and reclaims a stamped one by its nonce
    /// (`payload::reclaim`: a block a reader claimed already is left alone).
    pub held_offset: AtomicU64,
    /// See `held_offset`.
    pub held_nonce: AtomicU64,
    /// The job this worker's stack overflowed in (0: none), stored by its fault handler
    /// just before the runtime aborts it (`worker/overflow.rs`); reset at start.
    pub overflowed: AtomicU64,
    /// The supervisor asks the job with this id to hand back what it has not started
    /// (0: none): stored once a job has been `current` at two supervisor ticks in a row,
    /// read by an automatic batch of `Pool::map` at its claim of each item after the
    /// first (`steal::claim_item`), ignored by every other job. Relaxed everywhere: for a
    /// plain request it is a hint (the batch alone decides which items it ran, and a
    /// request seen late or for a finished job — ids are never reused — changes nothing
    /// else); for a steal, the supervisor's membarrier orders it against `batch_claim`
    /// (the handshake in `steal.rs`). Written by the supervisor only.
    pub hand_back: AtomicU64,
    /// The automatic batch this worker runs and the items of it claimed
    /// (`steal::claim_value`: job id << 16 | count): stored at the batch's start (count
    /// 0) and before each item, just before that item's look at `hand_back`. Read by the
    /// supervisor around its membarrier to take the items after the one running
    /// (`steal.rs`), and after the worker died (`on_death`): the items after the claimed
    /// ones never started, and the map places them again. Relaxed everywhere (the
    /// handshake's order comes from the membarrier; after a death the writer is reaped,
    /// all its stores done). Written by the worker only.
    pub batch_claim: AtomicU64,
    /// 1 if this incarnation registered for the supervisor's membarrier, 2 if the kernel
    /// refused, 0 before its first automatic batch (`steal::ensure_registered`; 0 stored
    /// at its start before `READY`): only at 1 are a batch's items taken from it while
    /// it runs (`steal.rs`). The 1 is a Release store after the registration, read with
    /// Acquire by the supervisor before its barrier. Written by the worker only.
    pub fenced: AtomicU64,
    /// What the controller publishes for observers (its own cache line).
    pub observed: Observed,
    /// The results of the finished items of the automatic batch this worker runs, for the
    /// supervisor to deliver if the worker dies in it (`partial.rs`). Written by the
    /// worker only; read by the supervisor once the worker is reaped.
    pub partial: crate::partial::Partial,
}

/// What [`WorkerControl::start_job`] decided about a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Claimed: the worker runs it.
    Run,
    /// Not claimed: the worker skips the record (no answer) and `current` is cleared.
    /// `go_on` false: a kill is aimed at this worker (at the skipped job: published as
    /// `current` before the claim failed), which must wait for it rather than read its next
    /// job.
    Skip {
        /// The worker may read its next job.
        go_on: bool,
    },
}

/// A statistic in shared memory (a counter, a time, a gauge): one writer stores
/// snapshots, observers load them. It orders nothing, so every access is `Relaxed` —
/// said once here instead of at each of them.
#[repr(transparent)]
#[derive(Default)]
pub struct Stat(AtomicU64);

impl Stat {
    /// The last stored value.
    #[inline]
    pub fn get(&self) -> u64 {
        // Relaxed: a statistic (see the type).
        self.0.load(Ordering::Relaxed)
    }

    /// Stores a new value.
    #[inline]
    pub fn set(&self, v: u64) {
        // Relaxed: a statistic (see the type).
        self.0.store(v, Ordering::Relaxed)
    }
}

/// Controller-side figures of one worker slot, published for read-only observers
/// (`zeroproc top`) by the supervisor at each tick. Writer: the controller's supervisor
/// thread; readers load them Relaxed (they order nothing).
#[repr(C, align(64))]
pub struct Observed {
    /// Jobs queued on the worker's submission ring or running (the controller's `owed`).
    pub owed: Stat,
    /// Times the slot's worker was replaced.
    pub respawns: Stat,
}

impl WorkerControl {
    /// The job the worker is running (0: none).
    #[inline]
    pub fn current(&self) -> u64 {
        // Acquire: pairs with the Release store in the worker loop.
        self.current.load(Ordering::Acquire)
    }

    /// Controller, under the pool lock, before it SIGKILLs this worker for job `id`
    /// (`terminate`, cancel-on-drop, a time limit): true if the worker is on `id`, and
    /// then the kill stays aimed until the worker is dead (the supervisor resets it before
    /// a respawn); false if it is not, and the aim is withdrawn.
    ///
    /// A kill is precise with the worker's half, [`finish_job`](Self::finish_job): a
    /// worker that has finished `id` and goes on to its next job either stored `current
    /// = 0` before our load (we see it: no kill) or loads `kill_for` after our store (it
    /// sees the aim and waits for the SIGKILL instead of claiming its next job): a store,
    /// a SeqCst fence and a load on each side (`claim::aim_kill_words`,
    /// `job_finished_words`; loom model in `crates/ring/tests/loom_claim.rs`). Without
    /// this, a SIGKILL decided while `id` ran could land once the worker had claimed the
    /// next job, which then failed with `WorkerDied` (a one-worker loop of terminates on
    /// short jobs: 2 of 2,000 innocent jobs under load).
    pub(crate) fn aim_kill(&self, id: u64) -> bool {
        crate::claim::aim_kill_words(&self.kill_for, &self.current, id)
    }

    /// Worker, for each job record it reads: publishes job `id` as `current`, then claims
    /// it (`claim.rs`). The job is `current` before it is claimed, so a job this worker
    /// has claimed and not finished is always `current` (a kill aimed at it cannot miss
    /// it: [`aim_kill`](Self::aim_kill)).
    ///
    /// [`Start::Run`]: the worker runs the job, then calls
    /// [`finish_job`](Self::finish_job). [`Start::Skip`]: it was not claimed (revoked —
    /// moved or cancelled — or claimed by a dead predecessor) and must not run; `current`
    /// is cleared as by [`job_finished`](Self::job_finished), and a kill aimed at the
    /// skipped job is reported (`go_on` false): the worker waits for it
    /// ([`wait_for_kill`](Self::wait_for_kill)) instead of claiming its next job, which the
    /// SIGKILL would otherwise fail (a time-out decided while the job was `current` and
    /// unclaimed, the job cancelled or moved before the SIGKILL landed).
    #[inline]
    pub(crate) fn start_job(&self, claims: &ClaimTable, id: u64) -> Start {
        // Release: pairs with the Acquire in `current` (time-outs, `terminate`,
        // observers).
        self.current.store(id, Ordering::Release);
        if claims.start(id) {
            return Start::Run;
        }
        // Nothing ran, but a kill may have been aimed at `id` while it was `current` (a
        // time-out decided before the job was revoked): cleared like a finished job, so
        // that a kill on its way does not land on the next job.
        Start::Skip { go_on: self.job_finished() }
    }

    /// Worker, after the completion of its current job is committed: clears `current`,
    /// and returns once no kill is aimed at this worker (see [`aim_kill`](Self::aim_kill)).
    /// A kill aimed at the job just finished does not return: the SIGKILL is on its way,
    /// and the worker must not claim another job for it to land on.
    #[inline]
    pub(crate) fn finish_job(&self) {
        if !self.job_finished() {
            self.wait_for_kill();
        }
    }

    /// [`finish_job`](Self::finish_job) without the wait: clears `current`; true if the
    /// worker may go on to its next job, false if a kill is aimed at it.
    #[inline]
    pub(crate) fn job_finished(&self) -> bool {
        crate::claim::job_finished_words(&self.current, &self.kill_for)
    }

    /// Waits for the SIGKILL aimed at this worker (see [`aim_kill`](Self::aim_kill)); returns
    /// if the aim is withdrawn.
    #[cold]
    pub(crate) fn wait_for_kill(&self) {
        // Relaxed: a withdrawn aim orders nothing; the SIGKILL needs no cooperation.
        while self.kill_for.load(Ordering::Relaxed) != 0 {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
}

/// Where everything is in a pool segment of `workers` workers with rings of `capacity`.
#[derive(Debug, Clone, Copy)]
pub struct SegmentMap {
    /// Workers.
    pub workers: usize,
    /// Bytes of each ring's buffer.
    #[allow(dead_code)] // kept for diagnostics (Debug)
    pub capacity: usize,
    ring_size: usize,
    claims_at: usize,
    rings_at: usize,
}

impl SegmentMap {
    /// The map for `workers` workers and rings of `capacity` bytes (a power of two).
    pub fn new(workers: usize, capacity: usize) -> Option<Self> {
        let ring_size = size_for(capacity).ok()?;
        let controls = HEADER_SIZE
            + std::mem::size_of::<PoolHeader>()
            + workers * std::mem::size_of::<WorkerControl>();
        let claims_at = controls.next_multiple_of(64);
        let rings_at = (claims_at + std::mem::size_of::<ClaimTable>()).next_multiple_of(4096);
        let ring_size = ring_size.next_multiple_of(4096);
        Some(Self { workers, capacity, ring_size, claims_at, rings_at })
    }

    /// Bytes of data region needed (after the segment header).
    pub fn data_len(&self) -> usize {
        self.rings_at + 2 * self.workers * self.ring_size - HEADER_SIZE
    }

    /// Offset (from the segment start) of the pool header.
    pub fn header_offset() -> Offset<PoolHeader> {
        Offset::new(HEADER_SIZE as u64)
    }

    /// Offset of worker `w`'s control block.
    pub fn control(&self, w: usize) -> Offset<WorkerControl> {
        Offset::new(
            (HEADER_SIZE
                + std::mem::size_of::<PoolHeader>()
                + w * std::mem::size_of::<WorkerControl>()) as u64,
        )
    }

    /// Offset of the claim table (`claim.rs`).
    pub fn claims(&self) -> Offset<ClaimTable> {
        Offset::new(self.claims_at as u64)
    }

    /// Offset of worker `w`'s submission ring.
    pub fn submission(&self, w: usize) -> Offset<RingHeader> {
        Offset::new((self.rings_at + 2 * w * self.ring_size) as u64)
    }

    /// Offset of worker `w`'s completion ring.
    pub fn completion(&self, w: usize) -> Offset<RingHeader> {
        Offset::new((self.rings_at + (2 * w + 1) * self.ring_size) as u64)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
