//! Work conservation: no queued job waits behind a running, frozen or dead worker while
//! another worker has nothing to do.
//!
//! Jobs are placed in per-worker SPSC rings (the fastest path: no contended word per job),
//! but a record is only *committed* to its worker when the worker claims it (`claim.rs`).
//! Whenever the controller sees a live worker with nothing in flight while another worker
//! holds jobs it has not started, it revokes the newest half of those (one CAS each; a
//! job the worker claimed in the meantime stays where it is) and copies their records,
//! unchanged but for the new job id, into the idle worker's ring. The victim skips the
//! revoked originals when it reaches them.
//!
//! When: after every drain that resolved a job (a worker may have run dry: the thread
//! that waits for results runs this at once), and at every supervisor tick (5 ms: a
//! worker that is frozen — SIGSTOP, a debugger — or dead holds jobs it will not start).
//! Why the newest half: the victim keeps the jobs it would reach first (they are likely
//! claimed soon), and halving makes a long queue spread in log₂ steps.

use super::core::{Core, Owed, Shared};
use crate::control::state;
use crate::error::JobError;
use crate::job::kind;
use std::sync::atomic::Ordering;
use zeroproc_codec::envelope;

impl Core {
    /// Moves queued, unstarted jobs to live workers that have nothing in flight.
    pub(crate) fn balance(&mut self, shared: &Shared) {
        // Each pass gives one idle worker work; bounded by the number of workers.
        for _ in 0..self.slots.len() {
            let Some(thief) = self.idle_worker(shared) else { return };
            let Some(victim) = self.busiest(shared, thief) else { return };
            if self.steal(shared, victim, thief) == 0 {
                return;
            }
        }
    }

    /// A live, ready worker with nothing in flight.
    fn idle_worker(&self, shared: &Shared) -> Option<usize> {
        (0..self.slots.len()).find(|&w| {
            let s = &self.slots[w];
            s.open()
                && s.load == 0
                && s.child.is_some()
                && s.kill.is_none()
                && s.asked_exit.is_none()
                // Acquire: pairs with the worker's Release store of READY.
                && shared.control(w).state.load(Ordering::Acquire) == state::READY
        })
    }

    /// The worker holding the most jobs it has not started (at least one), other than
    /// `thief`.
    fn busiest(&self, shared: &Shared, thief: usize) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (w, s) in self.slots.iter().enumerate() {
            if w == thief || s.load == 0 {
                continue;
            }
            let running = usize::from(shared.control(w).current() != 0);
            let queued = s.load.saturating_sub(running);
            if queued >= 1 && best.is_none_or(|(_, q)| queued > q) {
                best = Some((w, queued));
            }
        }
        best.map(|(w, _)| w)
    }

    /// Revokes up to half (rounded up) of `victim`'s unstarted jobs, newest first, and
    /// places them on `thief` in their original order. Returns how many moved.
    fn steal(&mut self, shared: &Shared, victim: usize, thief: usize) -> usize {
        let running = usize::from(shared.control(victim).current() != 0);
        let want = self.slots[victim].load.saturating_sub(running).div_ceil(2);
        let mut taken: Vec<Owed> = Vec::with_capacity(want);
        let mut i = self.slots[victim].queue.len();
        while taken.len() < want && i > 0 {
            i -= 1;
            let id = self.slots[victim].queue[i];
            if self.jobs.get(id).is_none_or(|o| o.worker != victim) {
                continue; // resolved or moved already
            }
            match self.revoke(shared, id) {
                Some(o) => taken.push(o),
                // Claimed: the worker reached it, and every record before it too.
                None => break,
            }
        }
        let moved = taken.len();
        for o in taken.into_iter().rev() {
            self.relocate(shared, o, thief);
        }
        self.slots[thief].tx.publish();
        moved
    }

    /// Copies revoked job `o`'s record from its old ring into `to`'s under a new id.
    fn relocate(&mut self, shared: &Shared, o: Owed, to: usize) {
        let record = self.slots[o.worker].tx.written(o.pos);
        let Some(id) = self.alloc_id() else {
            return self.lost(o, "no job id free to move it");
        };
        let Some((_, mut bytes)) = record else {
            return self.lost(o, "its record was overwritten");
        };
        if bytes.len() < envelope::HEADER_LEN {
            return self.lost(o, "its record is too short");
        }
        // The envelope names the job id too (checked by the worker against the tag).
        bytes[8..16].copy_from_slice(&id.to_le_bytes());
        shared.claims().queue(id);
        let tx = &mut self.slots[to].tx;
        match tx.try_reserve(bytes.len()) {
            Ok(mut r) => {
                r.copy_from_slice(&bytes);
                r.set_kind(kind::JOB);
                r.set_tag(id);
                r.stage();
            }
            Err(e) => return self.lost(o, &format!("the idle worker's ring refused it: {e}")),
        }
        let pos = self.slots[to].tx.last_position();
        o.dest.assign(to, id);
        self.track(Owed { id, worker: to, pos, ..o });
    }

    /// A revoked job that could not be placed again fails (never silently dropped).
    #[cold]
    fn lost(&mut self, o: Owed, why: &str) {
        let message = format!("could not move a queued job to an idle worker: {why}");
        if o.dest.fail(o.seq, JobError::Decode { message }) {
            self.push_after(o.dest);
        }
    }
}
