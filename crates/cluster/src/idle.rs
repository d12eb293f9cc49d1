//! How a polling loop waits when nothing happens: Open MPI's blocking calls spin on the
//! CPU (its progress engine polls), so nobody here blocks in MPI. A loop polls, and when a
//! poll finds nothing it first yields its CPU for a short while (`SPIN`: back-to-back jobs
//! keep the round trip at MPI's latency) and then sleeps, doubling from 10 µs up to
//! `MAX_SLEEP`, and to `LONG_SLEEP` once idle for `LONG_IDLE`, so an idle agent costs
//! almost no CPU on the cores its workers use.

use std::time::{Duration, Instant};

/// How long after the last activity a loop keeps polling (yielding between polls).
pub const SPIN: Duration = Duration::from_micros(200);
/// The longest sleep between polls of an idle loop (a first job after a pause waits at
/// most this long to be seen).
pub const MAX_SLEEP: Duration = Duration::from_micros(500);
/// After this long without activity, sleeps grow to `LONG_SLEEP`.
pub const LONG_IDLE: Duration = Duration::from_millis(20);
/// The longest sleep of a loop idle for more than `LONG_IDLE` (the first job after such a
/// pause is seen within this).
pub const LONG_SLEEP: Duration = Duration::from_millis(2);
const FIRST_SLEEP: Duration = Duration::from_micros(10);

/// The state of one polling loop.
pub struct Idle {
    last_activity: Instant,
    sleep: Duration,
}

impl Default for Idle {
    fn default() -> Self {
        Idle { last_activity: Instant::now(), sleep: FIRST_SLEEP }
    }
}

impl Idle {
    /// Something happened: poll hot again.
    #[inline]
    pub fn active(&mut self) {
        self.last_activity = Instant::now();
        self.sleep = FIRST_SLEEP;
    }

    /// How long to pause now (zero: just yield).
    pub fn next_pause(&mut self) -> Duration {
        let idle = self.last_activity.elapsed();
        if idle < SPIN {
            return Duration::ZERO;
        }
        let cap = if idle < LONG_IDLE { MAX_SLEEP } else { LONG_SLEEP };
        let s = self.sleep;
        self.sleep = (self.sleep * 2).min(cap);
        s
    }

    /// Pauses (yield or sleep) after a poll found nothing.
    pub fn pause(&mut self) {
        match self.next_pause() {
            Duration::ZERO => std::thread::yield_now(),
            d => std::thread::sleep(d),
        }
    }
}
