//! Results: latency summaries from histograms, throughputs, and a markdown table.

use hdrhistogram::Histogram;
use std::fmt::Write;

/// A latency histogram in nanoseconds (1 ns .. 10 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

/// One measured row.
#[derive(Debug, Clone)]
pub enum Row {
    /// A round-trip latency distribution.
    Latency {
        /// What was measured.
        name: String,
        /// Wait mode and other notes.
        mode: String,
        /// p50 in ns.
        p50: u64,
        /// p99 in ns.
        p99: u64,
        /// p99.9 in ns.
        p999: u64,
        /// Max in ns.
        max: u64,
        /// Samples.
        n: u64,
    },
    /// A throughput.
    Throughput {
        /// What was measured.
        name: String,
        /// Notes.
        mode: String,
        /// Items per second.
        per_s: f64,
        /// Bytes of payload per second.
        bytes_per_s: f64,
    },
}

/// A measured value with its unit (a time, a ratio), for rows that are neither a latency
/// distribution nor a throughput.
#[derive(Debug, Clone)]
pub struct Value {
    /// What was measured.
    pub name: String,
    /// How (peers, passes, aggregation).
    pub mode: String,
    /// The figure.
    pub value: f64,
    /// Its unit ("s", "×", "items/s").
    pub unit: String,
}

impl Value {
    /// A row measured in `mode`.
    pub fn new(name: &str, mode: &str, value: f64, unit: &str) -> Value {
        Value { name: name.into(), mode: mode.into(), value, unit: unit.into() }
    }
}

/// Renders value rows as a markdown table.
pub fn markdown_values(rows: &[Value]) -> String {
    let mut s = String::from("| measurement | mode | value | unit |\n|---|---|---:|---|\n");
    for v in rows {
        let _ = writeln!(s, "| {} | {} | {:.4} | {} |", v.name, v.mode, v.value, v.unit);
    }
    s
}

impl Row {
    /// A latency row from a histogram of nanoseconds.
    pub fn latency(name: &str, mode: &str, h: &Histogram<u64>) -> Row {
        Row::Latency {
            name: name.into(),
            mode: mode.into(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            n: h.len(),
        }
    }
}

fn us(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1000.0)
}

/// Renders rows as two markdown tables (latency, throughput).
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    let lat: Vec<_> = rows.iter().filter(|r| matches!(r, Row::Latency { .. })).collect();
    if !lat.is_empty() {
        s.push_str("| round trip | mode | p50 µs | p99 µs | p99.9 µs | max µs | samples |\n");
        s.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        for r in lat {
            if let Row::Latency { name, mode, p50, p99, p999, max, n } = r {
                let _ = writeln!(
                    s,
                    "| {name} | {mode} | {} | {} | {} | {} | {n} |",
                    us(*p50),
                    us(*p99),
                    us(*p999),
                    us(*max)
                );
            }
        }
    }
    let thr: Vec<_> = rows.iter().filter(|r| matches!(r, Row::Throughput { .. })).collect();
    if !thr.is_empty() {
        s.push_str("\n| one-way throughput | mode | M records/s | MB/s payload |\n");
        s.push_str("|---|---|---:|---:|\n");
        for r in thr {
            if let Row::Throughput { name, mode, per_s, bytes_per_s } = r {
                let _ = writeln!(
                    s,
                    "| {name} | {mode} | {:.2} | {:.0} |",
                    per_s / 1e6,
                    bytes_per_s / 1e6
                );
            }
        }
    }
    s
}
