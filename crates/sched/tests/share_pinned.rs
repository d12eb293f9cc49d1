//! A `SharedValue` moved into a job's or a `Process`'s arguments (or an initializer's),
//! with no other handle left in the creator, stays reachable until that job, child or pool
//! no longer needs it, and is released after. Before, the handle died when `submit`
//! returned, usually before the worker mapped the value: `pool.submit(f, (pool.share(&t)?,
//! i))` failed with "not reachable" in 44 of 50 runs (new-user finding).

use std::sync::OnceLock;
use std::time::{Duration, Instant};
use zeroproc_sched::{Exit, Pool, Process, SharedValue};

zeroproc_sched::test_worker!();

fn lookup((t, i): (SharedValue<Vec<u64>>, usize)) -> Result<u64, String> {
    t.get().map(|t| t[i].to_native()).map_err(|e| e.to_string())
}

fn table() -> Vec<u64> {
    (0..1000).map(|x| x * 3).collect()
}

#[test]
fn a_value_moved_into_job_arguments_reaches_the_job() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let t = table();
    for i in 0..50 {
        let r = pool.submit(lookup, (pool.share(&t).unwrap(), i)).result();
        assert_eq!(r, Ok(Ok(i as u64 * 3)), "job {i}");
    }
    // One value per item of a map, chunked or not.
    let items = |n: usize| (0..n).map(|i| (pool.share(&t).unwrap(), i));
    let r: Vec<_> = pool.map(lookup, items(20)).map(Result::unwrap).collect();
    assert_eq!(r, (0..20).map(|i| Ok(i * 3)).collect::<Vec<_>>());
    let r: Vec<_> = pool.map(lookup, items(20)).chunk_size(6).map(Result::unwrap).collect();
    assert_eq!(r, (0..20).map(|i| Ok(i * 3)).collect::<Vec<_>>());
}

#[test]
fn the_value_is_released_once_the_job_is_done() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let s = pool.share(&table()).unwrap();
    // A copy of the handle as it travels (it owns nothing): reads the value while it lives.
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s).unwrap();
    let travelled = || rkyv::from_bytes::<SharedValue<Vec<u64>>, rkyv::rancor::Error>(&bytes);
    let slow = |a: (SharedValue<Vec<u64>>, usize)| {
        std::thread::sleep(Duration::from_millis(100));
        lookup(a)
    };
    let f = pool.submit(slow, (s, 5));
    assert_eq!(f.result(), Ok(Ok(15)));
    // The job's pin was its last owner: the value goes (no leak).
    let t0 = Instant::now();
    while travelled().unwrap().get().is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the value was never released");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_value_moved_into_a_process_reaches_the_child() {
    fn late((t, i): (SharedValue<Vec<u64>>, usize)) {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(lookup((t, i)), Ok(i as u64 * 3));
    }
    let v = SharedValue::new(&table()).unwrap();
    let mut p = Process::spawn(late, (v, 7)).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0), "{:?}", p.panic_message());
}

static LEN: OnceLock<usize> = OnceLock::new();

#[test]
fn an_initializer_value_outlives_its_last_handle_for_respawned_workers() {
    fn init(t: SharedValue<Vec<u64>>) {
        LEN.set(t.get().expect("the initializer's shared value").len()).unwrap();
    }
    let v = SharedValue::new(&table()).unwrap();
    // Every job runs in a fresh worker, whose initializer maps the value again.
    let pool = Pool::builder()
        .workers(1)
        .max_jobs_per_worker(1)
        .initializer_with(init, v)
        .build()
        .unwrap();
    for i in 0..5u64 {
        assert_eq!(pool.submit(|x: u64| (x, *LEN.get().unwrap()), i).result(), Ok((i, 1000)));
    }
}
