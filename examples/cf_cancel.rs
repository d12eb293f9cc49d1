//! `future.cancel()` (queued jobs only, like Python) and, beyond Python,
//! `future.terminate()`: a running job is stopped by killing its worker, which is
//! respawned; the pool stays healthy.

use std::time::Duration;

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(1).build().expect("pool");
    let running = pool.submit(work, 5_000);
    let queued = pool.submit(work, 10);
    while !running.running() {
        std::thread::yield_now();
    }
    println!("cancel() on the running job: {}", running.cancel());
    println!("cancel() on the queued job:  {}", queued.cancel());
    println!("queued: cancelled() = {}, result() = {:?}", queued.cancelled(), queued.result());
    println!("terminate() on the running job: {}", running.terminate());
    println!("running: result() = {:?}", running.result());
    println!("the pool still serves: {:?}", pool.submit(work, 1).result());
    println!("{}", pool.stats());
}
