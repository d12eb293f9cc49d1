//! `future.add_done_callback(fn)`: runs in the controller process once the job is done,
//! in the thread that drains the job's completion (here: the pool's supervisor thread,
//! since the main thread is not waiting on the pool), outside the pool's lock.

use std::sync::mpsc;
use std::time::Duration;

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms * 2
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::builder().workers(2).build().expect("pool");
    let (tx, rx) = mpsc::channel();
    let main_thread = std::thread::current().id();
    for ms in [150u64, 50] {
        let f = pool.submit(work, ms);
        let tx = tx.clone();
        f.add_done_callback(move |r| {
            let t = std::thread::current();
            println!(
                "  callback: job({ms}) -> {r:?} in pid {} thread {:?} (main thread: {})",
                std::process::id(),
                t.name().unwrap_or("?"),
                t.id() == main_thread
            );
            tx.send(()).unwrap();
        });
    }
    println!("controller pid {}: two jobs submitted, callbacks registered", std::process::id());
    rx.recv().unwrap();
    rx.recv().unwrap();
    let f = pool.submit(work, 1);
    let _ = pool.map(|x: u64| x, 0..1u64).count();
    f.add_done_callback(|r| println!("  callback on a job that may be done already: {r:?}"));
}
