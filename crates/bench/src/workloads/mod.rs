//! The workloads. Each latency workload is one *round*: spawn the peer process, run
//! `samples` round trips, record each into the histogram, stop the peer. [`run_latency`]
//! interleaves rounds of all workloads so that host drift hits every system alike.

pub mod array_copy;
pub mod faults;
pub mod faults_client;
pub mod floors;
pub mod inplace;
pub mod mp;
pub mod os_pipe;
pub mod pool;
pub mod pool_array;
pub mod queue;
pub mod spin;
pub mod spsc;
pub mod threads;
pub mod uneven;

use crate::report::{histogram, Row};
use hdrhistogram::Histogram;

/// Runs the peer side of a workload (called by [`crate::peer::entry`]).
pub fn run_peer(role: &str, arg: &str) -> Result<(), String> {
    match role {
        "floor-spin" => floors::peer(arg, false),
        "floor-futex" => floors::peer(arg, true),
        "pipe" => os_pipe::peer(arg),
        "spsc-echo" => spsc::echo_peer(arg),
        "spsc-sink" => spsc::sink_peer(arg),
        _ => Err(format!("unknown peer role {role:?}")),
    }
}

/// One latency workload: a name, its mode, and a function running one round.
pub struct LatencyWorkload {
    /// Row name.
    pub name: &'static str,
    /// Row mode (wait strategy etc.).
    pub mode: &'static str,
    /// Runs `samples` round trips into the histogram.
    pub round: fn(samples: usize, h: &mut Histogram<u64>) -> Result<(), String>,
}

/// The two-process round-trip workloads and their peers, in report order.
pub fn latency_workloads() -> Vec<LatencyWorkload> {
    vec![
        LatencyWorkload {
            name: "cache line bounce (floor)",
            mode: "busy-poll",
            round: floors::round_spin,
        },
        LatencyWorkload {
            name: "zeroproc SPSC ring, 8 B",
            mode: "busy-poll (Spin)",
            round: spsc::round_spin,
        },
        LatencyWorkload {
            name: "zeroproc SPSC ring, 8 B",
            mode: "default (SpinThenSleep 50 µs)",
            round: spsc::round_default,
        },
        LatencyWorkload {
            name: "futex wake round trip (floor)",
            mode: "sleeping",
            round: floors::round_futex,
        },
        LatencyWorkload {
            name: "zeroproc SPSC ring, 8 B",
            mode: "sleeping (Sleep)",
            round: spsc::round_sleep,
        },
        LatencyWorkload { name: "Linux pipe, 8 B", mode: "blocking read", round: os_pipe::round },
        LatencyWorkload {
            name: "crossbeam-channel, 2 threads",
            mode: "in-process, blocking recv",
            round: threads::round_crossbeam,
        },
    ]
}

/// Runs `rounds` interleaved rounds of every workload whose name passes `filter`.
/// Sleeping-mode workloads get `samples / 10` per round (each sample costs ~100 µs).
pub fn run_latency(
    rounds: usize,
    samples: usize,
    filter: &dyn Fn(&LatencyWorkload) -> bool,
) -> Result<Vec<Row>, String> {
    let ws: Vec<_> = latency_workloads().into_iter().filter(|w| filter(w)).collect();
    let mut hs: Vec<Histogram<u64>> = ws.iter().map(|_| histogram()).collect();
    for _ in 0..rounds {
        for (w, h) in ws.iter().zip(hs.iter_mut()) {
            let slow = w.mode.starts_with("sleeping") || w.mode.starts_with("blocking");
            let n = if slow { (samples / 10).max(100) } else { samples };
            (w.round)(n, h).map_err(|e| format!("{} / {}: {e}", w.name, w.mode))?;
        }
    }
    Ok(ws.iter().zip(hs.iter()).map(|(w, h)| Row::latency(w.name, w.mode, h)).collect())
}

/// Cost of one `Instant::now()` pair, to read the latency rows against (p50, ns).
pub fn timer_overhead_ns() -> u64 {
    let mut h = histogram();
    for _ in 0..100_000 {
        let t = std::time::Instant::now();
        h.record(t.elapsed().as_nanos() as u64).ok();
    }
    h.value_at_quantile(0.5)
}
