//! Putting a job into a worker's submission ring: the arguments are archived directly
//! into the reserved record (no intermediate buffer), then committed (Release).

use super::core::{Complete, Core, Owed, Shared};
use crate::job::{kind, Message};
use crate::share::pin;
use crate::spill::{SpillFailed, ToHeap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use zeroproc_codec::envelope::{self, Encode, Header};
use zeroproc_codec::send::{self, Overflow, Publish, Ring, SendError, Sent, Wait};
use zeroproc_codec::spill::SpilledBlock;
use zeroproc_ring::spsc::{ReserveTimeoutError, TryReserveError};

/// How often a submitter waiting for room retries (room is made by record releases,
/// which wake nobody).
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(1);

/// The message of arguments that find no spill-heap block even with no job in flight
/// (so waiting would never end): for `dispatch` and for a backlogged job alike.
#[cold]
pub(crate) fn spill_heap_exhausted(capacity: usize) -> String {
    format!(
        "the arguments do not fit: the pool's spill heap ({capacity} bytes) has no free block \
         large enough for them even with no job in flight (its free space was carved into \
         smaller blocks, or leaked by killed workers); PoolBuilder::spill_heap sets its size"
    )
}

/// Why a dispatch attempt did not place the job.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Every live worker's ring is full.
    Full,
    /// The pool is closed.
    Closed,
    /// Every worker slot was retired (corrupt rings, repeated start failures).
    NoWorkers,
    /// The arguments cannot be encoded (or the function cannot be registered).
    Encode(String),
    /// The worker's submission ring is corrupt: the slot was retired, try another.
    Corrupt,
    /// The arguments are larger than the pool can carry (its spill heap).
    TooLarge(String),
    /// The spill heap has no room for the arguments right now: its blocks come back as
    /// workers read their jobs' arguments (waited for like a full ring).
    HeapFull,
}

impl Shared {
    /// One attempt, under the lock: picks the least-loaded worker with room, archives
    /// `args` into its ring and records who owes the completion. Returns (worker, job id).
    #[inline]
    pub(crate) fn try_dispatch<A: Message>(
        &self,
        fn_id: u32,
        args: &A,
        dest: &mut Option<Arc<dyn Complete>>,
        seq: u64,
        timeout_ns: u64,
    ) -> Result<(usize, u64), Attempt> {
        // Acquire: pairs with the Release store in `shutdown`.
        if self.closed.load(Ordering::Acquire) {
            return Err(Attempt::Closed);
        }
        if self.forked() {
            return Err(Attempt::Encode(self.forked_message()));
        }
        place(self, &mut self.lock(), fn_id, args, dest, seq, timeout_ns, false)
    }

    /// Starts a batch: jobs placed through it are staged under one lock acquisition and
    /// published together (one index store and one wake-up check per worker and batch
    /// instead of per job — the per-commit SeqCst fence was half of the controller's
    /// dispatch time on tiny jobs, measured with perf).
    pub(crate) fn batch(&self) -> Result<Batch<'_>, Attempt> {
        // Acquire: pairs with the Release store in `shutdown`.
        if self.closed.load(Ordering::Acquire) {
            return Err(Attempt::Closed);
        }
        if self.forked() {
            return Err(Attempt::Encode(self.forked_message()));
        }
        Ok(Batch { shared: self, core: self.lock(), publish: true })
    }

    /// Dispatches, draining completions and waiting while every ring is full, until
    /// `deadline` (`None`: no limit; `Full` is then never returned). For `map` and the
    /// bounded submissions (`submit_timeout`, `submit_deadline`); a blocking `submit` never
    /// waits ([`submit_or_backlog`](Self::submit_or_backlog)).
    pub(crate) fn dispatch<A: Message>(
        &self,
        fn_id: u32,
        args: &A,
        dest: Arc<dyn Complete>,
        seq: u64,
        timeout_ns: u64,
        deadline: Option<Instant>,
    ) -> Result<(usize, u64), Attempt> {
        // Taken by the attempt that places the job (no reference count traffic per attempt).
        let mut dest = Some(dest);
        loop {
            let trims = self.spill_trims.load(Ordering::SeqCst);
            let heap_full = match self.try_dispatch(fn_id, args, &mut dest, seq, timeout_ns) {
                Err(Attempt::Full) => false,
                Err(Attempt::HeapFull) => true,
                r => return r,
            };
            if self.poll() {
                continue; // room was made
            }
            if heap_full && self.trim_overlapped(trims) {
                // The supervisor held the free blocks to release their pages: they come
                // back when it is done (one release per quiet period).
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Attempt::Full);
                }
                std::thread::sleep(RETRY_EVERY);
                continue;
            }
            if heap_full && self.lock().owed() == 0 {
                // Nothing in flight will free a block: waiting would never end.
                return Err(Attempt::TooLarge(spill_heap_exhausted(self.spill.capacity())));
            }
            // Room comes back when a worker *releases* records, which is not a completion
            // and notifies nobody here: wait for a completion, but retry at least every
            // millisecond.
            // Relaxed: a change counter; `poll` re-checks the rings under the lock.
            let seen = self.completed.load(Ordering::Relaxed);
            let slice = Instant::now() + RETRY_EVERY;
            let until = match deadline {
                Some(d) if d < slice => Some(d),
                _ => Some(slice),
            };
            let woken = self.wait_until(until, || self.completed.load(Ordering::Relaxed) != seen);
            if !woken && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Attempt::Full);
            }
        }
    }

    /// Whether a release of spill memory (`trim.rs`) ran, or still runs, since
    /// `spill_trims` read `before`: an allocation that found no free block then may have
    /// missed the blocks it held. Before this, a submission racing a release was refused as
    /// `TooLarge` ("no free block large enough ... even with no job in flight") though the
    /// same arguments had just fitted (new-user finding: two 890 MiB arguments in turn).
    pub(crate) fn trim_overlapped(&self, before: u64) -> bool {
        let now = self.spill_trims.load(Ordering::SeqCst);
        now != before || now % 2 == 1
    }

    /// Closes the pool: no more submissions; once no job is left the supervisor queues a
    /// STOP record for every worker (and kills one that does not exit). With `cancel`,
    /// queued jobs that have not started are cancelled.
    /// With `here`, the futures it cancels complete in this thread (their callbacks run
    /// here) before it returns, as Python's `shutdown(cancel_futures=True)` cancels each
    /// in the calling thread.
    pub(crate) fn shutdown(&self, cancel: bool, here: bool) {
        self.close_with(cancel, here);
        self.wake_supervisor();
    }

    /// Marks the pool closed and, with `cancel`, cancels every queued job that has not
    /// started (exactly: each is revoked before a worker claims it, `claim.rs`).
    /// Completions already in the rings are drained first: those jobs finished and keep
    /// their results.
    pub(crate) fn close(&self, cancel: bool) {
        self.close_with(cancel, false);
    }

    /// [`close`](Self::close); with `here`, the futures completed by it (those it
    /// cancelled, and those whose completions it drained) complete in this thread, their
    /// callbacks included, before it returns (else on the callback thread).
    fn close_with(&self, cancel: bool, here: bool) {
        // Release: pairs with the Acquire loads before placing a job (`try_dispatch`,
        // `batch`, and `place` under the pool lock).
        self.closed.store(true, Ordering::Release);
        if self.forked() {
            return; // the queued jobs and the workers are the parent's
        }
        let mut core = self.lock();
        let after = self.close_locked(&mut core, cancel);
        drop(core);
        if here {
            // Handed to the callback thread, cancelled futures were not yet `cancelled()`
            // when `shutdown_with` returned (`tests/cancel_with_callback.rs`).
            after.into_iter().for_each(|a| a.after());
        } else {
            self.run_after(after);
        }
        // Relaxed: a change counter for waiters (see `completed`).
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.notify_waiters();
    }
}

impl Shared {
    /// [`close`](Self::close) under the pool lock, once `closed` is stored: drains the
    /// completions, cancels the queue with `cancel`; returns the `after` hooks to run once
    /// the lock is released. No job is placed after this: `place` re-reads `closed` under
    /// the lock.
    pub(crate) fn close_locked(&self, core: &mut Core, cancel: bool) -> Vec<Arc<dyn Complete>> {
        core.drain_all(self);
        if cancel {
            for w in 0..core.slots.len() {
                let ids = core.held(w);
                for id in ids {
                    core.cancel(self, id);
                }
            }
            core.fail_backlog(crate::JobError::Cancelled);
        }
        core.take_after()
    }
}

/// Least time between two SWEEP records for one worker (`Core::place_sweeps`).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl Core {
    /// One attempt at queuing STOP on every slot that has none yet.
    pub(crate) fn place_stops(&mut self) {
        let now = std::time::Instant::now();
        for slot in self.slots.iter_mut() {
            if slot.stopping || slot.broken {
                continue;
            }
            match slot.tx.try_reserve(0) {
                Ok(mut r) => {
                    r.set_kind(kind::STOP);
                    r.commit();
                    slot.stopping = true;
                    slot.asked_exit.get_or_insert(now);
                }
                Err(TryReserveError::Full) => {}
                Err(_) => slot.stopping = true, // ring unusable: the worker is gone
            }
        }
    }

    /// Queues a SWEEP record on every idle worker (no job in flight): the controller
    /// dropped shared objects, and a worker sweeps its caches only when a record reaches
    /// it — an idle pool kept a dropped 200 MiB dict mapped, its memory in use, until its
    /// next job (mpsem31). A busy worker sees the new count at its next job. At most one
    /// per worker per [`SWEEP_EVERY`]: a program dropping arrays in a loop next to a
    /// stopped (SIGSTOP) idle worker would otherwise fill its ring with one per tick
    /// (review32: a 256 KiB ring in about 80 s; then placement skips that ring, as any
    /// full one). True if an idle worker was left out for that reason: the caller tries
    /// again at its next tick.
    pub(crate) fn place_sweeps(&mut self) -> bool {
        let now = std::time::Instant::now();
        let mut owed = false;
        for slot in self.slots.iter_mut() {
            if slot.load > 0 || slot.stopping || slot.broken {
                continue;
            }
            if slot.swept.is_some_and(|t| now.duration_since(t) < SWEEP_EVERY) {
                owed = true;
                continue;
            }
            if let Ok(mut r) = slot.tx.try_reserve(0) {
                r.set_kind(kind::SWEEP);
                r.commit();
                slot.swept = Some(now);
            }
        }
        owed
    }

    /// Cancels queued job `id` if no worker has claimed it (or it waits in the backlog,
    /// `backlog.rs`): its future fails with `Cancelled` and a spilled argument block is
    /// freed. True if it was cancelled.
    pub(crate) fn cancel(&mut self, shared: &Shared, id: u64) -> bool {
        let Some(o) = self.revoke(shared, id) else { return self.cancel_backlogged(id) };
        if let Some((_, rec)) = self.slots[o.worker].tx.written(o.pos) {
            discard_spilled(shared, &rec);
        }
        if o.dest.fail(&mut self.key.token(), o.seq, crate::JobError::Cancelled) {
            self.push_after(o.dest);
        }
        true
    }
}

/// Frees the spill block a job record points at (a revoked record nobody will read).
fn discard_spilled(shared: &Shared, rec: &[u8]) {
    if envelope::is_spilled(rec) {
        if let Some(sh) = shared.spill.get(shared.header()) {
            if let Ok(h) = sh.heap() {
                let _ = zeroproc_codec::payload::discard(rec, &h);
            }
        }
    }
}

/// Jobs staged under one lock acquisition; dropping the batch publishes them (unless
/// [`keep_staged`](Self::keep_staged)).
pub(crate) struct Batch<'a> {
    shared: &'a Shared,
    core: std::sync::MutexGuard<'a, Core>,
    publish: bool,
}

impl Batch<'_> {
    /// The pool lock the batch holds, as a token (`locked.rs`).
    pub(crate) fn locked(&mut self) -> super::locked::Locked<'_> {
        self.core.key.token()
    }

    /// Releases the lock leaving the jobs staged: the next batch to end publishes them,
    /// or the supervisor at its next tick ([`TICK`](super::supervisor::TICK)) — so a
    /// staged job never waits for its placer to come back (it may be blocked reading
    /// its input: `map.rs`).
    #[inline]
    pub(crate) fn keep_staged(mut self) {
        self.publish = false;
    }
}

/// A worker's staged jobs are published once this many accumulate, so a long batch does
/// not keep the first jobs from a waiting worker.
const PUBLISH_EVERY: u32 = 32;

impl Batch<'_> {
    /// Stages one job (see [`Shared::try_dispatch`]); `Full` when every ring is full.
    #[inline]
    pub(crate) fn try_place<A: Message>(
        &mut self,
        fn_id: u32,
        args: &A,
        dest: &mut Option<Arc<dyn Complete>>,
        seq: u64,
        timeout_ns: u64,
    ) -> Result<(usize, u64), Attempt> {
        let r = place(self.shared, &mut self.core, fn_id, args, dest, seq, timeout_ns, true);
        if let Ok((w, _)) = r {
            let slot = &mut self.core.slots[w];
            slot.staged += 1;
            if slot.staged >= PUBLISH_EVERY {
                slot.tx.publish();
                slot.staged = 0;
            }
        }
        r
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.publish {
            self.core.publish_staged();
        }
    }
}

/// Places one job on the least-loaded worker with room (committing it, or staging it
/// when `stage`). Returns (worker, job id). `dest` is taken once the job is placed (it
/// stays for the caller's next attempt otherwise). `Full` while the backlog holds jobs
/// (`backlog.rs`): they go first.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn place<A: Message>(
    shared: &Shared,
    core: &mut Core,
    fn_id: u32,
    args: &A,
    dest: &mut Option<Arc<dyn Complete>>,
    seq: u64,
    timeout_ns: u64,
    stage: bool,
) -> Result<(usize, u64), Attempt> {
    // Again under the lock: a submission that found the pool open and then waited for the
    // lock while `close` cancelled the queue must not queue its job after that (it did:
    // the job ran after `terminate`, which waited for it — for ever for a hung one).
    // Acquire: pairs with the Release store in `close`; the lock orders the two.
    if shared.closed.load(Ordering::Acquire) {
        return Err(Attempt::Closed);
    }
    // The hot path's one test for the backlog: no job overtakes a backlogged one.
    if !core.backlog.is_empty() {
        return Err(Attempt::Full);
    }
    place_in(shared, core, fn_id, args, dest, seq, timeout_ns, stage)
}

/// [`place`] without its checks: also for backlogged jobs, which were accepted before a
/// `shutdown` and run before it ends (`backlog.rs`).
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn place_in<A: Encode>(
    shared: &Shared,
    core: &mut Core,
    fn_id: u32,
    args: &A,
    dest: &mut Option<Arc<dyn Complete>>,
    seq: u64,
    timeout_ns: u64,
    stage: bool,
) -> Result<(usize, u64), Attempt> {
    // The worker will call only functions in the pool's table (`fntable.rs`); registered
    // before the record is committed. A cache hit on every submission after the first.
    core.fns.ensure(&shared.header().fns, fn_id).map_err(|e| Attempt::Encode(e.to_string()))?;
    let Some(first) = core.pick() else {
        return Err(if core.slots.iter().all(|s| s.broken) {
            Attempt::NoWorkers
        } else {
            Attempt::Closed
        });
    };
    let n = core.slots.len();
    let mut w = first;
    for k in 0..n {
        if k > 0 {
            w = if w + 1 == n { 0 } else { w + 1 }; // no `%`: see `Core::pick`
        }
        if !core.slots[w].open() {
            continue;
        }
        let Some(id) = core.alloc_id(w) else { continue };
        let spilled = core.jobs.spilled();
        let slot = &mut core.slots[w];
        let job = Job { fn_id, id, timed: timeout_ns != 0, stage, spilled };
        // The shared values archived in `args` stay alive while the job is in flight.
        let (r, pins) = pin::capture(|| encode_job(shared, &mut slot.tx, &job, args));
        match r {
            Ok(spill) => {
                let pos = slot.tx.last_position();
                let dest = dest.take().expect("a job is placed once");
                dest.assign(w, id);
                core.track(Owed {
                    id,
                    seq,
                    dest,
                    timeout_ns,
                    worker: w,
                    pos,
                    spill,
                    _pins: pins,
                    order: 0,
                });
                return Ok((w, id));
            }
            Err(Attempt::Full) => continue,
            // The heap is the pool's, not the worker's: another worker would not help.
            Err(Attempt::HeapFull) => return Err(Attempt::HeapFull),
            Err(Attempt::Corrupt) => {
                core.retire(
                    shared,
                    w,
                    &format!("submission ring corrupt: worker slot {w} retired"),
                );
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    if core.slots.iter().all(|s| s.broken) {
        return Err(Attempt::NoWorkers);
    }
    Err(Attempt::Full)
}

/// What [`encode_job`] writes besides the arguments.
struct Job {
    fn_id: u32,
    id: u64,
    timed: bool,
    /// Stage (a batch publishes) rather than commit.
    stage: bool,
    /// Spill-heap bytes counted for the arguments of the jobs already in flight.
    spilled: u64,
}

/// Archives `args` into a record of `tx` and commits (or stages) it, through the one send
/// path ([`zeroproc_codec::send`]): never waiting for ring room (a full ring is
/// `Attempt::Full`, the caller tries the next worker), arguments larger than any record
/// into the spill heap ([`JobSpill`]). Returns the spill-heap bytes counted for them
/// (0: inline).
#[inline]
fn encode_job<A: Encode>(
    shared: &Shared,
    tx: &mut zeroproc_ring::spsc::Producer,
    job: &Job,
    args: &A,
) -> Result<u64, Attempt> {
    let mut header = Header::new(job.id, job.fn_id);
    if job.timed {
        header.flags |= crate::job::FLAG_TIMED;
    }
    let publish = if job.stage { Publish::Stage } else { Publish::Commit };
    let mut ring = Ring::new(tx, Wait::Never, publish).kind(kind::JOB).tag(job.id);
    let mut spill = JobSpill { shared, in_flight: job.spilled, counted: 0 };
    match send::send(&mut ring, &mut spill, header, args) {
        Ok(Sent::Inline { .. }) => Ok(0),
        Ok(Sent::Spilled(_)) => Ok(spill.counted),
        Err(SendError::Records(ReserveTimeoutError::Timeout)) => Err(Attempt::Full),
        Err(SendError::Records(ReserveTimeoutError::Corrupt(_))) => Err(Attempt::Corrupt),
        Err(SendError::Records(e)) => Err(Attempt::Encode(e.to_string())),
        Err(SendError::Overflow(a)) => Err(a),
        Err(SendError::Serialize(e)) => Err(Attempt::Encode(e.to_string())),
    }
}

/// Where arguments larger than any ring record go: the spill heap, refused at once when
/// even the measured lower bound exceeds the heap (a 1 GiB argument for a 64 MiB heap
/// took 9.7 s of serialization passes to refuse).
///
/// Queued arguments may hold at most half of the heap (unless nothing else is in flight):
/// the rest is left for results, which workers spill into the same heap — a heap full of
/// queued arguments, which only workers free, and workers waiting to spill their results
/// would wait for each other (8 MiB arguments and results failed this way).
struct JobSpill<'s> {
    shared: &'s Shared,
    /// Spill-heap bytes counted for the arguments of the jobs already in flight.
    in_flight: u64,
    /// Bytes counted for this job's block (set by `spill`).
    counted: u64,
}

impl Overflow for JobSpill<'_> {
    type Error = Attempt;

    fn spill<T: Encode>(&mut self, args: &T, need: usize) -> Result<SpilledBlock, Attempt> {
        let cap = self.shared.spill.capacity();
        if need > cap {
            let why = if cap == 0 {
                "the pool has no spill heap".to_owned()
            } else {
                format!("more than the pool's spill heap of {cap} bytes can hold")
            };
            return Err(Attempt::TooLarge(format!(
                "the arguments need {need} bytes, {why} (PoolBuilder::spill_heap sets its size)"
            )));
        }
        // The block is rounded up to a size class (four per octave: < 25 % more).
        let counted = (need + need / 4) as u64;
        if self.in_flight > 0 && self.in_flight + counted > cap as u64 / 2 {
            return Err(Attempt::HeapFull);
        }
        // A heap that could not be made is a resource short, as a heap too small is (it
        // said `Decode`, "job data invalid: ...", review30).
        let Some(heap) = self.shared.spill.get(self.shared.header()) else {
            let why = self.shared.spill.why_none();
            return Err(Attempt::TooLarge(format!(
                "the arguments need {need} bytes, more than a job record holds, and {why}"
            )));
        };
        let block = ToHeap(heap).spill(args, need).map_err(|e| match e {
            SpillFailed::HeapFull(_) => Attempt::HeapFull,
            SpillFailed::TooLarge(e) => Attempt::TooLarge(format!("the arguments: {e}")),
            SpillFailed::Other(e) => Attempt::Encode(e),
        })?;
        self.counted = counted;
        Ok(block)
    }

    fn give_back(&mut self, block: SpilledBlock) {
        if let Some(heap) = self.shared.spill.get(self.shared.header()) {
            ToHeap(heap).give_back(block);
        }
    }
}
