//! `future.result(timeout)`: a wait that gives up hands the future back (nothing is
//! lost); a later wait still gets the result. `submit_with_time_limit` bounds the job itself.

use std::time::Duration;

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(1).build().expect("pool");
    let f = pool.submit(work, 500);
    let f = match f.result_timeout(Duration::from_millis(100)) {
        Ok(r) => panic!("unexpectedly done: {r:?}"),
        Err(f) => {
            println!("result_timeout(100 ms): not done yet, future handed back");
            f
        }
    };
    println!("result() later: {:?}", f.result());
    let g = pool.submit_with_time_limit(work, 10_000, Duration::from_millis(200));
    println!("a 10 s job with a 200 ms job time-out: {:?}", g.result());
    println!("the pool still serves: {:?}", pool.submit(work, 1).result());
}
