//! `zeroproc`: the command-line face of zeroproc.
//!
//! * `zeroproc demo` — what the foundation does today, on real processes: a prime count
//!   fanned out to one pinned worker process per core over SPSC rings, a ring round trip,
//!   and a robust lock recovered from a SIGKILLed holder.
//! * `zeroproc bench [--quick] [--only S]` — the two-process ring benchmarks (histograms,
//!   floors and peers in the same run, interleaved).

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "zeroproc", version, about = "zero-copy multi-process work over shared memory")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the demo (a prime count on all cores, a ring round trip, a robust lock).
    Demo {
        /// Scale of the prime count: numbers below SIZE × 1,000,000 are tested.
        #[arg(long, default_value_t = 4)]
        size: u64,
    },
    /// Run the ring benchmarks and print markdown tables.
    Bench {
        /// Fewer rounds and samples (about a minute).
        #[arg(long)]
        quick: bool,
        /// Only rows whose name or mode contains this text.
        #[arg(long)]
        only: Option<String>,
    },
}

fn main() {
    // Worker and peer processes are this same executable, re-executed: these calls run
    // the child role and exit when this process is one.
    demo::worker_entry();
    zeroproc_bench::peer::entry();

    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo { size } => demo::run(size),
        Cmd::Bench { quick, only } => bench(quick, only),
    };
    if let Err(e) = r {
        eprintln!("zeroproc: {e}");
        std::process::exit(1);
    }
}

fn bench(quick: bool, only: Option<String>) -> Result<(), String> {
    use zeroproc_bench::{report, workloads};
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
