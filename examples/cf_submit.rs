//! Python's `executor.submit(fn, *args)`: each call returns a future at once; results are
//! collected later.

use std::time::{Duration, Instant};

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    x * x
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(2).build().expect("pool");
    let t = Instant::now();
    let futures: Vec<_> = (1..=4u64).map(|x| pool.submit(slow_square, x)).collect();
    println!("submitted 4 jobs in {:?} (submit does not wait)", t.elapsed());
    for (x, f) in (1..=4u64).zip(futures) {
        println!("  slow_square({x}) = {:?}", f.result());
    }
    println!("4 jobs of 200 ms on 2 workers took {:?} (≈ 400 ms)", t.elapsed());
}
