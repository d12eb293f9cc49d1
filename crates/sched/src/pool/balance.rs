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
//! but for the new job id, to the rings of the workers that are not stuck and would start
//! them soonest — among the few newer jobs queued there by the order they were given
//! ([`REORDER_MAX`]; those given after the oldest moved one are placed again, merged with
//! the moved ones: review37), else at the end (off a worker that is in a job, only to a worker whose queue
//! would take less than half the time that job has run so far: `Core::unload`). New jobs
//! go to a stuck worker only when the others are full (`Core::pick`). The victim skips
//! the revoked originals when it reaches them.
//!
//! A worker that is not stuck shares its queue with the workers that hold no job once
//! that queue would take [`SHARE_QUEUE`] at its pace (`pace.rs`), the oldest jobs first,
//! in proportion to the paces (`split`): jobs of just under [`LONG_JOB`] never make their
//! worker stuck, and a worker holding 256 of them kept them all while the other idled.
//! A stuck worker left without jobs is probed at the supervisor's ticks and is no longer
//! stuck once it runs (resumed after a stop: `recheck_idle_stuck`).
//!
//! A worker that is merely waiting for a CPU for a moment is *not* stuck: on two cores a
//! controller and two spinning workers take turns all the time, and moving the queue of
//! every worker that finished nothing for 20–200 µs cost W2 (tiny jobs) 15–55 % of its
//! throughput (measured, docs/performance.md).
//!
//! When: whenever a thread waiting on the pool polls it (every [`POLLS_PER_LOOK`]th
//! poll, and only while some worker holds queued jobs), at every supervisor tick (5 ms),
//! which also looks at workers holding a single unstarted job, and at the drain that
//! sees a stuck worker finish a job (`balance_now`).
//!
//! A target is not stuck, with one exception: jobs leaving a worker that has been in one
//! job for `e` may go to a worker judged stuck in a job it started less than `e / 2` ago
//! (`Core::briefly_in_a_job`) — judged stuck 1 ms into a 10 ms job, it would otherwise
//! take nothing until that job ends, and then it starts its next one at once (the burst of
//! `tests/job_order.rs`: 10 ms jobs behind an 800 ms one ran after a 200 ms job given
//! after them, 6 of 90 rounds beside a build, take38). The look at a stuck worker's free
//! moment counts the job it just finished in its pace (`Pace::sample`'s `fresh`), not the
//! pace of the long job it left.

use super::core::{Core, Owed, Shared, Slot};
use super::events;
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

/// How long the queue of a worker that retires (`max_jobs_per_worker` reached) waits for
/// its replacement before it moves like a stuck worker's. A replacement starts in a few
/// milliseconds (tens on a loaded host: with 20 ms, queues still moved in some rounds at a
/// load average of 3 on 2 vCPUs); moving the queue at once sent its jobs to the ends of the
/// other workers' queues — with `max_jobs_per_worker(1)` every queued job moved at every retirement, and
/// of 200 jobs submitted at once one was overtaken by 143–173 later ones (svc32 round;
/// `tests/retire_order.rs`). A slow start (a long initializer) still moves the queue.
const RESTART_GRACE: Duration = Duration::from_millis(100);

/// Off a worker in one job, jobs move to a worker that holds jobs of its own only once
/// that job has run this long. A worker can lose its CPU in the middle of a short job for
/// a few time slices (tens of ms under load): emptying its queue into a busy worker then
/// gains little, and the jobs moved to the end of that worker's queue are overtaken by the
/// newer jobs there. Measured (2 workers): at 1 ms, a 1 M-job `map` next to two compilers
/// moved up to 7,890 jobs (0–2 before busy workers took jobs); at 10 ms, jobs of 5 ms
/// next to another pool's spinning workers were overtaken by 9–30 newer ones (within the
/// tests' bound of 8 before); at 50 ms, 0–192 moved and 0–7 overtakes (docs/performance.md).
const BUSY_TARGET_AFTER: Duration = Duration::from_millis(50);

/// A worker that is not stuck but holds queued jobs that would take this long at its
/// pace (`pace.rs`) shares them with the workers that hold none: work conservation for
/// jobs too short to be judged stuck (`LONG_JOB`) — with jobs of 900 µs on one worker and
/// of 20 µs on the other, all 256 queued on the slow one ran there while the other idled.
/// A queue of tiny jobs never qualifies (256 jobs of 0.2 µs take 50 µs), so the
/// throughput paths, where a worker is idle for a moment between refills, move nothing
/// for them; jobs of 5–20 µs moved now and then (up to about 1 in 1,000 next to a
/// spinning process, docs/architecture.md), at no cost measured.
const SHARE_QUEUE: Duration = Duration::from_millis(1);

/// Most jobs moved off one worker per look (a copy and a CAS each, on the controller).
const MOVE_MAX: usize = 64;

/// Most jobs of a target worker placed again behind the older jobs moved to it
/// (`Core::newer_on`); a target holding more newer jobs gets the moved ones at its end.
const REORDER_MAX: usize = 16;

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
        self.balance_slow(shared, thorough, false);
    }

    /// Looks now, at a worker's free moment: one that was judged stuck finished a job
    /// (`Core::drain`), and the jobs queued behind a stuck worker may go to it before it
    /// takes the newer ones of its own queue (`newer_on`). Waiting for the next look (the
    /// 32nd poll of a waiting thread, or the supervisor's tick, 2.5–5 ms) missed that
    /// moment: in a burst of 800, 10, 10, 400, 10, 10, 10 and 200 ms jobs on 2 workers,
    /// the 10 ms jobs behind the 800 ms one ran after the 200 ms job in 4 of 8 runs on a
    /// loaded host (`tests/job_order.rs`); and of two slow items of a `map` running at
    /// once, the items taken from one waited for it (`tests/map_batch_steal.rs`).
    #[cold]
    pub(crate) fn balance_now(&mut self, shared: &Shared) {
        if self.slots.iter().any(|s| s.load >= 2) {
            self.balance_slow(shared, false, true);
        }
    }

    /// `fresh` (`balance_now`): the paces count the jobs finished since the last sample
    /// however recent it is (`Pace::sample`), so that the worker that was judged stuck is
    /// not taken at the pace of the long job it has just left, as if still in it.
    #[cold]
    fn balance_slow(&mut self, shared: &Shared, thorough: bool, fresh: bool) {
        let now = Instant::now();
        let now_ns = crate::control::monotonic_ns();
        for (w, s) in self.slots.iter_mut().enumerate() {
            // The job it runs, and since when (at look granularity).
            let cur = shared.control(w).current();
            if cur != s.running.0 {
                s.running = (cur, now);
            }
            // Progress: jobs the worker finished (its own counter: the controller may not
            // have drained them yet, e.g. while the waiting thread sleeps) and jobs placed
            // on it after it was idle.
            let c = shared.control(w);
            let done = c.jobs_done.get();
            // Busy time, with the open busy period (read first, as `observe.rs` does).
            let since = c.busy_since.get();
            let open = if since != 0 { now_ns.saturating_sub(since) } else { 0 };
            let busy = Duration::from_nanos(c.busy_ns.get().saturating_add(open));
            s.pace.sample(done, busy, now, fresh);
            let token = s.events.wrapping_add(done);
            if token != s.seen.0 {
                s.seen = (token, now);
                s.stuck = false;
            }
        }
        if thorough {
            self.recheck_idle_stuck(now);
        }
        let before = self.look_again.take();
        for v in 0..self.slots.len() {
            if self.check_stuck(shared, v, now, thorough) {
                self.unload(shared, v, now);
                continue;
            }
            if self.overloaded(shared, v) {
                self.share_with_idle(shared, v, now);
            }
            if self.suspect(v, now, thorough) {
                // Stalled, not (yet) judged stuck: the supervisor looks again when the
                // verdict could change, since a waiting thread may be asleep by then.
                let s = &self.slots[v];
                let since = if s.running.0 != 0 { s.running.1 } else { s.seen.1 };
                let when = (since + LONG_JOB).max(now + PROBE_EVERY);
                self.look_again = Some(self.look_again.map_or(when, |t| t.min(when)));
            } else if thorough && self.may_outlast_the_look(v, now) {
                // A tick that finds the worker in a job it started since the last look
                // sees it progressing, not stalled; the next tick, 5 ms on, sees another
                // job. Jobs of 1–5 ms were never judged stuck while no thread waited on
                // the pool: with jobs of 3 ms on one worker and of 50 µs on the other,
                // the other idled while all 256 jobs queued behind the slow one waited
                // (770 ms; 113–187 ms with this look). Look again when this job would
                // be judged — only on a worker whose jobs take about that long, so a
                // worker of short jobs costs no extra wake-ups, and one of longer jobs
                // at most one look per job it starts while jobs wait behind it and
                // another worker is idle. (Only from looks nobody asked for, one per
                // tick: 68–139 of the 512 jobs ran on the slow worker, against 22–32 —
                // the looks that moved jobs ask for the next. Also with no worker idle:
                // jobs of 5 ms, `job_order.rs`, were overtaken by up to 9 newer ones,
                // medians 2–6 against 1–2.)
                let when = self.slots[v].running.1 + LONG_JOB;
                self.look_again = Some(self.look_again.map_or(when, |t| t.min(when)));
            }
        }
        if self.look_again.is_some() && before.is_none() && !thorough {
            shared.unpark_supervisor(); // it may be in a 5 ms sleep
        }
    }

    /// Holds jobs behind the one it runs, which has run less than [`LONG_JOB`] as far as
    /// the looks saw, its jobs take half of that or more on average (`pace.rs`), and
    /// some other worker is idle (holds no job).
    fn may_outlast_the_look(&self, v: usize, now: Instant) -> bool {
        let s = &self.slots[v];
        let idle = self.slots.iter().any(|s| s.load == 0 && s.open() && s.child.is_some());
        idle && s.load >= 2
            && s.running.0 != 0
            && now.saturating_duration_since(s.running.1) < LONG_JOB
            && s.pace.for_jobs(1) >= LONG_JOB / 2
    }

    /// Holds queued jobs (besides the one it runs) that would take [`SHARE_QUEUE`] or
    /// more at its measured pace, while a worker that could take them holds none.
    fn overloaded(&self, shared: &Shared, v: usize) -> bool {
        let s = &self.slots[v];
        s.load >= 2
            && s.pace.measured_for_jobs(s.load - 1).is_some_and(|t| t >= SHARE_QUEUE)
            && (0..self.slots.len())
                .any(|w| self.slots[w].load == 0 && self.can_take(shared, w, v, None))
    }

    /// Moves the older part of overloaded worker `v`'s queue to the workers that hold no
    /// job, so that all would finish about together (`split`), at most [`MOVE_MAX`] per
    /// look. The oldest jobs go, to the front of an empty queue: they start now, and the
    /// newer ones stay behind them on `v`. A moved job goes to a worker that was idle, so
    /// it moves again only if that worker in turn holds a queue worth [`SHARE_QUEUE`]
    /// while another idles.
    ///
    /// An idle worker is taken to run `v`'s jobs at its own pace if that is slower than
    /// `v`'s (a worker slowed down — a core shared with another program — runs anything
    /// slower), else at `v`'s: a worker that ran shorter jobs says nothing about `v`'s, and
    /// taken at its own pace it would be sent nearly all of a queue of long jobs (900 µs
    /// jobs against its 20 µs: 39 of 40), then hold them all while `v` idles, its pace
    /// still that of its short jobs, the queue not worth [`SHARE_QUEUE`] at it.
    ///
    /// *Decisions:* split in equal numbers whatever the paces, an idle worker taking 20 ms
    /// per job was sent 61–64 jobs of a worker taking 200 µs, started one, and the others
    /// went back to the end of that worker's queue once judged stuck behind it, overtaken
    /// by every newer job (`tests/share_pace.rs`); and 512 jobs of 20 µs but 900 µs on one
    /// worker went back and forth (the slow worker, idle once its queue had moved, took
    /// half of the fast one's queue: 253–399 of the 512 ran on it in 2 runs of 10, against
    /// 38–49). The supervisor looks again when the first target may be done (a waiting
    /// thread may be asleep by then): with nobody waiting, it looked only at its 5 ms
    /// ticks, and a worker given 64 jobs of 20 µs idled 4 ms of each 5.
    fn share_with_idle(&mut self, shared: &Shared, v: usize, now: Instant) {
        let running = shared.control(v).current();
        let queue: Vec<u64> = self.held(v).into_iter().filter(|&id| id != running).collect();
        let idle: Vec<usize> = (0..self.slots.len())
            .filter(|&w| self.slots[w].load == 0 && self.can_take(shared, w, v, None))
            .collect();
        let source = self.slots[v].pace.for_jobs(1);
        let paces: Vec<Duration> =
            idle.iter().map(|&w| self.slots[w].pace.for_jobs(1).max(source)).collect();
        let wants = split(queue.len(), source, &paces);
        let mut next = 0;
        for ((&to, want), pace) in idle.iter().zip(wants).zip(paces) {
            if want == 0 {
                continue;
            }
            match self.move_to(shared, (v, &queue[next..]), want, to, Why::Shared) {
                Some(n) => next += n,
                None => break, // `to`'s ring or id space is full (not expected of an idle worker)
            }
            // At its own pace it may be done sooner than at the one assumed above.
            let own = self.slots[to].pace.measured_for_jobs(want).unwrap_or(Duration::MAX);
            let done = pace.saturating_mul(want as u32).min(own).max(PROBE_EVERY);
            let when = now + done;
            self.look_again = Some(self.look_again.map_or(when, |t| t.min(when)));
        }
        for s in self.slots.iter_mut() {
            s.tx.publish();
        }
    }

    /// Clears the stuck verdict of workers that hold no job any more (their jobs moved)
    /// and run again. Such a worker finishes nothing, so no progress clears the verdict
    /// (`balance_slow`), and a stuck worker takes no moved jobs (`can_take`) and new ones
    /// only when the others are full (`Core::pick`): resumed after a stop (SIGSTOP, a
    /// debugger, Ctrl-Z), it idled for good — 100 jobs given after the resume all ran on
    /// the other worker (`tests/resumed_worker.rs`). Probed at the supervisor's ticks
    /// only, at most every [`PROBE_EVERY`] (a read of `/proc`; no such worker, no read).
    fn recheck_idle_stuck(&mut self, now: Instant) {
        for s in self.slots.iter_mut() {
            if !s.stuck
                || s.load != 0
                || s.child.is_none()
                || s.kill.is_some()
                || s.probe.is_some_and(|p| now.saturating_duration_since(p.at) < PROBE_EVERY)
            {
                continue;
            }
            let p = probe::sample(s.pid);
            s.probe = p;
            if p.is_some_and(|p| !p.halted()) {
                s.stuck = false;
            }
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
        if self.awaits_replacement(shared, v, now) {
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

    /// Whether worker `v` is being replaced after retiring (`max_jobs_per_worker`) since
    /// less than [`RESTART_GRACE`]: its queue waits for the replacement. Notes when the
    /// retirement was first seen, and forgets it once a worker of the slot is ready.
    fn awaits_replacement(&mut self, shared: &Shared, v: usize, now: Instant) -> bool {
        let s = &mut self.slots[v];
        // Acquire: pairs with the worker's Release stores of READY, JOINING and RETIRING.
        let word = shared.control(v).state.load(Ordering::Acquire);
        if s.child.is_some() && word == state::READY {
            s.retiring_since = None;
            return false;
        }
        // JOINING: a retiring worker joins what its jobs left before it says RETIRING
        // (`serve.rs`); the grace covers that join too, and a long one moves the queue.
        let retiring = word == state::RETIRING || word == state::JOINING;
        // Keyed by the incarnation: a time noted at an earlier retirement of the slot, not
        // cleared because no look found that replacement READY, must not end this one's
        // grace at once (every retirement after the slot's first moved its queue: the
        // `retire_order` test failed 3 of 3 on main, review32b).
        if s.child.is_some() && retiring && s.retiring_since.is_none_or(|(p, _)| p != s.pid) {
            s.retiring_since = Some((s.pid, now));
        }
        s.retiring_since.is_some_and(|(_, t)| now.saturating_duration_since(t) < RESTART_GRACE)
    }

    /// Moves stuck worker `v`'s unstarted jobs, oldest first, to the rings of the workers
    /// that are not stuck and would start them soonest (before a few newer jobs there:
    /// `newer_on`) (`Slot::queue_time`:
    /// the jobs a worker holds at its recent time per job), at most [`MOVE_MAX`] per look
    /// and about as many to each such worker.
    ///
    /// If `v` is in a job (a long one, or hung: they cannot be told apart), a job moves
    /// only to a worker whose whole queue would take less than half the time that job has
    /// run so far (a job that has run that long is taken to need about as long again: the
    /// moved job gains, and the margin keeps jobs from bouncing), and to a worker holding
    /// jobs of its own only once that job has run [`BUSY_TARGET_AFTER`]. A worker that is
    /// stopped between jobs, dead or starting runs nothing: all its jobs may move.
    ///
    /// *Decisions* (2 workers): moved to any worker not stuck, jobs of 10 ms bounced
    /// between the workers about twice per job and an old one — the slow head of an
    /// ordered map — was overtaken by dozens of newer ones, then ran alone at the end
    /// (650–700 ms where the greedy in-order schedule takes 500). Moved only to an idle
    /// worker (until 2026-12-06), jobs of 50 µs queued behind a long one waited until the
    /// other worker had run every newer job (overtaken by 5,744 of 6,000, `job_order.rs`). Moved to a busy
    /// worker *before* its newer jobs (those revoked and placed again behind, by placement
    /// order), a mixed workload (jobs of 5 µs–200 ms, a 1.9 ms mean) shuffled whole
    /// queues of 256 between the workers: ~1,300 moves re-placing ~260 jobs each per
    /// 6,000 jobs, and its short jobs overtaken more, not less (median 685–920 vs
    /// 340–555 newer ones). Appended, and only while the target's queue is short in time,
    /// they do not shuffle (docs/performance.md).
    fn unload(&mut self, shared: &Shared, v: usize, now: Instant) {
        let s = &self.slots[v];
        let in_a_job = s.child.is_some()
            && s.kill.is_none()
            && shared.control(v).current() != 0
            // Acquire: pairs with the worker's Release store of READY.
            && shared.control(v).state.load(Ordering::Acquire) == state::READY;
        // How long its current job has run, as far as the looks saw.
        let why = match in_a_job {
            true => Why::InJob(now.saturating_duration_since(s.running.1)),
            false => Why::NotRunning,
        };
        let run = match why {
            Why::InJob(e) => Some((now, e)),
            _ => None,
        };
        let takers = (0..self.slots.len()).filter(|&w| self.can_take(shared, w, v, run)).count();
        if takers == 0 {
            return;
        }
        let share = (MOVE_MAX / takers).max(1);
        let running = shared.control(v).current();
        let queue: Vec<u64> = self.held(v).into_iter().filter(|&id| id != running).collect();
        let mut next = 0;
        while next < MOVE_MAX.min(queue.len()) {
            let Some(to) = self.target(shared, v, run) else { break };
            let want = share.min(MOVE_MAX - next);
            match self.move_to(shared, (v, &queue[next..]), want, to, why) {
                Some(0) | None => break,
                Some(n) => next += n,
            }
        }
        for s in self.slots.iter_mut() {
            s.tx.publish();
        }
    }

    /// Moves up to `max` jobs from the front of `queue` (unstarted jobs of worker `v`,
    /// oldest first) to worker `to`'s ring while it would start them within the gain
    /// `why` allows (its queue's time at its pace, but for the newer jobs that go behind
    /// them: `newer_on`). Returns how many jobs of `queue` it
    /// dealt with (moved, or found claimed or resolved meanwhile); `None`: `to`'s ring
    /// filled up.
    fn move_to(
        &mut self,
        shared: &Shared,
        (v, queue): (usize, &[u64]),
        max: usize,
        to: usize,
        why: Why,
    ) -> Option<usize> {
        let gain = match why {
            Why::NotRunning | Why::Shared => Duration::MAX,
            Why::InJob(e) if self.slots[to].load == 0 || e >= BUSY_TARGET_AFTER => e / 2,
            Why::InJob(_) => return Some(0),
        };
        let newer = self.newer_on(shared, to, &queue[..max.min(queue.len())]);
        // Ahead of newer jobs, a moved job is not overtaken there: no margin (below, the
        // burst's 10 ms jobs waited 206 ms at `to`'s pace against a 200 ms margin).
        let gain = match why {
            Why::InJob(e) if !newer.is_empty() => e,
            _ => gain,
        };
        let mut newer = newer.into_iter().peekable();
        let (mut seen, mut moved, mut full) = (0, 0, false);
        for &id in queue.iter().take(max) {
            // What runs on `to` before a moved job: its queue but the newer jobs.
            let t = &self.slots[to];
            if t.pace.for_jobs(t.load.saturating_sub(newer.len())) >= gain {
                break;
            }
            // The newer jobs of `to` given before this one stay before it: kept where they
            // are while nothing has moved, else placed again now (review37: they went
            // behind every moved job, so jobs given after them overtook them).
            let o = self.jobs.get(id).map(|o| o.order);
            while let Some(&n) = newer.peek() {
                if self.jobs.get(n).map(|j| j.order) >= o {
                    break;
                }
                newer.next();
                if moved != 0 {
                    if let Move::NoRoom = self.relocate(shared, n, to) {
                        full = true;
                        break;
                    }
                }
            }
            if full {
                break;
            }
            match self.relocate(shared, id, to) {
                Move::Moved => moved += 1,
                Move::Claimed => {}
                Move::NoRoom => {
                    full = true;
                    break;
                }
            }
            seen += 1;
        }
        if moved != 0 {
            self.slots[v].moved_away += moved;
            events::moved(v, to, moved, why.reason());
            // Behind the moved jobs, in their order (a job claimed meanwhile stays; no
            // room: the rest stay ahead, as before).
            for id in newer {
                if let Move::NoRoom = self.relocate(shared, id, to) {
                    break;
                }
            }
        }
        (!full).then_some(seen)
    }

    /// The unstarted jobs of worker `to` given after the oldest of `moving` (jobs about
    /// to move to it), in its queue's order, if there are at most [`REORDER_MAX`]: the
    /// moved jobs go before them (`move_to` places them again behind), as from Python's
    /// single call queue. More: none (the moved jobs go to the end).
    ///
    /// *Decision (balance37):* moved jobs went to the end of a busy worker's queue, behind
    /// the newer jobs there: a burst on a fresh pool of 2 (800, 10, 10, 400, 10, 10, 10,
    /// 200 ms) ran the three 10 ms jobs queued behind the 800 ms one after the 200 ms job
    /// given after them (`tests/job_order.rs`). Placing moved jobs before *every* newer
    /// job (until 2026-12-06) shuffled whole queues of 256 between the workers on a mixed
    /// workload (~260 jobs placed again per move) and its short jobs were overtaken more;
    /// a few are placed again here, never a queue.
    fn newer_on(&self, shared: &Shared, to: usize, moving: &[u64]) -> Vec<u64> {
        let order = |id: u64| self.jobs.get(id).map(|o| o.order);
        let Some(oldest) = moving.iter().filter_map(|&id| order(id)).min() else {
            return Vec::new();
        };
        let running = shared.control(to).current();
        let mut newer: Vec<u64> = self
            .held(to)
            .into_iter()
            .filter(|&id| id != running && order(id).is_some_and(|o| o > oldest))
            .collect();
        if newer.len() > REORDER_MAX {
            return Vec::new();
        }
        // In the order they were given (`move_to` merges the moved jobs in by it).
        newer.sort_by_key(|&id| order(id));
        newer
    }

    /// Whether worker `w` (other than `not`) can take moved jobs: live, ready, not stuck —
    /// or, for jobs leaving a worker in one job that has run `e` as of `now` (`run`), stuck
    /// in a job it started less than `e / 2` ago ([`Core::briefly_in_a_job`]).
    fn can_take(
        &self,
        shared: &Shared,
        w: usize,
        not: usize,
        run: Option<(Instant, Duration)>,
    ) -> bool {
        let s = &self.slots[w];
        w != not
            && s.open()
            && (!s.stuck || run.is_some_and(|(now, e)| self.briefly_in_a_job(shared, w, now, e)))
            && s.child.is_some()
            && s.kill.is_none()
            && s.asked_exit.is_none()
            // Acquire: pairs with the worker's Release store of READY.
            && shared.control(w).state.load(Ordering::Acquire) == state::READY
    }

    /// Whether worker `w`, judged stuck, is in a job it was first seen running less than
    /// `e / 2` before `now`: a job that has run `e` is taken to need about as long again
    /// (`unload`), so jobs queued behind it would start sooner behind this one, which the
    /// pace check of `move_to` then weighs. A worker judged stuck in a job of over 1 ms
    /// (`LONG_JOB`) stays stuck until it finishes one, and it starts its next job at once:
    /// in the burst of `tests/job_order.rs` (800, 10, 10, 400, 10, 10, 10, 200 ms on 2
    /// workers), a look 1 ms into the 10 ms job that followed the 400 ms one found that
    /// worker stuck, the 10 ms jobs queued behind the 800 ms one stayed there, and they ran
    /// after the 200 ms job given after them (take38; the CI failure of 2026-12-07).
    fn briefly_in_a_job(&self, shared: &Shared, w: usize, now: Instant, e: Duration) -> bool {
        let s = &self.slots[w];
        let cur = shared.control(w).current();
        cur != 0 && s.running.0 == cur && now.saturating_duration_since(s.running.1) < e / 2
    }

    /// The worker other than `not` that can take moved jobs and would start one soonest
    /// (`run`: as for `can_take`).
    fn target(
        &self,
        shared: &Shared,
        not: usize,
        run: Option<(Instant, Duration)>,
    ) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&w| self.can_take(shared, w, not, run))
            .min_by_key(|&w| (self.slots[w].queue_time(), self.slots[w].load))
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
        let Some(new) = self.alloc_moved_id(to) else { return Move::NoRoom };
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
        self.track_moved(Owed { id: new, worker: to, pos, ..o });
        Move::Moved
    }
}

impl Core {
    /// Moves every unstarted job of `from` (a slot given up on) to the other open workers,
    /// least loaded first, as far as their rings have room: it stops at the first job the
    /// least loaded one has no room for (the others are as loaded), so that a look at a
    /// retired slot whose jobs wait for room (`rehome_stranded`, called by waiting
    /// threads too) costs one attempt, not one per job.
    pub(crate) fn rehome(&mut self, shared: &Shared, from: usize) {
        for id in self.held(from) {
            let to = (0..self.slots.len())
                .filter(|&t| t != from && self.slots[t].open() && !self.slots[t].broken)
                .min_by_key(|&t| self.slots[t].load);
            let Some(to) = to else { return };
            match self.relocate(shared, id, to) {
                Move::Moved => {
                    self.slots[from].moved_away += 1;
                    self.slots[to].tx.publish();
                }
                Move::Claimed => {}
                Move::NoRoom => return,
            }
        }
    }

    /// Fails every job retired slot `w` (no process) holds with `e`, revoking each one's
    /// claim word first: the slot may get a process again (`supervisor::retry_spawn`),
    /// which reads its ring from where its predecessor stopped and must skip these records
    /// as it skips any job resolved without it (claim.rs). Before, they failed with their
    /// words unwritten, and the new process ran every one of them after its future had
    /// failed with `NoWorkers` (user29, `tests/spawn_recovers.rs`).
    pub(crate) fn fail_unstarted(
        &mut self,
        shared: &Shared,
        w: usize,
        e: &dyn Fn() -> crate::JobError<crate::Never>,
    ) {
        let claims = shared.claims();
        for id in self.held(w) {
            // No process holds the ring: nothing can claim it in between.
            let _ = claims.revoke(id);
        }
        self.fail_held(w, |_| true, e);
    }

    /// True when a retired slot (no process) still holds unstarted jobs: those that did
    /// not fit the other workers when it was given up (`supervisor::give_up`).
    #[inline]
    pub(crate) fn stranded(&self) -> bool {
        self.slots.iter().any(|s| s.broken && s.child.is_none() && s.load > 0)
    }

    /// Moves the jobs left on retired slots to the open workers as they have room (the
    /// supervisor's tick, before the backlog: these jobs were placed before any job that
    /// waits there). With every slot retired, they fail with `NoWorkers`, as the backlog
    /// does: no worker will ever run them.
    #[cold]
    pub(crate) fn rehome_stranded(&mut self, shared: &Shared) {
        let none_left = self.slots.iter().all(|s| s.broken);
        for w in 0..self.slots.len() {
            let s = &self.slots[w];
            if !(s.broken && s.child.is_none() && s.load > 0) {
                continue;
            }
            if none_left {
                self.fail_unstarted(shared, w, &|| crate::JobError::NoWorkers);
            } else {
                self.rehome(shared, w);
            }
        }
    }
}

/// Why jobs move off a worker (`Core::move_to`).
#[derive(Clone, Copy)]
enum Why {
    /// Stuck in one job that has run this long (as far as the looks saw).
    InJob(Duration),
    /// Stuck between jobs: stopped, dead or starting; it runs nothing.
    NotRunning,
    /// Not stuck, but holding a queue worth [`SHARE_QUEUE`] while a worker idles.
    Shared,
}

impl Why {
    fn reason(self) -> &'static str {
        match self {
            Why::InJob(_) => "in one job for 1 ms or more",
            Why::NotRunning => "stopped, dead or starting",
            Why::Shared => "its queue would take 1 ms or more; shared with an idle worker",
        }
    }
}

/// How many of the `n` jobs queued on a worker taking `source` per job each idle worker
/// takes (`idle[i]` per job), so that all of them would finish about together: shares in
/// proportion to the workers' speeds, rounded (at equal paces: half of an odd number
/// rounded up, in favour of the idle one; down for an idle worker slower than the
/// source), at most [`MOVE_MAX`] in all (each idle worker its part of it). An idle worker
/// that has not finished a job yet counts as taking 1 ms (`pace.rs`): it is sent few
/// short jobs until its pace is measured.
fn split(n: usize, source: Duration, idle: &[Duration]) -> Vec<usize> {
    let speed = |d: Duration| 1.0 / d.as_secs_f64().max(1e-9);
    let all = speed(source) + idle.iter().map(|&d| speed(d)).sum::<f64>();
    let wanted = n as f64 * (1.0 - speed(source) / all);
    // Over the cap, each idle worker gets its part of MOVE_MAX.
    let scale = (MOVE_MAX as f64 / wanted.max(1e-9)).min(1.0);
    let mut left = n.min(MOVE_MAX);
    idle.iter()
        .map(|&d| {
            let x = n as f64 * speed(d) / all * scale;
            // A slower worker is not sent a job it would finish after the source.
            let k = (if d <= source { x.round() } else { x.floor() } as usize).min(left);
            left -= k;
            k
        })
        .collect()
}

/// What [`Core::relocate`] did.
enum Move {
    Moved,
    /// A worker claimed the job first (or it is gone): it stays.
    Claimed,
    /// The target worker's ring (or its id space) is full: stop moving.
    NoRoom,
}

impl Slot {
    /// About how long until a job placed on this worker now would start.
    fn queue_time(&self) -> Duration {
        self.pace.for_jobs(self.load)
    }
}

#[cfg(test)]
mod split_tests {
    use super::{split, MOVE_MAX};
    use std::time::Duration;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn equal_paces_share_equally_rounding_for_the_idle() {
        assert_eq!(split(10, us(900), &[us(900)]), vec![5]);
        assert_eq!(split(3, us(900), &[us(900)]), vec![2]);
        assert_eq!(split(1, us(900), &[us(900)]), vec![1]);
        assert_eq!(split(30, us(900), &[us(900), us(900)]), vec![10, 10]);
    }

    #[test]
    fn shares_follow_the_paces_and_the_cap() {
        // 200 µs against 20 ms: about 1 %.
        assert_eq!(split(150, us(200), &[us(20_000)]), vec![1]);
        assert_eq!(split(60, us(200), &[us(20_000)]), vec![0]);
        // 900 µs against 20 µs: nearly all, at most MOVE_MAX per look.
        assert_eq!(split(40, us(900), &[us(20)]), vec![39]);
        assert_eq!(split(256, us(900), &[us(20)]), vec![MOVE_MAX]);
        assert_eq!(split(256, us(900), &[us(20), us(20)]), vec![MOVE_MAX / 2, MOVE_MAX / 2]);
        assert_eq!(split(256, us(900), &[us(20), us(40)]), vec![43, 21]);
    }
}
