//! A worker lets go of the arrays its jobs read once their owner has dropped them, without
//! needing a job that attaches another array: after an idle spell, before its next job.
//!
//! Before: a worker kept the descriptor and the mapping of every array it had read until
//! its next array attach swept its cache. Under the usual `ulimit -n` of 1024, a worker
//! that had read 1,017 arrays, all dropped since, failed every later job that opened a
//! file ("Too many open files") for as long as its jobs attached no array (hpc29).

use std::time::{Duration, Instant};
use zeroproc_mp::shared::ArrayHandle;
use zeroproc_mp::SharedArray;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

fn open_fds(_: ()) -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn sum(h: ArrayHandle<u32>) -> u64 {
    h.read().unwrap().iter().map(|&v| u64::from(v)).sum()
}

/// A pool of one worker that has read 64 live arrays (none kept for reuse once dropped:
/// kept ones stay mapped in the workers, by design), its descriptor count before them, and
/// the arrays.
fn a_worker_that_read_64_arrays() -> (Pool, u64, Vec<SharedArray<u32>>) {
    zeroproc_mp::shared::cache::set_reuse_limit(0);
    let pool = Pool::builder().workers(1).build().expect("pool");
    let before = pool.submit(open_fds, ()).result().unwrap();
    let arrays: Vec<SharedArray<u32>> =
        (0..64).map(|i| SharedArray::from_slice(&[i; 16]).unwrap()).collect();
    let sums: Vec<u64> =
        pool.map(sum, arrays.iter().map(|a| a.handle())).map(Result::unwrap).collect();
    assert_eq!(sums[63], 63 * 16);
    (pool, before, arrays)
}

#[test]
fn a_worker_closes_the_arrays_dropped_by_their_owner() {
    let (pool, before, arrays) = a_worker_that_read_64_arrays();
    let holding = pool.submit(open_fds, ()).result().unwrap();
    assert!(holding >= before + 64, "the worker maps the live arrays: {before} → {holding}");
    drop(arrays);
    // The worker goes idle, then gets jobs that attach nothing.
    let end = Instant::now() + Duration::from_secs(20);
    let mut now = holding;
    while now > before + 2 {
        assert!(
            Instant::now() < end,
            "the worker still holds {} descriptors of dropped arrays ({before} before them)",
            now - before
        );
        std::thread::sleep(Duration::from_millis(10));
        now = pool.submit(open_fds, ()).result().unwrap();
    }
}

fn read_all(hs: Vec<ArrayHandle<u32>>) -> Result<u64, String> {
    let mut total = 0;
    for h in hs {
        total += h.read().map_err(|e| e.to_string())?.iter().map(|&v| u64::from(v)).sum::<u64>();
    }
    Ok(total)
}

/// A worker that cannot attach one more array under its descriptor limit says which limit
/// and how to raise it (it said "open failed: Too many open files" and nothing more).
#[test]
fn an_attach_past_the_descriptor_limit_names_it() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    // The worker's own limit, lowered from inside a job: a few descriptors of room.
    let room = pool
        .submit(
            |_: ()| {
                let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
                // SAFETY: a plain struct of integers, valid zeroed.
                let mut l: libc::rlimit = unsafe { std::mem::zeroed() };
                // SAFETY: a valid resource and out pointer.
                unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
                l.rlim_cur = open + 4;
                // SAFETY: a valid resource and pointer; only this worker process's limit.
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) }
            },
            (),
        )
        .result()
        .unwrap();
    assert_eq!(room, 0, "setrlimit in the worker");
    let arrays: Vec<SharedArray<u32>> =
        (0..16).map(|i| SharedArray::from_slice(&[i; 4]).unwrap()).collect();
    let r = pool.submit(read_all, arrays.iter().map(|a| a.handle()).collect()).result().unwrap();
    let e = r.expect_err("16 arrays attached with 4 descriptors of room");
    assert!(e.contains("descriptor limit") && e.contains("ulimit -n"), "{e}");
    pool.terminate();
    drop(arrays);
}

/// Waits (up to 30 s) for the file `path` to exist.
fn wait_for_file(path: String) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&path).exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A worker that never idles — its next job queued behind a long one while the arrays it
/// read were dropped — lets go of them before that next job. It kept every descriptor
/// until an idle spell (review30: 700 arrays dropped during a 2 s job, the job queued
/// behind it opened 317 files and failed "Too many open files" under `ulimit -n` 1024).
#[test]
fn a_busy_worker_closes_the_arrays_dropped_while_it_worked() {
    let (pool, before, arrays) = a_worker_that_read_64_arrays();
    let gate = std::env::temp_dir().join(format!("zp-busy-sweep-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let long = pool.submit(wait_for_file, gate.to_string_lossy().into_owned());
    // Queued behind the long job: the worker goes from one to the other without idling.
    let after = pool.submit(open_fds, ());
    drop(arrays);
    std::thread::sleep(Duration::from_millis(200)); // the supervisor's ticks: 5 ms
    std::fs::write(&gate, b"").unwrap();
    assert_eq!(long.result(), Ok(true), "the gate");
    let _ = std::fs::remove_file(&gate);
    let after = after.result().unwrap();
    assert!(
        after <= before + 2,
        "the worker still holds {} descriptors of dropped arrays ({before} before them)",
        after.saturating_sub(before)
    );
}
