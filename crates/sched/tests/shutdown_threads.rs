//! Shutdowns from several threads at once (api31): Python's `shutdown(wait=False)` returns
//! at once whatever another thread is doing, and zeroproc's `timeout(d)` bounds the wait.
//! Before, a second shutdown waited for the first one's wait to end — a `wait(false)` for
//! the running jobs (964 ms behind a 1 s job), a `timeout(d)` for ever behind a hung job —
//! because the supervisor's join handle was held under its mutex for the whole wait.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool, Shutdown};

zeroproc_sched::test_worker!();

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Starts `pool.shutdown()` (wait for everything) on another thread; returns its handle.
fn shutdown_elsewhere(pool: &Arc<Pool>) -> std::thread::JoinHandle<()> {
    let p = pool.clone();
    let h = std::thread::spawn(move || p.shutdown());
    std::thread::sleep(Duration::from_millis(100)); // it is waiting now
    h
}

#[test]
fn shutdown_without_waiting_returns_at_once_while_another_thread_waits() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let job = pool.submit(nap, 10_000);
    let waiting = shutdown_elsewhere(&pool);
    let t = Instant::now();
    let all_exited = pool.shutdown_with(Shutdown::new().wait(false));
    let took = t.elapsed();
    pool.terminate();
    waiting.join().unwrap();
    assert!(!all_exited);
    assert!(took < Duration::from_secs(3), "wait(false) waited {took:?} for a 10 s job");
    assert_eq!(job.result(), Err(JobError::Cancelled));
}

#[test]
fn a_shutdown_timeout_holds_while_another_thread_waits() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let hung = pool.submit(
        |_: ()| -> u32 {
            loop {
                std::thread::park()
            }
        },
        (),
    );
    let waiting = shutdown_elsewhere(&pool);
    let (tx, rx) = mpsc::channel();
    let p = pool.clone();
    std::thread::spawn(move || {
        let r = p.shutdown_with(Shutdown::new().timeout(Duration::from_millis(200)));
        tx.send(r).unwrap();
    });
    let r = rx.recv_timeout(Duration::from_secs(20));
    if r.is_err() {
        pool.terminate(); // let the test end: the bounded shutdown hung
    }
    waiting.join().unwrap();
    assert_eq!(r, Ok(false), "shutdown(timeout 200 ms) did not return within 20 s");
    assert_eq!(hung.result(), Err(JobError::Cancelled));
}
