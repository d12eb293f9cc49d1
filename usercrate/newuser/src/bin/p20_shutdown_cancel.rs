//! Port of py/p20_shutdown_cancel.py: `shutdown(wait=True, cancel_futures=True)` with
//! jobs still queued.
use std::time::Duration;
use zeroproc::{Pool, Shutdown};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let fs: Vec<_> = (0..5).map(|_| pool.submit(work, 300)).collect();
    std::thread::sleep(Duration::from_millis(100));
    pool.shutdown_with(Shutdown::new().wait(true).cancel_futures(true));
    let py = |b: bool| if b { "True" } else { "False" };
    // CPython varies for fs[2] and fs[3] (py/): printed are those that do not.
    for i in [0, 1, 4] {
        println!("fs[{i}] cancelled: {}", py(fs[i].cancelled()));
    }
    println!("first result: {}", fs.into_iter().next().unwrap().result().unwrap());
}
