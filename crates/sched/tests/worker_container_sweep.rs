//! A pool worker that read a shared container unmaps it (and its memory is freed) before
//! its next job once the creator has dropped it, as it does for arrays and channels.
//!
//! Found by mpsem31: a job read a 200 MiB `SharedDict`, the controller dropped the dict:
//! `Shmem` stayed 224 MiB higher — idle 2 s, after another plain job, after a job that
//! attached a queue — until a job attached another container.

use std::collections::BTreeSet;
use std::time::Duration;
use zeroproc_mp::container::DictHandle;
use zeroproc_mp::SharedDict;
use zeroproc_sched::Pool;
use zeroproc_testkit::maps::memfd_inodes;

zeroproc_sched::test_worker!();

fn read(d: DictHandle<u32, Vec<u8>>) -> u64 {
    d.attach().unwrap().get_with(&1, |v| v.len() as u64).unwrap().unwrap()
}

/// The memfd segments the worker that runs it maps.
fn worker_maps(_: ()) -> Vec<String> {
    memfd_inodes().into_iter().collect()
}

#[test]
fn a_worker_unmaps_a_dropped_dict_before_its_next_job() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let before = memfd_inodes();
    let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
    d.insert(1, vec![7; 1 << 20]).unwrap();
    let dict: BTreeSet<String> = memfd_inodes().difference(&before).cloned().collect();
    assert!(!dict.is_empty());
    assert_eq!(pool.submit(read, d.handle()).result(), Ok(1 << 20));
    let mapped = pool.submit(worker_maps, ()).result().unwrap();
    assert!(mapped.iter().any(|i| dict.contains(i)), "the worker maps the dict while it lives");
    drop(d);
    // Past the worker's idle spell (1 ms), its next job comes after a sweep.
    std::thread::sleep(Duration::from_millis(20));
    let mapped = pool.submit(worker_maps, ()).result().unwrap();
    let left: Vec<_> = mapped.iter().filter(|i| dict.contains(*i)).collect();
    assert!(left.is_empty(), "the worker still maps the dropped dict's segments {left:?}");
}
