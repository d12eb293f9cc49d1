//! `zeroproc bench --smoke --json`: one JSON object on stdout with the machine block and
//! the expected (system, workload, metric) rows; report.md and the charts written.
//! Figures are not checked (tests never assert speed), only that they are there and
//! finite.

use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The bench runs of this file take turns: two at once on two cores slowed the Python
/// peers past their time limit (their rows were then missing).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn zeroproc(args: &[&str]) -> Output {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(env!("CARGO_BIN_EXE_zeroproc"))
        .args(args)
        .output()
        .expect("run the zeroproc binary")
}

fn out_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("zeroproc-bench-test-{tag}-{}", std::process::id()))
}

fn python_has(code: &str) -> bool {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(py).args(["-c", code]).output().is_ok_and(|o| o.status.success())
}

/// Parses stdout, which must be exactly one JSON object.
fn document(o: &Output) -> Value {
    let stdout = String::from_utf8(o.stdout.clone()).expect("utf-8 stdout");
    assert!(
        o.status.success(),
        "zeroproc bench failed: {}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON value ({e}):\n{stdout}");
    });
    assert!(v.is_object(), "not an object: {v}");
    // Shown only if the test fails: what the run said (a peer's failure is a note there).
    eprintln!("zeroproc bench stderr:\n{}", String::from_utf8_lossy(&o.stderr));
    v
}

fn rows(v: &Value) -> HashSet<(String, String, String)> {
    let systems = ["zeroproc", "rayon", "crossbeam-channel", "python-ppe", "python-mp-pool"];
    v["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| {
            let s = r["system"].as_str().expect("system").to_string();
            assert!(systems.contains(&s.as_str()), "unknown system {s}");
            let x = r["value"].as_f64().expect("numeric value");
            assert!(x.is_finite() && x >= 0.0, "bad value in {r}");
            (s, r["workload"].as_str().unwrap().into(), r["metric"].as_str().unwrap().into())
        })
        .collect()
}

fn expect(got: &HashSet<(String, String, String)>, system: &str, pairs: &[(&str, &str)]) {
    for (w, m) in pairs {
        let k = (system.to_string(), w.to_string(), m.to_string());
        assert!(got.contains(&k), "missing {system} {w} {m}; got {got:?}");
    }
}

/// zeroproc's W5 rows: makespans and paired ratios to rayon.
const W5_ZEROPROC: &[(&str, &str)] = &[
    ("W5", "makespan_s"),
    ("W5", "map_makespan_s"),
    ("W5", "makespan_rayon_x"),
    ("W5", "map_makespan_rayon_x"),
];

/// zeroproc's W6 rows: throughput, latency of answered requests, and the fault counts.
const W6_ZEROPROC: &[(&str, &str)] = &[
    ("W6", "requests_per_s"),
    ("W6", "p50_us"),
    ("W6", "p99_us"),
    ("W6", "max_us"),
    ("W6", "ok_count"),
    ("W6", "lost_count"),
    ("W6", "duplicated_count"),
    ("W6", "executed_count"),
    ("W6", "mis_answered_count"),
    ("W6", "crash_worker_died_count"),
    ("W6", "hang_timed_out_count"),
    ("W6", "crash_other_error_count"),
    ("W6", "hang_other_error_count"),
];

/// The ProcessPoolExecutor peer's W5 and W6 rows (its W6 stops at a broken pool).
const W5_W6_PPE: &[(&str, &str)] = &[
    ("W5", "makespan_s"),
    ("W5", "map_makespan_s"),
    ("W5", "makespan_rayon_x"),
    ("W6", "ok_count"),
    ("W6", "lost_count"),
    ("W6", "crash_broken_pool_count"),
];

#[test]
fn smoke_json_has_every_system_and_metric() {
    let dir = out_dir("smoke");
    let o = zeroproc(&["bench", "--smoke", "--json", "--out", dir.to_str().unwrap()]);
    let v = document(&o);
    for k in ["cpu_model", "cores", "kernel", "date", "rustc"] {
        assert!(!v["machine"][k].is_null(), "machine.{k} missing: {}", v["machine"]);
    }
    let got = rows(&v);
    let lat = [("p50_us"), ("p99_us")];
    expect(
        &got,
        "zeroproc",
        &[
            ("W1", lat[0]),
            ("W1", lat[1]),
            ("W2", "jobs_per_s"),
            ("W2", "chunked_items_per_s"),
            ("W3", "total_ms"),
            ("W3", "overhead_ms"),
            ("W4", "time_1w_s"),
            ("W4", "time_2w_s"),
            ("START", "pool_start_ms"),
            ("RING", "p50_us"),
            ("QUEUE", "p50_us"),
        ],
    );
    expect(&got, "zeroproc", W5_ZEROPROC);
    expect(&got, "zeroproc", W6_ZEROPROC);
    expect(
        &got,
        "rayon",
        &[
            ("W2", "chunked_items_per_s"),
            ("W3", "total_ms"),
            ("W3", "overhead_ms"),
            ("W4", "time_1w_s"),
            ("W4", "time_2w_s"),
            ("W5", "makespan_s"),
        ],
    );
    expect(
        &got,
        "crossbeam-channel",
        &[("W1", "p50_us"), ("W1", "p99_us"), ("W2", "jobs_per_s"), ("QUEUE", "p50_us")],
    );
    if python_has("import sys") {
        let mut py = vec![
            ("W1", "p50_us"),
            ("W1", "p99_us"),
            ("W2", "jobs_per_s"),
            ("W2", "chunked_items_per_s"),
            ("W3", "total_ms"),
            ("W3", "overhead_ms"),
            ("START", "pool_start_ms"),
        ];
        if python_has("import numpy") {
            py.extend([("W4", "time_1w_s"), ("W4", "time_2w_s")]);
        }
        expect(&got, "python-ppe", &py);
        expect(&got, "python-mp-pool", &py);
        expect(&got, "python-ppe", W5_W6_PPE);
    } else {
        eprintln!("python3 not found: the Python rows are not checked");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md written");
    assert!(report.contains("| workload | metric | zeroproc |"), "{report}");
    for svg in ["w1_latency.svg", "w2_throughput.svg", "w4_mandelbrot.svg", "w5_uneven.svg"] {
        let s = std::fs::read_to_string(dir.join(svg)).expect("chart written");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{svg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_restricts_systems_and_workloads() {
    let dir = out_dir("only");
    let o = zeroproc(&[
        "bench",
        "--smoke",
        "--json",
        "--only",
        "W1,crossbeam",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let got = rows(&document(&o));
    let want: HashSet<_> =
        [("crossbeam-channel", "W1", "p50_us"), ("crossbeam-channel", "W1", "p99_us")]
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);

    // No interpreter: the Python rows are omitted with a note, the run still succeeds.
    let dir = out_dir("nopython");
    let o = Command::new(env!("CARGO_BIN_EXE_zeroproc"))
        .args(["bench", "--smoke", "--json", "--only", "W1,python", "--out"])
        .arg(&dir)
        .env("PYTHON", "/nonexistent/python3")
        .output()
        .expect("run the zeroproc binary");
    let v = document(&o);
    assert!(rows(&v).is_empty(), "{v}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("not found"), "{notes}");
    let _ = std::fs::remove_dir_all(&dir);

    let bad = zeroproc(&["bench", "--smoke", "--only", "W9"]);
    assert!(!bad.status.success(), "an unknown --only must fail");
    assert!(bad.stdout.is_empty(), "nothing on stdout when it fails");
}
