//! `as_completed(futures)`: results in the order they finish, not the order submitted.

use std::time::{Duration, Instant};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(4).pin(false).build().expect("pool");
    let t = Instant::now();
    let fs: Vec<_> = [400u64, 100, 300, 200].iter().map(|&ms| pool.submit(work, ms)).collect();
    println!("submitted jobs of 400, 100, 300, 200 ms");
    for f in zeroproc::as_completed(fs) {
        println!("  {:>4?} ms job done at {:?}", f.result().unwrap(), t.elapsed());
    }
}
