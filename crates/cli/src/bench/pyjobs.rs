//! The W5 and W6 job lists handed to the Python peer: the same seeded target durations
//! (and W6 request kinds and inputs) as the Rust side's, in a JSON file the script reads
//! with `--jobs FILE`. Python calibrates its own spin loop to these durations (a
//! pure-Python iteration costs far more than a Rust one).

use std::path::{Path, PathBuf};
use zeroproc_bench::workloads::{faults, uneven};

/// Writes the job lists into `dir` and returns the file.
pub fn write(
    dir: &Path,
    w5_jobs: usize,
    w5_rounds: usize,
    w6_requests: usize,
) -> Result<PathBuf, String> {
    let w6: Vec<_> = faults::requests(w6_requests, 1.0)
        .iter()
        .map(|r| serde_json::json!([r.id, r.duration_ns, r.kind as u8, r.nonce]))
        .collect();
    let doc = serde_json::json!({
        "W5_durations_ns": uneven::durations_ns(w5_jobs),
        "W5_rounds": w5_rounds,
        "W6_requests": w6,
    });
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("python-jobs.json");
    std::fs::write(&path, doc.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
