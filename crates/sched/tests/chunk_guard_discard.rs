//! An array dropped while a job still writes one of its chunks gives its memory back once
//! that job is done, without waiting for a worker's next job. Its owner cannot free the
//! elements at the drop (`MADV_REMOVE` needs every writer gone), and each worker that
//! mapped it keeps the segment's pages alive until its cache sweep, which runs only before
//! a job. Before (review30): a 128 MiB array dropped under a 1.5 s chunk job stayed in
//! RAM (`Shmem` +152 MiB) for as long as the pool got no further job — 2 s and more.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};
use zeroproc_mp::shared::ChunkMut;
use zeroproc_mp::SharedArray;
use zeroproc_sched::Pool;
use zeroproc_shm::SegmentId;
use zeroproc_testkit::fd::allocated; // bytes of memory the segment's file holds

zeroproc_sched::test_worker!();

const MIB: u64 = 1 << 20;

/// Takes the chunk's guard, says so with a file in `dir`, and keeps it for `ms`.
fn hold((chunk, dir, ms): (ChunkMut<u64>, String, u64)) -> bool {
    let Ok(mut g) = chunk.write() else { return false };
    g[0] = 1;
    std::fs::write(format!("{dir}/held"), b"").unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    true
}

/// A descriptor of the array's segment, standing for a process mapping it.
fn dup_of(a: &SharedArray<u64>) -> OwnedFd {
    let SegmentId::Memfd { fd, .. } = a.segment_id() else { panic!("not a memfd") };
    zeroproc_testkit::fd::dup(*fd)
}

#[test]
fn an_array_dropped_under_a_chunk_writer_is_freed_when_it_is_done() {
    zeroproc_mp::shared::cache::set_reuse_limit(0);
    let dir = std::env::temp_dir().join(format!("zp-chunk-discard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_string_lossy().into_owned();
    let pool = Pool::builder().workers(1).build().unwrap();
    let mut a = SharedArray::from_slice(&vec![1u64; 8 << 20]).unwrap(); // 64 MiB
    let other = dup_of(&a);
    let chunks = a.chunks_mut(4 << 20).unwrap();
    let f = pool.submit(hold, (chunks[0].clone(), d.clone(), 500));
    let t = Instant::now();
    while !dir.join("held").exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "the job never took its guard");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(chunks);
    drop(a);
    assert_eq!(f.result_timeout(Duration::from_secs(30)).expect("hung"), Ok(true));
    // No further job: the worker does not sweep its cache.
    let t = Instant::now();
    while allocated(&other) >= MIB && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left = allocated(&other);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(left < MIB, "{} MiB still allocated {:?} after the job", left / MIB, t.elapsed());
}
