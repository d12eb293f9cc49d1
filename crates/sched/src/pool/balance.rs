//! Work conservation: no queued job waits behind a long, frozen or dead worker while
//! another worker could run it.
//!
//! Jobs are placed in per-worker SPSC rings (the fastest path: no contended word per job),
//! but a record is only *committed* to its worker when the worker claims it (`claim.rs`).
//! A worker that holds unstarted jobs and has finished nothing for [`STALL`] is looked
//! at; if it is **stuck** — in one job for [`LONG_JOB`] (a long or hung job, or frozen
//! inside one), or idle that long while stopped (SIGSTOP, a debugger, a cgroup freezer,
//! `probe.rs`) or dead — the controller
//! revokes its unstarted jobs, oldest first (at most [`MOVE_MAX`] per look; one CAS each:
//! a job the worker claimed in the meantime stays), and copies their records, unchanged
//! but for the new job id, into the rings of the least-loaded workers that are not stuck
//! (off a worker that is in a job, only to idle workers, one each: `Core::unload`).
//! New jobs are not placed on a stuck worker (`Core::pick`). The victim skips the revoked
//! originals when it reaches them.
//!
//! A worker that is merely waiting for a CPU for a moment is *not* stuck: on two cores a
//! controller and two spinning workers take turns all the time, and moving the queue of
//! every worker that finished nothing for 20–200 µs cost W2 (tiny jobs) 15–55 % of its
//! throughput (measured, docs/performance.md).
//!
//! When: whenever a thread waiting on the pool polls it (every [`POLLS_PER_LOOK`]th
//! poll, and only while some worker holds queued jobs), and at every supervisor tick
//! (5 ms), which also looks at workers holding a single unstarted job.

use super::core::{Core, Owed, Shared};
use super::probe::{self, PROBE_EVERY};
use crate::control::state;
use crate::job::kind;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zeroproc_codec::envelope;

/// A worker holding unstarted jobs that finished nothing for this long is looked at.
const STALL: Duration = Duration::from_micros(50);

/// A worker in one job for this long (or idle this long, holding jobs, and stopped or
/// dead) is stuck: the jobs queued behind it move. Longer than the scheduler's usual
/// turn-taking on an oversubscribed host (a worker preempted for a few hundred µs is not
/// stuck), short enough that a job behind a hung one waits about a millisecond.
const LONG_JOB: Duration = Duration::from_millis(1);

/// Most jobs moved off one worker per look (a copy and a CAS each, on the controller).
const MOVE_MAX: usize = 64;

/// A waiting thread polls every ~0.1 µs: it looks only every this many polls.
const POLLS_PER_LOOK: u32 = 32;

impl Core {
    /// Moves unstarted jobs off stuck workers. `thorough` (the supervisor's tick): look at
    /// every worker now, also one holding a single job.
    #[inline]
    pub(crate) fn balance(&mut self, shared: &Shared, thorough: bool) {
        if !thorough {
            if !self.slots.iter().any(|s| s.load >= 2) {
                return; // nothing queued behind a running job anywhere: no atomics
            }
            self.balance_polls = self.balance_polls.wrapping_add(1);
            if self.balance_polls % POLLS_PER_LOOK != 0 {
                return;
            }
        }
        self.balance_slow(shared, thorough);
    }

    #[cold]
    fn balance_slow(&mut self, shared: &Shared, thorough: bool) {
        let now = Instant::now();
        for (w, s) in self.slots.iter_mut().enumerate() {
            // The job it runs, and since when (at look granularity).
            let cur = shared.control(w).current();
            if cur != s.running.0 {
                s.running = (cur, now);
            }
            // Progress: jobs the worker finished (its own counter: the controller may not
            // have drained them yet, e.g. while the waiting thread sleeps) and jobs placed
            // on it after it was idle.
            let token = s.events.wrapping_add(shared.control(w).jobs_done.get());
            if token != s.seen.0 {
                s.seen = (token, now);
                s.stuck = false;
            }
        }
        let before = self.look_again.take();
        for v in 0..self.slots.len() {
            if self.check_stuck(shared, v, now, thorough) {
                self.unload(shared, v);
            } else if self.suspect(v, now, thorough) {
                // Stalled, not (yet) judged stuck: the supervisor looks again when the
                // verdict could change, since a waiting thread may be asleep by then.
                let s = &self.slots[v];
                let since = if s.running.0 != 0 { s.running.1 } else { s.seen.1 };
                let when = (since + LONG_JOB).max(now + PROBE_EVERY);
                self.look_again = Some(self.look_again.map_or(when, |t| t.min(when)));
            }
        }
        if self.look_again.is_some() && before.is_none() && !thorough {
            shared.unpark_supervisor(); // it may be in a 5 ms sleep
        }
    }

    /// Holds unstarted jobs and has resolved nothing for [`STALL`].
    fn suspect(&self, v: usize, now: Instant, thorough: bool) -> bool {
        let s = &self.slots[v];
        s.load >= if thorough { 1 } else { 2 } && now.saturating_duration_since(s.seen.1) >= STALL
    }

    /// Whether worker `v` holds unstarted jobs and is stuck (see the module docs); keeps
    /// the verdict in the slot until it makes progress.
    fn check_stuck(&mut self, shared: &Shared, v: usize, now: Instant, thorough: bool) -> bool {
        if !self.suspect(v, now, thorough) {
            return false;
        }
        let s = &self.slots[v];
        if s.child.is_none() || s.stuck {
            return true; // dead and reaped (being restarted), or judged already
        }
        // Acquire: pairs with the worker's Release store of READY.
        if shared.control(v).state.load(Ordering::Acquire) != state::READY {
            // Starting (a respawn takes milliseconds here): its jobs move to a ready
            // worker; not marked stuck, so it gets jobs again once it is ready.
            return true;
        }
        let cur = shared.control(v).current();
        let verdict = if cur != 0 {
            // In one job since at least the look that saw it start.
            s.running.0 == cur && now.saturating_duration_since(s.running.1) >= LONG_JOB
        } else if now.saturating_duration_since(s.seen.1) >= LONG_JOB
            && s.probe.is_none_or(|p| now - p.at >= PROBE_EVERY)
        {
            // Between jobs, holding jobs, idle this long: stopped or dead? (Else it is
            // waking up or waiting for a CPU, and will take them.)
            let p = probe::sample(s.pid);
            self.slots[v].probe = p;
            if p.is_some_and(|p| !p.halted()) {
                // Alive and leaving its jobs alone: it may have skipped them (`damage.rs`).
                self.repair_damage(shared, v);
            }
            p.is_none_or(|p| p.halted())
        } else {
            false
        };
        self.slots[v].stuck = verdict;
        verdict
    }

    /// Moves stuck worker `v`'s unstarted jobs, oldest first, to the least-loaded workers
    /// that are not stuck.
    ///
    /// If `v` is in a job (a long one, or hung: they cannot be told apart), a job moves
    /// only to an idle worker (holding no job), which takes it at once: one job per idle
    /// worker per look. A moved job lands at the end of its new ring: moved to a busy
    /// worker it would gain nothing and could be overtaken by the newer jobs queued there.
    /// (Every job over 1 ms counts as stuck: with jobs of 10 ms on two workers, moved to
    /// any worker not stuck, queued jobs bounced between the workers about twice per job
    /// and an old one — the slow head of an ordered map — was overtaken by dozens of newer
    /// ones, then ran alone at the end: 650–700 ms where the greedy in-order schedule, as
    /// from Python's single call queue, takes 500. Moving all of them to a worker idle
    /// when the look began still let up to 8 newer jobs of 48 overtake one, against 1–2.)
    /// A worker that is stopped between jobs, dead or starting runs nothing: its jobs move
    /// to the least-loaded workers.
    fn unload(&mut self, shared: &Shared, v: usize) {
        let mut moved = 0;
        let s = &self.slots[v];
        let in_a_job = s.child.is_some()
            && s.kill.is_none()
            && shared.control(v).current() != 0
            // Acquire: pairs with the worker's Release store of READY.
            && shared.control(v).state.load(Ordering::Acquire) == state::READY;
        if in_a_job && !self.slots.iter().any(|s| s.load == 0) {
            return; // no idle worker: nothing to gain (and no allocation)
        }
        for id in self.held(v) {
            if moved == MOVE_MAX {
                break;
            }
            let Some(to) = self.target(shared, v) else { break };
            if in_a_job && self.slots[to].load != 0 {
                break;
            }
            match self.relocate(shared, id, to) {
                Move::Moved => {
                    moved += 1;
                    self.slots[v].moved_away += 1;
                }
                Move::Claimed => {}
                Move::NoRoom => break,
            }
        }
        for s in self.slots.iter_mut() {
            s.tx.publish();
        }
    }

    /// The least-loaded live, ready worker other than `not` that is not stuck.
    fn target(&self, shared: &Shared, not: usize) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&w| {
                let s = &self.slots[w];
                w != not
                    && s.open()
                    && !s.stuck
                    && s.child.is_some()
                    && s.kill.is_none()
                    && s.asked_exit.is_none()
                    // Acquire: pairs with the worker's Release store of READY.
                    && shared.control(w).state.load(Ordering::Acquire) == state::READY
            })
            .min_by_key(|&w| self.slots[w].load)
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
