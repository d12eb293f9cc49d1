//! An argument that finds the spill heap's free blocks held by the supervisor's release of
//! spill memory (`trim.rs`, once the pool has been quiet for 0.5 s) waits for the release,
//! instead of being refused as `TooLarge` ("no free block large enough ... even with no
//! job in flight"). New-user finding: two 890 MiB arguments submitted in turn, the second
//! built while the pool was quiet, and the second was refused though the first had fitted.
//!
//! The release takes every large free block off its free list while it gives the pages
//! back; here the test takes the free block itself, with the release count marked odd, as
//! the supervisor does.

use crate::Pool;
use std::sync::atomic::Ordering;
use std::time::Duration;

crate::test_worker!();

fn len_of(v: Vec<u8>) -> usize {
    v.len()
}

#[test]
fn an_argument_racing_a_release_of_spill_memory_waits_for_it() {
    const MIB: usize = 1 << 20;
    let pool = Pool::builder().workers(1).spill_heap(16 * MIB).build().expect("pool");
    // Carves a 10 MiB-class block, free again once the worker has read the arguments.
    assert_eq!(pool.submit(len_of, vec![1u8; 10 * MIB]).result(), Ok(10 * MIB));
    let shared = pool.shared.clone();
    let sh = shared.spill.existing().expect("the heap was made");
    let heap = sh.heap().expect("heap");
    // A release starts and holds the free block.
    shared.spill_trims.fetch_add(1, Ordering::SeqCst);
    let held = heap.alloc(10 * MIB, 16).expect("the free block");
    let f = std::thread::scope(|s| {
        let waiter = s.spawn(|| pool.submit(len_of, vec![2u8; 10 * MIB]));
        std::thread::sleep(Duration::from_millis(100));
        // The release is done: the block is free again.
        heap.free(held).expect("free");
        shared.spill_trims.fetch_add(1, Ordering::SeqCst);
        waiter.join().expect("submitter")
    });
    assert_eq!(f.result_timeout(Duration::from_secs(20)).expect("hung"), Ok(10 * MIB));
}
