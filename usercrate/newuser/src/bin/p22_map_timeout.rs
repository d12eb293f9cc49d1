//! Port of py/p22_map_timeout.py: `executor.map(..., timeout=1)`; where Python raises
//! `TimeoutError` while iterating, the map yields one `Err(JobError::Timeout)` and ends.
use std::time::Duration;
use zeroproc::{JobError, Pool};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(2).build().unwrap();
    for r in pool.map(work, vec![50u64, 100, 3000, 50]).timeout(Duration::from_secs(1)) {
        match r {
            Ok(v) => println!("got {v}"),
            Err(JobError::Timeout) => println!("map timed out"),
            Err(e) => panic!("{e}"),
        }
    }
}
