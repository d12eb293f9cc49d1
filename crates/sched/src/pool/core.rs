//! The controller's state: per worker, its two rings and the queue of jobs it owes
//! results for, behind one lock that any controller thread may take to make progress.
//!
//! Progress is **caller-driven**: a thread waiting for a result drains the completion
//! rings itself (no hand-off through a reactor thread, which would add a core-to-core hop
//! to every round trip). The supervisor thread (`supervisor.rs`) drains them when nobody
//! waits, and handles worker deaths and time-outs.

#[cfg(test)]
use super::kill_window_tests;
use super::locked::{CoreKey, Locked};
use crate::claim::{slot_of, Claim, ClaimTable, Regions};
use crate::control::{PoolHeader, SegmentMap, WorkerControl};
use crate::error::{JobError, Never};
use crate::fntable::Registry;
use crate::spill::{SpillHeap, SpillSource};
use std::process::Child;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use zeroproc_ring::spsc::{Consumer, Producer, TryRecvError};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{self, Poll};
use zeroproc_shm::Segment;

/// Where a completion goes: a future, or one position of a `map`.
///
/// `complete` and `fail` are called under the pool lock, whose token (`locked`) they get:
/// a destination may keep state guarded by that lock alone (`locked.rs`).
pub(crate) trait Complete: Send + Sync {
    /// Stores a completion record (`st` = status, `bytes` = payload) for `seq`. Returns
    /// true when [`after`](Self::after) must be called once the pool lock is released.
    /// `heap` is the pool's spill heap when the record is a spilled envelope.
    fn complete(
        &self,
        locked: &mut Locked<'_>,
        seq: u64,
        st: u32,
        bytes: &[u8],
        heap: Option<&SpillHeap>,
    ) -> bool;
    /// Stores a failure for `seq` (same return convention).
    fn fail(&self, locked: &mut Locked<'_>, seq: u64, e: JobError<Never>) -> bool;
    /// Runs callbacks / wakers, outside the pool lock.
    fn after(&self);
    /// Takes back the reference to this destination that a resolved job held (under the
    /// pool lock). The default drops it; a `map`'s sink keeps it for its next job
    /// (`Sink::lend`), which spares two atomic reference-count updates per job.
    fn give_back(self: Arc<Self>, _locked: &mut Locked<'_>) {}
    /// True if [`after`](Self::after) runs user callbacks (which may block): those go to
    /// the pool's callback thread, not the thread that happened to drain the completion.
    fn has_callbacks(&self) -> bool {
        false
    }
    /// Told which worker and job id it was given to (under the pool lock, before the
    /// job can complete).
    fn assign(&self, _worker: usize, _id: u64) {}
    /// Job `seq`'s worker died after claiming `done` of its items (an automatic batch of
    /// `map`: `WorkerControl::batch_claim`), the first `kept.len()` of which had finished:
    /// their results' envelopes (`partial.rs`); told just before the job fails (under the
    /// pool lock). The default ignores it.
    fn died_after(&self, _locked: &mut Locked<'_>, _seq: u64, _done: u64, _kept: Vec<Vec<u8>>) {}
    /// Job `seq` (an automatic batch of `map`) will never run its items from `at` on: the
    /// supervisor took them while an item ran (`steal.rs`); the map places them again.
    /// Told under the pool lock, while the job runs or after its result was drained
    /// (then the result's handback placed them: the map drops this). The default ignores
    /// it.
    fn stolen(&self, _locked: &mut Locked<'_>, _seq: u64, _at: u64) {}
}

/// A job in flight: placed in a worker's submission ring, not yet resolved.
pub(crate) struct Owed {
    pub id: u64,
    pub seq: u64,
    pub dest: Arc<dyn Complete>,
    /// Per-job time-out in ns (0: none).
    pub timeout_ns: u64,
    /// The worker whose ring holds the record.
    pub worker: usize,
    /// Ring position of the record (`Producer::last_position`), to move it.
    pub pos: u64,
    /// Spill-heap bytes its arguments were counted for (0: inline in the record).
    pub spill: u64,
    /// Shared values its arguments name, kept alive until it is no longer in flight.
    pub _pins: crate::share::pin::Pins,
    /// When it was placed, among all the pool's jobs (`Core::track` numbers it; a move
    /// keeps it): moved jobs take their place among the target's by it (`balance.rs`).
    pub order: u64,
}

/// Jobs in flight, by claim slot (`claim::slot_of(id)`): found by id in O(1) when a
/// completion arrives, whatever the order in which workers answer.
pub(crate) struct JobTable {
    slots: Vec<Option<Owed>>,
    len: usize,
    /// Sum of `spill` over the jobs in flight (see `submit::spill_job`).
    spilled: u64,
}

impl JobTable {
    /// A table for ids whose slots are below `slots` (`Regions::slots`).
    fn new(slots: usize) -> Self {
        Self { slots: (0..slots).map(|_| None).collect(), len: 0, spilled: 0 }
    }

    /// The job `id`, if in flight.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<&Owed> {
        // `id` may come from shared memory (a completion's tag, a `current` word): any
        // value is looked up safely.
        self.slots.get(slot_of(id))?.as_ref().filter(|o| o.id == id)
    }

    /// Removes and returns job `id`, if in flight.
    #[inline]
    pub(crate) fn take(&mut self, id: u64) -> Option<Owed> {
        let s = self.slots.get_mut(slot_of(id))?;
        if s.as_ref().is_some_and(|o| o.id == id) {
            self.len -= 1;
            let o = s.take();
            self.spilled -= o.as_ref().map_or(0, |o| o.spill);
            o
        } else {
            None
        }
    }

    #[inline]
    fn insert(&mut self, o: Owed) {
        let s = &mut self.slots[slot_of(o.id)];
        debug_assert!(s.is_none());
        self.spilled += o.spill;
        *s = Some(o);
        self.len += 1;
    }

    #[inline]
    fn is_free(&self, id: u64) -> bool {
        self.slots[slot_of(id)].is_none()
    }

    /// Gives job `id` the shared values its arguments name (a backlogged job, whose
    /// arguments were archived, and these captured, at submit).
    pub(crate) fn set_pins(&mut self, id: u64, pins: crate::share::pin::Pins) {
        if let Some(o) = self.slots.get_mut(slot_of(id)).and_then(Option::as_mut) {
            if o.id == id {
                o._pins = pins;
            }
        }
    }

    /// Spill-heap bytes counted for the arguments of the jobs in flight.
    pub(crate) fn spilled(&self) -> u64 {
        self.spilled
    }

    /// Jobs in flight.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// One worker slot, across incarnations.
pub(crate) struct Slot {
    pub tx: Producer,
    pub rx: Consumer,
    /// Sequence number (`Core::alloc_id`) of the oldest job this worker may still hold:
    /// its jobs are the ids of sequence numbers `low..` up to the next one, those still in
    /// the job table with this worker as owner (`Core::held`).
    pub low: u64,
    /// Jobs in flight on this worker (queued in its ring or running).
    pub load: usize,
    /// Jobs resolved or placed on this worker so far: a change counter (no clock read
    /// per job) that `balance.rs` compares between its looks.
    pub events: u64,
    /// `events` as seen at a look of `balance.rs`, and when it was last seen to change.
    pub seen: (u64, Instant),
    /// The last `/proc` probe of this worker (`probe.rs`).
    pub probe: Option<super::probe::Sample>,
    /// Found stuck (`balance.rs`) and no progress since: gets no new jobs.
    pub stuck: bool,
    /// The job the worker runs (its `current` word, 0: none) and since when, as seen by
    /// the looks of `balance.rs`.
    pub running: (u64, Instant),
    /// The worker's recent time per job (`pace.rs`), sampled by the looks of `balance.rs`.
    pub pace: super::pace::Pace,
    /// The job the time-limit check last saw the worker run and the supervisor's paused
    /// time (`supervisor::Paused`) when it first saw it: pauses after that are not the
    /// job's running time.
    pub limit_seen: (u64, u64),
    /// The job seen running on this slot at the supervisor's last tick (`nudge_long_job`).
    pub long_seen: u64,
    /// The long job whose batch the supervisor asked to hand back and tried to steal
    /// from, decisively (`steal::Steal`, not `NotYet`): not tried again.
    pub stole_tried: u64,
    /// The core the worker is pinned to, if any.
    pub core: Option<usize>,
    pub child: Option<Child>,
    pub pid: u32,
    /// Why the controller killed the current incarnation: (job id, error for that job).
    pub kill: Option<(u64, JobError<Never>)>,
    /// When the controller last asked the current incarnation to exit (STOP queued or
    /// SIGKILL sent): a worker that does not exit is killed after a grace period.
    pub asked_exit: Option<Instant>,
    /// Incarnations started after the first.
    pub respawns: u64,
    /// Jobs moved off this worker to other ones (`balance.rs`).
    pub moved_away: u64,
    /// When a SWEEP record was last queued for this worker (`Core::place_sweeps`).
    pub swept: Option<Instant>,
    /// When a look of `balance.rs` first saw this worker retiring (`max_jobs_per_worker`
    /// reached): its queue waits a short grace for the replacement instead of moving.
    /// Cleared once a worker of the slot is ready again; with the retiring incarnation's
    /// pid, so that a time left from an earlier retirement is not taken for this one's.
    pub retiring_since: Option<(u32, Instant)>,
    /// Consecutive incarnations that died before their handshake.
    pub failed_starts: u32,
    /// Given up on (repeated start failures, or a ring found corrupt): no jobs are
    /// dispatched to it and it is not respawned.
    pub broken: bool,
    /// Why the slot was retired because of a corrupt ring (for statistics).
    pub retired: Option<String>,
    /// When the latest attempt to create its worker process failed (`fork`/`exec`
    /// refused: a pids limit, memory, the environment), if it did; the error itself goes
    /// to stderr once per streak. A slot retired while it holds one is not lost: it is
    /// tried again (`supervisor::retry_spawn`) and serves once a process can be made.
    pub spawn_error: Option<Instant>,
    /// STOP record queued.
    pub stopping: bool,
    /// Jobs staged by a `Batch` and not yet published.
    pub staged: u32,
}

impl Slot {
    /// A slot for rings `tx`/`rx`, worker pinned to `core`.
    pub(crate) fn new(tx: Producer, rx: Consumer, core: Option<usize>) -> Self {
        Slot {
            tx,
            rx,
            low: 1,
            load: 0,
            events: 0,
            seen: (0, Instant::now()),
            probe: None,
            stuck: false,
            running: (0, Instant::now()),
            pace: super::pace::Pace::new(Instant::now()),
            limit_seen: (0, 0),
            long_seen: 0,
            stole_tried: 0,
            core,
            child: None,
            pid: 0,
            kill: None,
            asked_exit: None,
            respawns: 0,
            moved_away: 0,
            swept: None,
            retiring_since: None,
            failed_starts: 0,
            broken: false,
            retired: None,
            spawn_error: None,
            stopping: false,
            staged: 0,
        }
    }

    /// Can take new jobs.
    #[inline]
    pub(crate) fn open(&self) -> bool {
        !self.broken && !self.stopping
    }
}

impl Core {
    /// Publishes every worker's staged jobs (a [`Batch`](super::submit::Batch) left
    /// staged, `raw` records): each ring's index store and wake-up check, once.
    pub(crate) fn publish_staged(&mut self) {
        for slot in self.slots.iter_mut().filter(|s| s.staged != 0) {
            slot.tx.publish();
            slot.staged = 0;
        }
    }
}

/// The state behind the pool lock.
pub(crate) struct Core {
    pub slots: Vec<Slot>,
    pub jobs: JobTable,
    /// How job ids map to claim regions, and each worker's next sequence number.
    regions: Regions,
    seqs: Vec<u64>,
    /// Polls since the last full look for stuck workers (`balance.rs`).
    pub balance_polls: u32,
    /// When `balance.rs` wants to look again (a worker stalled, not yet judged): the
    /// supervisor wakes by then.
    pub look_again: Option<Instant>,
    pub rr: usize,
    /// The `Owed::order` of the next job placed.
    placed: u64,
    /// A worker judged stuck (`balance.rs`) finished a job: the next drain looks at the
    /// workers at once (`drain_all`), not at its 32nd poll or the supervisor's tick.
    pub freed: bool,
    /// The functions registered in the pool's shared function table.
    pub fns: Registry,
    /// Jobs a blocking `submit` accepted while the pool had no room (`backlog.rs`).
    pub backlog: super::backlog::Backlog,
    after: Vec<Arc<dyn Complete>>,
    /// The pool lock's key: `key.token()` for state guarded by this lock (`locked.rs`).
    pub key: CoreKey,
}

/// Shared by the `Pool`, its futures, its map iterators and its supervisor thread.
pub(crate) struct Shared {
    /// Keeps the segment (and every pointer into it) mapped.
    #[allow(dead_code)]
    pub seg: Arc<Segment>,
    pub map: SegmentMap,
    header: NonNull<PoolHeader>,
    claims: NonNull<ClaimTable>,
    controls: Vec<NonNull<WorkerControl>>,
    pub core: Mutex<Core>,
    /// Threads blocked in `wait_until` (the supervisor drains completions only when 0).
    pub waiters: AtomicUsize,
    /// Jobs whose completion must be delivered without anyone waiting for it (a done
    /// callback or an async waker is registered). Only while this is non-zero does the
    /// supervisor sleep on the completion event count — otherwise every completion would
    /// cost the worker a FUTEX_WAKE (measured: 30 % of W2's time before this counter).
    pub interest: AtomicUsize,
    /// No more submissions.
    pub closed: AtomicBool,
    /// Completions processed so far (a change counter for threads waiting for room).
    pub completed: std::sync::atomic::AtomicU64,
    /// Counts the supervisor's releases of spill memory (`trim.rs`) at their start and at
    /// their end, so it is odd while one runs: a release holds the heap's large free blocks
    /// for as long as it gives their pages back, and an argument that found no block
    /// meanwhile must wait for it, not be refused as `TooLarge` (`Shared::trim_overlapped`).
    pub spill_trims: std::sync::atomic::AtomicU64,
    pub strategy: WaitStrategy,
    /// The spill heap for payloads larger than a ring record.
    pub spill: SpillSource,
    pub supervisor: Mutex<Option<std::thread::Thread>>,
    pub created: Instant,
    /// Where the supervisor's completions' callbacks run.
    pub callbacks: super::callbacks::Callbacks,
    /// `JobFuture`s of this pool cancel their job when dropped unfinished.
    pub cancel_on_drop: bool,
    /// The fork generation the pool was built in (`fork.rs`): in a later one this is a
    /// forked child's copy, which must leave the shared state alone.
    born: u64,
    /// The process that built the pool (for the error a forked child gets).
    owner: u32,
}

// SAFETY: `header` and `controls` point into `seg`, which the `Arc` keeps mapped for the
// life of `Shared`; the pointees are all atomics (shared across processes by design), so
// references to them may be used from any thread.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(crate) fn new(
        seg: Arc<Segment>,
        map: SegmentMap,
        slots: Vec<Slot>,
        strategy: WaitStrategy,
        spill_bytes: usize,
        cancel_on_drop: bool,
    ) -> Option<Shared> {
        let header = seg.resolve(SegmentMap::header_offset(), 1).ok()?;
        let claims = seg.resolve(map.claims(), 1).ok()?;
        let controls = (0..map.workers)
            .map(|w| seg.resolve(map.control(w), 1).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Shared {
            seg,
            map,
            header,
            claims,
            controls,
            core: Mutex::new(Core {
                slots,
                jobs: JobTable::new(Regions::new(map.workers).slots(map.workers)),
                regions: Regions::new(map.workers),
                seqs: vec![1; map.workers],
                balance_polls: 0,
                backlog: Default::default(),
                look_again: None,
                rr: 0,
                placed: 0,
                freed: false,
                fns: Registry::new(),
                after: Vec::new(),
                key: CoreKey::new(),
            }),
            waiters: AtomicUsize::new(0),
            interest: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            completed: std::sync::atomic::AtomicU64::new(0),
            spill_trims: std::sync::atomic::AtomicU64::new(0),
            strategy,
            spill: SpillSource::new(spill_bytes),
            supervisor: Mutex::new(None),
            created: Instant::now(),
            callbacks: Default::default(),
            cancel_on_drop,
            born: crate::fork::generation_for_new_pool(),
            owner: std::process::id(),
        })
    }

    /// True in a process forked from the one that built the pool (`fork.rs`): its copy
    /// of the pool must not touch the rings, the claim words or the workers.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        crate::fork::generation() != self.born
    }

    /// The error for a use of the pool in a forked child.
    #[cold]
    pub(crate) fn forked_message(&self) -> String {
        crate::fork::message(self.owner)
    }

    #[inline]
    pub(crate) fn header(&self) -> &PoolHeader {
        // SAFETY: see the `Send` impl: valid and mapped for the life of `self`.
        unsafe { self.header.as_ref() }
    }

    #[inline]
    pub(crate) fn claims(&self) -> &ClaimTable {
        // SAFETY: as for `header`.
        unsafe { self.claims.as_ref() }
    }

    #[inline]
    pub(crate) fn control(&self, w: usize) -> &WorkerControl {
        // SAFETY: as for `header`.
        unsafe { self.controls[w].as_ref() }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains every completion ring if the lock is free; true if anything completed.
    /// Callbacks of what completed run in this thread (after the lock is released).
    #[inline]
    pub(crate) fn poll(&self) -> bool {
        self.poll_then(false)
    }

    /// [`poll`](Self::poll) for the supervisor: callbacks go to the callback thread
    /// ([`defer_after`](Self::defer_after)).
    pub(crate) fn poll_deferred(&self) -> bool {
        self.poll_then(true)
    }

    #[inline]
    fn poll_then(&self, defer: bool) -> bool {
        let mut core = match self.core.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        let n = core.drain_all(self);
        if n == 0 && core.after.is_empty() {
            return false;
        }
        // (`after` without a completion: backlogged jobs that failed to place.)
        // Relaxed: a change counter (see `completed`).
        self.completed.fetch_add(n as u64, Ordering::Relaxed);
        let after = std::mem::take(&mut core.after);
        drop(core);
        if defer {
            self.defer_after(after);
        } else {
            self.run_after(after);
        }
        self.notify_waiters();
        true
    }

    /// Takes the pool lock (waiting for it), drains every completion ring, and runs `f`
    /// under the same lock: a `map` takes its finished results this way, one lock for
    /// draining and taking. Callbacks of what completed run in this thread afterwards.
    pub(crate) fn poll_locked<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        let mut core = self.lock();
        let n = core.drain_all(self);
        let r = f(&mut core);
        if n == 0 {
            return r;
        }
        // Relaxed: a change counter (see `completed`).
        self.completed.fetch_add(n as u64, Ordering::Relaxed);
        let after = std::mem::take(&mut core.after);
        drop(core);
        self.run_after(after);
        self.notify_waiters();
        r
    }

    /// For the supervisor: hands the `after` hooks that run user callbacks to the pool's
    /// callback thread (`callbacks.rs`) and runs the others here — they only wake a waker
    /// (`has_callbacks` false after the storing step: none can be added any more), as in
    /// any other draining thread ([`run_after`](Self::run_after)). Handed over too, a
    /// waker queued behind a callback that awaits that very future with an executor of its
    /// own (`block_on` in a callback) was never woken (`tests/await_in_callback.rs`).
    pub(crate) fn defer_after(&self, after: Vec<Arc<dyn Complete>>) {
        if after.is_empty() {
            return;
        }
        let (with_callbacks, wakers): (Vec<_>, Vec<_>) =
            after.into_iter().partition(|a| a.has_callbacks());
        for a in wakers {
            a.after();
        }
        self.callbacks.defer(with_callbacks);
    }

    /// Runs `after` hooks outside the lock, then gives the (emptied) buffer back. Hooks
    /// with user callbacks go to the callback thread (`callbacks.rs`): run here they held
    /// up this thread — a `result_timeout(500 ms)` for another job returned after a
    /// callback's 2 s sleep.
    pub(crate) fn run_after(&self, mut after: Vec<Arc<dyn Complete>>) {
        if after.is_empty() {
            return;
        }
        let mut with_callbacks = Vec::new();
        for a in after.drain(..) {
            if a.has_callbacks() && !super::callbacks::on_callback_thread() {
                with_callbacks.push(a);
            } else {
                a.after();
            }
        }
        self.callbacks.defer(with_callbacks);
        if let Ok(mut core) = self.core.try_lock() {
            if core.after.capacity() < after.capacity() {
                core.after = after;
            }
        }
    }

    /// Wakes threads sleeping in `wait_until` (cheap when none sleeps).
    #[inline]
    pub(crate) fn notify_waiters(&self) {
        self.header().completions.notify_all();
    }

    /// Blocks until `ready()` or `deadline`, draining completions while waiting, with the
    /// pool's wait strategy. True if `ready()`.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
        // Relaxed: a hint for the supervisor, which re-reads it every tick.
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let r =
            wait::block_on::<(), ()>(&self.header().completions, self.strategy, deadline, || {
                if ready() {
                    return Poll::Ready(());
                }
                self.callbacks.pump();
                self.poll();
                if ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
        // Relaxed: as above.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        r.is_ok()
    }

    /// True if some live worker has nothing in flight: a map's window is too small to
    /// keep it fed. (Tried: "some worker is not running a job" — it grew the window for
    /// long jobs too, W4 went from 1.00× to 1.06–1.12× rayon, and W2 was slower.)
    pub(crate) fn starved(&self) -> bool {
        match self.core.try_lock() {
            Ok(c) => c.slots.iter().any(|s| s.open() && s.child.is_some() && s.load == 0),
            Err(_) => false,
        }
    }

    /// True while a worker runs job `id` (claimed and not yet resolved).
    pub(crate) fn is_running(&self, id: u64) -> bool {
        id != 0 && self.claims().state(id) == Claim::Running
    }

    /// Kills the worker running job `id` (if it is running); the supervisor fails the job
    /// with `e` and respawns the worker. The kill is aimed (`WorkerControl::aim_kill`): it
    /// is sent only while the worker is on `id` (a job it has claimed and not finished is
    /// always its `current`), and a worker that finishes `id` meanwhile waits for it
    /// rather than starting another job for it to land on. True if a kill is aimed at
    /// `id` (now or already): the job fails with the kill's error. False if `id` is not in
    /// flight, finished first, or its worker is gone: its outcome is its own.
    pub(crate) fn kill_running(&self, id: u64, e: JobError<Never>) -> bool {
        if self.forked() {
            return false; // the worker is the parent's
        }
        let mut core = self.lock();
        let Some(w) = core.jobs.get(id).map(|o| o.worker) else { return false };
        let slot = &mut core.slots[w];
        if let Some((k, _)) = &slot.kill {
            // Aimed at this job already, or at whatever job the worker dies running.
            return *k == id || *k == 0;
        }
        let aimed = slot.child.is_some() && self.control(w).aim_kill(id);
        if aimed {
            slot.kill = Some((id, e));
            #[cfg(test)]
            kill_window_tests::in_the_gap(self, &mut core, w);
            if let Some(c) = core.slots[w].child.as_mut() {
                let _ = c.kill();
            }
        }
        drop(core);
        self.wake_supervisor();
        aimed
    }

    /// Kills every worker (queued jobs must have been cancelled first; running jobs fail
    /// with `Cancelled`). SIGKILL also ends a stopped (SIGSTOP) worker.
    pub(crate) fn kill_all(&self) {
        if self.forked() {
            return; // the workers are the parent's
        }
        let mut core = self.lock();
        let now = Instant::now();
        for w in 0..core.slots.len() {
            let slot = &mut core.slots[w];
            if slot.kill.is_none() {
                // Id 0: whatever job the worker dies running fails as `Cancelled`
                // (`supervisor::on_death`) — the one it runs now, or one it claims before
                // the SIGKILL lands (this kill is not aimed: every job is to go).
                slot.kill = Some((0, JobError::Cancelled));
            }
            if let Some(c) = slot.child.as_mut() {
                let _ = c.kill();
                slot.asked_exit.get_or_insert(now);
            }
        }
        drop(core);
        self.wake_supervisor();
    }

    /// Wakes the supervisor thread from its tick sleep (it then recomputes how long to
    /// sleep).
    pub(crate) fn unpark_supervisor(&self) {
        if let Ok(g) = self.supervisor.try_lock() {
            if let Some(t) = g.as_ref() {
                t.unpark();
            }
        }
    }

    /// Makes the supervisor run its checks now rather than at its next tick.
    pub(crate) fn wake_supervisor(&self) {
        if let Some(t) = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            t.unpark();
        }
        self.notify_waiters();
    }
}

impl Core {
    /// Drains all completion rings; returns how many jobs were resolved. Then, if a worker
    /// has run out of work, queued jobs of a stalled worker move to it (`balance.rs`).
    #[inline]
    pub(crate) fn drain_all(&mut self, shared: &Shared) -> usize {
        if shared.forked() {
            return 0; // the completions are the parent's
        }
        let mut n = 0;
        for w in 0..self.slots.len() {
            if self.slots[w].load != 0 {
                n += self.drain(w, shared);
            }
        }
        // Room the drain made goes to the backlog first (one test when it is empty).
        if !self.backlog.is_empty() {
            self.place_backlog(shared);
        }
        if std::mem::take(&mut self.freed) {
            self.balance_now(shared);
        } else {
            self.balance(shared, false);
        }
        n
    }

    /// Drains worker `w`'s completion ring, releasing the records once per call (one
    /// index store and one wake-up check for the whole batch). Returns how many jobs were
    /// resolved (a corrupt ring resolves the slot's jobs with an error: see
    /// [`retire`](Self::retire)).
    pub(crate) fn drain(&mut self, w: usize, shared: &Shared) -> usize {
        let Core { slots, after, jobs, regions, seqs, key, freed, .. } = self;
        let mut locked = key.token();
        let Slot { rx, load, kill, .. } = &mut slots[w];
        let spilled = zeroproc_codec::envelope::is_spilled;
        let mut resolved = 0;
        // Errors (empty, a dead producer) end the batch; the supervisor judges the worker.
        // A corrupt ring stays corrupt (the error is sticky): the slot is retired below.
        let r = rx.drain(usize::MAX, |rec| {
            // Completions are matched by job id (claim.rs: a worker answers only jobs it
            // claimed, so an id is answered at most once). An id not in flight on this
            // worker is a duplicate or garbage: never handed to another job's future.
            if jobs.get(rec.tag()).is_none_or(|o| o.worker != w) {
                return;
            }
            let Some(o) = jobs.take(rec.tag()) else { return };
            resolved += 1;
            // A kill aimed at this job (`kill_running`: `terminate`, a time limit) wins over
            // a result the worker handed back just before it landed: the caller was told
            // the job ends with the kill's error (`terminate` said true for jobs that then
            // held their result, `tests/terminate_race.rs`).
            let aimed = kill.as_ref().filter(|(k, _)| *k == o.id).map(|(_, e)| e.clone());
            let needs_after = if let Some(e) = aimed {
                // A spilled result is freed unread (decoding it would have freed it).
                if spilled(&rec) {
                    if let Some(h) = shared.spill.get(shared.header()).and_then(|sh| sh.heap().ok())
                    {
                        let _ = zeroproc_codec::payload::discard(&rec, &h);
                    }
                }
                o.dest.fail(&mut locked, o.seq, e)
            } else {
                let heap = if spilled(&rec) { shared.spill.get(shared.header()) } else { None };
                // A panicking user `Deserialize` must not unwind through the ring's drain
                // (the record would be delivered again).
                let done = crate::job::contain(|| {
                    o.dest.complete(&mut locked, o.seq, rec.kind(), &rec, heap)
                });
                match done {
                    Some(a) => a,
                    None => {
                        let message = "decoding the result panicked".to_owned();
                        o.dest.fail(&mut locked, o.seq, JobError::Decode { message })
                    }
                }
            };
            if needs_after {
                after.push(o.dest);
            } else {
                o.dest.give_back(&mut locked);
            }
        });
        *load -= resolved;
        if resolved != 0 {
            let slot = &mut slots[w];
            slot.events += resolved as u64;
            *freed |= slot.stuck;
            slot.stuck = false;
            // Completions mostly come in placement order: keep the held range short.
            let next = seqs[w];
            while slot.low < next && !is_held(jobs, regions.id(w, slot.low), w) {
                slot.low += 1;
            }
        }
        match r {
            Ok(_) => resolved,
            Err(TryRecvError::Corrupt(c)) => {
                resolved + self.ring_corrupt(w, &format!("completion ring corrupt ({c})"), shared)
            }
            Err(_) => resolved,
        }
    }

    #[cold]
    fn ring_corrupt(&mut self, w: usize, message: &str, shared: &Shared) -> usize {
        let n = self.slots[w].load;
        self.retire(shared, w, message);
        n
    }

    /// Retires worker slot `w` because one of its rings is corrupt: its worker is killed
    /// (the supervisor reaps it), every job it holds fails with
    /// `JobError::Decode { message }`, and nothing is dispatched to it or respawned onto
    /// its rings again. Idempotent.
    ///
    /// The jobs it has not claimed are revoked first: the worker reads its ring on until
    /// the SIGKILL lands, and a job whose future failed must never run (it could, before
    /// the revoke was added). A job it had claimed already may run until the SIGKILL
    /// lands; its future has failed, and its answer, if one is written, matches no job in
    /// flight and is dropped.
    #[cold]
    pub(crate) fn retire(&mut self, shared: &Shared, w: usize, message: &str) {
        let claims = shared.claims();
        for id in self.held(w) {
            // False for a job the worker claimed: it fails all the same (above).
            let _ = claims.revoke(id);
        }
        let slot = &mut self.slots[w];
        if slot.retired.is_none() {
            slot.retired = Some(message.to_owned());
        }
        slot.broken = true;
        if let Some(c) = slot.child.as_mut() {
            let _ = c.kill();
        }
        self.fail_held(w, |_| true, &|| JobError::Decode { message: message.to_owned() });
    }

    /// Fails the jobs worker `w` holds for which `which(id)` is true, with `e()`.
    /// Returns how many failed.
    pub(crate) fn fail_held(
        &mut self,
        w: usize,
        which: impl Fn(u64) -> bool,
        e: &dyn Fn() -> JobError<Never>,
    ) -> usize {
        let mut failed = 0;
        for id in self.held(w) {
            if !which(id) {
                continue;
            }
            let o = self.jobs.take(id).expect("checked");
            self.slots[w].load -= 1;
            if o.dest.fail(&mut self.key.token(), o.seq, e()) {
                self.after.push(o.dest);
            }
            failed += 1;
        }
        failed
    }

    /// Queues an `after` hook.
    pub(crate) fn push_after(&mut self, d: Arc<dyn Complete>) {
        self.after.push(d);
    }

    /// Takes the pending `after` hooks (run them with `Shared::run_after`).
    pub(crate) fn take_after(&mut self) -> Vec<Arc<dyn Complete>> {
        std::mem::take(&mut self.after)
    }

    /// The worker to give the next job to: fewest jobs in flight (a live worker before
    /// one being restarted); among equals one that is not pinned to the CPU this thread
    /// runs on (it would compete with us for that CPU while we wait — the default pool
    /// has a worker on every core), then round-robin.
    #[inline]
    pub(crate) fn pick(&mut self) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        // A stuck worker (`balance.rs`) or one being restarted comes last.
        let score = |s: &Slot| s.load + (usize::from(s.child.is_none() || s.stuck) << 32);
        // (A worker still starting after a respawn is left to `balance.rs`: reading every
        // slot's state word here would cost the hot path a shared line per worker.)
        let mut best: Option<(usize, usize)> = None;
        let mut ties = 0;
        let mut w = self.rr.min(n - 1);
        for _ in 0..n {
            // Round-robin without `%` (a division per slot was a third of `pick`).
            w = if w + 1 == n { 0 } else { w + 1 };
            let s = &self.slots[w];
            if !s.open() {
                continue;
            }
            match best {
                Some((_, b)) if score(s) > b => {}
                Some((_, b)) if score(s) == b => ties += 1,
                _ => {
                    best = Some((w, score(s)));
                    ties = 0;
                }
            }
        }
        let (mut w, load) = best?;
        // Idle workers tie: do not pick the one on our CPU (a vDSO read, only here).
        if load == 0 && ties > 0 && current_cpu().is_some_and(|c| self.slots[w].core == Some(c)) {
            let other = (1..n).map(|k| (w + k) % n).find(|&v| {
                let s = &self.slots[v];
                s.open() && score(s) == 0
            });
            w = other.unwrap_or(w);
        }
        self.rr = w; // the scan starts after it next time
        Some(w)
    }

    /// A fresh id for a job on worker `w` whose claim word is free (in `w`'s region);
    /// `None` when half of the region is in flight (the caller treats that worker as
    /// full). A few probes at most: the region is at least half free.
    #[inline]
    pub(crate) fn alloc_id(&mut self, w: usize) -> Option<u64> {
        if 2 * self.slots[w].load as u64 >= self.regions.region {
            return None;
        }
        self.next_free_id(w)
    }

    /// A fresh id for a job *moved* to worker `w` (`balance.rs`): moves may fill up to
    /// three quarters of the region, past the half that new jobs may fill, so the old jobs
    /// of a stuck worker can go to one that already holds its maximum of new ones (which
    /// then gets no new jobs until it is back under it). A few probes, as a rule: the jobs
    /// in flight hold mostly consecutive words, behind the next one.
    pub(crate) fn alloc_moved_id(&mut self, w: usize) -> Option<u64> {
        if 4 * self.slots[w].load as u64 >= 3 * self.regions.region {
            return None;
        }
        self.next_free_id(w)
    }

    /// The next id of worker `w` whose claim word is free (the caller made sure one is).
    #[inline]
    fn next_free_id(&mut self, w: usize) -> Option<u64> {
        loop {
            let seq = self.seqs[w];
            self.seqs[w] += 1;
            let id = self.regions.id(w, seq);
            if self.jobs.is_free(id) {
                return Some(id);
            }
        }
    }

    /// Records job `o`, new, as placed on its worker (numbered in placement order).
    #[inline]
    pub(crate) fn track(&mut self, mut o: Owed) {
        o.order = self.placed;
        self.placed += 1;
        self.track_moved(o);
    }

    /// Records job `o` as placed on its worker, keeping its `order` (a move).
    #[inline]
    pub(crate) fn track_moved(&mut self, o: Owed) {
        let slot = &mut self.slots[o.worker];
        if slot.load == 0 {
            slot.events += 1; // busy from now: a new period for the stall clock
        }
        slot.load += 1;
        self.jobs.insert(o);
    }

    /// Takes job `id` back if no worker has claimed it: it leaves the job table (the
    /// caller fails it or places it again). `None` if it is not in flight or already
    /// claimed.
    pub(crate) fn revoke(&mut self, shared: &Shared, id: u64) -> Option<Owed> {
        if shared.forked() {
            return None; // the job is the parent's
        }
        let w = self.jobs.get(id)?.worker;
        if !shared.claims().revoke(id) {
            return None;
        }
        self.slots[w].load -= 1;
        self.jobs.take(id)
    }

    /// The ids of the jobs worker `w` holds, oldest first (a scan of its sequence range:
    /// cold paths only — deaths, stealing, cancelling everything).
    pub(crate) fn held(&self, w: usize) -> Vec<u64> {
        let (low, next) = (self.slots[w].low, self.seqs[w]);
        (low..next)
            .map(|seq| self.regions.id(w, seq))
            .filter(|&id| is_held(&self.jobs, id, w))
            .collect()
    }

    /// The newest id placed on worker `w` (0 if none), and the claim words of its region.
    pub(crate) fn newest_id(&self, w: usize) -> (u64, std::ops::Range<usize>) {
        let seq = self.seqs[w] - 1;
        let newest = if seq != 0 { self.regions.id(w, seq) } else { 0 };
        (newest, self.regions.words(w))
    }

    /// Total jobs in flight.
    pub(crate) fn owed(&self) -> usize {
        self.jobs.len()
    }
}

/// Whether job `id` is in flight on worker `w`.
#[inline]
fn is_held(jobs: &JobTable, id: u64, w: usize) -> bool {
    jobs.get(id).is_some_and(|o| o.worker == w)
}

/// The CPU the calling thread runs on (`sched_getcpu`: a vDSO / rseq read, no syscall).
#[inline]
fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}
