//! `add_done_callback` from another thread while the future's callbacks are running: it
//! queues the callback (which then runs after the running one, on the thread running
//! them) and returns at once. Before the future's state word (`future_state.rs`) the
//! registration took the future's value lock, which the running callbacks held: it waited
//! until they had all returned — here, for ever, as the running callback waits for the
//! registration.

use std::sync::mpsc;
use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_registration_while_callbacks_run_does_not_wait_for_them() {
    let pool = Pool::builder().workers(1).build().unwrap();
    // The job waits for this file, created once the first callback is registered: a job
    // done (and drained by the supervisor's tick) before the registration would run that
    // callback in this thread, at once, as Python does — and it would wait LIMIT for the
    // registration below it is meant to let through (the test failed so in 1–10 % of runs
    // when this thread lost its CPU between `submit` and `add_done_callback`).
    let gate = std::env::temp_dir().join(format!("zp-cb-registration-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let wait_for_gate = |(gate, x): (String, u64)| {
        while !std::path::Path::new(&gate).exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
        x + 1
    };
    let f = pool.submit(wait_for_gate, (gate.to_string_lossy().into_owned(), 1));
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (order_tx, order_rx) = mpsc::channel();
    let o1 = order_tx.clone();
    f.add_done_callback(move |r| {
        started_tx.send(()).unwrap();
        // Returns once the other thread's registration has returned (or after LIMIT).
        let _ = go_rx.recv_timeout(LIMIT);
        o1.send(format!("first {r:?}")).unwrap();
    });
    std::fs::write(&gate, b"").unwrap();
    started_rx.recv_timeout(LIMIT).expect("the first callback never ran");
    let (registered_tx, registered_rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            f.add_done_callback(move |r| order_tx.send(format!("second {r:?}")).unwrap());
            registered_tx.send(()).unwrap();
        });
        let registered = registered_rx.recv_timeout(Duration::from_secs(5));
        go_tx.send(()).unwrap();
        assert!(registered.is_ok(), "add_done_callback waited for the running callback");
    });
    assert_eq!(order_rx.recv_timeout(LIMIT).unwrap(), "first Ok(2)");
    assert_eq!(order_rx.recv_timeout(LIMIT).expect("the second callback was lost"), "second Ok(2)");
    assert_eq!(f.result(), Ok(2));
    let _ = std::fs::remove_file(&gate);
}

/// Many threads register callbacks while the job completes: each runs exactly once,
/// whether it was registered before, during or after the completion.
#[test]
fn callbacks_registered_around_the_completion_each_run_once() {
    let pool = Pool::builder().workers(1).build().unwrap();
    for round in 0..50u64 {
        let f = pool.submit(|x: u64| x * 2, round);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (f, tx) = (&f, tx.clone());
                s.spawn(move || {
                    for k in 0..5u64 {
                        let tx = tx.clone();
                        f.add_done_callback(move |r| tx.send((t, k, r.clone())).unwrap());
                        std::thread::yield_now();
                    }
                });
            }
        });
        drop(tx);
        let mut got = Vec::new();
        while got.len() < 20 {
            match rx.recv_timeout(LIMIT) {
                Ok(x) => got.push(x),
                Err(_) => break,
            }
        }
        assert_eq!(got.len(), 20, "round {round}: a callback was lost");
        got.sort_by_key(|&(t, k, _)| (t, k));
        got.dedup_by_key(|&mut (t, k, _)| (t, k));
        assert_eq!(got.len(), 20, "round {round}: a callback ran twice");
        assert!(got.iter().all(|(_, _, r)| *r == Ok(round * 2)));
        assert!(rx.recv_timeout(Duration::from_millis(1)).is_err(), "round {round}: extra runs");
        assert_eq!(f.result(), Ok(round * 2));
    }
}
