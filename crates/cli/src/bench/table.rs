//! The results as a grid — one row per (workload, metric), one column per system, each
//! peer's cell with zeroproc's advantage over it — rendered for the terminal and as
//! markdown.

use super::record::{lower_is_better, Record, SYSTEMS, WORKLOADS};

/// Metric order within a workload (others follow in the order met).
const METRICS: [&str; 33] = [
    "p50_us",
    "p99_us",
    "map_items_per_s",
    "jobs_per_s",
    "submit_jobs_per_s",
    "chunked_items_per_s",
    "total_ms",
    "overhead_ms",
    "cached_total_ms",
    "cached_overhead_ms",
    "local_sum_ms",
    "time_1w_s",
    "time_2w_s",
    "pool_start_ms",
    "makespan_s",
    "map_makespan_s",
    "makespan_rayon_x",
    "map_makespan_rayon_x",
    "requests_per_s",
    "max_us",
    "until_broken_requests_per_s",
    "until_broken_p50_us",
    "until_broken_p99_us",
    "until_broken_max_us",
    "ok_count",
    "lost_count",
    "duplicated_count",
    "executed_count",
    "mis_answered_count",
    "crash_worker_died_count",
    "hang_timed_out_count",
    "crash_other_error_count",
    "hang_other_error_count",
];

/// The legend printed under every table.
pub const LEGEND: &str = "(N×) after a peer's figure: how many times better zeroproc is on that \
    metric (the peer's time ÷ zeroproc's, or zeroproc's rate ÷ the peer's); below 1× the peer \
    is ahead. `_us`/`_ms`/`_s`/`_x`: lower is better; `_per_s`: higher is better; `_count`: \
    a count, no ratio.";

/// The grid of a run.
pub struct Grid {
    /// Systems with at least one figure, in report order.
    pub systems: Vec<&'static str>,
    /// (workload, metric, one cell per system).
    pub rows: Vec<(String, String, Vec<Option<f64>>)>,
}

impl Grid {
    /// Arranges `records`.
    pub fn new(records: &[Record]) -> Grid {
        let systems: Vec<&'static str> =
            SYSTEMS.iter().copied().filter(|s| records.iter().any(|r| r.system == *s)).collect();
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in records {
            let k = (r.workload.clone(), r.metric.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let rank = |(w, m): &(String, String)| {
            let wi = WORKLOADS.iter().position(|x| x == w).unwrap_or(WORKLOADS.len());
            let mi = METRICS.iter().position(|x| x == m).unwrap_or(METRICS.len());
            (wi, mi)
        };
        keys.sort_by_key(rank); // stable: unknown metrics keep their order
        let rows = keys
            .into_iter()
            .map(|(w, m)| {
                let cells = systems
                    .iter()
                    .map(|s| {
                        records
                            .iter()
                            .find(|r| r.system == *s && r.workload == w && r.metric == m)
                            .map(|r| r.value)
                    })
                    .collect();
                (w, m, cells)
            })
            .collect();
        Grid { systems, rows }
    }

    /// zeroproc's advantage over a peer's `v` on `metric`, if both exist and compare.
    fn ratio(metric: &str, zp: Option<f64>, v: f64) -> Option<f64> {
        // Counts (W6) are not "better by N×", and local_ figures are no system's.
        let plain = metric.starts_with("local_") || metric.ends_with("_count");
        let zp = zp.filter(|z| *z > 0.0 && v > 0.0 && !plain)?;
        Some(if lower_is_better(metric) { v / zp } else { zp / v })
    }

    fn cells(&self) -> Vec<Vec<String>> {
        let zi = self.systems.iter().position(|s| *s == "zeroproc");
        self.rows
            .iter()
            .map(|(w, m, vals)| {
                let zp = zi.and_then(|i| vals[i]);
                let mut row = vec![w.clone(), m.clone()];
                for (i, v) in vals.iter().enumerate() {
                    row.push(match v {
                        None => "—".into(),
                        Some(v) if m.ends_with("_count") => format!("{v:.0}"),
                        Some(v) => match Self::ratio(m, zp, *v).filter(|_| Some(i) != zi) {
                            Some(r) => format!("{} ({})", num(*v), times(r)),
                            None => num(*v),
                        },
                    });
                }
                row
            })
            .collect()
    }

    fn header(&self) -> Vec<String> {
        let mut h = vec!["workload".to_string(), "metric".to_string()];
        h.extend(self.systems.iter().map(|s| s.to_string()));
        h
    }

    /// A plain-text table with aligned columns.
    pub fn text(&self) -> String {
        let mut all = vec![self.header()];
        all.extend(self.cells());
        let cols = all[0].len();
        let width: Vec<usize> = (0..cols)
            .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        for (i, r) in all.iter().enumerate() {
            for (c, cell) in r.iter().enumerate() {
                let pad = width[c] - cell.chars().count();
                if c < 2 {
                    s.push_str(cell);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(cell);
                }
                s.push_str(if c + 1 < cols { "  " } else { "\n" });
            }
            if i == 0 {
                let total: usize = width.iter().sum::<usize>() + 2 * (cols - 1);
                s.push_str(&"-".repeat(total));
                s.push('\n');
            }
        }
        s
    }

    /// A markdown table.
    pub fn markdown(&self) -> String {
        let h = self.header();
        let mut s = format!("| {} |\n", h.join(" | "));
        s.push_str("|---|---|");
        s.push_str(&"---:|".repeat(h.len() - 2));
        s.push('\n');
        for r in self.cells() {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s
    }
}

/// A figure with about 3–4 significant digits.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        // Three significant digits: 0.5 → "0.500", 0.00213 → "0.00213".
        let decimals = (2 - a.log10().floor() as i32).clamp(3, 12) as usize;
        format!("{v:.decimals$}")
    }
}

fn times(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str, w: &str, m: &str, v: f64) -> Record {
        Record { system: s.into(), workload: w.into(), metric: m.into(), value: v }
    }

    #[test]
    fn ratios_follow_the_metric_direction() {
        let g = Grid::new(&[
            rec("python-ppe", "W1", "p50_us", 100.0),
            rec("zeroproc", "W1", "p50_us", 0.5),
            rec("zeroproc", "W2", "jobs_per_s", 1e6),
            rec("python-ppe", "W2", "jobs_per_s", 5e3),
            rec("rayon", "W2", "chunked_items_per_s", 2e8),
        ]);
        assert_eq!(g.systems, ["zeroproc", "rayon", "python-ppe"]);
        let t = g.markdown();
        assert!(t.contains("| W1 | p50_us | 0.500 | — | 100.0 (200×) |"), "{t}");
        assert!(t.contains("| W2 | jobs_per_s | 1.00M | — | 5000.0 (200×) |"), "{t}");
        // No zeroproc figure on that row: no ratio.
        assert!(t.contains("| W2 | chunked_items_per_s | — | 200.00M | — |"), "{t}");
        assert_eq!(g.text().lines().count(), 2 + 3);
        assert_eq!(
            (num(0.00213), num(0.5), num(12.345)),
            ("0.00213".into(), "0.500".into(), "12.35".into())
        );
    }
}
