//! `zeroproc bench`: the benchmark suite.

/// Arguments of `zeroproc bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Fewer rounds and samples (about a minute).
    #[arg(long)]
    quick: bool,
    /// Only rows whose name or mode contains this text.
    #[arg(long)]
    only: Option<String>,
}

/// Runs the benchmarks and prints markdown tables.
pub fn run(a: Args) -> Result<(), String> {
    use zeroproc_bench::{report, workloads};
    let (quick, only) = (a.quick, a.only);
    let (rounds, samples) = if quick { (3, 20_000) } else { (10, 100_000) };
    println!("timer overhead (Instant pair, p50): {} ns", workloads::timer_overhead_ns());
    let filter = |w: &workloads::LatencyWorkload| {
        only.as_deref().is_none_or(|s| w.name.contains(s) || w.mode.contains(s))
    };
    let mut rows = workloads::run_latency(rounds, samples, &filter)?;
    if only.as_deref().is_none_or(|s| "throughput".contains(s)) {
        rows.extend(workloads::spsc::throughput_rows(quick)?);
    }
    println!("{}", report::markdown(&rows));
    Ok(())
}
