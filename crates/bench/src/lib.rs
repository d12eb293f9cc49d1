//! # zeroproc-bench
//!
//! The benchmark workloads behind `cargo bench` and `zeroproc bench`: each one runs across
//! two real processes (the peer is this same executable, re-executed), pinned to different
//! cores, and reports a latency histogram or a throughput, together with the floors of the
//! machine (a cache line bounced between two spinning processes; a futex wake round trip)
//! and the in-process and OS peers measured in the same run.
//!
//! A binary that runs these benches must call [`peer::entry`] first thing in `main`: in a
//! peer process it runs the peer side and exits.

pub mod affinity;
pub mod peer;
pub mod report;
pub mod workloads;

/// The compiler that built this crate (`rustc --version`), for benchmark reports.
pub const RUSTC_VERSION: &str = env!("ZEROPROC_BENCH_RUSTC");
