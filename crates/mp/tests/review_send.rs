//! Review of the one send path: a value spilled into the heap whose record then finds no
//! room hands the value back and gives its heap block back (no leak), for pipes and
//! queues, in the try and the timed forms.

use std::time::Duration;
use zeroproc_mp::pipe::{PipeBuilder, SendTimeoutError, TrySendError};
use zeroproc_mp::queue::{PutTimeoutError, TryPutError};
use zeroproc_mp::Queue;

const MS: Duration = Duration::from_millis(1);

#[test]
fn pipe_refused_spilled_record_gives_its_block_back() {
    let (mut a, mut b) = PipeBuilder::<Vec<u8>>::new()
        .capacity(4096)
        .heap_size(64 << 10)
        .max_heap_size(64 << 10)
        .duplex()
        .unwrap();
    assert!(b.try_recv().is_err()); // b claims its side
    let mut small = 0;
    while a.try_send(vec![1; 8]).is_ok() {
        small += 1;
    }
    assert!(small > 0);
    // Each of these gets a ~32 KiB heap block, then finds no ring room for its 48-byte
    // record: ten of them would hold five times the heap if the blocks were kept.
    for i in 0..10u8 {
        match a.try_send(vec![i; 30_000]) {
            Err(TrySendError::Full(v)) => assert_eq!(v, vec![i; 30_000]),
            r => panic!("{i}: {r:?}"),
        }
        match a.send_timeout(vec![i; 30_000], 2 * MS) {
            Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, vec![i; 30_000]),
            r => panic!("{i}: {r:?}"),
        }
    }
    for _ in 0..small {
        assert_eq!(b.try_recv().unwrap(), vec![1; 8]);
    }
    assert!(b.try_recv().is_err(), "nothing refused was published");
    a.try_send(vec![7; 30_000]).expect("the heap has room again");
    assert_eq!(b.try_recv().unwrap(), vec![7; 30_000]);
    // A value between the first draft and the largest record, into a nearly full ring:
    // refused whole, then sent once there is room.
    let mid = vec![5u8; 1500];
    while a.try_send(vec![1; 8]).is_ok() {}
    assert!(matches!(a.try_send(mid.clone()), Err(TrySendError::Full(v)) if v == mid));
    while b.try_recv().is_ok() {}
    a.try_send(mid.clone()).unwrap();
    assert_eq!(b.try_recv().unwrap(), mid);
}

#[test]
fn queue_refused_spilled_record_gives_its_block_back() {
    let q = Queue::<Vec<u8>>::builder(2)
        .slot_size(64)
        .heap_size(64 << 10)
        .max_heap_size(64 << 10)
        .build()
        .unwrap();
    while q.try_put(vec![1; 8]).is_ok() {}
    for i in 0..10u8 {
        // Not `try_put`: it refuses a full queue before serializing.
        match q.put_timeout(vec![i; 30_000], 2 * MS) {
            Err(PutTimeoutError::Timeout(v)) => assert_eq!(v, vec![i; 30_000]),
            r => panic!("{i}: {r:?}"),
        }
    }
    while q.try_get().is_ok() {}
    q.try_put(vec![7; 30_000]).expect("the heap has room again");
    assert_eq!(q.try_get().unwrap(), vec![7; 30_000]);
    assert!(matches!(q.try_put(vec![0; 100_000]), Err(TryPutError::TooLarge(_))));
}

/// A queue whose heap, at its maximum, was carved into 100 KB blocks: with the queue
/// empty, a 6 MiB value fits once the freed blocks merge (it was `TooLarge` while freed
/// blocks were never merged, and before that a blocking `put` waited for room that could
/// never come: found by a new-user test, 2026-12-05). A value larger than the whole heap
/// is `TooLarge` at once in every form.
#[test]
fn a_value_needing_merged_blocks_fits_and_one_that_never_fits_is_too_large_not_a_hang() {
    use zeroproc_mp::queue::PutError;
    let q = Queue::<Vec<u8>>::builder(1024).max_heap_size(8 << 20).build().unwrap();
    let mut n = 0;
    while q.try_put(vec![1u8; 100_000]).is_ok() {
        n += 1;
    }
    assert!(n > 10, "{n} values fit");
    while q.try_get().is_ok() {}
    assert_eq!(q.len(), 0);
    q.put_timeout(vec![2u8; 6 << 20], 2000 * MS).expect("merged from the freed blocks");
    assert_eq!(q.get().unwrap().len(), 6 << 20);
    assert!(matches!(q.put(vec![2u8; 9 << 20]), Err(PutError::TooLarge(v)) if v.len() == 9 << 20));
    assert!(matches!(q.try_put(vec![2u8; 9 << 20]), Err(TryPutError::TooLarge(_))));
    assert!(matches!(
        q.put_timeout(vec![2u8; 9 << 20], 2000 * MS),
        Err(PutTimeoutError::TooLarge(_))
    ));
    // Values the carved blocks hold still go through.
    q.put(vec![3u8; 100_000]).unwrap();
    assert_eq!(q.get().unwrap().len(), 100_000);
}
