//! Port of py/p18_struct_state.py: a struct with state shipped to workers (Python pickles
//! the instance with its bound method `s.score`).
use zeroproc::Pool;

#[zeroproc::data]
#[derive(Clone)]
struct Scorer {
    weights: Vec<f64>,
    bias: f64,
}

impl Scorer {
    fn score(&self, features: &[f64]) -> f64 {
        let s: f64 = self.weights.iter().zip(features).map(|(w, f)| w * f).sum::<f64>() + self.bias;
        (s * 1000.0).round() / 1000.0
    }
}

fn score((s, row): (Scorer, Vec<f64>)) -> f64 {
    s.score(&row)
}

#[zeroproc::main]
fn main() {
    let s = Scorer { weights: vec![0.5, -1.0, 2.0], bias: 0.25 };
    let rows = vec![vec![1.0, 2.0, 3.0], vec![0.0, 0.0, 0.0], vec![4.0, 1.0, 0.5]];
    let pool = Pool::builder().workers(2).build().unwrap();
    let v: Vec<f64> =
        pool.map(score, rows.into_iter().map(|r| (s.clone(), r))).map(Result::unwrap).collect();
    println!("{v:?}");
}
