//! More worker processes than an array had reader slots, all reading one input at once:
//! a pool as wide as a large node (`Pool::new()` on 96 or 128 cores), or oversubscribed.
//!
//! Before (num31): an array had 64 reader lease slots, so with 80 workers in a
//! `for_each_chunk_mut_with` whose kernels overlapped, 16 chunks failed with
//! "all reader slots are taken" — rayon and numpy + multiprocessing have no such limit.

use std::time::Duration;
use zeroproc_mp::SharedArray;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// Holds the input's read guard long enough for every worker to hold one at once.
fn slow_axpy(y: &mut [f64], x: &[f64]) {
    std::thread::sleep(Duration::from_millis(300));
    for (y, x) in y.iter_mut().zip(x) {
        *y += 2.0 * x;
    }
}

#[test]
fn eighty_workers_read_one_input_at_once() {
    let workers = 80;
    let pool = Pool::builder().workers(workers).oversubscribe(true).build().unwrap();
    let x = SharedArray::from_slice(&vec![1.5; workers * 10]).unwrap();
    let mut y = SharedArray::<f64>::zeroed(workers * 10).unwrap();
    let r = pool.for_each_chunk_mut_with(&mut y, &x, 10, slow_axpy);
    assert!(r.is_ok(), "{}", r.unwrap_err());
    assert!(y.as_slice().unwrap().iter().all(|&v| v == 3.0));
}
