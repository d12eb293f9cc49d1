//! A burst of large messages through a pipe or a queue, or of large values through a
//! shared dict or list, must not keep its shared memory resident once the values are gone:
//! RssShmem (`/proc/self/status`) after the receiver took them (`src/trim.rs`). Before,
//! all four kept the whole burst resident (+32 MiB for 8 values of 4 MiB, measured).

use std::time::{Duration, Instant};
use zeroproc_mp::pipe::PipeBuilder;
use zeroproc_mp::{Queue, SharedDict, SharedList};

/// This process's resident shared memory, in KiB.
fn rss_shmem_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("RssShmem:")).expect("RssShmem");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// RssShmem is the whole process's: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const VALUE: usize = 4 << 20; // 4 MiB per value
const BURST: usize = 8;

fn value(i: usize) -> Vec<u8> {
    vec![i as u8 | 1; VALUE]
}

/// Waits up to 3 s for RssShmem to come back within 8 MiB of `base`; returns the last
/// reading (KiB above `base`).
fn settles_near(base: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let above = rss_shmem_kib().saturating_sub(base);
        if above < 8 << 10 || Instant::now() > end {
            return above;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pipe_burst_gives_its_memory_back() {
    let _one = serial();
    let (mut tx, mut rx) =
        PipeBuilder::<Vec<u8>>::new().heap_size(1 << 20).max_heap_size(256 << 20).oneway().unwrap();
    let base = rss_shmem_kib();
    let t = std::thread::spawn(move || {
        for i in 0..BURST {
            tx.send(value(i)).unwrap();
        }
        tx
    });
    for i in 0..BURST {
        assert_eq!(rx.recv().unwrap()[0], i as u8 | 1);
    }
    let _tx = t.join().unwrap();
    let peak = rss_shmem_kib().saturating_sub(base);
    let after = settles_near(base);
    println!("MEASURE pipe burst {BURST}x{VALUE}: peak +{peak} KiB, after +{after} KiB");
    assert!(after < 8 << 10, "the pipe kept {after} KiB of its burst resident");
}

#[test]
fn a_dict_burst_gives_its_memory_back() {
    let _one = serial();
    let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
    let base = rss_shmem_kib();
    for i in 0..BURST {
        d.insert(i as u32, value(i)).unwrap();
    }
    let peak = rss_shmem_kib().saturating_sub(base);
    for i in 0..BURST {
        assert_eq!(d.remove(&(i as u32)).unwrap().unwrap()[0], i as u8 | 1);
    }
    let after = settles_near(base);
    println!("MEASURE dict burst {BURST}x{VALUE}: peak +{peak} KiB, after +{after} KiB");
    assert!(after < 8 << 10, "the dict kept {after} KiB of its burst resident");
}

#[test]
fn a_list_burst_gives_its_memory_back() {
    let _one = serial();
    let l = SharedList::<Vec<u8>>::new().unwrap();
    let base = rss_shmem_kib();
    for i in 0..BURST {
        l.push(value(i)).unwrap();
    }
    let peak = rss_shmem_kib().saturating_sub(base);
    while let Some(v) = l.pop().unwrap() {
        assert_eq!(v.len(), VALUE);
    }
    let after = settles_near(base);
    println!("MEASURE list burst {BURST}x{VALUE}: peak +{peak} KiB, after +{after} KiB");
    assert!(after < 8 << 10, "the list kept {after} KiB of its burst resident");
}

#[test]
fn a_queue_burst_gives_its_memory_back() {
    let _one = serial();
    let q = Queue::<Vec<u8>>::builder(BURST).max_heap_size(256 << 20).build().unwrap();
    let base = rss_shmem_kib();
    for i in 0..BURST {
        q.put(value(i)).unwrap();
    }
    let peak = rss_shmem_kib().saturating_sub(base);
    for i in 0..BURST {
        assert_eq!(q.get().unwrap()[0], i as u8 | 1);
    }
    let after = settles_near(base);
    println!("MEASURE queue burst {BURST}x{VALUE}: peak +{peak} KiB, after +{after} KiB");
    assert!(after < 8 << 10, "the queue kept {after} KiB of its burst resident");
    // The heap still serves large values (its blocks' pages come back on use).
    q.put(value(9)).unwrap();
    assert_eq!(q.get().unwrap(), value(9));
}
