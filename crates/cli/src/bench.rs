//! `zeroproc bench`: the comparison benchmark. zeroproc and its peers — rayon and
//! crossbeam-channel in this process, Python's `ProcessPoolExecutor` and
//! `multiprocessing.Pool` (when `python3` is present) — on the same workloads in the same
//! run; a table with zeroproc's advantage over each peer, `report.md` and SVG charts in
//! `--out`, and with `--json` exactly one JSON object on stdout.
//!
//! | file | concept |
//! |---|---|
//! | `bench/record.rs` | result rows, curves, notes; `--only` selection |
//! | `bench/rust.rs` | zeroproc, rayon and crossbeam-channel runs and their sizes |
//! | `bench/arrays.rs` | W3 copy-in (`SharedArray` vs memcpy), W2 in-place (`for_each_chunk_mut` vs rayon) |
//! | `bench/uneven.rs` | W5 uneven jobs: zeroproc submit / map vs rayon, ratios to rayon |
//! | `bench/faults.rs` | W6 a service under faults: latency, throughput, fault counts |
//! | `bench/python.rs` | the Python peers (`bench/python/*.py`) under a time limit |
//! | `bench/pyjobs.rs` | the W5/W6 job lists handed to the Python peer |
//! | `bench/machine.rs` | CPU, cores, kernel, date, compiler |
//! | `bench/table.rs` | the grid with ratios, as text and markdown |
//! | `bench/svg.rs`, `bench/report.rs` | charts and `report.md` |

mod arrays;
mod faults;
mod machine;
mod pyjobs;
mod python;
mod record;
mod report;
mod rust;
mod svg;
mod table;
mod uneven;

use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `zeroproc bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Smaller sizes and one pass each: under two minutes on two cores, Python included.
    #[arg(long)]
    quick: bool,
    /// Tiny sizes (seconds): checks the harness end to end, the figures mean little.
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Print exactly one JSON object on stdout (the table and progress go to stderr).
    #[arg(long)]
    json: bool,
    /// Directory for report.md and the SVG charts.
    #[arg(long, default_value = "target/zeroproc-bench")]
    out: PathBuf,
    /// Only these workloads and/or systems, comma-separated: W1, W2, W3, W4, W5, W6, START,
    /// RING, QUEUE; zeroproc, rayon, crossbeam, python (both), ppe, mp-pool. Each kind given
    /// restricts its axis: `--only W1,python` runs W1 on the two Python peers. `--only
    /// cluster` runs the MPI benchmarks instead (`bench/cluster.sh`, needs Open MPI).
    #[arg(long)]
    only: Option<String>,
}

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `--smoke`: tiny sizes, for tests.
    Smoke,
    /// `--quick`.
    Quick,
    /// The default: full sizes, several passes.
    Full,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Full => "full",
        }
    }
}

/// Runs the comparison and reports it.
pub fn run(a: Args) -> Result<(), String> {
    if a.only.as_deref().is_some_and(|o| o.eq_ignore_ascii_case("cluster")) {
        return cluster();
    }
    let t0 = Instant::now();
    let sel = record::Selection::parse(a.only.as_deref())?;
    let profile = match (a.smoke, a.quick) {
        (true, _) => Profile::Smoke,
        (_, true) => Profile::Quick,
        _ => Profile::Full,
    };
    let command = std::env::args().skip(1).fold("zeroproc".to_string(), |s, x| s + " " + &x);
    // Record the CPUs this process may use before any workload pins a thread.
    let cpus = zeroproc_bench::affinity::cpus();
    eprintln!("zeroproc bench ({} profile, {cpus} CPUs)", profile.name());
    let sizes = rust::Sizes::of(profile);
    let (mut outcome, w4_check) = rust::run(&sel, &sizes)?;
    let jobs = if sel.any("python-ppe", &["W5", "W6"]) {
        Some(pyjobs::write(&a.out, sizes.w5_jobs, sizes.w5_rounds, sizes.w6_requests)?)
    } else {
        None
    };
    let (py, info) = python::run(&sel, profile, w4_check, jobs.as_deref());
    outcome.extend(py);
    uneven::ratios_to_rayon(&mut outcome);
    let machine = machine::Machine::read(info);
    let wall_s = t0.elapsed().as_secs_f64();

    let grid = table::Grid::new(&outcome.records);
    let text = format!("{}\n{}\n", grid.text(), table::LEGEND);
    let files = report::write(&a.out, &outcome, &machine, profile.name(), &command, wall_s)?;
    if a.json {
        eprintln!("\n{text}");
        let results: Vec<_> = outcome
            .records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "system": r.system, "workload": r.workload,
                    "metric": r.metric, "value": r.value,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "machine": machine.json(),
            "profile": profile.name(),
            "wall_s": wall_s,
            "results": results,
            "notes": outcome.notes,
        });
        println!("{doc}");
    } else {
        println!("\n{text}");
        for n in &outcome.notes {
            println!("note: {n}");
        }
    }
    eprintln!("wrote {} files into {} ({wall_s:.1} s)", files.len(), a.out.display());
    Ok(())
}

/// `--only cluster`: the MPI benchmarks (issue #15) need `mpirun` and the `mpi` feature, so
/// they live in `bench/cluster.sh` (raw MPI ping-pong, `ClusterPool`, mpi4py.futures,
/// alternated); this runs it from the source tree this binary was built from.
fn cluster() -> Result<(), String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/cluster.sh");
    let st = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{} ended with {st}", script.display()))
    }
}
