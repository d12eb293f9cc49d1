//! Port of py/p12_sweep_progress.py: a parameter sweep with a progress line per completion.
use std::io::Write;
use zeroproc::{as_completed, Pool};

fn simulate((a, b): (f64, f64)) -> (f64, f64, f64) {
    let mut x = 0.0f64;
    for _ in 0..20000 {
        x = (x * a + b).rem_euclid(1.0);
    }
    (a, b, (x * 1e6).round() / 1e6)
}

#[zeroproc::main]
fn main() {
    let grid: Vec<(f64, f64)> =
        (1..5).flat_map(|a| (1..5).map(move |b| (a as f64 / 10.0, b as f64 / 10.0))).collect();
    let pool = Pool::new().unwrap();
    let futs: Vec<_> = grid.iter().map(|&p| pool.submit(simulate, p)).collect();
    let mut results = Vec::new();
    for (k, f) in as_completed(futs).enumerate() {
        results.push(f.result().unwrap());
        print!("\rprogress {}/{}", k + 1, grid.len());
        std::io::stdout().flush().unwrap();
    }
    println!();
    let best = results.iter().copied().fold(None, |m: Option<(f64, f64, f64)>, r| match m {
        Some(m) if m.2 >= r.2 => Some(m),
        _ => Some(r),
    });
    println!("best: {:?}", best.unwrap());
}
