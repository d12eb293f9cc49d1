//! Hand-written SVG charts: horizontal bar groups (one group per metric, one bar per
//! system; log or linear axis) and latency percentile curves (log µs over a "nines"
//! quantile axis).

use super::record::{Curve, Record, SYSTEMS};
use std::fmt::Write;

const W: f64 = 760.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 110.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";

/// The colour of a system's bars and curves.
fn colour(system: &str) -> &'static str {
    const C: [&str; 5] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];
    SYSTEMS.iter().position(|s| *s == system).map(|i| C[i]).unwrap_or("#7f7f7f")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Bars of `workload`'s `metrics` for every system that has them; `None` if none has.
pub fn bars(
    title: &str,
    workload: &str,
    metrics: &[&str],
    records: &[Record],
    log: bool,
) -> Option<String> {
    let groups: Vec<(&str, Vec<(&str, f64)>)> = metrics
        .iter()
        .map(|m| {
            let bars = SYSTEMS
                .iter()
                .filter_map(|s| {
                    records
                        .iter()
                        .find(|r| r.system == *s && r.workload == workload && r.metric == *m)
                        .map(|r| (*s, r.value))
                })
                .filter(|(_, v)| *v > 0.0)
                .collect::<Vec<_>>();
            (*m, bars)
        })
        .filter(|(_, b)| !b.is_empty())
        .collect();
    if groups.is_empty() {
        return None;
    }
    let all: Vec<f64> = groups.iter().flat_map(|(_, b)| b.iter().map(|x| x.1)).collect();
    let max = all.iter().cloned().fold(f64::MIN, f64::max);
    let min = all.iter().cloned().fold(f64::MAX, f64::min);
    let step = nice_step(max);
    let (lo, hi) = if log {
        let lo = min.log10().floor();
        (lo, max.log10().ceil().max(lo + 1.0))
    } else {
        (0.0, (max / step).ceil() * step)
    };
    let plot = W - LEFT - RIGHT;
    let len = |v: f64| {
        let f = if log { (v.log10() - lo) / (hi - lo) } else { v / hi };
        (f * plot).max(1.0)
    };
    let bar_h = 18.0;
    let n_bars: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let height = 60.0 + groups.len() as f64 * 28.0 + n_bars as f64 * (bar_h + 4.0) + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" {FONT}>"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let axis = if log { "log scale" } else { "linear scale" };
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{} ({axis})</text>",
        esc(title)
    );
    // Grid lines: decades (log) or fifths (linear).
    let ticks: Vec<f64> = if log {
        (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=(hi / step).round() as usize).map(|i| i as f64 * step).collect()
    };
    for t in ticks {
        let x = LEFT + if log { (t.log10() - lo) / (hi - lo) * plot } else { t / hi * plot };
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"36\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            height - 30.0,
            height - 14.0,
            super::table::num(t)
        );
    }
    let mut y = 50.0;
    for (metric, bars) in &groups {
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            y + 4.0,
            esc(metric)
        );
        y += 12.0;
        for (system, v) in bars {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                LEFT - 6.0,
                y + 13.0,
                esc(system),
                len(*v),
                colour(system),
                LEFT + len(*v) + 4.0,
                y + 13.0,
                super::table::num(*v)
            );
            y += bar_h + 4.0;
        }
        y += 16.0;
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// A round step (1, 2 or 5 × a power of ten) giving about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p)
}

/// x position of a quantile on the "nines" axis: 0 → 0, 0.9 → 1, 0.99 → 2, 0.999 → 3,
/// the maximum at 3.5.
fn nines(q: f64) -> f64 {
    if q >= 1.0 {
        3.5
    } else {
        (-(1.0 - q).log10()).min(3.4)
    }
}

/// Percentile curves (log µs) of `curves`; `None` if there are none.
pub fn curves(title: &str, curves: &[&Curve]) -> Option<String> {
    let pts: Vec<f64> =
        curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).filter(|v| *v > 0.0).collect();
    if pts.is_empty() {
        return None;
    }
    let lo = pts.iter().cloned().fold(f64::MAX, f64::min).log10().floor();
    let hi = pts.iter().cloned().fold(f64::MIN, f64::max).log10().ceil().max(lo + 1.0);
    let (h, top, bottom) = (420.0, 40.0, 60.0);
    let (left, plot_w) = (70.0, W - 70.0 - 190.0);
    let plot_h = h - top - bottom;
    let px = |q: f64| left + nines(q) / 3.5 * plot_w;
    let py = |v: f64| top + (1.0 - (v.max(1e-9).log10() - lo) / (hi - lo)) * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" {FONT}>"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    for e in lo as i32..=hi as i32 {
        let y = py(10f64.powi(e));
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{} µs</text>",
            left + plot_w,
            left - 4.0,
            y + 4.0,
            super::table::num(10f64.powi(e))
        );
    }
    for (q, label) in
        [(0.0, "min"), (0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (1.0, "max")]
    {
        let x = px(q);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
            top + plot_h,
            top + plot_h + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">percentile \
         (round trip latency, log µs)</text>",
        left + plot_w / 2.0,
        h - 16.0
    );
    for (i, c) in curves.iter().enumerate() {
        let col = colour(&c.system);
        let path: Vec<String> =
            c.points.iter().map(|(q, v)| format!("{:.1},{:.1}", px(*q), py(*v))).collect();
        let dash = if c.workload == "RING" { " stroke-dasharray=\"6 3\"" } else { "" };
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{col}\" stroke-width=\"2\"{dash}/>",
            path.join(" ")
        );
        let ly = top + 10.0 + i as f64 * 18.0;
        let lx = left + plot_w + 14.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{col}\" \
             stroke-width=\"3\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{} {}</text>",
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            esc(&c.system),
            esc(&c.workload)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_render_every_series() {
        let r = |s: &str, v: f64| Record {
            system: s.into(),
            workload: "W2".into(),
            metric: "jobs_per_s".into(),
            value: v,
        };
        let svg =
            bars("W2", "W2", &["jobs_per_s"], &[r("zeroproc", 1e6), r("python-ppe", 5e3)], true)
                .unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect x=").count(), 2);
        assert!(bars("W3", "W3", &["total_ms"], &[r("zeroproc", 1.0)], true).is_none());
        let c = Curve {
            system: "zeroproc".into(),
            workload: "W1".into(),
            points: vec![(0.0, 0.3), (0.5, 0.5), (0.99, 2.0), (1.0, 40.0)],
        };
        let svg = curves("W1", &[&c]).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!((nice_step(2.34), nice_step(100.0), nice_step(7.0)), (0.5, 20.0, 2.0));
    }
}
