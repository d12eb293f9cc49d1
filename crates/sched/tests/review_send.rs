//! Review of the one send path and the map changes: behaviours the refactoring must keep,
//! on real worker processes.

use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

/// Sleeps far past any time limit when the first byte of the first item is 1.
fn slow_chunk(v: Vec<u8>) -> usize {
    if v.first() == Some(&1) {
        std::thread::sleep(Duration::from_secs(30));
    }
    v.len()
}

/// A chunked job whose arguments went through the spill heap and whose worker is killed
/// (time limit) while it runs must not leave its argument block allocated: the old code
/// deserialized the chunk (freeing the block) before calling the function, so killed
/// workers never held argument blocks. Twelve such kills of ~200 KB chunks would leak
/// ~3 MiB of a 1 MiB heap, and every later spilled job would fail as `TooLarge`.
#[test]
fn killed_chunk_does_not_leak_its_spilled_arguments() {
    let p = Pool::builder()
        .workers(1)
        .ring_capacity(1 << 16) // records up to ~32 KiB: a 200 KB chunk is spilled
        .spill_heap(1 << 20)
        .job_time_limit(Duration::from_millis(100))
        .build()
        .unwrap();
    for round in 0..12 {
        let items = vec![vec![1u8; 100_000], vec![2u8; 100_000]];
        let r: Vec<_> = p.map(slow_chunk, items).chunk_size(2).collect();
        assert_eq!(r.len(), 2, "round {round}");
        for x in &r {
            assert_eq!(x, &Err(JobError::TimeLimit), "round {round}");
        }
    }
    let items = vec![vec![2u8; 100_000], vec![3u8; 100_000]];
    let r: Vec<_> = p.map(slow_chunk, items).chunk_size(2).collect();
    assert_eq!(r, vec![Ok(100_000), Ok(100_000)]);
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// `map(..).timeout(d)`: what finished in time, then one `Timeout`, then the end — the
/// same through `next` and through internal iteration (`fold`), ordered or not, with or
/// without a progress bar.
#[test]
fn map_timeout_yields_once_then_ends_by_next_and_by_fold() {
    let items = || vec![1u64, 1, 1, 1, 20_000, 1, 1];
    let d = Duration::from_millis(500);
    for progress in [false, true] {
        for ordered in [true, false] {
            for by_fold in [false, true] {
                // A pool per run: the sleeper holds a worker until the pool is terminated.
                let p = Pool::builder().workers(2).window(4).build().unwrap();
                let m = if ordered { p.map(nap, items()) } else { p.map_unordered(nap, items()) };
                let m = m.timeout(d);
                let mut m = if progress { m.progress() } else { m };
                let v: Vec<_> = if by_fold {
                    m.fold(Vec::new(), |mut v, r| {
                        v.push(r);
                        v
                    })
                } else {
                    let v = m.by_ref().collect();
                    assert!(m.next().is_none(), "ended");
                    v
                };
                let what = format!("ordered {ordered} fold {by_fold} progress {progress}: {v:?}");
                let ok = if ordered { 4 } else { 6 };
                assert_eq!(v.len(), ok + 1, "{what}");
                assert!(v[..ok].iter().all(|r| r == &Ok(1)), "{what}");
                assert_eq!(v[ok], Err(JobError::Timeout), "{what}");
                p.terminate();
            }
        }
    }
}

/// A result whose `Drop` panics (only ever built in a worker: its job fails).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct BigBomb(Vec<u64>);

impl Drop for BigBomb {
    fn drop(&mut self) {
        panic!("BigBomb dropped");
    }
}

fn big_bomb(n: u64) -> BigBomb {
    BigBomb(vec![n; 1 << 20])
}

fn big_vec(n: u64) -> Vec<u64> {
    vec![n; 1 << 20]
}

/// The spilled result's block is given back when its `Drop` panics before the record is
/// published: six 8 MiB results through a 20 MiB heap would fill it after two if it were
/// kept. Inline results whose `Drop` panics fail the same way.
#[test]
fn spilled_result_whose_drop_panics_gives_its_block_back() {
    let p = Pool::builder().workers(1).spill_heap(20 << 20).build().unwrap();
    for round in 0..6u64 {
        match p.submit(big_bomb, round).result().map(|b| b.0.len()) {
            Err(JobError::Panicked { message }) => {
                assert!(message.contains("BigBomb dropped"), "{message}")
            }
            r => panic!("round {round}: {r:?}"),
        }
        match p.submit(|x: u64| BigBomb(vec![x]), round).result().map(|b| b.0.len()) {
            Err(JobError::Panicked { message }) => {
                assert!(message.contains("BigBomb dropped"), "{message}")
            }
            r => panic!("round {round}: {r:?}"),
        }
    }
    assert_eq!(p.submit(big_vec, 7).result().map(|v| v.len()), Ok(1 << 20));
}

fn square(x: u64) -> u64 {
    x * x
}

/// Ids and claims for odd pool sizes: a window far beyond what the claim regions allow in
/// flight (half of 512 per worker) waits instead of reusing an id; every result once.
#[test]
fn odd_pool_sizes_deliver_every_result_once() {
    for workers in [1usize, 3, 5] {
        let p = Pool::builder().workers(workers).build().unwrap();
        let n = 30_000u64;
        let mut u: Vec<u64> =
            p.map_unordered(square, 0..n).window(4_000).map(Result::unwrap).collect();
        u.sort_unstable();
        assert_eq!(u, (0..n).map(square).collect::<Vec<_>>(), "{workers} workers");
        let v: Vec<u64> = p.map(square, 0..n).window(4_000).map(Result::unwrap).collect();
        assert_eq!(v, (0..n).map(square).collect::<Vec<_>>(), "{workers} workers");
        let fs: Vec<_> = (0..3_000u64).map(|i| p.submit(square, i)).collect();
        for (i, f) in fs.into_iter().enumerate() {
            assert_eq!(f.result(), Ok(square(i as u64)), "{workers} workers");
        }
    }
}

/// A spilled result whose `Drop` outlasts the job's time limit (only in a worker).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SlowDrop(Vec<u8>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        if std::env::args().nth(1).as_deref() == Some(zeroproc_sched::WORKER_ARGS[0]) {
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}

fn slow_drop(n: u64) -> SlowDrop {
    SlowDrop(vec![n as u8; 200_000])
}

/// The one send path drops a result before publishing it, spilled or not; a worker
/// killed while a spilled result's `Drop` runs (time limit, `terminate`) holds a block no
/// record references. Found by review: without the supervisor's reclaim, twelve such
/// kills filled the 1 MiB heap and the last, harmless job's result waited for heap room
/// until its time limit (`TimeLimit`). The worker now records the block it holds in its
/// control block, and the supervisor frees it after the worker died
/// (`WorkerControl::held_offset`).
#[test]
fn killed_in_a_spilled_results_drop_leaks_nothing() {
    let p = Pool::builder()
        .workers(1)
        .ring_capacity(1 << 16)
        .spill_heap(1 << 20)
        .job_time_limit(Duration::from_millis(100))
        .build()
        .unwrap();
    for round in 0..12u64 {
        let r = p.submit(slow_drop, round).result().map(|v| v.0.len());
        assert!(matches!(r, Ok(200_000) | Err(JobError::TimeLimit)), "round {round}: {r:?}");
    }
    assert_eq!(
        p.submit(|n: u64| vec![1u8; n as usize], 200_000).result().map(|v| v.len()),
        Ok(200_000)
    );
}

fn zeros(mib: u64) -> Vec<u8> {
    vec![0u8; (mib as usize) << 20]
}

/// Jobs killed by their time limit while their 20 MiB results are written into the spill
/// heap: each dead worker's block is reclaimed (the worker records a block from its
/// allocation on, not only once written), so a big result on the idle pool afterwards
/// still fits the default 64 MiB heap. Before (found by a new-user test, 2026-12-05):
/// five such kills leaked ~25 MiB blocks each, and the next 20 MiB result waited 30 s for
/// room, then failed `TooLarge`.
#[test]
fn results_killed_while_written_do_not_leak_the_heap() {
    let p = Pool::builder().workers(2).build().unwrap();
    for i in 0..6u64 {
        let r = p.submit_with_time_limit(zeros, 20 + i % 2, Duration::from_millis(8)).result();
        assert!(matches!(r, Ok(_) | Err(JobError::TimeLimit)), "{i}: {:?}", r.map(|v| v.len()));
    }
    for _ in 0..3 {
        let r = p.submit(zeros, 20).result_timeout(Duration::from_secs(20)).expect("no wait");
        assert_eq!(r.map(|v| v.len()), Ok(20 << 20));
    }
}
