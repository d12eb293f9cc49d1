//! Port of py/p03_wait_first.py: `wait(pending, return_when=FIRST_COMPLETED)` in a loop.
use std::time::Duration;
use zeroproc::{wait, Pool, ReturnWhen};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(3).build().unwrap();
    let mut pending: Vec<_> =
        [500u64, 100, 300].into_iter().map(|ms| pool.submit(work, ms)).collect();
    while !pending.is_empty() {
        let (done, rest) = wait(pending, ReturnWhen::FirstCompleted, None);
        pending = rest;
        for f in done {
            println!("finished {}, {} pending", f.result().unwrap(), pending.len());
        }
    }
}
