//! W5 (uneven jobs) in the comparison: zeroproc `submit` + `wait` and `map` against
//! rayon, passes interleaved, and the jobs handed to the Python peer.

use super::record::{Outcome, Selection};
use zeroproc_bench::workloads::uneven;

/// The systems of the Rust side that run W5.
const RUST: [&str; 2] = ["zeroproc", "rayon"];

/// Runs W5's Rust side (the three systems are measured together, interleaved) if either
/// system is selected, and records makespans and the paired ratios to rayon's.
pub fn run(o: &mut Outcome, sel: &Selection, jobs: usize, rounds: usize) -> Result<(), String> {
    if !RUST.iter().any(|s| sel.wants(s, "W5")) {
        return Ok(());
    }
    let what = format!("W5 {jobs} uneven jobs, zeroproc submit / map vs rayon, 2 workers");
    let t = super::rust::fresh(&what, || uneven::w5_times(jobs, rounds))?;
    {
        if sel.wants("zeroproc", "W5") {
            o.put("zeroproc", "W5", "makespan_s", t.submit);
            o.put("zeroproc", "W5", "map_makespan_s", t.map);
            o.put("zeroproc", "W5", "makespan_rayon_x", t.submit_ratio);
            o.put("zeroproc", "W5", "map_makespan_rayon_x", t.map_ratio);
        }
        if sel.wants("rayon", "W5") {
            o.put("rayon", "W5", "makespan_s", t.rayon);
        }
        o.sizes.push(("W5 jobs × interleaved passes".into(), format!("{jobs} × {rounds}")));
        o.sizes.push(("W5 CPU work per pass".into(), format!("{:.2} s", t.work_s)));
        o.sizes.push(("W5 spin calibration".into(), format!("{:.3} ns/iteration", t.ns_per_iter)));
        o.notes.push(format!(
            "W5: makespan_s is zeroproc submit all + wait(AllCompleted) (map_makespan_s: \
             pool.map, default settings); *_rayon_x is the median of the paired ratios to \
             rayon in the same pass; {} s of CPU per pass targeted (log-normal, median 0.2 ms, seed \
             {:#x})",
            (t.work_s * 100.0).round() / 100.0,
            uneven::SEED
        ));
    }
    Ok(())
}

/// Adds a `makespan_rayon_x` row to every other system that has a W5 `makespan_s`: its
/// median over rayon's median (not paired: measured in another process).
pub fn ratios_to_rayon(o: &mut Outcome) {
    let find = |s: &str| {
        o.records
            .iter()
            .find(|r| r.system == s && r.workload == "W5" && r.metric == "makespan_s")
            .map(|r| r.value)
    };
    let Some(rayon) = find("rayon") else { return };
    let peers: Vec<(String, f64)> = o
        .records
        .iter()
        .filter(|r| r.workload == "W5" && r.metric == "makespan_s")
        .filter(|r| r.system != "rayon" && r.system != "zeroproc")
        .map(|r| (r.system.clone(), r.value / rayon))
        .collect();
    for (s, x) in peers {
        o.put(&s, "W5", "makespan_rayon_x", x);
        o.notes.push(format!(
            "{s} W5 makespan_rayon_x: its median makespan over rayon's (not paired: the \
             peer runs in its own process after the Rust side)"
        ));
    }
}
