//! `cargo bench --bench ring`: two-process ring round trips (p50/p99 from histograms) and
//! one-way throughput, with the machine's floors and the peers measured in the same run,
//! rounds interleaved.
//!
//! Options (after `--`): `--quick` (fewer samples), `--only SUBSTRING` (filter rows).

fn main() {
    // In a peer process this runs the peer role and exits.
    zeroproc_bench::peer::entry();

    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let (rounds, samples) = if quick { (3, 20_000) } else { (10, 100_000) };

    println!(
        "timer overhead (Instant pair, p50): {} ns",
        zeroproc_bench::workloads::timer_overhead_ns()
    );
    let filter = |w: &zeroproc_bench::workloads::LatencyWorkload| {
        only.as_deref().is_none_or(|s| w.name.contains(s) || w.mode.contains(s))
    };
    let mut rows = zeroproc_bench::workloads::run_latency(rounds, samples, &filter)
        .unwrap_or_else(|e| panic!("latency benchmarks failed: {e}"));
    if only.as_deref().is_none_or(|s| "throughput".contains(s)) {
        match zeroproc_bench::workloads::spsc::throughput_rows(quick) {
            Ok(r) => rows.extend(r),
            Err(e) => panic!("throughput benchmarks failed: {e}"),
        }
    }
    println!("{}", zeroproc_bench::report::markdown(&rows));
}
