//! W6 (a service under faults) in the comparison: zeroproc's figures and counts.

use super::record::{Outcome, Selection};
use zeroproc_bench::workloads::faults_client::{self, W6Outcome};

/// Runs W6 on zeroproc with `requests` requests, if selected.
pub fn run(o: &mut Outcome, sel: &Selection, requests: usize) -> Result<(), String> {
    if !sel.wants("zeroproc", "W6") {
        return Ok(());
    }
    let what = format!("W6 zeroproc service under faults, {requests} requests");
    let w = super::rust::fresh(&what, || faults_client::w6_run(requests))?;
    record(o, "zeroproc", &w);
    o.sizes.push(("W6 requests".into(), requests.to_string()));
    for u in &w.unexpected {
        o.notes.push(format!("zeroproc W6 unexpected: {u}"));
    }
    Ok(())
}

/// Records one W6 outcome's rows for `system`.
fn record(o: &mut Outcome, system: &str, w: &W6Outcome) {
    let h = &w.latency;
    if !h.is_empty() {
        o.put(system, "W6", "p50_us", h.value_at_quantile(0.5) as f64 / 1e3);
        o.put(system, "W6", "p99_us", h.value_at_quantile(0.99) as f64 / 1e3);
        o.put(system, "W6", "max_us", h.max() as f64 / 1e3);
    }
    o.put(system, "W6", "requests_per_s", w.per_s());
    for (m, v) in [
        ("ok_count", w.ok),
        ("lost_count", w.lost),
        ("duplicated_count", w.duplicated),
        ("executed_count", w.executed),
        ("mis_answered_count", w.mis_answered),
        ("crash_worker_died_count", w.crash_worker_died),
        ("hang_timed_out_count", w.hang_timed_out),
        ("crash_other_error_count", w.crash_other_error),
        ("hang_other_error_count", w.hang_other_error),
    ] {
        o.put(system, "W6", m, v as f64);
    }
}
