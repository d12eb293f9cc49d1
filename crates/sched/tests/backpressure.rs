//! Arguments that fill the spill heap: `map` waits for room like it waits for ring room
//! and `submit` queues the job in the backlog until blocks come back; `try_submit` / `submit_timeout` hand the arguments back; an argument
//! larger than the whole heap is `TooLarge` (issue 13 item 4).

use std::time::Duration;
use zeroproc_mp::queue::QueueHandle;
use zeroproc_mp::Queue;
use zeroproc_sched::{JobError, Pool, SubmitTimeoutError, TrySubmitError};

zeroproc_sched::test_worker!();

const MIB8: usize = 1 << 20; // u64s: 8 MiB

fn checksum(v: Vec<u64>) -> u64 {
    v.iter().fold(0u64, |a, &x| a.wrapping_mul(31).wrapping_add(x))
}

fn item(i: u64) -> Vec<u64> {
    (0..MIB8 as u64).map(|k| k ^ i).collect()
}

/// 40 items of 8 MiB (320 MiB in all) through the default heap (64 MiB at start, growing to 1 GiB): every job
/// completes with its own result (it failed around the 7th job with "shared heap out of
/// memory" reported as `Decode`).
#[test]
fn map_over_8_mib_items_with_the_default_heap_completes() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    let want: Vec<u64> = (0..40).map(|i| checksum(item(i))).collect();
    let got: Vec<Result<u64, JobError>> = pool.map(checksum, (0..40).map(item)).collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.as_ref(), Ok(w), "item {i}");
    }
}

/// Waits for a value in the gate (a job whose end the test chooses), then sums.
fn gated_checksum((gate, v): (QueueHandle<u64>, Vec<u64>)) -> u64 {
    gate.attach().unwrap().get().unwrap();
    checksum(v)
}

/// While the heap is full of queued arguments: `try_submit` gives `Full(args)` back,
/// `submit_timeout` gives `Timeout(args)` back, plain `submit` waits and completes.
#[test]
fn a_full_heap_hands_arguments_back_to_try_and_timeout_forms() {
    // 20 MiB heap: queued arguments may hold half of it, so while one 8 MiB job is in
    // flight the next waits (in the backlog) until the one before completes.
    let pool = Pool::builder().workers(1).spill_heap(20 << 20).build().expect("pool");
    // The jobs hold the heap until the gate opens, after the checks below. (They slept
    // 300 ms each: a test thread that lost its CPU for that long, or was slow to build
    // the 8 MiB arguments below, found the heap freed and `try_submit` accepted.)
    let gate = Queue::<u64>::new(8).expect("gate");
    let args = |i| (gate.handle(), item(i));
    let held: Vec<_> = (0..3).map(|i| pool.submit(gated_checksum, args(i))).collect();
    match pool.try_submit(gated_checksum, args(9)) {
        Err(TrySubmitError::Full((_, v))) => assert_eq!(v.len(), MIB8),
        other => panic!("try_submit with a full heap: {:?}", other.map(|_| ())),
    }
    match pool.submit_timeout(gated_checksum, args(9), Duration::from_millis(20)) {
        Err(SubmitTimeoutError::Timeout((_, v))) => assert_eq!(v.len(), MIB8),
        other => panic!("submit_timeout with a full heap: {:?}", other.map(|_| ())),
    }
    let last = pool.submit(gated_checksum, args(7));
    for _ in 0..4 {
        gate.put(0).unwrap();
    }
    for (i, f) in held.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(checksum(item(i as u64))));
    }
    assert_eq!(last.result(), Ok(checksum(item(7))));
}

/// An argument larger than the whole heap is a resource error, not bad data, at once.
#[test]
fn an_argument_larger_than_the_heap_is_too_large() {
    let pool = Pool::builder().workers(1).spill_heap(4 << 20).build().expect("pool");
    let r = pool.submit(checksum, item(1)).result();
    assert!(matches!(r, Err(JobError::TooLarge { .. })), "{r:?}");
    match pool.try_submit(checksum, item(1)) {
        Err(TrySubmitError::TooLarge(v, _)) => assert_eq!(v.len(), MIB8),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

fn doubled(v: Vec<u64>) -> Vec<u64> {
    v.into_iter().map(|x| x * 2).collect()
}

/// Big arguments *and* big results: queued arguments must leave the heap room for the
/// results, or every worker would wait to spill a result while the heap is full of
/// arguments only workers free.
#[test]
fn map_with_8_mib_arguments_and_results_completes() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    for (i, r) in pool.map(doubled, (0..24).map(item)).enumerate() {
        let v = r.unwrap_or_else(|e| panic!("item {i}: {e}"));
        assert_eq!(v.len(), MIB8);
        assert_eq!(v[5], (5 ^ i as u64) * 2, "item {i}");
    }
}

fn bytes_of(n: usize) -> Vec<u8> {
    vec![3u8; n]
}

fn len_of(v: Vec<u8>) -> usize {
    v.len()
}

/// A result the spill heap can never hold is `TooLarge` at once: larger than the whole
/// heap (it was `Decode`, the wrong cause). Once the heap is carved into smaller blocks, a
/// larger result is merged from the freed ones, or is `TooLarge` if it is larger than the
/// heap (before merging it waited 30 s for room that could never come, and `Drop` waited
/// with it).
#[test]
fn a_result_the_heap_can_never_hold_is_too_large_at_once() {
    let small = Pool::builder().workers(1).spill_heap(8 << 20).build().expect("pool");
    match small.submit(bytes_of, 20 << 20).result() {
        Err(JobError::TooLarge { message }) => {
            assert!(message.contains("spill") && message.contains("result"), "{message}")
        }
        other => panic!("20 MiB result on an 8 MiB heap: {:?}", other.map(|v| v.len())),
    }
    let pool = Pool::builder().workers(2).build().expect("pool");
    for mib in [8usize, 16] {
        let lens: Vec<_> = pool.map(len_of, (0..10).map(|_| vec![1u8; mib << 20])).collect();
        assert!(lens.iter().all(|l| l.as_ref() == Ok(&(mib << 20))), "{mib} MiB arguments");
    }
    let f = pool.submit(bytes_of, 24 << 20);
    match f.result_timeout(Duration::from_secs(20)) {
        Ok(Err(JobError::TooLarge { .. })) | Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("24 MiB result after 8 and 16 MiB blocks: {e}"),
        Err(_) => panic!("24 MiB result after 8 and 16 MiB blocks: no answer in 20 s"),
    }
    assert_eq!(pool.submit(len_of, vec![0u8; 100]).result(), Ok(100), "still serving");
}

/// A payload under the heap's limit that still cannot fit (its block is rounded up to a
/// size class): the message names the limit that `spill_heap` set and the largest payload
/// that fits. It printed the size the heap had grown to so far ("spill heap (67108864
/// bytes) ... larger than the whole heap" for 97 MiB under a 100 MiB limit: new-user
/// finding, a 900 MiB argument under the default 1 GiB read the same).
#[test]
fn too_large_names_the_heap_limit_not_its_current_size() {
    let limit = 100usize << 20;
    let pool = Pool::builder().workers(1).spill_heap(limit).build().expect("pool");
    let r = pool.submit(len_of, bytes_of(97 << 20)).result();
    let Err(JobError::TooLarge { message }) = r else { panic!("{r:?}") };
    assert!(message.contains(&format!("grow to {limit} bytes")), "{message}");
    // The 96 MiB class (the next, 112 MiB, is past the limit), less its 16-byte header.
    let largest = (96usize << 20) - 16;
    let said = format!("the largest archived payload it carries is {largest} bytes");
    assert!(message.contains(&said), "{message}");
    // A value that size less its envelope fits.
    let fits = largest - 64;
    assert_eq!(pool.submit(len_of, bytes_of(fits)).result(), Ok(fits));
}

/// A payload under the limit after smaller ones carved most of the heap: the free blocks
/// carved last and the room past them, up to the limit, make its block, as a fresh pool's
/// heap would. It was `TooLarge` (new-user finding: 200 MiB, then 400 MiB, then 800 MiB
/// under the default 1 GiB; the heap refused to grow for a block that did not fit after
/// what was carved, and merged only what was carved).
#[test]
fn a_payload_past_what_is_left_to_carve_merges_free_blocks_with_the_rest() {
    const MIB: usize = 1 << 20;
    let pool = Pool::builder().workers(1).spill_heap(200 * MIB).build().expect("pool");
    // A 12 MiB block, then a 64 MiB one: the heap grows to 128 MiB, 76 MiB carved.
    assert_eq!(pool.submit(len_of, bytes_of(10 * MIB)).result(), Ok(10 * MIB));
    assert_eq!(pool.submit(len_of, bytes_of(60 * MIB)).result(), Ok(60 * MIB));
    // A 160 MiB block: under the 200 MiB limit, but 76 + 160 is past it.
    let r = pool.submit(len_of, bytes_of(150 * MIB)).result();
    assert_eq!(r.map_err(|e| e.to_string()), Ok(150 * MIB));
    // The smaller sizes still fit after it (the window's rest was cut into free blocks).
    assert_eq!(pool.submit(len_of, bytes_of(10 * MIB)).result(), Ok(10 * MIB));
    assert_eq!(pool.submit(len_of, bytes_of(150 * MIB)).result(), Ok(150 * MIB));
}
