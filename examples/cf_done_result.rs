//! `future.done()` polled while the job runs, then `future.result()`.

use std::time::Duration;

fn work(ms: u64) -> String {
    std::thread::sleep(Duration::from_millis(ms));
    format!("slept {ms} ms in pid {}", std::process::id())
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(1).build().expect("pool");
    let f = pool.submit(work, 300);
    println!("right after submit: done() = {}", f.done());
    while !f.done() {
        println!("  running() = {}, waiting...", f.running());
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("done() = {}, result() = {:?}", f.done(), f.result());
}
