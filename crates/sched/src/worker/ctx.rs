//! [`JobCtx`]: what a trampoline sees — the job's envelope — and where its completion
//! goes (the completion ring, inline or through the spill heap; or, for initializers and
//! `Process` bodies, only recorded).

use super::{drop_caught, reserve_failed};
use crate::job::status;
use crate::spill::{SpillFailed, SpillHeap, ToHeap, WorkerSpill};
use zeroproc_codec::envelope::{Encode, Header};
use zeroproc_codec::send::{self, Overflow, Publish, Ring, SendError, Sent, Wait};
use zeroproc_codec::spill::SpilledBlock;
use zeroproc_ring::spsc::{Producer, ReserveError, ReserveTimeoutError};

/// How long a result waits for room in a full spill heap before its job fails.
const RESULT_HEAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a trampoline sees: the job's envelope and where its completion goes.
pub(crate) struct JobCtx<'a> {
    /// The job record: envelope header + archived arguments.
    pub input: &'a [u8],
    pub(super) sink: Sink<'a>,
    pub(super) job_id: u64,
    pub(super) spill: Option<&'a mut WorkerSpill>,
    /// The worker's control block (a pool worker's jobs only): its `hand_back` and
    /// `batch_claim` words.
    pub(super) ctl: Option<&'a crate::control::WorkerControl>,
}

/// A batch's claims of its items ([`JobCtx::batch_claims`]): the worker's control block,
/// the claim word's value for 0 items, the job id.
#[derive(Clone, Copy)]
pub(crate) struct Claims<'a>(Option<(&'a crate::control::WorkerControl, u64, u64)>);

impl Claims<'_> {
    /// No claims: never stops.
    pub(crate) const NONE: Self = Claims(None);

    /// Before item `i`: claims it; true if the batch must stop there instead (the
    /// supervisor asked for the rest, or took it: `steal.rs`). One store and one load.
    #[inline(always)]
    pub(crate) fn item(self, i: usize) -> bool {
        match self.0 {
            Some((c, base, id)) => {
                crate::steal::claim_item(&c.batch_claim, &c.hand_back, base, id, i)
            }
            None => false,
        }
    }
}

pub(super) enum Sink<'a> {
    /// Completions go to the completion ring.
    Ring { out: &'a mut Producer, bytes: usize },
    /// Completions are only recorded (the initializer).
    Local { status: Option<(u32, String)> },
}

impl<'a> JobCtx<'a> {
    /// Before an automatic batch that may be stolen from: registers this worker for the
    /// supervisor's membarrier the first time (`steal::ensure_registered`).
    #[inline]
    pub(crate) fn ensure_fenced(&self) {
        if let Some(c) = self.ctl {
            crate::steal::ensure_registered(&c.fenced);
        }
    }

    /// A context whose completion is only recorded (initializers, `Process` bodies).
    pub(crate) fn local(input: &'a [u8]) -> Self {
        JobCtx { input, sink: Sink::Local { status: None }, job_id: 0, spill: None, ctl: None }
    }

    /// The claims of a batch of `n` items (`steal.rs`): [`Claims::item`] before each
    /// item says whether to stop there. Publishes the batch's start (0 items claimed)
    /// now. Outside a pool worker, or for a batch too large to count, claims nothing and
    /// never stops.
    pub(crate) fn batch_claims(&self, n: usize) -> Claims<'a> {
        let base =
            crate::steal::claim_value(self.job_id, 0).filter(|_| n <= crate::steal::MAX_ITEMS);
        match (self.ctl, base) {
            (Some(ctl), Some(base)) => {
                // Relaxed: see `WorkerControl::batch_claim`.
                ctl.batch_claim.store(base, std::sync::atomic::Ordering::Relaxed);
                Claims(Some((ctl, base, self.job_id)))
            }
            _ => Claims(None),
        }
    }
    /// The writer of a batch's finished items into this worker's partial-results area
    /// (`partial.rs`): publishes the batch's start (none kept) now. Outside a pool worker
    /// keeps nothing.
    pub(crate) fn batch_keeper(&self) -> crate::partial::Keeper<'a> {
        match (self.ctl, crate::steal::claim_value(self.job_id, 0)) {
            (Some(ctl), Some(base)) => ctl.partial.start(base),
            _ => crate::partial::Keeper::NONE,
        }
    }

    /// The recorded completion of a [`local`](Self::local) context: `None` if nothing
    /// completed, else (status, message).
    pub(crate) fn local_status(self) -> Option<(u32, String)> {
        match self.sink {
            Sink::Local { status } => status,
            Sink::Ring { .. } => None,
        }
    }
}

impl JobCtx<'_> {
    /// The pool's spill heap (attached on first use).
    pub fn spill_heap(&mut self) -> Option<&SpillHeap> {
        self.spill.as_mut().and_then(|s| s.get())
    }

    /// Why [`spill_heap`](Self::spill_heap) gave `None` (for a message).
    pub fn why_no_spill_heap(&self) -> String {
        self.spill.as_ref().map_or_else(|| "the pool has no spill heap".into(), |s| s.why_none())
    }

    /// Completes the job with `value` (status OK) through the one send path
    /// ([`zeroproc_codec::send`]): inline, or through the spill heap. `value` is dropped
    /// before its record is published: its `Drop` is user code, and if it panics the job
    /// completes as PANICKED instead (and a spilled block is given back).
    pub fn complete_value<R: Encode>(&mut self, value: R) {
        let JobCtx { sink, spill, job_id, .. } = self;
        if matches!(sink, Sink::Ring { .. }) {
            super::leave_if_forked();
        }
        let Sink::Ring { out, bytes } = sink else {
            let st = match drop_caught(value) {
                Ok(()) => (status::OK, String::new()),
                Err(m) => (status::PANICKED, m),
            };
            *sink = Sink::Local { status: Some(st) };
            return;
        };
        let mut ring =
            Ring::new(out, Wait::Until(None), Publish::Commit).kind(status::OK).tag(*job_id);
        let mut over = ResultSpill { spill: spill.as_deref_mut(), held: false };
        let header = Header::new(*job_id, 0);
        let sent = send::send_with(&mut ring, &mut over, header, value, drop_caught);
        over.release();
        let failed = match sent {
            Ok(Sent::Inline { len }) => return *bytes += len,
            Ok(Sent::Spilled(_)) => return *bytes += send::SPILLED_RECORD_LEN,
            Err((SendError::Finish(m), _)) => (status::PANICKED, m),
            Err((e, value)) => {
                // Not sent: the value is still ours to drop, and a panic there wins.
                if let Some(Err(m)) = value.map(drop_caught) {
                    (status::PANICKED, m)
                } else {
                    match e {
                        SendError::Records(e) => reserve_failed(untimed(e)),
                        SendError::Overflow(f) => f,
                        SendError::Serialize(e) => (status::BAD_RESULT, e.to_string()),
                        SendError::Finish(m) => (status::PANICKED, m),
                    }
                }
            }
        };
        self.complete_msg(failed.0, &failed.1);
    }

    /// Completes the job with a status other than OK and a message.
    pub fn complete_msg(&mut self, st: u32, msg: &str) {
        let job_id = self.job_id;
        match &mut self.sink {
            Sink::Ring { out, bytes } => {
                super::leave_if_forked();
                let max = out.max_payload();
                let whole = format!("a completion record carries {max}; a panic's whole message is on the worker's stderr");
                let fitted = crate::fit::fit_message(msg, max, &whole);
                let m = fitted.as_bytes();
                let mut r = match out.reserve(m.len()) {
                    Ok(r) => r,
                    Err(e) => reserve_failed(e),
                };
                r[..m.len()].copy_from_slice(m);
                r.set_kind(st);
                r.set_tag(job_id);
                r.commit();
                *bytes += m.len();
            }
            Sink::Local { status } => *status = Some((st, msg.to_owned())),
        }
    }
}

/// A blocking reservation's error (it has no deadline, so never `Timeout`).
fn untimed(e: ReserveTimeoutError) -> ReserveError {
    match e {
        ReserveTimeoutError::Corrupt(c) => ReserveError::Corrupt(c),
        ReserveTimeoutError::TooLarge { len, max } => ReserveError::TooLarge { len, max },
        ReserveTimeoutError::Disconnected | ReserveTimeoutError::Timeout => {
            ReserveError::Disconnected
        }
    }
}

/// Where results larger than any record go: the pool's spill heap (attached on first
/// use), waiting up to [`RESULT_HEAP_WAIT`] while it is full — the controller frees
/// results as it drains them and keeps queued arguments to half of the heap
/// (`submit::JobSpill`). Fails with the status and message to complete the job with.
struct ResultSpill<'a> {
    spill: Option<&'a mut WorkerSpill>,
    /// A block was recorded as held (`WorkerSpill::hold`): clear it when the send is over.
    held: bool,
}

impl ResultSpill<'_> {
    /// The send is over: no block is held any more.
    fn release(&self) {
        if let (true, Some(s)) = (self.held, self.spill.as_ref()) {
            s.release();
        }
    }
}

impl Overflow for ResultSpill<'_> {
    type Error = (u32, String);

    fn spill<T: Encode>(&mut self, value: &T, need: usize) -> Result<SpilledBlock, (u32, String)> {
        let Some(h) = self.spill.as_mut().and_then(|s| s.get()).cloned() else {
            let why = self
                .spill
                .as_ref()
                .map_or_else(|| "the pool has no spill heap".to_owned(), |s| s.why_none());
            return Err((
                status::TOO_LARGE,
                format!(
                    "the result needs {need} bytes, more than a completion record holds, and \
                     {why}"
                ),
            ));
        };
        let t0 = std::time::Instant::now();
        // From just before its allocation until its record is published, the block is
        // recorded in the worker's control block (`spill::record_held`): a death right
        // after the heap handed it out, while it is written, or while the result's `Drop`
        // runs (the send path's `finish`) must not leak it.
        let Some(ws) = self.spill.as_deref() else { unreachable!("the heap came from it") };
        loop {
            match ToHeap(&h).spill_recorded(value, need, |r| ws.record(r)) {
                Ok(b) => {
                    self.held = true;
                    return Ok(b);
                }
                Err(SpillFailed::HeapFull(_)) if t0.elapsed() < RESULT_HEAP_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                // A process stopped in the middle of a merge pass holds the lock and the free
                // blocks it took until it resumes (the heap gives up on it rather than wait
                // inside `alloc`, zeroproc-shm `merge.rs`): wait for it however long, as
                // for a job on a stopped worker — its blocks are not gone.
                Err(SpillFailed::HeapFull(_))
                    if h.heap().is_ok_and(|h| {
                        h.merge_holder().is_some_and(zeroproc_shm::process::is_halted)
                    }) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(SpillFailed::HeapFull(m)) => {
                    return Err((
                        status::TOO_LARGE,
                        format!(
                            "the result found the pool's spill heap full for \
                             {RESULT_HEAP_WAIT:?} ({m}); results are freed as the controller \
                             takes them"
                        ),
                    ))
                }
                Err(SpillFailed::TooLarge(m)) => {
                    return Err((status::TOO_LARGE, format!("the result: {m}")))
                }
                Err(SpillFailed::Other(m)) => return Err((status::BAD_RESULT, m)),
            }
        }
    }

    fn give_back(&mut self, block: SpilledBlock) {
        if let Some(h) = self.spill.as_mut().and_then(|s| s.get()) {
            ToHeap(h).give_back(block);
        }
    }
}
