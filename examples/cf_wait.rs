//! `wait(futures, FIRST_COMPLETED / FIRST_EXCEPTION / ALL_COMPLETED, timeout)`.

use std::time::Duration;
use zeroproc::{wait, ReturnWhen};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    assert!(ms != 13, "13 is unlucky");
    ms
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(2).build().expect("pool");
    let fs = vec![pool.submit(work, 300), pool.submit(work, 50)];
    let (done, not_done) = wait(fs, ReturnWhen::FirstCompleted, None);
    println!("FIRST_COMPLETED: {} done, {} not done", done.len(), not_done.len());
    let (done, _) = wait(not_done, ReturnWhen::AllCompleted, None);
    println!("ALL_COMPLETED: {} done", done.len());
    let fs = vec![pool.submit(work, 13), pool.submit(work, 400)];
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(5)));
    for f in done {
        println!("FIRST_EXCEPTION: done with {:?}", f.exception());
    }
    println!("FIRST_EXCEPTION: {} still running", not_done.len());
    let (done, not_done) = wait(
        vec![pool.submit(work, 2000)],
        ReturnWhen::AllCompleted,
        Some(Duration::from_millis(100)),
    );
    println!("timeout 100 ms: {} done, {} not done", done.len(), not_done.len());
    pool.terminate();
}
