//! Forwarding jobs that were encoded elsewhere (zeroproc-cluster's node agents): a job
//! record — envelope header with the function id, then the rkyv archive of the arguments —
//! is copied into a worker's submission ring **unchanged but for the job id** (as
//! `balance.rs` does when it moves a record), and the worker's completion record is handed
//! to a [`RecordSink`] as it lies in the completion ring, before it is released. Nothing is
//! decoded or re-encoded on the way: the worker validates the archive, as for any job.
//! Records larger than a ring record travel through the pool's spill heap, both ways: the
//! archive is copied into a heap block and the ring carries the spilled envelope; a spilled
//! result is handed to the sink straight from its block.

use super::core::{Complete, Owed, Shared};
use super::locked::Locked;
use super::submit::Attempt;
use super::Pool;
use crate::error::{JobError, Never};
use crate::job::{self, kind, status, Message};
use crate::share::pin::Pins;
use crate::spill::SpillHeap;
use crate::JobFn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope::{self, Header, HEADER_LEN};
use zeroproc_codec::spill;
use zeroproc_ring::spsc::TryReserveError;

pub use super::builder::check_limits;
pub use super::map::batch_len;
pub use crate::future::{run_callback, run_callbacks, CALLBACK_PANICKED};
pub use crate::job::contain;
pub use crate::job::say;

/// The function id of a plain job `f(args) -> R` (what [`Pool::submit`] sends).
pub fn fn_id<F, A, R>(_f: F) -> u32
where
    F: JobFn<A, R>,
    A: Message,
    R: Message + Send + 'static,
{
    crate::fnid::id_of(job::call::<F, A, R>)
}

/// The function id of a chunk job: `Vec<A>` in, `Vec<R>` out, `f` applied to each item
/// (what [`Pool::map`] sends with a chunk size).
pub fn chunk_fn_id<F, A, R>(_f: F) -> u32
where
    F: JobFn<A, R>,
    A: Message,
    R: Message + Send + 'static,
{
    crate::fnid::id_of(job::call_chunk::<F, A, R>)
}

/// The function id of an automatic batch job (what [`Pool::map`] sends without a chunk
/// size once items are measured tiny): `Vec<A>` in, [`BatchOut<R>`] out, `f` applied to
/// each item under its own `catch_unwind`, the items' running time measured.
pub fn batch_fn_id<F, A, R>(_f: F) -> u32
where
    F: JobFn<A, R>,
    A: Message,
    R: Message + Send + 'static,
{
    crate::fnid::id_of(job::call_batch::<F, A, R>)
}

/// The function id of an automatic batch job that hands back (what [`Pool::map`] sends):
/// as [`batch_fn_id`]'s, but once the pool's supervisor finds it running at two ticks in a
/// row (5 ms or more) it stops before its next item and returns, with the results of the
/// items it ran, the items it did not start ([`BatchBack`]), for the map to place again.
pub fn batch_handback_fn_id<F, A, R>(_f: F) -> u32
where
    F: JobFn<A, R>,
    A: Message,
    R: Message + Send + 'static,
{
    crate::fnid::id_of(job::call_batch_handback::<F, A, R>)
}

/// What a [`batch_handback_fn_id`] job returns: its [`BatchOut`] over the items it ran (a
/// prefix of the batch), then the items it did not start as an envelope of their
/// `Vec<A>` (empty when it ran them all), to decode with [`decode_handed_back`].
pub type BatchBack<R> = crate::job::BatchBack<R>;

/// The items of a [`BatchBack`]'s envelope (copied to an aligned buffer first).
pub fn decode_handed_back<A: Message>(bytes: &[u8]) -> Result<Vec<A>, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    crate::spill::decode_owned::<Vec<A>>(&aligned, None)
}

/// What a [`batch_fn_id`] job returns: the nanoseconds its items took in all, the bytes of
/// its arguments' record as the worker read it (`u64::MAX`: through the spill heap), then
/// every item's result, or — when any item panicked — each item's result or panic
/// message.
pub type BatchOut<R> = crate::job::BatchOut<R>;

/// How a forwarded job ended.
#[derive(Debug)]
pub enum RawOutcome<'a> {
    /// The result's envelope in two parts: the 16-byte header (never marked spilled) and
    /// the archive — straight from the completion ring, or from the spill block a large
    /// result was written to (freed after the sink returns). Concatenated, they are an
    /// inline envelope.
    Done {
        /// Envelope header.
        header: &'a [u8],
        /// The rkyv archive.
        archive: &'a [u8],
    },
    /// The job failed (panic, worker death, time-out, cancellation, bad arguments…).
    Failed(JobError<Never>),
}

/// Receives the outcomes of forwarded jobs. Called under the pool's lock (keep it short:
/// copy the bytes out), by whichever controller thread drains the completion.
pub trait RecordSink: Send + Sync {
    /// The job submitted with `token` ended.
    fn done(&self, token: u64, outcome: RawOutcome<'_>);
}

/// One forwarded job in flight.
struct RawJob {
    token: u64,
    sink: Arc<dyn RecordSink>,
    /// The job's id in the pool (changes when `balance.rs` moves it), 0 before placement.
    id: AtomicU64,
    worker: AtomicUsize,
}

impl Complete for RawJob {
    fn complete(
        &self,
        _: &mut Locked<'_>,
        _seq: u64,
        st: u32,
        bytes: &[u8],
        heap: Option<&SpillHeap>,
    ) -> bool {
        let msg = || String::from_utf8_lossy(bytes).into_owned();
        let failed = match st {
            status::OK if envelope::is_spilled(bytes) => match self.spilled_result(bytes, heap) {
                Ok(()) => return false,
                Err(message) => JobError::Decode { message },
            },
            status::OK if bytes.len() >= HEADER_LEN => {
                let (header, archive) = bytes.split_at(HEADER_LEN);
                self.sink.done(self.token, RawOutcome::Done { header, archive });
                return false;
            }
            status::PANICKED => JobError::Panicked { message: msg() },
            status::SKIPPED => JobError::Cancelled,
            status::TOO_LARGE => JobError::TooLarge { message: msg() },
            _ => JobError::Decode { message: msg() },
        };
        self.sink.done(self.token, RawOutcome::Failed(failed));
        false
    }

    fn fail(&self, _: &mut Locked<'_>, _seq: u64, e: JobError<Never>) -> bool {
        self.sink.done(self.token, RawOutcome::Failed(e));
        false
    }

    fn after(&self) {}

    fn assign(&self, worker: usize, id: u64) {
        // Relaxed (both): read under the pool lock or by the handle's owner after
        // `submit_record` returned (program order).
        self.worker.store(worker, Ordering::Relaxed);
        self.id.store(id, Ordering::Relaxed);
    }
}

impl RawJob {
    /// Hands a result that was spilled to the pool's heap to the sink, header and archive
    /// read in place from the block (claimed, then freed).
    fn spilled_result(&self, bytes: &[u8], heap: Option<&SpillHeap>) -> Result<(), String> {
        let sh = heap.ok_or("a spilled result, but the pool has no spill heap")?;
        let h = sh.heap()?;
        let (head, block, archive) =
            zeroproc_codec::payload::claim(bytes, &h).map_err(|e| e.to_string())?;
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        header[3] = head.flags; // `claim` cleared the spilled flag
        self.sink.done(self.token, RawOutcome::Done { header: &header, archive });
        let _ = block.free(&h);
        Ok(())
    }
}

/// A forwarded job: cancel or terminate it. Dropping it does nothing to the job.
#[derive(Clone)]
pub struct RecordHandle {
    job: Arc<RawJob>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RecordHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordHandle").field("token", &self.job.token).finish()
    }
}

impl RecordHandle {
    fn id(&self) -> u64 {
        // Relaxed: see `assign`.
        self.job.id.load(Ordering::Relaxed)
    }

    /// Cancels the job if no worker has started it (the sink gets `Cancelled`); false if
    /// it runs or ended. Exact, like [`JobFuture::cancel`](crate::JobFuture::cancel).
    pub fn cancel(&self) -> bool {
        let shared = &self.shared;
        let mut core = shared.lock();
        core.drain_all(shared);
        let id = self.id();
        let cancelled = core.jobs.get(id).is_some() && core.cancel(shared, id);
        let after = core.take_after();
        drop(core);
        shared.run_after(after);
        cancelled
    }

    /// True while a worker is running the job (like [`JobFuture::running`](crate::JobFuture::running)).
    pub fn running(&self) -> bool {
        self.shared.is_running(self.id())
    }

    /// Cancels the job, or kills the worker running it (the sink gets `Cancelled`).
    pub fn terminate(&self) {
        if !self.cancel() {
            self.shared.kill_running(self.id(), JobError::Cancelled);
        }
    }
}

/// The progress bar of [`Map::progress`](crate::Map::progress), for a layer with a `map` of
/// its own (zeroproc-cluster): drawn on stderr when it is a terminal and the `progress`
/// feature is on; nothing otherwise.
///
/// ```
/// let bar = zeroproc_sched::raw::ProgressBar::new(Some(2));
/// bar.tick(true);
/// bar.tick(true);
/// bar.tick(false); // the map ended
/// ```
pub struct ProgressBar(super::progress::Progress);

impl ProgressBar {
    /// A bar for `len` items (`None`: unknown, a counter with a rate).
    pub fn new(len: Option<usize>) -> Self {
        ProgressBar(super::progress::Progress::new(len))
    }

    /// One result taken (`true`), or the map ended (`false`).
    pub fn tick(&self, more: bool) {
        self.0.tick(more);
    }
}

impl std::fmt::Debug for ProgressBar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressBar")
    }
}

/// A pool initializer as data — its function id and, for `initializer_with`, the envelope of
/// its arguments — for a layer that builds pools in other processes of the same build
/// (zeroproc-cluster's node agents): [`PoolBuilder::forwarded_initializer`](crate::PoolBuilder::forwarded_initializer) sets it. The
/// id is a trampoline offset, meaningful only in a process running the same executable
/// (the cluster checks every rank's build fingerprint first); the workers resolve it
/// through their pool's function table as for any job.
///
/// ```
/// use zeroproc_sched::raw::Initializer;
/// fn setup(level: u32) { let _ = level; }
/// let init = Initializer::with(setup, &3u32).unwrap();
/// assert!(init.args.is_some());
/// let pool = zeroproc_sched::Pool::builder().workers(1).forwarded_initializer(&init);
/// # let _ = pool;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initializer {
    /// The trampoline's id.
    pub fn_id: u32,
    /// `initializer_with`'s arguments, as an envelope.
    pub args: Option<Vec<u8>>,
}

impl Initializer {
    /// `PoolBuilder::initializer(f)` as data.
    pub fn new<F: crate::InitFn<R>, R>(_f: F) -> Self {
        Initializer { fn_id: crate::fnid::id_of(job::call_init::<F, R>), args: None }
    }

    /// `PoolBuilder::initializer_with(f, args)` as data; `Err` if `args` cannot be archived.
    pub fn with<F, A, R>(_f: F, args: &A) -> Result<Self, String>
    where
        F: JobFn<A, R>,
        A: Message,
    {
        let env = job::encode_owned(args)?;
        Ok(Initializer {
            fn_id: crate::fnid::id_of(job::call_ignoring::<F, A, R>),
            args: Some(env.to_vec()),
        })
    }
}

impl crate::PoolBuilder {
    /// Sets an initializer received as data ([`Initializer`]), as `initializer` or
    /// `initializer_with` would have.
    pub fn forwarded_initializer(self, init: &Initializer) -> Self {
        self.set_initializer(init.fn_id, init.args.as_deref())
    }
}

/// The options of a [`Shutdown`](crate::Shutdown) — `(wait, cancel_futures, timeout)` — for
/// a layer that applies them to pools of its own (zeroproc-cluster).
///
/// ```
/// use zeroproc_sched::{raw::shutdown_options, Shutdown};
/// assert_eq!(shutdown_options(&Shutdown::new().cancel_futures(true)), (true, true, None));
/// ```
pub fn shutdown_options(how: &crate::Shutdown) -> (bool, bool, Option<Duration>) {
    (how.wait, how.cancel_futures, how.timeout)
}

/// Why [`Pool::try_submit_record`] did not place the record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Every submission ring is full, or the spill heap has no room for the record now:
    /// try again after completions.
    Full,
    /// The pool is shut down.
    Shutdown,
    /// No worker slot is left.
    NoWorkers,
    /// Not a job record (no valid envelope header, or a spilled one), or its function
    /// cannot be registered.
    Invalid(String),
    /// Larger than the pool can carry (`max` bytes: its spill heap).
    TooLarge {
        /// The record's length.
        len: usize,
        /// The largest record the rings take.
        max: usize,
    },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Full => f.write_str("every submission ring is full"),
            RecordError::Shutdown => f.write_str("the pool is shut down"),
            RecordError::NoWorkers => f.write_str("the pool has no worker left"),
            RecordError::Invalid(m) => write!(f, "not a job record: {m}"),
            RecordError::TooLarge { len, max } => {
                write!(f, "a {len}-byte job record; the pool carries at most {max} bytes")
            }
        }
    }
}

impl std::error::Error for RecordError {}

impl Pool {
    /// Places a job record encoded elsewhere (see the module docs) without waiting; its
    /// outcome goes to `sink` with `token`. `timeout`: a per-job time-out (else the
    /// pool's). Records are staged and published by [`publish_records`](Self::publish_records)
    /// when `stage` is true (one wake-up check per worker for a batch) — or earlier: by
    /// another submission's batch ending, or the pool's supervisor at its next tick
    /// (≤ 5 ms), so a staged record is never left unpublished.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::raw::{fn_id, RawOutcome, RecordSink};
    /// use std::sync::{Arc, Mutex};
    /// struct Keep(Mutex<Vec<(u64, Vec<u8>)>>);
    /// impl RecordSink for Keep {
    ///     fn done(&self, token: u64, o: RawOutcome<'_>) {
    ///         if let RawOutcome::Done { header, archive } = o {
    ///             self.0.lock().unwrap().push((token, [header, archive].concat()))
    ///         }
    ///     }
    /// }
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = zeroproc_sched::Pool::builder().workers(1).build()?;
    /// let mut rec = rkyv::util::Align([0u8; 64]);
    /// let n = zeroproc_codec::envelope::encode_into(
    ///     &mut rec.0, zeroproc_codec::envelope::Header::new(0, fn_id(square)), &7u64).unwrap();
    /// let keep = Arc::new(Keep(Mutex::new(Vec::new())));
    /// pool.try_submit_record(&rec.0[..n], keep.clone(), 42, None, false).unwrap();
    /// while keep.0.lock().unwrap().is_empty() { pool.wait_records(None); }
    /// let (token, env) = keep.0.lock().unwrap().pop().unwrap();
    /// let mut b = rkyv::util::AlignedVec::<16>::new();
    /// b.extend_from_slice(&env);
    /// let (_, v) = zeroproc_codec::envelope::decode::<u64>(&b).unwrap();
    /// assert_eq!((token, v.to_native()), (42, 49));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub fn try_submit_record(
        &self,
        record: &[u8],
        sink: Arc<dyn RecordSink>,
        token: u64,
        timeout: Option<Duration>,
        stage: bool,
    ) -> Result<RecordHandle, RecordError> {
        let timeout_ns = match timeout {
            Some(d) => super::timeout_ns(d),
            None => self.timeout_ns(),
        };
        let job = Arc::new(RawJob {
            token,
            sink,
            id: AtomicU64::new(0),
            worker: AtomicUsize::new(usize::MAX),
        });
        match place_record(&self.shared, record, job.clone(), timeout_ns, stage) {
            Ok(()) => Ok(RecordHandle { job, shared: self.shared.clone() }),
            Err(Attempt::Full | Attempt::HeapFull) => Err(RecordError::Full),
            Err(Attempt::Closed) => Err(RecordError::Shutdown),
            Err(Attempt::NoWorkers | Attempt::Corrupt) => Err(RecordError::NoWorkers),
            Err(Attempt::Encode(m)) => Err(RecordError::Invalid(m)),
            Err(Attempt::TooLarge(_)) => {
                Err(RecordError::TooLarge { len: record.len(), max: self.max_record() })
            }
        }
    }

    /// Publishes the records staged by [`try_submit_record`](Self::try_submit_record).
    pub fn publish_records(&self) {
        self.shared.lock().publish_staged();
    }

    /// The largest job record [`try_submit_record`](Self::try_submit_record) takes: a ring
    /// record, or, larger, what the pool's spill heap holds (records that do not fit a ring
    /// record go through it).
    pub fn max_record(&self) -> usize {
        let core = self.shared.lock();
        let ring = core.slots.iter().map(|s| s.tx.max_payload()).max().unwrap_or(0);
        ring.max(self.shared.spill.capacity().saturating_add(HEADER_LEN))
    }

    /// Drains completions (the sinks are called in this thread); true if any arrived.
    pub fn poll_records(&self) -> bool {
        self.shared.poll()
    }

    /// Sleeps until a completion arrives (and drains it) or `deadline` passes, with the
    /// pool's wait strategy. True if something completed.
    pub fn wait_records(&self, deadline: Option<Instant>) -> bool {
        // Relaxed: a change counter (see `Shared::completed`).
        let seen = self.shared.completed.load(Ordering::Relaxed);
        self.shared.wait_until(deadline, || self.shared.completed.load(Ordering::Relaxed) != seen)
    }
}

/// Copies the archive of `record` (larger than any ring record) into a block of the pool's
/// spill heap, created on first need as for typed jobs.
///
/// The same budget as typed jobs (`submit::spill_job`): queued spilled arguments hold at
/// most half of the heap unless nothing else is in flight, the rest is left for results;
/// over budget is `HeapFull` (no room now, like a full ring). Returns the block and the
/// bytes counted against the budget.
fn spill_record(
    shared: &Shared,
    in_flight: u64,
    record: &[u8],
) -> Result<(spill::SpilledBlock, u64), Attempt> {
    let cap = shared.spill.capacity();
    let archive = &record[HEADER_LEN..];
    if archive.len() > cap {
        return Err(Attempt::TooLarge(format!(
            "the job record needs {} bytes; the spill heap holds {cap}",
            record.len()
        )));
    }
    // The block is rounded up to a size class (four per octave: < 25 % more).
    let counted = (archive.len() + archive.len() / 4) as u64;
    if in_flight > 0 && in_flight + counted > cap as u64 / 2 {
        return Err(Attempt::HeapFull);
    }
    let Some(sh) = shared.spill.get(shared.header()) else {
        return Err(Attempt::TooLarge("the pool's spill heap could not be created".into()));
    };
    let h = sh.heap().map_err(Attempt::Encode)?;
    // SeqCst: see `Shared::trim_overlapped`.
    let trims = shared.spill_trims.load(std::sync::atomic::Ordering::SeqCst);
    match spill::spill_bytes(&h, archive) {
        Ok(b) => Ok((b, counted)),
        Err(_) if in_flight > 0 => Err(Attempt::HeapFull), // blocks come back as jobs run
        // A release of spill memory held the free blocks: they come back when it is done.
        Err(_) if shared.trim_overlapped(trims) => Err(Attempt::HeapFull),
        Err(e) => Err(Attempt::TooLarge(e.to_string())),
    }
}

/// Frees a spilled block whose record was not committed.
fn free_spilled(shared: &Shared, block: Option<spill::SpilledBlock>) {
    let heap = shared.spill.get(shared.header()).and_then(|sh| sh.heap().ok());
    if let (Some(b), Some(h)) = (block, heap) {
        let _ = b.free(&h);
    }
}

/// Places `record` on the least-loaded worker with room (as `submit::place` does for a
/// typed job, with a copy instead of an encoding).
fn place_record(
    shared: &Shared,
    record: &[u8],
    job: Arc<RawJob>,
    timeout_ns: u64,
    stage: bool,
) -> Result<(), Attempt> {
    let header = match Header::read(record) {
        Ok(h) if !h.is_spilled() => h,
        Ok(_) => return Err(Attempt::Encode("a spilled envelope cannot be forwarded".into())),
        Err(e) => return Err(Attempt::Encode(e.to_string())),
    };
    let fn_id = header.fn_id;
    if shared.forked() {
        return Err(Attempt::Encode(shared.forked_message()));
    }
    let mut core = shared.lock();
    let core = &mut *core;
    // Under the lock (as in `submit.rs`'s `place`): a record placed after `close` took the
    // lock would outlive its cancel. Acquire: pairs with the Release store in `close`.
    if shared.closed.load(Ordering::Acquire) {
        return Err(Attempt::Closed);
    }
    // Jobs of `submit` waiting in the backlog go first (`backlog.rs`).
    if !core.backlog.is_empty() {
        return Err(Attempt::Full);
    }
    core.fns.ensure(&shared.header().fns, fn_id).map_err(|e| Attempt::Encode(e.to_string()))?;
    let Some(first) = core.pick() else {
        return Err(if core.slots.iter().all(|s| s.broken) {
            Attempt::NoWorkers
        } else {
            Attempt::Closed
        });
    };
    let max = core.slots.iter().map(|s| s.tx.max_payload()).max().unwrap_or(0);
    let (spilled, counted) = if record.len() > max {
        let (b, counted) = spill_record(shared, core.jobs.spilled(), record)?;
        (Some(b), counted)
    } else {
        (None, 0)
    };
    let n = core.slots.len();
    for k in 0..n {
        let w = (first + k) % n;
        if !core.slots[w].open() {
            continue;
        }
        let Some(id) = core.alloc_id(w) else { continue };
        let slot = &mut core.slots[w];
        let len = if spilled.is_some() { HEADER_LEN + spill::SPILL_BODY_LEN } else { record.len() };
        let mut r = match slot.tx.try_reserve(len) {
            Ok(r) => r,
            Err(TryReserveError::Full) => continue,
            Err(TryReserveError::Corrupt(_)) => {
                core.retire(
                    shared,
                    w,
                    &format!("submission ring corrupt: worker slot {w} retired"),
                );
                continue;
            }
            Err(e) => {
                free_spilled(shared, spilled);
                return Err(Attempt::Encode(e.to_string()));
            }
        };
        let mut h = Header { job_id: id, ..header };
        if timeout_ns != 0 {
            h.flags |= job::FLAG_TIMED;
        }
        match &spilled {
            Some(block) => {
                spill::write_spilled_envelope(&mut r, h, block);
            }
            None => {
                r.copy_from_slice(record);
                // The envelope names the job id too (the worker checks it against the tag).
                r[8..16].copy_from_slice(&id.to_le_bytes());
                r[3] = h.flags;
            }
        }
        r.set_kind(kind::JOB);
        r.set_tag(id);
        if stage {
            r.stage();
            slot.staged += 1;
        } else {
            r.commit();
        }
        let pos = slot.tx.last_position();
        job.assign(w, id);
        core.track(Owed {
            id,
            seq: 0,
            dest: job,
            timeout_ns,
            worker: w,
            pos,
            spill: counted,
            _pins: Pins::NONE,
            order: 0, // numbered by `track`
        });
        return Ok(());
    }
    free_spilled(shared, spilled);
    if core.slots.iter().all(|s| s.broken) {
        return Err(Attempt::NoWorkers);
    }
    Err(Attempt::Full)
}
