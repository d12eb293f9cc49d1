//! The Python peers: `bench/python/ppe.py` (`python-ppe`, concurrent.futures'
//! ProcessPoolExecutor) and `bench/python/mp_pool.py` (`python-mp-pool`,
//! multiprocessing.Pool), each run under a time limit; each prints one JSON line.

use super::record::{Curve, Outcome, Selection};
use super::Profile;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zeroproc_bench::workloads::pool::Mandel;

/// The workloads both Python scripts know.
const PY_WORKLOADS: &[&str] = &["W1", "W2", "W3", "W4", "START"];

/// The workloads of the ProcessPoolExecutor peer: those and W5, W6.
const PPE_WORKLOADS: &[&str] = &["W1", "W2", "W3", "W4", "START", "W5", "W6"];

/// The peers: system name, script file, workloads.
const PEERS: [(&str, &str, &[&str]); 2] =
    [("python-ppe", "ppe.py", PPE_WORKLOADS), ("python-mp-pool", "mp_pool.py", PY_WORKLOADS)];

/// What the Python side says about its interpreter (for the machine block).
#[derive(Debug, Default, Clone)]
pub struct PyInfo {
    /// `platform.python_version()`.
    pub python: Option<String>,
    /// numpy's version, if it imported.
    pub numpy: Option<String>,
}

/// The interpreter: `$PYTHON` or `python3`.
fn interpreter() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Where the scripts are: `$ZEROPROC_BENCH_PYTHON_DIR`, else `bench/python` of the source
/// tree this binary was built from, else `bench/python` under the current directory.
fn script_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("ZEROPROC_BENCH_PYTHON_DIR") {
        return Some(PathBuf::from(d));
    }
    let built = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/python"));
    [built, PathBuf::from("bench/python")].into_iter().find(|d| d.join("workloads.py").is_file())
}

/// The time limit of one script.
fn limit(p: Profile) -> Duration {
    Duration::from_secs(match p {
        Profile::Smoke => 180,
        Profile::Quick => 100,
        Profile::Full => 1200,
    })
}

/// Runs the selected Python peers. Missing `python3`, a script that fails or times out,
/// or output that does not parse: that system's rows are omitted, with a note.
/// `w4_check` is the Rust side's W4 geometry and checksum, to check the Python images;
/// `jobs` the W5/W6 job lists (`pyjobs.rs`), passed as `--jobs FILE`.
pub fn run(
    sel: &Selection,
    profile: Profile,
    w4_check: Option<(Mandel, u64)>,
    jobs: Option<&Path>,
) -> (Outcome, PyInfo) {
    let mut o = Outcome::default();
    let mut info = PyInfo::default();
    let wanted: Vec<_> = PEERS.iter().filter(|(s, _, ws)| sel.any(s, ws)).collect();
    if wanted.is_empty() {
        return (o, info);
    }
    let py = interpreter();
    let ok = Command::new(&py)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let note = format!("{py} not found: the Python peers are omitted");
        eprintln!("note: {note}");
        o.notes.push(note);
        return (o, info);
    }
    let Some(dir) = script_dir() else {
        let note = "bench/python not found (set ZEROPROC_BENCH_PYTHON_DIR): the Python peers \
                    are omitted"
            .to_string();
        eprintln!("note: {note}");
        o.notes.push(note);
        return (o, info);
    };
    for (system, script, workloads) in wanted {
        let only: Vec<&str> = workloads.iter().copied().filter(|w| sel.wants(system, w)).collect();
        let mut cmd = Command::new(&py);
        // No __pycache__ left in the source tree.
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.arg(dir.join(script)).arg("--only").arg(only.join(","));
        if let Some(j) = jobs.filter(|_| only.iter().any(|w| *w == "W5" || *w == "W6")) {
            cmd.arg("--jobs").arg(j);
        }
        match profile {
            Profile::Smoke => cmd.arg("--smoke"),
            Profile::Quick => cmd.arg("--quick"),
            Profile::Full => &mut cmd,
        };
        eprintln!("  {system}: {} {script} --only {}", py, only.join(","));
        match run_limited(cmd, limit(profile)).and_then(|line| parse(system, &line, w4_check)) {
            Ok((out, i)) => {
                o.extend(out);
                info.python = info.python.or(i.python);
                info.numpy = info.numpy.or(i.numpy);
            }
            Err(e) => {
                let note = format!("{system} omitted: {e}");
                eprintln!("note: {note}");
                o.notes.push(note);
            }
        }
    }
    (o, info)
}

/// Runs `cmd` (stdout captured, stderr passed through) and returns its last stdout line,
/// killing it after `limit`.
fn run_limited(mut cmd: Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(st) => break st,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s (killed)", limit.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = reader
        .join()
        .map_err(|_| "stdout reader panicked".to_string())?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "printed no result line".into())
}

/// Parses a script's JSON line into an outcome for `system`.
fn parse(
    system: &str,
    line: &str,
    w4_check: Option<(Mandel, u64)>,
) -> Result<(Outcome, PyInfo), String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad JSON ({e}): {line}"))?;
    if v["system"].as_str() != Some(system) {
        return Err(format!("result line is for {:?}, not {system}", v["system"]));
    }
    let mut o = Outcome::default();
    let info = PyInfo {
        python: v["python"].as_str().map(str::to_owned),
        numpy: v["numpy"].as_str().map(str::to_owned),
    };
    // A W4 image that differs from the Rust kernel's drops the peer's W4 rows.
    let mut w4_ok = true;
    if let (Some((m, sum)), Some(py_sum)) = (w4_check, v["checks"]["W4_checksum"].as_u64()) {
        let s = &v["sizes"];
        let same = s["W4_size"].as_u64() == Some(m.size.into())
            && s["W4_iters"].as_u64() == Some(m.iters.into())
            && s["W4_bands"].as_u64() == Some(m.bands.into());
        if same && py_sum != sum {
            w4_ok = false;
            o.notes.push(format!(
                "{system} W4 omitted: image checksum {py_sum} differs from the Rust kernel's {sum}"
            ));
        } else if same {
            o.notes.push(format!("{system} W4 image checked: same checksum as the Rust kernel"));
        }
    }
    for r in v["results"].as_array().ok_or("no results array")? {
        let (Some(w), Some(m), Some(x)) =
            (r["workload"].as_str(), r["metric"].as_str(), r["value"].as_f64())
        else {
            return Err(format!("malformed result {r}"));
        };
        if w == "W4" && !w4_ok {
            continue;
        }
        o.put(system, w, m, x);
    }
    if let Some(curves) = v["curves"].as_object() {
        for (w, pts) in curves {
            let points: Vec<(f64, f64)> = pts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                .collect();
            o.curves.push(Curve { system: system.into(), workload: w.clone(), points });
        }
    }
    if let Some(sizes) = v["sizes"].as_object() {
        for (k, x) in sizes {
            o.sizes.push((format!("{k} ({system})"), x.to_string()));
        }
    }
    for n in v["notes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        o.notes.push(format!("{system}: {n}"));
    }
    Ok((o, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_result_line() {
        let line = r#"{"system": "python-ppe", "python": "3.11.7", "numpy": null,
            "results": [{"workload": "W1", "metric": "p50_us", "value": 120.5},
                        {"workload": "W4", "metric": "time_1w_s", "value": 2.0}],
            "curves": {"W1": [[0.5, 120.5], [0.99, 300.0]]},
            "checks": {"W4_checksum": 7}, "sizes": {"W4_size": 256, "W4_iters": 64,
            "W4_bands": 64}, "notes": ["scaled"]}"#;
        let line = line.replace('\n', " ");
        let m = Mandel { size: 256, iters: 64, bands: 64 };
        let (o, info) = parse("python-ppe", &line, Some((m, 7))).unwrap();
        assert_eq!(info.python.as_deref(), Some("3.11.7"));
        assert_eq!(o.records.len(), 2);
        assert_eq!(o.curves[0].points, vec![(0.5, 120.5), (0.99, 300.0)]);
        // A different checksum drops the W4 rows.
        let (o, _) = parse("python-ppe", &line, Some((m, 8))).unwrap();
        assert_eq!(o.records.len(), 1);
        assert!(o.notes.iter().any(|n| n.contains("differs")));
        assert!(parse("python-mp-pool", &line, None).is_err());
        assert!(parse("python-ppe", "not json", None).is_err());
    }
}
