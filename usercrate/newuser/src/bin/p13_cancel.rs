//! Port of py/p13_cancel.py: a future cancelled before it starts.
use std::time::Duration;
use zeroproc::{JobError, Pool};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let first = pool.submit(work, 300);
    std::thread::sleep(Duration::from_millis(100));
    let second = pool.submit(work, 10);
    let third = pool.submit(work, 10);
    let py = |b: bool| if b { "True" } else { "False" };
    println!("cancel third: {}", py(third.cancel()));
    println!("third cancelled: {} done: {}", py(third.cancelled()), py(third.done()));
    if let Err(JobError::Cancelled) = third.result() {
        println!("third.result() raised CancelledError");
    }
    println!("first: {} second: {}", first.result().unwrap(), second.result().unwrap());
}
