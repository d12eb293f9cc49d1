//! Outcomes of forwarded jobs, collected in `TAG_DONE` form as the pool's completion path
//! hands them over (under the pool's lock: a copy of the result record and nothing else).

use crate::wire;
use std::sync::Mutex;
use zeroproc_sched::raw::{RawOutcome, RecordSink};

/// Outcomes waiting to be sent to the controller, in `TAG_DONE` form.
#[derive(Default)]
pub(crate) struct Outbox {
    inner: Mutex<(Vec<u8>, Vec<u64>)>,
}

impl RecordSink for Outbox {
    #[inline]
    fn done(&self, token: u64, outcome: RawOutcome<'_>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            RawOutcome::Done { header, archive } => {
                wire::push_done_parts(&mut g.0, token, wire::kind::OK, header, archive)
            }
            RawOutcome::Failed(e) => wire::push_error(&mut g.0, token, &e),
        }
        g.1.push(token);
    }
}

impl Outbox {
    /// The batch and the tokens in it, if any.
    pub(crate) fn take(&self) -> Option<(Vec<u8>, Vec<u64>)> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.1.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut *g))
    }
}

impl Outbox {
    /// Records a failure for `token`.
    pub(crate) fn fail(&self, token: u64, e: &zeroproc_sched::JobError) {
        self.done(token, RawOutcome::Failed(e.clone()));
    }
}
