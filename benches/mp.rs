//! `cargo bench --bench mp`: the multiprocessing layer between real processes — Queue
//! round trip and throughput, a SharedDict used from two processes at once, and a dict
//! insert's latency — beside Python's `multiprocessing.Queue` and `Manager().dict()` on
//! the same workloads in the same run (`bench/python/mp_ipc.py`, when `python3` is
//! present; `PYTHON=...` picks the interpreter).
//!
//! Options (after `--`): `--quick` (smaller counts, ~10 s).

use std::process::Command;
use zeroproc_bench::workloads::mp;

fn python(quick: bool) -> Result<Vec<(String, String, f64)>, String> {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/python/mp_ipc.py");
    let mut c = Command::new(&py);
    c.arg(script);
    if quick {
        c.arg("--quick");
    }
    let out = c.output().map_err(|e| format!("{py}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{py} {script}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("python output: {e}"))?;
    let rows = v["results"].as_array().ok_or("python output has no results")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                r["workload"].as_str()?.to_string(),
                r["metric"].as_str()?.to_string(),
                r["value"].as_f64()?,
            ))
        })
        .collect())
}

fn main() {
    zeroproc_bench::peer::entry();
    let quick = std::env::args().any(|a| a == "--quick");
    let (rt, tp, steps) =
        if quick { (20_000, 1_000_000, 200_000) } else { (100_000, 5_000_000, 1_000_000) };
    let mut ours = Vec::new();
    ours.extend(mp::queue_rt(rt).expect("QUEUE-RT"));
    ours.extend(mp::queue_tp(tp).expect("QUEUE-TP"));
    ours.extend(mp::dict(steps).expect("DICT"));
    let py = python(quick).unwrap_or_else(|e| {
        eprintln!("python peer skipped: {e}");
        Vec::new()
    });
    println!("| workload | metric | zeroproc | python multiprocessing | zeroproc advantage |");
    println!("|---|---|---:|---:|---:|");
    for f in &ours {
        let peer = py.iter().find(|(w, m, _)| w == f.workload && m == f.metric).map(|r| r.2);
        let lower_is_better = f.metric.ends_with("_us");
        let (p, ratio) = match peer {
            Some(p) if lower_is_better => (format!("{p:.2}"), format!("{:.0}×", p / f.value)),
            Some(p) => (format!("{p:.0}"), format!("{:.0}×", f.value / p)),
            None => ("—".into(), "—".into()),
        };
        let v = if lower_is_better { format!("{:.2}", f.value) } else { format!("{:.0}", f.value) };
        println!("| {} | {} | {v} | {p} | {ratio} |", f.workload, f.metric);
    }
}
