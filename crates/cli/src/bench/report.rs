//! The files of a run: `report.md` (machine, sizes, the table with ratios, notes, charts)
//! and the SVG charts beside it.

use super::machine::Machine;
use super::record::Outcome;
use super::svg;
use super::table::{Grid, LEGEND};
use std::path::{Path, PathBuf};

/// (file, title, workload, metrics, log axis) of the bar charts.
const BAR_CHARTS: [(&str, &str, &str, &[&str], bool); 5] = [
    (
        "w2_throughput.svg",
        "W2 x → 2x, 2 workers: items per second",
        "W2",
        &["map_items_per_s", "jobs_per_s", "submit_jobs_per_s", "chunked_items_per_s"],
        true,
    ),
    (
        "w3_handoff.svg",
        "W3 an f64 array to a worker that sums it: ms",
        "W3",
        &["total_ms", "overhead_ms"],
        true,
    ),
    (
        "w4_mandelbrot.svg",
        "W4 Mandelbrot on 1 and 2 workers: seconds",
        "W4",
        &["time_1w_s", "time_2w_s"],
        false,
    ),
    (
        "w5_uneven.svg",
        "W5 uneven jobs, 2 workers: makespan, seconds",
        "W5",
        &["makespan_s", "map_makespan_s"],
        false,
    ),
    (
        "start.svg",
        "START pool start → first result, 2 workers: ms",
        "START",
        &["pool_start_ms"],
        true,
    ),
];

/// Writes `report.md` and the charts into `dir`; returns the files written.
pub fn write(
    dir: &Path,
    o: &Outcome,
    machine: &Machine,
    profile: &str,
    command: &str,
    wall_s: f64,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut charts: Vec<(String, String, String)> = Vec::new(); // (file, title, svg)
    let w1: Vec<_> = o.curves.iter().filter(|c| c.workload == "W1").collect();
    let title = "W1 submit(f, x).result() round trip: percentiles";
    if let Some(s) = svg::curves(title, &w1) {
        charts.push(("w1_latency.svg".into(), title.into(), s));
    }
    let ipc: Vec<_> =
        o.curves.iter().filter(|c| c.workload == "RING" || c.workload == "QUEUE").collect();
    let title = "RING (dashed) and QUEUE round trips between two processes / threads";
    if let Some(s) = svg::curves(title, &ipc) {
        charts.push(("roundtrip_latency.svg".into(), title.into(), s));
    }
    for (file, title, w, metrics, log) in BAR_CHARTS {
        if let Some(s) = svg::bars(title, w, metrics, &o.records, log) {
            charts.push((file.into(), title.into(), s));
        }
    }
    let mut written = Vec::new();
    for (file, _, s) in &charts {
        let p = dir.join(file);
        std::fs::write(&p, s).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(p);
    }
    let md = markdown(o, machine, profile, command, wall_s, &charts);
    let p = dir.join("report.md");
    std::fs::write(&p, md).map_err(|e| format!("{}: {e}", p.display()))?;
    written.push(p);
    Ok(written)
}

fn markdown(
    o: &Outcome,
    machine: &Machine,
    profile: &str,
    command: &str,
    wall_s: f64,
    charts: &[(String, String, String)],
) -> String {
    let mut s = String::from("# zeroproc bench\n\n");
    s.push_str(&format!(
        "`{command}` — profile **{profile}**, {wall_s:.0} s wall time. Every system was \
         measured in this run, on this machine; compare the ratios, not figures from other \
         runs.\n\n"
    ));
    s.push_str("## Machine\n\n| | |\n|---|---|\n");
    for (k, v) in machine.pairs() {
        s.push_str(&format!("| {k} | {v} |\n"));
    }
    s.push_str("\n## Results\n\n");
    s.push_str(&Grid::new(&o.records).markdown());
    s.push_str(&format!("\n{LEGEND}\n\n"));
    s.push_str(WORKLOADS_MD);
    if !o.sizes.is_empty() {
        s.push_str("\n## Sizes run\n\n| what | size |\n|---|---|\n");
        for (k, v) in &o.sizes {
            s.push_str(&format!("| {k} | {v} |\n"));
        }
    }
    if !o.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in &o.notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    if !charts.is_empty() {
        s.push_str("\n## Charts\n\n");
        for (file, title, _) in charts {
            s.push_str(&format!("![{title}]({file})\n\n"));
        }
    }
    s
}

const WORKLOADS_MD: &str = "\
### Workloads

- **W1** `submit(f, x).result()` of a tiny job, one worker, p50/p99 (zeroproc: default wait \
strategy, spin 50 µs then sleep; crossbeam-channel: a value sent to a thread and sent back \
through two `bounded(1)` channels; Python: `submit(f, x).result()` / \
`apply_async(f, (x,)).get()`).
- **W2** x → 2x over many items, 2 workers: `map_items_per_s` zeroproc's default \
`pool.map(f, items)` (no `chunk_size`: items measured below 2 µs are batched automatically, \
up to 64 a job, each keeping its own result and panic; crossbeam-channel: the same \
one-message-per-item figure as in `jobs_per_s`, the thread design a user would write \
instead); `jobs_per_s` one job per item (zeroproc `map` with chunk_size 1; crossbeam-channel: one message per item each way to 2 threads; \
Python `map(chunksize=1)`), `submit_jobs_per_s` one `submit` per item with 256 futures \
in flight (zeroproc), `chunked_items_per_s` in chunks (zeroproc and Python: \
chunk size 10,000; rayon: `into_par_iter().map().collect()`, its own splitting).
- **W3** a 256 MiB f64 array handed to one worker that sums it: `total_ms` round trip of \
the first job on the array, `overhead_ms` the same minus the worker's own summing time \
(zeroproc: a `SharedArray` handle, the worker maps the array; `cached_*`: later jobs on the \
same array; rayon: a reference; Python: the array pickled to the worker). `local_sum_ms`: \
the same sum in the calling thread.
- **W4** Mandelbrot 2048×2048, 256 iterations, 64 row bands, on 1 and 2 workers (Python: \
numpy kernel per band; every image checked against the Rust kernel's checksum).
- **START** pool start to the first result, 2 workers (median).
- **RING** an 8-byte record round trip over two zeroproc SPSC rings between two pinned \
processes, busy-polling. **QUEUE** `Queue::put` → `get` in an echo process → `put` → \
`get` back (default wait strategy), vs crossbeam-channel between two threads.
";
