//! The controller's state: per worker, its two rings and the queue of jobs it owes
//! results for, behind one lock that any controller thread may take to make progress.
//!
//! Progress is **caller-driven**: a thread waiting for a result drains the completion
//! rings itself (no hand-off through a reactor thread, which would add a core-to-core hop
//! to every round trip). The supervisor thread (`supervisor.rs`) drains them when nobody
//! waits, and handles worker deaths and time-outs.

use crate::control::{PoolHeader, SegmentMap, WorkerControl};
use crate::error::{JobError, Never};
use crate::fntable::Registry;
use crate::spill::{SpillHeap, SpillSource};
use std::collections::VecDeque;
use std::process::Child;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use zeroproc_ring::blocking::{self, Poll};
use zeroproc_ring::spsc::{Consumer, Producer, TryRecvError};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::Segment;

/// Where a completion goes: a future, or one position of a `map`.
pub(crate) trait Complete: Send + Sync {
    /// Stores a completion record (`st` = status, `bytes` = payload) for `seq`. Returns
    /// true when [`after`](Self::after) must be called once the pool lock is released.
    /// `heap` is the pool's spill heap when the record is a spilled envelope.
    fn complete(&self, seq: u64, st: u32, bytes: &[u8], heap: Option<&SpillHeap>) -> bool;
    /// Stores a failure for `seq` (same return convention).
    fn fail(&self, seq: u64, e: JobError<Never>) -> bool;
    /// Runs callbacks / wakers, outside the pool lock.
    fn after(&self);
    /// True when the destination no longer wants the outcome (a cancelled future).
    fn is_done(&self) -> bool;
    /// Told which worker and job id it was given to (under the pool lock, before the
    /// job can complete).
    fn assign(&self, _worker: usize, _id: u64) {}
}

/// A job a worker owes a completion for.
pub(crate) struct Owed {
    pub id: u64,
    pub seq: u64,
    pub dest: Arc<dyn Complete>,
    /// Per-job time-out in ns (0: none).
    pub timeout_ns: u64,
}

/// One worker slot, across incarnations.
pub(crate) struct Slot {
    pub tx: Producer,
    pub rx: Consumer,
    /// Jobs in the submission ring or running, in submission order (= completion order).
    pub owed: VecDeque<Owed>,
    pub child: Option<Child>,
    pub pid: u32,
    /// Why the controller killed the current incarnation: (job id, error for that job).
    pub kill: Option<(u64, JobError<Never>)>,
    /// Incarnations started after the first.
    pub respawns: u64,
    /// Consecutive incarnations that died before their handshake.
    pub failed_starts: u32,
    /// Given up on (repeated start failures, or a ring found corrupt): no jobs are
    /// dispatched to it and it is not respawned.
    pub broken: bool,
    /// Why the slot was retired because of a corrupt ring (for statistics).
    pub retired: Option<String>,
    /// STOP record queued.
    pub stopping: bool,
    /// Jobs staged by a `Batch` and not yet published.
    pub staged: u32,
}

/// The state behind the pool lock.
pub(crate) struct Core {
    pub slots: Vec<Slot>,
    pub next_id: u64,
    pub rr: usize,
    /// The functions registered in the pool's shared function table.
    pub fns: Registry,
    after: Vec<Arc<dyn Complete>>,
}

/// Shared by the `Pool`, its futures, its map iterators and its supervisor thread.
pub(crate) struct Shared {
    /// Keeps the segment (and every pointer into it) mapped.
    #[allow(dead_code)]
    pub seg: Arc<Segment>,
    pub map: SegmentMap,
    header: NonNull<PoolHeader>,
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
    pub strategy: WaitStrategy,
    /// The spill heap for payloads larger than a ring record.
    pub spill: SpillSource,
    pub supervisor: Mutex<Option<std::thread::Thread>>,
    pub created: Instant,
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
    ) -> Option<Shared> {
        let header = seg.resolve(SegmentMap::header_offset(), 1).ok()?;
        let controls = (0..map.workers)
            .map(|w| seg.resolve(map.control(w), 1).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Shared {
            seg,
            map,
            header,
            controls,
            core: Mutex::new(Core {
                slots,
                next_id: 1,
                rr: 0,
                fns: Registry::new(),
                after: Vec::new(),
            }),
            waiters: AtomicUsize::new(0),
            interest: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            completed: std::sync::atomic::AtomicU64::new(0),
            strategy,
            spill: SpillSource::new(spill_bytes),
            supervisor: Mutex::new(None),
            created: Instant::now(),
        })
    }

    #[inline]
    pub(crate) fn header(&self) -> &PoolHeader {
        // SAFETY: see the `Send` impl: valid and mapped for the life of `self`.
        unsafe { self.header.as_ref() }
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
    #[inline]
    pub(crate) fn poll(&self) -> bool {
        let mut core = match self.core.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        let n = core.drain_all(self);
        if n == 0 {
            return false;
        }
        // Relaxed: a change counter (see `completed`).
        self.completed.fetch_add(n as u64, Ordering::Relaxed);
        let after = std::mem::take(&mut core.after);
        drop(core);
        self.run_after(after);
        self.notify_waiters();
        true
    }

    /// Runs `after` hooks outside the lock, then gives the (emptied) buffer back.
    pub(crate) fn run_after(&self, mut after: Vec<Arc<dyn Complete>>) {
        if after.is_empty() {
            return;
        }
        for a in after.drain(..) {
            a.after();
        }
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
        let r = blocking::block_on::<(), ()>(
            &self.header().completions,
            self.strategy,
            deadline,
            || {
                if ready() {
                    return Poll::Ready(());
                }
                self.poll();
                if ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            },
        );
        // Relaxed: as above.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        r.is_ok()
    }

    /// True if some live worker has nothing queued: a map's window is too small to keep
    /// it fed. (Tried: "some worker is not running a job" — it grew the window for long
    /// jobs too, W4 went from 1.00× to 1.06–1.12× rayon, and W2 was slower.)
    pub(crate) fn starved(&self) -> bool {
        match self.core.try_lock() {
            Ok(c) => c.slots.iter().any(|s| !s.broken && !s.stopping && s.owed.is_empty()),
            Err(_) => false,
        }
    }

    /// The job worker `w` is running (0: none).
    pub(crate) fn running_job(&self, w: usize) -> u64 {
        if w >= self.controls.len() {
            return 0;
        }
        self.control(w).current()
    }

    /// Tells worker `w` to skip queued job `id`.
    pub(crate) fn mark_cancelled(&self, w: usize, id: u64) {
        if w < self.controls.len() {
            self.control(w).cancel(id);
        }
    }

    /// Kills worker `w` if it is running job `id`; the supervisor fails the job with `e`
    /// and respawns the worker.
    pub(crate) fn kill_running(&self, w: usize, id: u64, e: JobError<Never>) {
        let mut core = self.lock();
        let Some(slot) = core.slots.get_mut(w) else { return };
        if self.control(w).current() == id && slot.kill.is_none() {
            slot.kill = Some((id, e));
            if let Some(c) = slot.child.as_mut() {
                let _ = c.kill();
            }
        }
        drop(core);
        self.wake_supervisor();
    }

    /// Kills every worker that is running a job (the jobs fail with `Cancelled`).
    pub(crate) fn kill_running_all(&self) {
        let ids: Vec<(usize, u64)> = {
            let core = self.lock();
            (0..core.slots.len()).map(|w| (w, self.control(w).current())).collect()
        };
        for (w, id) in ids {
            if id != 0 {
                self.kill_running(w, id, JobError::Cancelled);
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
    /// Drains all completion rings; returns how many completions were processed.
    #[inline]
    pub(crate) fn drain_all(&mut self, shared: &Shared) -> usize {
        let mut n = 0;
        for w in 0..self.slots.len() {
            if !self.slots[w].owed.is_empty() {
                n += self.drain(w, shared);
            }
        }
        n
    }

    /// Drains worker `w`'s completion ring, releasing the records once per call (one
    /// index store and one wake-up check for the whole batch). Returns how many jobs were
    /// resolved (a corrupt ring resolves the slot's owed jobs with an error: see
    /// [`retire`](Self::retire)).
    pub(crate) fn drain(&mut self, w: usize, shared: &Shared) -> usize {
        let Core { slots, after, .. } = self;
        let Slot { rx, owed, .. } = &mut slots[w];
        let spilled = |b: &[u8]| b.len() > 3 && b[3] & zeroproc_codec::envelope::FLAG_SPILLED != 0;
        // Errors (empty, a dead producer) end the batch; the supervisor judges the worker.
        // A corrupt ring stays corrupt (the error is sticky): the slot is retired below.
        let r = rx.drain(usize::MAX, |rec| {
            // Completions come back in submission order, tagged with their job id. A
            // record tagged below the front job is a stale duplicate and one tagged above
            // it means the jobs before it will never be answered: never hand a result to
            // another job's future (found by tests/reliability_faults.rs).
            while owed.front().is_some_and(|o| o.id < rec.tag()) {
                let o = owed.pop_front().expect("checked");
                let message = format!("no completion for job {} (got job {})", o.id, rec.tag());
                if o.dest.fail(o.seq, JobError::Decode { message }) {
                    after.push(o.dest);
                }
            }
            if owed.front().is_none_or(|o| o.id != rec.tag()) {
                return;
            }
            let Some(o) = owed.pop_front() else { return };
            let heap = if spilled(&rec) { shared.spill.get(shared.header()) } else { None };
            // A panicking user `Deserialize` must not unwind through the ring's drain
            // (the record would be delivered again and matched to the next owed job).
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                o.dest.complete(o.seq, rec.kind(), &rec, heap)
            }));
            let needs_after = match done {
                Ok(a) => a,
                Err(_) => {
                    let message = "decoding the result panicked".to_owned();
                    o.dest.fail(o.seq, JobError::Decode { message })
                }
            };
            if needs_after {
                after.push(o.dest);
            }
        });
        match r {
            Ok(n) => n,
            Err(TryRecvError::Corrupt(c)) => {
                self.ring_corrupt(w, &format!("completion ring corrupt ({c})"))
            }
            Err(_) => 0,
        }
    }

    #[cold]
    fn ring_corrupt(&mut self, w: usize, message: &str) -> usize {
        let n = self.slots[w].owed.len();
        self.retire(w, message);
        n
    }

    /// Retires worker slot `w` because one of its rings is corrupt: its worker is killed
    /// (the supervisor reaps it), every job it owes fails with
    /// `JobError::Decode { message }`, and nothing is dispatched to it or respawned onto
    /// its rings again. Idempotent.
    #[cold]
    pub(crate) fn retire(&mut self, w: usize, message: &str) {
        let slot = &mut self.slots[w];
        if slot.retired.is_none() {
            slot.retired = Some(message.to_owned());
        }
        slot.broken = true;
        if let Some(c) = slot.child.as_mut() {
            let _ = c.kill();
        }
        self.fail_all(w, JobError::Decode { message: message.to_owned() });
    }

    /// Fails the front job of worker `w` (the one it was running) with `e`.
    pub(crate) fn fail_front(&mut self, w: usize, e: JobError<Never>) {
        if let Some(owed) = self.slots[w].owed.pop_front() {
            if owed.dest.fail(owed.seq, e) {
                self.after.push(owed.dest);
            }
        }
    }

    /// Fails every job owed by worker `w` with `e` (a slot given up on).
    pub(crate) fn fail_all(&mut self, w: usize, e: JobError<Never>) {
        while !self.slots[w].owed.is_empty() {
            self.fail_front(w, e.clone());
        }
    }

    /// Queues an `after` hook.
    pub(crate) fn push_after(&mut self, d: Arc<dyn Complete>) {
        self.after.push(d);
    }

    /// Takes the pending `after` hooks (run them with `Shared::run_after`).
    pub(crate) fn take_after(&mut self) -> Vec<Arc<dyn Complete>> {
        std::mem::take(&mut self.after)
    }

    /// The worker to give the next job to: fewest owed jobs, ties broken round-robin.
    #[inline]
    pub(crate) fn pick(&mut self) -> Option<usize> {
        let n = self.slots.len();
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let w = (self.rr + k) % n;
            let s = &self.slots[w];
            if s.broken || s.stopping {
                continue;
            }
            let load = s.owed.len();
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((w, load));
                if load == 0 {
                    break;
                }
            }
        }
        let (w, _) = best?;
        self.rr = (w + 1) % n;
        Some(w)
    }

    /// Total jobs owed by all workers.
    pub(crate) fn owed(&self) -> usize {
        self.slots.iter().map(|s| s.owed.len()).sum()
    }
}
