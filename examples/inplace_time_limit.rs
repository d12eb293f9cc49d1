//! An in-place call with a time limit whose kernels never end: each call returns
//! `ForEachChunkError::TimeLimit` once the workers running its chunks were killed and
//! replaced, the array holds what the kernels wrote, and the pool goes on. Prints how long
//! after the limit the calls returned (docs/performance.md).
//!
//! `cargo run --release --example inplace_time_limit -- [CALLS]`

use std::ops::Range;
use std::time::{Duration, Instant};
use zeroproc::{ForEachChunkError, Pool, SharedArray};

/// Fills its chunk with 2, then never ends.
fn fill_then_spin(c: &mut [u32], _: Range<usize>, _: &()) {
    c.fill(2);
    loop {
        std::hint::spin_loop();
    }
}

fn main() {
    zeroproc::init();
    let calls: usize = std::env::args().nth(1).map_or(15, |n| n.parse().unwrap());
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut y = SharedArray::from_slice(&[1u32; 1024]).unwrap();
    let limit = Duration::from_millis(200);
    let mut over = Vec::new();
    for _ in 0..calls {
        let t0 = Instant::now();
        let r = pool.in_place(&mut y).time_limit(limit).for_each_chunk_mut(64, fill_then_spin);
        over.push(t0.elapsed().saturating_sub(limit));
        let Err(ForEachChunkError::TimeLimit { failed, .. }) = r else { panic!("{r:?}") };
        // The two chunks that ran hold 2s (written before the kill), the rest their 1s.
        let v = y.as_slice().unwrap();
        assert!(v.iter().all(|&x| x == 1 || x == 2) && failed == 16, "{failed}");
        assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2)); // the pool goes on
    }
    over.sort();
    let pick = |q: usize| over[(over.len() - 1) * q / 100];
    println!(
        "{calls} calls, limit {limit:?}: returned after the limit by min {:?}, p50 {:?}, max {:?}",
        pick(0),
        pick(50),
        pick(100)
    );
}
