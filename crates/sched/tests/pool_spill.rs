//! Arguments and results larger than a ring record travel through the pool's spill heap.

use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn sum(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

#[test]
fn large_arguments_and_results_go_through_the_heap() {
    // 64 KiB rings: anything over ~32 KiB cannot be a record.
    let p = Pool::builder().workers(2).ring_capacity(1 << 16).build().unwrap();
    let big: Vec<f64> = (0..(2 << 20)).map(|i| i as f64).collect(); // 16 MiB
    let expect: f64 = big.iter().sum();
    assert_eq!(p.submit(sum, big.clone()).result(), Ok(expect));
    let r = p.submit(|n: u64| (0..n).collect::<Vec<u64>>(), 1 << 21).result().unwrap();
    assert_eq!(r.len(), 1 << 21);
    assert!(r.iter().enumerate().all(|(i, &v)| v == i as u64));
    // Both directions at once, many in flight, mixed with small jobs.
    let fs: Vec<_> = (0..20u64)
        .map(|i| {
            p.submit(
                |v: Vec<u64>| v.into_iter().map(|x| x + 1).collect::<Vec<u64>>(),
                vec![i; 100_000 + i as usize],
            )
        })
        .collect();
    let small: Vec<_> = (0..200u64).map(|i| p.submit(|x: u64| x * 2, i)).collect();
    for (i, f) in fs.into_iter().enumerate() {
        let v = f.result().unwrap();
        assert_eq!(v.len(), 100_000 + i);
        assert!(v.iter().all(|&x| x == i as u64 + 1));
    }
    for (i, f) in small.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(2 * i as u64));
    }
    // map with chunks that only fit in the heap.
    let total: u64 = p.map(|x: u64| x, 0..200_000u64).chunk_size(50_000).map(Result::unwrap).sum();
    assert_eq!(total, (0..200_000u64).sum::<u64>());
}

#[test]
fn a_payload_larger_than_the_heap_is_an_error_with_the_args_back() {
    let p = Pool::builder().workers(1).ring_capacity(1 << 16).spill_heap(1 << 20).build().unwrap();
    let huge = vec![0u8; 4 << 20];
    match p.try_submit(|v: Vec<u8>| v.len(), huge) {
        // A resource limit with the sizes, refused after one measuring pass (issue #11).
        Err(zeroproc_sched::TrySubmitError::TooLarge(v, msg)) => {
            assert_eq!(v.len(), 4 << 20, "the arguments are handed back");
            assert!(msg.contains("1048576"), "names the heap size: {msg}");
        }
        r => panic!("{r:?}"),
    }
    let r = p.submit(|v: Vec<u8>| v.len(), vec![0u8; 4 << 20]).result();
    assert!(matches!(r, Err(JobError::TooLarge { .. })), "{r:?}");
    // A result larger than the heap: the same resource limit, not a data error.
    let r = p.submit(|n: u64| vec![7u8; n as usize], 4 << 20).result();
    assert!(matches!(r, Err(JobError::TooLarge { .. })), "{r:?}");
    assert_eq!(p.submit(|x: u64| x, 5).result(), Ok(5), "the pool still serves");
}

#[test]
fn a_worker_that_must_spill_first_gets_the_heap_created_for_it() {
    // No argument ever spills here: the first large payload is a result, so the worker
    // asks the supervisor to create the heap and waits for it.
    let p = Pool::builder().workers(2).ring_capacity(1 << 16).build().unwrap();
    let fs: Vec<_> = (0..4u64).map(|i| p.submit(|n: u64| vec![n as u8; 1 << 20], i)).collect();
    for (i, f) in fs.into_iter().enumerate() {
        let v = f.result().unwrap();
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&b| b == i as u8));
    }
}

/// 100 KB of bytes (a result of one item).
fn hundred_kb(i: u64) -> Vec<u8> {
    vec![i as u8; 100_000]
}

/// The default heap grows past its first 64 MiB: a chunk of 1,000 results of 100 KB
/// (100 MB in one result) arrives. New-user finding: every item of such a `map` failed
/// with `TooLarge` on a default pool.
#[test]
fn the_default_heap_grows_for_a_chunk_larger_than_its_first_size() {
    let p = Pool::builder().workers(1).build().unwrap();
    let mut n = 0u64;
    for (i, r) in p.map(hundred_kb, 0..1000u64).chunk_size(1000).enumerate() {
        let v = r.unwrap();
        assert!(v.len() == 100_000 && v.iter().all(|&b| b == i as u8), "item {i}");
        n += 1;
    }
    assert_eq!(n, 1000);
}

fn bytes(n: usize) -> Vec<u8> {
    vec![7; n]
}

/// Payloads of growing sizes one at a time (128 KiB up to 48 MiB, ×1.5 each): below its
/// maximum the heap carves rather than merges, so the first 64 MiB get carved into ever
/// larger blocks; the heap grows for the next payload instead of refusing it (new-user finding: with an 8 MiB
/// heap, 1.5 MiB was refused for good after 128 KiB..1.375 MiB had gone through).
#[test]
fn payloads_of_growing_sizes_all_go_through() {
    let p = Pool::builder().workers(1).build().unwrap();
    let mut n = 128usize << 10;
    while n <= 48 << 20 {
        let v = p.submit(bytes, n).result().unwrap_or_else(|e| panic!("{n} bytes: {e}"));
        assert_eq!(v.len(), n);
        n = n * 3 / 2;
    }
}

/// This process's resident shared memory (`RssShmem`, KiB): the spill heap's pages it has
/// touched, among others.
fn rss_shmem_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("RssShmem:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn byte_sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| u64::from(b)).sum()
}

/// A long-running pool that once carried a 200 MiB argument gives that memory back once
/// it is quiet (found by the serviceuser round: it stayed resident until the pool was
/// dropped — the heap grows and never shrinks — where Python frees its pickled copy).
/// Failed before the fix: RssShmem stayed ~200 MiB up after 5 s of quiet.
#[test]
fn a_burst_of_spilled_memory_is_released_when_the_pool_is_quiet() {
    let p = Pool::builder().workers(1).build().unwrap();
    let before = rss_shmem_kib();
    assert_eq!(p.submit(byte_sum, vec![1u8; 200 << 20]).result(), Ok(200 << 20));
    let during = rss_shmem_kib();
    assert!(during > before + (150 << 10), "the argument went elsewhere: {before} → {during}");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while rss_shmem_kib() > before + (16 << 10) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let after = rss_shmem_kib();
    assert!(after <= before + (16 << 10), "RssShmem {before} → {during} → {after} KiB");
    // The released block serves again, and the pool with it.
    assert_eq!(p.submit(byte_sum, vec![2u8; 200 << 20]).result(), Ok(400 << 20));
    assert_eq!(p.submit(|x: u64| x + 1, 1).result(), Ok(2));
}
