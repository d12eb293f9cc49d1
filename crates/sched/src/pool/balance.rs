//! Work conservation: no queued job waits behind a running, frozen or dead worker while
//! another worker has nothing to do.
//!
//! Jobs are placed in per-worker SPSC rings (the fastest path: no contended word per job),
//! but a record is only *committed* to its worker when the worker claims it (`claim.rs`).
//! When a live worker has had nothing to do for [`STALL`] while another worker has
//! resolved none of its jobs for as long and holds jobs it has not started, the
//! controller revokes the newest half of those (at most [`MOVE_MAX`]; one CAS each — a job
//! the worker claimed in the meantime stays where it is) and copies their records,
//! unchanged but for the new job id, into the idle worker's ring. The victim skips the
//! revoked originals when it reaches them.
//!
//! When: whenever a thread waiting on the pool polls it (a cheap check — is any worker
//! without jobs? — answers no in the common case, and the full look is made every 16th
//! poll), and at every supervisor tick (5 ms), which also catches a frozen (SIGSTOP, a
//! debugger) or dead worker holding a single unstarted job. Why the newest: the victim
//! keeps the jobs it would reach first; why half: a long queue spreads in log₂ steps.

use super::core::{Core, Owed, Shared};
use crate::control::state;
use crate::job::kind;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope;

/// Jobs move from a worker that has resolved none of its jobs for this long (a long job,
/// frozen, dead — or merely off its CPU for a moment) to a worker that has had nothing to
/// do for this long. Both conditions matter: a submitter that is still submitting feeds
/// an idle worker with fresh jobs at no extra cost, and three spinning processes on two
/// cores make workers look stalled all the time — moving jobs whenever one looked stalled
/// cost W2 15–20 % of its throughput and then, moving a few at a time, 55 % (measured,
/// docs/performance.md). 50 µs is the spin phase of a waiting worker: the thief is
/// still spinning when the work arrives.
const STALL: Duration = Duration::from_micros(50);

/// Most jobs moved per look: half of the victim's queue, at most this many (a copy and a
/// CAS per record on the controller).
const MOVE_MAX: usize = 64;

/// See [`Core::balance`].
const POLLS_PER_LOOK: u32 = 16;

impl Core {
    /// Moves queued, unstarted jobs of stalled workers to live workers that have nothing
    /// in flight. `thorough` (the supervisor's tick): also look at workers holding a
    /// single job, which needs a load of their `current` word (a cache miss the hot
    /// polling path avoids).
    #[inline]
    pub(crate) fn balance(&mut self, shared: &Shared, thorough: bool) {
        if !self.slots.iter().any(|s| s.load == 0 && s.open()) {
            return; // no candidate thief: the common case under load, no atomics
        }
        // A waiting thread polls every ~0.1 µs: look closer only every POLLS_PER_LOOK
        // polls (a few µs, well under STALL), which keeps the clock read off the hot path.
        self.balance_polls = self.balance_polls.wrapping_add(1);
        if !thorough && self.balance_polls % POLLS_PER_LOOK != 0 {
            return;
        }
        self.balance_slow(shared, thorough);
    }

    #[cold]
    fn balance_slow(&mut self, shared: &Shared, thorough: bool) {
        let now = Instant::now();
        for s in self.slots.iter_mut() {
            if s.events != s.seen.0 {
                s.seen = (s.events, now);
            }
        }
        // Each pass gives one idle worker work; bounded by the number of workers.
        for _ in 0..self.slots.len() {
            let Some(thief) = self.idle_worker(shared, now) else { return };
            let Some(victim) = self.stalled(shared, thief, thorough, now) else { return };
            if self.steal(shared, victim, thief) == 0 {
                return;
            }
        }
    }

    /// A live, ready worker that has had nothing in flight for [`STALL`] (a worker that
    /// just finished its last job is about to get fresh ones from the submitter).
    fn idle_worker(&self, shared: &Shared, now: Instant) -> Option<usize> {
        (0..self.slots.len()).find(|&w| {
            let s = &self.slots[w];
            s.open()
                && s.load == 0
                && s.child.is_some()
                && s.kill.is_none()
                && s.asked_exit.is_none()
                && now.saturating_duration_since(s.seen.1) >= STALL
                // Acquire: pairs with the worker's Release store of READY.
                && shared.control(w).state.load(Ordering::Acquire) == state::READY
        })
    }

    /// The stalled worker (see [`STALL`]) holding the most jobs, other than `thief`:
    /// with at least two jobs (one may be running), or with one that is not running when
    /// `thorough`.
    fn stalled(
        &self,
        shared: &Shared,
        thief: usize,
        thorough: bool,
        now: Instant,
    ) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (w, s) in self.slots.iter().enumerate() {
            let candidate =
                s.load >= 2 || (thorough && s.load == 1 && shared.control(w).current() == 0);
            if w == thief || !candidate || best.is_some_and(|(_, l)| s.load <= l) {
                continue;
            }
            if now.saturating_duration_since(s.seen.1) >= STALL {
                best = Some((w, s.load));
            }
        }
        best.map(|(w, _)| w)
    }

    /// Moves up to half (rounded up, at most [`MOVE_MAX`]) of `victim`'s unstarted jobs —
    /// its newest — to
    /// `thief`, in their original order, as long as `thief`'s ring has room. Returns how
    /// many moved.
    fn steal(&mut self, shared: &Shared, victim: usize, thief: usize) -> usize {
        let running = usize::from(shared.control(victim).current() != 0);
        let want = self.slots[victim].load.saturating_sub(running).div_ceil(2).min(MOVE_MAX);
        let newest = self.newest_held(victim, want);
        let mut moved = 0;
        for &id in newest.iter().rev() {
            match self.relocate(shared, id, thief) {
                Move::Moved => {
                    moved += 1;
                    self.slots[victim].moved_away += 1;
                }
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
        let Some(new) = self.alloc_id(to) else { return Move::NoRoom };
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

impl Core {
    /// Moves every unstarted job of `from` (a slot given up on) to the other open workers,
    /// least loaded first, as far as their rings have room.
    pub(crate) fn rehome(&mut self, shared: &Shared, from: usize) {
        for id in self.held(from) {
            let to = (0..self.slots.len())
                .filter(|&t| t != from && self.slots[t].open() && !self.slots[t].broken)
                .min_by_key(|&t| self.slots[t].load);
            let Some(to) = to else { return };
            if let Move::Moved = self.relocate(shared, id, to) {
                self.slots[from].moved_away += 1;
                self.slots[to].tx.publish();
            }
        }
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
