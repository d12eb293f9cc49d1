//! What a comparison run produces: result rows, latency curves, notes, and which
//! (system, workload) pairs a run selects.

/// The systems, in report order.
pub const SYSTEMS: [&str; 5] =
    ["zeroproc", "rayon", "crossbeam-channel", "python-ppe", "python-mp-pool"];

/// The workloads, in report order.
pub const WORKLOADS: [&str; 9] = ["W1", "W2", "W3", "W4", "W5", "W6", "START", "RING", "QUEUE"];

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// One of [`SYSTEMS`].
    pub system: String,
    /// One of [`WORKLOADS`].
    pub workload: String,
    /// `p50_us`, `jobs_per_s`, … (the suffix gives the unit and the direction).
    pub metric: String,
    /// The figure.
    pub value: f64,
}

/// A latency distribution as (quantile, µs) points.
#[derive(Debug, Clone)]
pub struct Curve {
    /// One of [`SYSTEMS`].
    pub system: String,
    /// One of [`WORKLOADS`].
    pub workload: String,
    /// (quantile in [0, 1], µs), quantiles ascending.
    pub points: Vec<(f64, f64)>,
}

/// Everything one part of the run (the Rust side, one Python script) produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Result rows (finite values only).
    pub records: Vec<Record>,
    /// Latency curves for the charts.
    pub curves: Vec<Curve>,
    /// Remarks for the report (scaled sizes, skipped rows and why).
    pub notes: Vec<String>,
    /// Sizes actually run, as (what, value) for the report.
    pub sizes: Vec<(String, String)>,
}

impl Outcome {
    /// Adds a row; a non-finite value is dropped with a note (JSON has no NaN).
    pub fn put(&mut self, system: &str, workload: &str, metric: &str, value: f64) {
        if value.is_finite() {
            self.records.push(Record {
                system: system.into(),
                workload: workload.into(),
                metric: metric.into(),
                value,
            });
        } else {
            self.notes.push(format!("{system} {workload} {metric}: no finite value, omitted"));
        }
    }

    /// Appends everything of `o`.
    pub fn extend(&mut self, o: Outcome) {
        self.records.extend(o.records);
        self.curves.extend(o.curves);
        self.notes.extend(o.notes);
        self.sizes.extend(o.sizes);
    }
}

/// Whether a metric is better when lower (times, latencies) rather than higher (rates).
pub fn lower_is_better(metric: &str) -> bool {
    !metric.ends_with("_per_s")
}

/// The pairs `--only` selects: comma-separated workload ids (exact, any case) and
/// system names (any part); each kind given restricts that axis.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    workloads: Vec<&'static str>,
    systems: Vec<&'static str>,
}

impl Selection {
    /// Parses `--only`; an empty or absent value selects everything.
    pub fn parse(only: Option<&str>) -> Result<Selection, String> {
        let mut s = Selection::default();
        for tok in only.unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let lower = tok.to_ascii_lowercase();
            let ws: Vec<_> = WORKLOADS.iter().filter(|w| w.eq_ignore_ascii_case(tok)).collect();
            let ss: Vec<_> = SYSTEMS.iter().filter(|s| s.contains(lower.as_str())).collect();
            if ws.is_empty() && ss.is_empty() {
                return Err(format!(
                    "--only {tok:?}: not a workload ({}) nor part of a system name ({})",
                    WORKLOADS.join(", "),
                    SYSTEMS.join(", ")
                ));
            }
            s.workloads.extend(ws);
            s.systems.extend(ss);
        }
        Ok(s)
    }

    /// Whether `system` runs `workload`.
    pub fn wants(&self, system: &str, workload: &str) -> bool {
        (self.workloads.is_empty() || self.workloads.contains(&workload))
            && (self.systems.is_empty() || self.systems.contains(&system))
    }

    /// Whether `system` runs anything of `workloads`.
    pub fn any(&self, system: &str, workloads: &[&str]) -> bool {
        workloads.iter().any(|w| self.wants(system, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_axes() {
        let all = Selection::parse(None).unwrap();
        assert!(all.wants("python-ppe", "W4"));
        let w1 = Selection::parse(Some("w1")).unwrap();
        assert!(w1.wants("rayon", "W1") && !w1.wants("rayon", "W2"));
        let py = Selection::parse(Some("W1,python")).unwrap();
        assert!(py.wants("python-ppe", "W1") && py.wants("python-mp-pool", "W1"));
        assert!(!py.wants("zeroproc", "W1") && !py.wants("python-ppe", "W2"));
        assert!(Selection::parse(Some("W9")).is_err());
        let w56 = Selection::parse(Some("W5,W6")).unwrap();
        assert!(w56.wants("zeroproc", "W5") && w56.wants("python-ppe", "W6"));
        assert!(!w56.wants("zeroproc", "W4"));
    }

    #[test]
    fn direction() {
        assert!(lower_is_better("p50_us") && lower_is_better("time_2w_s"));
        assert!(!lower_is_better("jobs_per_s") && !lower_is_better("chunked_items_per_s"));
    }
}
