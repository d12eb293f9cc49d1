//! A `map` of a pool built with `cancel_on_drop(true)`: dropping the iterator (or ending it
//! by its time-out) stops the map's running jobs as a dropped future's would be. Before the
//! fix the hung jobs kept both workers for ever: the next job never ran and the pool's drop
//! hung (new-user finding). Hangs are detected with generous time-outs only.

use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn hang(_: u64) -> u64 {
    loop {
        std::thread::park();
    }
}

use zeroproc_testkit::within;

#[test]
fn a_timed_out_map_frees_its_workers_with_cancel_on_drop() {
    within(Duration::from_secs(60), || {
        let pool = Pool::builder().workers(2).cancel_on_drop(true).build().unwrap();
        let out: Vec<_> = pool.map(hang, 0..4u64).timeout(Duration::from_millis(100)).collect();
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Err(JobError::Timeout)), "{:?}", out[0]);
        // Both workers were hung; they are killed and replaced.
        let next = pool.submit(|x: u64| x + 1, 1);
        assert_eq!(next.result_timeout(Duration::from_secs(20)).ok(), Some(Ok(2)));
        drop(pool); // shutdown(wait = true): nothing left running
    });
}

#[test]
fn a_dropped_map_stops_its_running_jobs_with_cancel_on_drop() {
    within(Duration::from_secs(60), || {
        let pool = Pool::builder().workers(2).cancel_on_drop(true).build().unwrap();
        let first: Vec<_> =
            pool.map(|x: u64| if x == 0 { x } else { hang(x) }, 0..5u64).take(1).collect();
        assert_eq!(first, [Ok(0)]);
        let next = pool.submit(|x: u64| x + 1, 1);
        assert_eq!(next.result_timeout(Duration::from_secs(20)).ok(), Some(Ok(2)));
    });
}

#[test]
fn a_timed_out_map_cancels_its_queued_jobs() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use zeroproc_mp::shared::CellHandle;
    within(Duration::from_secs(60), || {
        let pool = Pool::builder().workers(1).build().unwrap();
        let ran = zeroproc_mp::SharedCell::new(AtomicU64::new(0)).unwrap();
        fn slow(h: CellHandle<AtomicU64>) -> u64 {
            std::thread::sleep(Duration::from_millis(1500));
            h.attach().unwrap().fetch_add(1, Ordering::SeqCst)
        }
        // One worker, a window of 4: one job runs, three wait in its ring. The time-out
        // leaves the worker time to start the first (with 50 ms, a worker still waiting
        // for a CPU on a loaded host would not have: all four cancelled, none run).
        let it = pool.map(slow, std::iter::repeat_n(ran.handle(), 4)).window(4);
        let out: Vec<_> = it.timeout(Duration::from_millis(500)).collect();
        assert!(matches!(out[..], [Err(JobError::Timeout)]), "{out:?}");
        // As in Python: the running job finishes (its result discarded), the queued ones
        // are cancelled at the time-out. Before the fix all four ran.
        drop(pool);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}
