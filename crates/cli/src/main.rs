//! `zeroproc`: the command-line face of zeroproc.
//!
//! * `zeroproc demo` — two CPU-bound workloads on a pool of worker processes (Mandelbrot
//!   in place in a shared array, Monte Carlo π), 1 worker vs N vs rayon, and faults the
//!   pool survives (see [`demo`]).
//! * `zeroproc bench` — the benchmark suite with peers measured in the same run (see
//!   [`bench`](mod@bench)).
//! * `zeroproc top [POOL]` — the running pools of this user, or a live per-worker view of
//!   one, read from its shared memory without disturbing it (see [`top`]).
//!
//! Each subcommand lives in a module of its own with its clap arguments.

mod bench;
mod demo;
mod top;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "zeroproc", version, about = "zero-copy multi-process work over shared memory")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the demo: Mandelbrot and Monte Carlo π on all cores, 1 worker vs N vs rayon.
    Demo(demo::Args),
    /// Run the benchmarks (zeroproc and its peers in the same run) and report.
    Bench(bench::Args),
    /// Watch a running pool live (or list running pools).
    Top(top::Args),
}

fn main() {
    // Worker and peer processes are this same executable, re-executed: these calls run
    // the child role and exit when this process is one.
    zeroproc_sched::init();
    zeroproc_bench::peer::entry();

    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo(a) => demo::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Top(a) => top::run(a),
    };
    if let Err(e) = r {
        eprintln!("zeroproc: {e}");
        std::process::exit(1);
    }
}
