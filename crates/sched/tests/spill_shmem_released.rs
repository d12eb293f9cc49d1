//! The system memory (`Shmem`) a pool's spill heap holds comes back once the pool is quiet,
//! not only the pages mapped in the controller (`RssShmem`).
//!
//! Found by the svc32 round (a tokio service sampling `/proc/meminfo`): one 200 KB request
//! made its pool's spill heap reserve 64 MiB (`fallocate` of the heap's first length), and
//! that memory stayed allocated for the pool's life — the quiet-time release dropped the
//! pages of free blocks only, never the room past the heap's bump pointer. No process
//! mapped those pages, so no RSS showed them; the memfd's allocated size and the system's
//! `Shmem` did (64 MiB per pool, counted against a memory cgroup).

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

fn byte_sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| b as u64).sum()
}

/// The pool's spill heap: the memfd of this process of at least 32 MiB (the pool's own
/// segment is smaller), as (file size, allocated bytes).
fn spill_heap_file() -> Option<(u64, u64)> {
    let mut found = None;
    for e in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(link) = std::fs::read_link(e.path()) else { continue };
        if !link.to_string_lossy().contains("memfd:zeroproc") {
            continue;
        }
        let Ok(m) = std::fs::metadata(e.path()) else { continue };
        if m.size() >= 32 << 20 {
            assert!(found.is_none(), "two large zeroproc memfds: test assumption broken");
            found = Some((m.size(), m.blocks() * 512));
        }
    }
    found
}

#[test]
fn a_quiet_pool_gives_back_the_room_its_spill_heap_reserved() {
    let p = Pool::builder().workers(1).build().unwrap();
    assert_eq!(spill_heap_file(), None, "the spill heap is made at the first large payload");
    // One argument too large for a ring record: the heap is made (64 MiB reserved).
    assert_eq!(p.submit(byte_sum, vec![1u8; 200_000]).result(), Ok(200_000));
    let (size, during) = spill_heap_file().expect("the spill heap exists now");
    assert!(size >= 64 << 20, "heap file {size} B");
    // Quiet for 0.5 s: the supervisor releases the heap's free memory.
    let end = Instant::now() + Duration::from_secs(5);
    let mut after = during;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        after = spill_heap_file().unwrap().1;
        if after < 4 << 20 {
            break;
        }
    }
    assert!(
        after < 4 << 20,
        "the spill heap still holds {} KiB of memory after 5 s of quiet ({} KiB after the job)",
        after >> 10,
        during >> 10
    );
    // The heap serves on: a payload into released room reads back whole.
    let big: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
    let expect = byte_sum(big.clone());
    assert_eq!(p.submit(byte_sum, big).result(), Ok(expect));
    let r = p.submit(|n: u32| (0..n).map(|i| (i % 7) as u8).collect::<Vec<u8>>(), 30 << 20);
    let r = r.result().unwrap();
    assert!(r.iter().enumerate().all(|(i, &b)| b == (i % 7) as u8));
}
