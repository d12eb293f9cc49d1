//! W3: hand a 256 MiB f64 array to a worker that sums it. The array is a `SharedArray`;
//! the job carries its handle. Reported: the round trip, the worker's own summing time,
//! and the difference (the hand-off overhead), for the first job on the array (the worker
//! maps it) and for later jobs (mapping cached), next to the local sum time.

use crate::report::Value;
use std::time::Instant;
use zeroproc_mp::shared::ArrayHandle;
use zeroproc_mp::SharedArray;
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
    let m = w3_measure(mib, repeats, strategy)?;
    let mut rows = Vec::new();
    let what = format!("W3 {mib} MiB, first job (worker maps the array)");
    rows.extend(pair(&what, &format!("1 worker, {how}"), m.first_total_s, m.first_overhead_s));
    let what = format!("W3 {mib} MiB, later jobs (mapping cached)");
    let mode = format!("1 worker, {how}, median of {repeats}");
    rows.extend(pair(&what, &mode, m.cached_total_s, m.cached_overhead_s));
    rows.push(Value {
        name: format!("W3 {mib} MiB local sum (controller, same data)"),
        mode: "1 thread".into(),
        value: m.local_s * 1e3,
        unit: "ms".into(),
    });
    Ok(rows)
}

/// One W3 measurement, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct W3Measure {
    /// Round trip of the first job on the array (the worker maps it).
    pub first_total_s: f64,
    /// That round trip minus the worker's own summing time.
    pub first_overhead_s: f64,
    /// Median round trip of the later jobs (mapping cached); NaN without repeats.
    pub cached_total_s: f64,
    /// Their overhead (the median one's).
    pub cached_overhead_s: f64,
    /// The controller's own sum of the same data.
    pub local_s: f64,
}

fn test_data(mib: usize) -> Vec<f64> {
    let n = mib * (1 << 20) / 8;
    (0..n).map(|i| (i % 1000) as f64).collect()
}

/// W3 with `mib` MiB: the array is copied into a `SharedArray` (not timed), then one
/// worker sums it `1 + repeats` times, each sum checked against the local one.
pub fn w3_measure(mib: usize, repeats: usize, strategy: WaitStrategy) -> Result<W3Measure, String> {
    let data = test_data(mib);
    let t = Instant::now();
    let local: f64 = data.iter().sum();
    let local_s = t.elapsed().as_secs_f64();
    let arr = SharedArray::from_slice(&data).map_err(|e| e.to_string())?;
    drop(data);
    let pool =
        Pool::builder().workers(1).wait_strategy(strategy).build().map_err(|e| e.to_string())?;
    let mut first = (f64::NAN, f64::NAN);
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
            first = (total, overhead);
        } else {
            cached.push((total, overhead));
        }
    }
    cached.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (cached_total_s, cached_overhead_s) =
        cached.get(cached.len() / 2).copied().unwrap_or((f64::NAN, f64::NAN));
    Ok(W3Measure {
        first_total_s: first.0,
        first_overhead_s: first.1,
        cached_total_s,
        cached_overhead_s,
        local_s,
    })
}

/// W3's thread peer: the same `mib` MiB handed by reference to a 1-thread rayon pool that
/// sums it. Returns (round trip, round trip minus the thread's summing time) in seconds.
pub fn w3_rayon(mib: usize) -> Result<(f64, f64), String> {
    let data = test_data(mib);
    let local: f64 = data.iter().sum();
    let rp = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
    rp.install(|| ()); // the thread is up
    let t = Instant::now();
    let (s, busy) = rp.install(|| {
        let t = Instant::now();
        let s: f64 = data.iter().sum();
        (s, t.elapsed().as_secs_f64())
    });
    let total = t.elapsed().as_secs_f64();
    if s != local {
        return Err(format!("W3 rayon sum {s} != {local}"));
    }
    Ok((total, total - busy))
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
