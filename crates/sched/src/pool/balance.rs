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

    /// Moves up to half (rounded up) of `victim`'s unstarted jobs — its newest — to
    /// `thief`, in their original order, as long as `thief`'s ring has room. Returns how
    /// many moved.
    fn steal(&mut self, shared: &Shared, victim: usize, thief: usize) -> usize {
        let running = usize::from(shared.control(victim).current() != 0);
        let want = self.slots[victim].load.saturating_sub(running).div_ceil(2);
        let held = |c: &Core, id: u64| c.jobs.get(id).is_some_and(|o| o.worker == victim);
        let mut picked: Vec<u64> = Vec::with_capacity(want);
        for &id in self.slots[victim].queue.iter().rev() {
            if picked.len() == want {
                break;
            }
            if held(self, id) {
                picked.push(id);
            }
        }
        let mut moved = 0;
        for id in picked.into_iter().rev() {
            match self.relocate(shared, id, thief) {
                Move::Moved => moved += 1,
                Move::Claimed => {}
                Move::NoRoom => break,
            }
        }
        self.slots[thief].tx.publish();
        moved
    }

    /// Moves job `id` (held, unstarted as far as we know) into `to`'s ring under a new id:
    /// room is reserved first, then the job is revoked (a worker that claimed it in the
    /// meantime wins, and the reservation is abandoned), then its record is copied.
    fn relocate(&mut self, shared: &Shared, id: u64, to: usize) -> Move {
        let Some(o) = self.jobs.get(id) else { return Move::Claimed };
        let (from, pos) = (o.worker, o.pos);
        let Some((_, mut bytes)) = self.slots[from].tx.written(pos) else {
            return Move::Claimed; // cannot happen for an unreleased record; leave it
        };
        if bytes.len() < envelope::HEADER_LEN {
            return Move::Claimed;
        }
        let Some(new) = self.alloc_id() else { return Move::NoRoom };
        let Core { slots, jobs, .. } = self;
        let Ok(mut r) = slots[to].tx.try_reserve(bytes.len()) else { return Move::NoRoom };
        if !shared.claims().revoke(id) {
            return Move::Claimed; // the reservation is abandoned (never committed)
        }
        let o = jobs.take(id).expect("held");
        // The envelope names the job id too (checked by the worker against the tag).
        bytes[8..16].copy_from_slice(&new.to_le_bytes());
        shared.claims().queue(new);
        r.copy_from_slice(&bytes);
        r.set_kind(kind::JOB);
        r.set_tag(new);
        r.stage();
        slots[from].load -= 1;
        let pos = slots[to].tx.last_position();
        o.dest.assign(to, new);
        self.track(Owed { id: new, worker: to, pos, ..o });
        Move::Moved
    }
}

/// What [`Core::relocate`] did.
enum Move {
    Moved,
    /// A worker claimed the job first (or it is gone): it stays.
    Claimed,
    /// The idle worker's ring (or the id space) is full: stop moving.
    NoRoom,
}
