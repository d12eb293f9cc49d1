//! QUEUE: a value `put` into a `zeroproc_mp::Queue` by this process, `get` by
//! an echo process (a `zeroproc_sched::Process`), `put` back into a second queue and
//! `get` here — the round trip of Python's `multiprocessing.Queue` pattern. The thread
//! peer is `threads::round_crossbeam` (two `bounded(1)` channels between two threads).
//!
//! The echo process is this executable re-executed: the binary must call
//! `zeroproc_sched::init()` (or [`crate::peer::entry`]) first in `main`.

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use zeroproc_mp::queue::{GetTimeoutError, QueueHandle};
use zeroproc_mp::Queue;
use zeroproc_sched::{Exit, Process};

/// How long the echo waits for the next value before it gives up (a controller that
/// died without closing the queue).
const IDLE: Duration = Duration::from_secs(60);

/// The echo process's body: `get` on `ping`, `put` on `pong`, until `ping` is closed.
fn echo((ping, pong): (QueueHandle<u64>, QueueHandle<u64>)) {
    crate::affinity::pin_to(1);
    let ping = ping.attach().expect("attach ping queue");
    let pong = pong.attach().expect("attach pong queue");
    loop {
        match ping.get_timeout(IDLE) {
            Ok(v) => pong.put(v).expect("put on pong queue"),
            Err(GetTimeoutError::Closed) => return,
            Err(e) => panic!("echo get: {e}"),
        }
    }
}

/// A running Queue ping-pong with an echo process.
pub struct QueueEcho {
    ping: Queue<u64>,
    pong: Queue<u64>,
    process: Option<Process>,
}

impl QueueEcho {
    /// Creates the two queues (capacity 16, default slots) and starts the echo process.
    /// The calling thread is not pinned.
    pub fn start() -> Result<QueueEcho, String> {
        let ping = Queue::<u64>::new(16).map_err(|e| e.to_string())?;
        let pong = Queue::<u64>::new(16).map_err(|e| e.to_string())?;
        let process =
            Process::spawn(echo, (ping.handle(), pong.handle())).map_err(|e| e.to_string())?;
        Ok(QueueEcho { ping, pong, process: Some(process) })
    }

    /// One round trip of `i` (checked).
    #[inline]
    pub fn round_trip(&self, i: u64) -> Result<(), String> {
        self.ping.put(i).map_err(|e| e.to_string())?;
        let got = self.pong.get_timeout(IDLE).map_err(|e| e.to_string())?;
        if got != i {
            return Err(format!("queue echo out of order: sent {i}, got {got}"));
        }
        Ok(())
    }

    /// Closes the queues and waits for the echo process to exit cleanly.
    pub fn stop(mut self) -> Result<(), String> {
        self.ping.close();
        let Some(mut p) = self.process.take() else { return Ok(()) };
        match p.join_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())? {
            Some(Exit::Code(0)) => Ok(()),
            Some(e) => Err(format!("queue echo process ended with {e:?}: {:?}", p.panic_message())),
            None => {
                p.kill();
                Err("queue echo process did not exit after close".into())
            }
        }
    }
}

impl Drop for QueueEcho {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            self.ping.close();
            if !matches!(p.join_timeout(Duration::from_secs(1)), Ok(Some(_))) {
                p.kill();
                let _ = p.join_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// One round: start the echo, `samples` timed round trips (after `samples / 10` untimed
/// ones) into `h` (ns), stop the echo. This thread is pinned to the first core meanwhile
/// (the echo to the second); call `affinity::unpin` afterwards.
pub fn round(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    let echo = QueueEcho::start()?;
    crate::affinity::pin_to(0);
    let warm = (samples / 10).max(10);
    for i in 0..(samples + warm) as u64 {
        let t = Instant::now();
        echo.round_trip(i)?;
        let ns = t.elapsed().as_nanos() as u64;
        if i as usize >= warm {
            h.record(ns.max(1)).ok();
        }
    }
    echo.stop()
}
