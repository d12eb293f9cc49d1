//! A `harness = false` bench with its own `main`.
use std::time::Instant;
use zeroproc::Pool;
use zeroproc_harnesscrate::square;

fn main() {
    zeroproc::init();
    let pool = Pool::new().unwrap();
    let t = Instant::now();
    let n = 20_000u64;
    let s: u64 = pool.map(square, 0..n).map(Result::unwrap).sum();
    assert_eq!(s, (0..n).map(|x| x * x).sum::<u64>());
    println!("custom: map {n} jobs in {:?}", t.elapsed());
}
