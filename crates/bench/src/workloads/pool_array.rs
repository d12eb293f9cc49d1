//! W3: hand a 256 MiB f64 array to a worker that sums it. The array is a `SharedArray`;
//! the job carries its handle. Reported: the round trip, the worker's own summing time,
//! and the difference (the hand-off overhead), for the first job on the array (the worker
//! maps it) and for later jobs (mapping cached), next to the local sum time.

use crate::report::Value;
use std::time::Instant;
use zeroproc_codec::shared::{ArrayHandle, SharedArray};
use zeroproc_sched::{Pool, WaitStrategy};

/// Sums the array in the worker; returns (sum, ns spent summing).
fn sum_job(h: ArrayHandle<f64>) -> (f64, u64) {
    let x = h.read().expect("attach");
    let t = Instant::now();
    let s: f64 = x.iter().sum();
    (s, t.elapsed().as_nanos() as u64)
}

/// Runs W3 with `mib` MiB and `repeats` cached hand-offs, with workers and controller
/// spinning then sleeping (default) and spinning only.
pub fn w3(mib: usize, repeats: usize) -> Result<Vec<Value>, String> {
    let mut rows = w3_with(mib, repeats, WaitStrategy::default(), "default wait")?;
    rows.extend(
        w3_with(mib, repeats, WaitStrategy::Spin, "spinning")?
            .into_iter()
            .filter(|v| !v.name.contains("local sum")),
    );
    Ok(rows)
}

fn w3_with(
    mib: usize,
    repeats: usize,
    strategy: WaitStrategy,
    how: &str,
) -> Result<Vec<Value>, String> {
    let n = mib * (1 << 20) / 8;
    let data: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
    let t = Instant::now();
    let local: f64 = data.iter().sum();
    let local_s = t.elapsed().as_secs_f64();
    let arr = SharedArray::from_slice(&data).map_err(|e| e.to_string())?;
    drop(data);
    let pool =
        Pool::builder().workers(1).wait_strategy(strategy).build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut cached = Vec::new();
    for i in 0..=repeats {
        let t = Instant::now();
        let (s, busy_ns) =
            pool.submit(sum_job, arr.handle()).result().map_err(|e| e.to_string())?;
        let total = t.elapsed().as_secs_f64();
        if s != local {
            return Err(format!("W3 sum {s} != {local}"));
        }
        let overhead = total - busy_ns as f64 / 1e9;
        if i == 0 {
            let what = format!("W3 {mib} MiB, first job (worker maps the array)");
            rows.extend(pair(&what, &format!("1 worker, {how}"), total, overhead));
        } else {
            cached.push((total, overhead));
        }
    }
    cached.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (total, overhead) = cached[cached.len() / 2];
    let what = format!("W3 {mib} MiB, later jobs (mapping cached)");
    rows.extend(pair(&what, &format!("1 worker, {how}, median of {repeats}"), total, overhead));
    rows.push(Value {
        name: format!("W3 {mib} MiB local sum (controller, same data)"),
        mode: "1 thread".into(),
        value: local_s * 1e3,
        unit: "ms".into(),
    });
    Ok(rows)
}

/// The two rows of one hand-off: its round trip and the overhead (both in ms).
fn pair(what: &str, mode: &str, total_s: f64, overhead_s: f64) -> [Value; 2] {
    let v = |name: &str, x: f64| Value {
        name: format!("{what}: {name}"),
        mode: mode.to_owned(),
        value: x * 1e3,
        unit: "ms".into(),
    };
    [v("round trip", total_s), v("round trip − worker's sum time", overhead_s)]
}
