//! How long a worker takes per job, on average lately: what `balance.rs` needs to tell
//! whether a job queued behind a long one would start sooner at the end of another
//! worker's queue.
//!
//! Sampled at the looks of `balance.rs` (no clock read per job): once at least
//! [`WINDOW`] has passed since the last sample, the worker's busy time since then (its own
//! `busy_ns` and open busy period, `WorkerControl::busy_since`) counts, together with the
//! jobs it finished in it (its own `jobs_done` counter). The pace is the time counted over
//! the jobs counted, both decayed by half every [`HALF_LIFE`] of wall time: a mean over
//! the last second or so of work, long jobs included. (The whole time between samples
//! counted, when the worker held or finished a job in it, made a worker that was sent a
//! few jobs per look, ran them at once and idled until the next look look as slow as the
//! span divided by those few jobs — 10 jobs of 50 µs per 5 ms tick, 500 µs per job — so
//! the looks sent it fewer jobs than it could run while jobs waited behind a slow worker:
//! 2 workers, 512 jobs of 50 µs but 3 ms on one worker, results awaited in order, 22–27
//! of them ran on the slow worker, 29–35 before (6 runs each, on a shared host).) (A pace
//! over the last window only saw the burst of short jobs since the last long one: with a
//! mix of jobs of 5 µs–200 ms, it took a queue of 256 mixed jobs for 13 ms of work where
//! it held ~500 ms, and whole queues moved for nothing — docs/performance.md.) Time the
//! worker spent waiting for a CPU counts as job time, so the pace errs slow: the cautious
//! side, a slow-looking worker is sent fewer jobs.

use std::time::{Duration, Instant};

/// Shortest time a sample spans.
const WINDOW: Duration = Duration::from_millis(1);

/// Work this long ago weighs half as much as work now.
const HALF_LIFE: Duration = Duration::from_secs(1);

/// What a worker with no finished job is taken to need per job.
const UNKNOWN: Duration = Duration::from_millis(1);

/// Jobs (decayed) a pace must rest on to be taken as measured. A worker's first jobs
/// are slow (its first touches of the rings, the job's code and data paged in): a `map`
/// starts with a window of 2 jobs per worker, and a pace from those 2 jobs of a pool
/// just started put a queue of tiny jobs at over 1 ms, so `balance.rs` shared it with the
/// other worker up to 7 times in the pool's first 5 ms (448 jobs moved, W2 `map`).
const MEASURED: f64 = 8.0;

/// A worker's recent time per job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// Decayed seconds the worker held jobs, and decayed jobs it finished meanwhile.
    time: f64,
    jobs: f64,
    /// The worker's `jobs_done`, its busy time and the time at the last sample.
    mark: (u64, Duration, Instant),
}

impl Pace {
    pub(crate) fn new(now: Instant) -> Self {
        Pace { time: 0.0, jobs: 0.0, mark: (0, Duration::ZERO, now) }
    }

    /// Takes a sample: the worker has finished `done` jobs and been busy (running or
    /// looking for jobs, not waiting for them) for `busy` in all. Samples closer than
    /// [`WINDOW`] are skipped, unless `fresh` and the worker finished a job since the last
    /// one: the pace counts the open busy period but not the open job, so a worker that
    /// has just left a long job looks as slow as that job until its end is counted (a
    /// worker that left a 400 ms job, with one of 10 ms done before it, was taken at
    /// 484 ms per job at the look its end called for, a sample having been taken 0.3 ms
    /// before: the jobs behind a longer one did not move to it, take38).
    pub(crate) fn sample(&mut self, done: u64, busy: Duration, now: Instant, fresh: bool) {
        let span = now.saturating_duration_since(self.mark.2);
        let n = done.wrapping_sub(self.mark.0);
        if span < WINDOW && !(fresh && n != 0) {
            return;
        }
        // The busy time is read from two words the worker stores separately: a reading
        // can count one busy period twice, and the next one less (never below the mark).
        let worked = busy.saturating_sub(self.mark.1).min(span);
        self.mark = (done, busy.max(self.mark.1), now);
        let keep = 0.5f64.powf(span.as_secs_f64() / HALF_LIFE.as_secs_f64());
        self.time = self.time * keep + worked.as_secs_f64();
        self.jobs = self.jobs * keep + n as f64;
    }

    /// About how long `queued` jobs take on this worker, once the pace rests on
    /// [`MEASURED`] jobs or more (`None` before).
    pub(crate) fn measured_for_jobs(&self, queued: usize) -> Option<Duration> {
        (self.jobs >= MEASURED).then(|| self.for_jobs(queued))
    }

    /// About how long `queued` jobs take on this worker.
    pub(crate) fn for_jobs(&self, queued: usize) -> Duration {
        let per_job = if self.jobs > 0.0 {
            Duration::from_secs_f64((self.time / self.jobs).min(1e9))
        } else {
            UNKNOWN.max(Duration::from_secs_f64(self.time)) // in its first job this long
        };
        per_job.saturating_mul(u32::try_from(queued).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: Instant, n: u64) -> Instant {
        t + Duration::from_millis(n)
    }

    fn busy(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= b / 50
    }

    #[test]
    fn finished_jobs_over_the_time_held_set_the_pace() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        assert_eq!(p.for_jobs(1), UNKNOWN);
        p.sample(1_000, busy(2), ms(t, 2), false);
        assert!(close(p.for_jobs(1), Duration::from_micros(2)), "{:?}", p.for_jobs(1));
        assert!(close(p.for_jobs(500), Duration::from_millis(1)));
    }

    #[test]
    fn samples_closer_than_the_window_are_ignored() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(10, Duration::from_micros(100), t + Duration::from_micros(100), false);
        assert_eq!(p.for_jobs(1), UNKNOWN);
    }

    /// The look a worker's leaving a long job calls for counts that job's end, however
    /// recent the last sample (`fresh`); other looks wait for the window.
    #[test]
    fn a_fresh_sample_counts_a_job_finished_within_the_window() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(1, busy(10), ms(t, 10), false); // a 10 ms job
        p.sample(1, busy(409), ms(t, 409), false); // 399 ms into a 400 ms job
                                                   // It ends 0.5 ms after that sample.
        let (end, at) = (Duration::from_micros(409_500), t + Duration::from_micros(409_500));
        let mut stale = p;
        stale.sample(2, end, at, false);
        assert!(stale.for_jobs(1) > Duration::from_millis(400), "{:?}", stale.for_jobs(1));
        p.sample(2, end, at, true);
        let per_job = p.for_jobs(1);
        assert!(per_job < Duration::from_millis(250), "{per_job:?}"); // ~231 ms: decayed means
                                                                      // Nothing finished since: the window holds.
        let before = p.for_jobs(1);
        p.sample(2, busy(410), ms(t, 410), true);
        assert_eq!(p.for_jobs(1), before);
    }

    #[test]
    fn a_long_job_counts_after_the_short_ones_that_follow_it() {
        // 100 short jobs in 1 ms, one job of 100 ms, then 100 short jobs in 1 ms: about
        // 0.5 ms per job, not the 10 µs of the last burst.
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(100, busy(1), ms(t, 1), false);
        for k in 1..=100 {
            p.sample(100, busy(1 + k), ms(t, 1 + k), false); // in the long job
        }
        p.sample(101, busy(102), ms(t, 102), false);
        p.sample(201, busy(103), ms(t, 103), false);
        let per_job = p.for_jobs(1);
        assert!(per_job > Duration::from_micros(400) && per_job < Duration::from_micros(600));
    }

    #[test]
    fn idle_time_is_not_counted_and_old_work_fades() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(10, busy(10), ms(t, 10), false); // 1 ms per job
        p.sample(10, busy(10), ms(t, 5_000), false); // idle
        assert!(close(p.for_jobs(1), Duration::from_millis(1)));
        p.sample(1_010, busy(20), ms(t, 5_010), false); // then 10 µs per job
        assert!(p.for_jobs(1) < Duration::from_micros(11), "{:?}", p.for_jobs(1));
    }

    /// A worker sent a few jobs per look runs them at once and idles until the next look:
    /// its pace is its busy time per job, not the looks' span per job. (It was the span:
    /// 10 jobs of 50 µs per 5 ms looked like 500 µs per job.)
    #[test]
    fn idle_time_between_looks_is_not_job_time() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        let mut worked = Duration::ZERO;
        for k in 1..=20 {
            worked += Duration::from_micros(500); // 10 jobs of 50 µs, then idle
            p.sample(10 * k, worked, ms(t, 5 * k), false);
        }
        assert!(close(p.for_jobs(1), Duration::from_micros(50)), "{:?}", p.for_jobs(1));
    }
}
