//! How long a worker takes per job, lately: what `balance.rs` needs to tell whether a job
//! queued behind a long one would start sooner at the end of a busy worker's ring.
//!
//! Sampled at the looks of `balance.rs` (no clock read per job): once at least
//! [`WINDOW`] has passed since the last sample, the pace is that time divided by the jobs
//! the worker finished in it (its own `jobs_done` counter). Time the worker spent idle or
//! waiting for a CPU counts as job time, so the pace errs slow — the cautious side: a
//! slow-looking worker is sent fewer jobs. In a window in which the worker finished none,
//! its pace becomes at least as long as its current job has run so far.

use std::time::{Duration, Instant};

/// Shortest time a sample spans (shorter ones would count a handful of jobs).
const WINDOW: Duration = Duration::from_millis(1);

/// What a worker with no history is taken to need per job.
const UNKNOWN: Duration = Duration::from_millis(1);

/// A worker's recent time per job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    per_job: Duration,
    /// The worker's `jobs_done` and the time at the last sample.
    mark: (u64, Instant),
}

impl Pace {
    pub(crate) fn new(now: Instant) -> Self {
        Pace { per_job: UNKNOWN, mark: (0, now) }
    }

    /// Takes a sample: the worker has finished `done` jobs in all, and runs a job since
    /// `running` (as far as the looks saw: `None` if it runs none).
    pub(crate) fn sample(&mut self, done: u64, running: Option<Instant>, now: Instant) {
        let span = now.saturating_duration_since(self.mark.1);
        if span < WINDOW {
            return;
        }
        let n = done.wrapping_sub(self.mark.0);
        if n > 0 {
            self.per_job = span / u32::try_from(n).unwrap_or(u32::MAX);
        } else if let Some(since) = running {
            self.per_job = self.per_job.max(now.saturating_duration_since(since));
        }
        self.mark = (done, now);
    }

    /// About how long `queued` jobs take on this worker.
    pub(crate) fn for_jobs(&self, queued: usize) -> Duration {
        self.per_job.saturating_mul(u32::try_from(queued).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_of_finished_jobs_sets_the_pace() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        assert_eq!(p.for_jobs(1), UNKNOWN);
        p.sample(1_000, None, t + Duration::from_millis(2));
        assert_eq!(p.for_jobs(1), Duration::from_micros(2));
        assert_eq!(p.for_jobs(500), Duration::from_millis(1));
    }

    #[test]
    fn samples_closer_than_the_window_are_ignored() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(10, None, t + Duration::from_micros(100));
        assert_eq!(p.for_jobs(1), UNKNOWN);
    }

    #[test]
    fn a_worker_finishing_none_is_as_slow_as_its_current_job_so_far() {
        let t = Instant::now();
        let mut p = Pace::new(t);
        p.sample(1_000, None, t + Duration::from_millis(1));
        assert_eq!(p.for_jobs(1), Duration::from_nanos(1_000));
        let ms = |n| t + Duration::from_millis(n);
        p.sample(1_000, Some(ms(11)), ms(41));
        assert_eq!(p.for_jobs(1), Duration::from_millis(30));
        // Idle and finishing none: the pace is kept.
        p.sample(1_000, None, ms(90));
        assert_eq!(p.for_jobs(1), Duration::from_millis(30));
    }
}
