//! [`JobCtx`]: what a trampoline sees — the job's envelope — and where its completion
//! goes (the completion ring, inline or through the spill heap; or, for initializers and
//! `Process` bodies, only recorded).

use super::{drop_caught, reserve_failed};
use crate::job::status;
use crate::spill::{SpillHeap, WorkerSpill};
use zeroproc_codec::envelope::{self, Encode, Header};
use zeroproc_ring::spsc::Producer;

/// How long a result waits for room in a full spill heap before its job fails.
const RESULT_HEAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a trampoline sees: the job's envelope and where its completion goes.
pub(crate) struct JobCtx<'a> {
    /// The job record: envelope header + archived arguments.
    pub input: &'a [u8],
    pub(super) sink: Sink<'a>,
    pub(super) job_id: u64,
    pub(super) spill: Option<&'a mut WorkerSpill>,
}

pub(super) enum Sink<'a> {
    /// Completions go to the completion ring.
    Ring { out: &'a mut Producer, bytes: usize },
    /// Completions are only recorded (the initializer).
    Local { status: Option<(u32, String)> },
}

impl<'a> JobCtx<'a> {
    /// A context whose completion is only recorded (initializers, `Process` bodies).
    pub(crate) fn local(input: &'a [u8]) -> Self {
        JobCtx { input, sink: Sink::Local { status: None }, job_id: 0, spill: None }
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

    /// Completes the job with `value` (status OK), which is dropped before the record is
    /// committed: its `Drop` is user code, and if it panics the job completes as PANICKED
    /// instead (on the spill path the record is committed first, and such a panic is only
    /// contained).
    pub fn complete_value<R: Encode>(&mut self, value: R) {
        let job_id = self.job_id;
        let Sink::Ring { out, bytes } = &mut self.sink else {
            let st = match drop_caught(value) {
                Ok(()) => (status::OK, String::new()),
                Err(m) => (status::PANICKED, m),
            };
            self.sink = Sink::Local { status: Some(st) };
            return;
        };
        let max = out.max_payload();
        let mut size = 256.min(max);
        loop {
            let mut r = match out.reserve(size) {
                Ok(r) => r,
                Err(e) => reserve_failed(e),
            };
            // Every arm that does not commit abandons the reservation (never committed).
            match envelope::encode_into(&mut r, Header::new(job_id, 0), &value) {
                Ok(n) => {
                    if let Err(m) = drop_caught(value) {
                        return self.complete_msg(status::PANICKED, &m);
                    }
                    r.truncate(n);
                    r.set_kind(status::OK);
                    r.set_tag(job_id);
                    r.commit();
                    *bytes += n;
                    return;
                }
                Err(envelope::EncodeError::TooLarge { .. }) if size < max => size = max,
                Err(e) if crate::spill::too_large(&e) => {
                    let sent = self.complete_spilled(&value, &e);
                    let _ = drop_caught(value); // after the commit: only contained
                    if let Err((st, m)) = sent {
                        self.complete_msg(st, &m);
                    }
                    return;
                }
                Err(e) => {
                    let (st, m) = match drop_caught(value) {
                        Ok(()) => (status::BAD_RESULT, e.to_string()),
                        Err(m) => (status::PANICKED, m),
                    };
                    return self.complete_msg(st, &m);
                }
            }
        }
    }

    /// Sends a result larger than any record through the spill heap (committed here);
    /// `Err` holds the status and message to complete with instead.
    fn complete_spilled<R: Encode>(
        &mut self,
        value: &R,
        e: &envelope::EncodeError,
    ) -> Result<(), (u32, String)> {
        use crate::spill::SpillFailed;
        let header = Header::new(self.job_id, 0);
        let Some(h) = self.spill_heap().cloned() else {
            return Err((status::TOO_LARGE, format!("{e}, and the pool has no spill heap")));
        };
        let job_id = self.job_id;
        let Sink::Ring { out, bytes } = &mut self.sink else { unreachable!() };
        let send = crate::spill::Send::CommitWaiting;
        // A full heap is waited for: the controller frees results as it drains them and
        // keeps queued arguments to half of the heap (`submit::spill_job`).
        let t0 = std::time::Instant::now();
        loop {
            match crate::spill::send_spilled(out, &h, header, value, 0, status::OK, job_id, send) {
                Ok(_) => break,
                Err(SpillFailed::HeapFull(m)) if t0.elapsed() < RESULT_HEAP_WAIT => {
                    let _ = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
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
                Err(SpillFailed::TooLarge(m)) => return Err((status::TOO_LARGE, m)),
                Err(SpillFailed::Other(m)) => return Err((status::BAD_RESULT, m)),
            }
        }
        *bytes += envelope::HEADER_LEN + zeroproc_codec::spill::SPILL_BODY_LEN;
        Ok(())
    }

    /// Completes the job with a status other than OK and a message.
    pub fn complete_msg(&mut self, st: u32, msg: &str) {
        let job_id = self.job_id;
        match &mut self.sink {
            Sink::Ring { out, bytes } => {
                let m = &msg.as_bytes()[..msg.len().min(out.max_payload())];
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
