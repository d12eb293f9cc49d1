//! A map's sink lends itself to its jobs (`Sink::lend`/`give_back`): references given back
//! are kept inside the sink, so the map's drop must break that cycle, whether the map
//! ended, was dropped with jobs running, or timed out.

use super::Map;
use crate::Pool;
use std::sync::{Arc, Weak};
use std::time::Duration;

crate::test_worker!();

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn double(x: u64) -> u64 {
    2 * x
}

/// A weak reference to the map's sink (made by its first `next`).
fn sink_of<F, I, A, R>(m: &Map<'_, F, I, A, R>) -> Weak<super::Sink<R>> {
    Arc::downgrade(m.sink.as_ref().expect("iterated"))
}

#[test]
fn a_map_run_to_its_end_frees_its_sink() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut m = pool.map(double, 0..5_000u64);
    assert_eq!(m.next(), Some(Ok(0)));
    let sink = sink_of(&m);
    assert_eq!(m.by_ref().map(Result::unwrap).sum::<u64>(), (1..5_000).map(double).sum::<u64>());
    drop(m);
    assert!(sink.upgrade().is_none(), "the sink outlived its map");
}

#[test]
fn a_map_dropped_with_jobs_running_frees_its_sink_once_they_end() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut m = pool.map(nap, [1, 1, 1, 300, 300, 1, 1, 1]);
    assert_eq!(m.next(), Some(Ok(1)));
    let sink = sink_of(&m);
    drop(m); // the two long jobs are running: they finish and their results are dropped
    pool.shutdown(); // waits for them
    assert!(sink.upgrade().is_none(), "the sink outlived its map and its jobs");
}

#[test]
fn a_timed_out_map_frees_its_sink() {
    let pool = Pool::builder().workers(2).build().unwrap();
    // The first item (1 ms) must be back before the time-out, the second (1.5 s) not:
    // 50 ms against 200 ms was tight on a loaded host for the first.
    let mut m = pool.map(nap, [1, 1500, 1, 1]).timeout(Duration::from_millis(500));
    assert_eq!(m.next(), Some(Ok(1)));
    let sink = sink_of(&m);
    assert!(m.by_ref().any(|r| r.is_err()));
    drop(m);
    pool.shutdown();
    assert!(sink.upgrade().is_none(), "the sink outlived its timed-out map");
}
