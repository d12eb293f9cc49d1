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
use zeroproc_testkit::maps::{memfd_inodes, memfd_inodes_of};

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

/// The same in a pool that gets no further job: the supervisor wakes the idle worker to
/// sweep (a SWEEP record). Before, an idle pool kept the dropped dict's segments mapped,
/// and their memory in use, until its next job (mpsem31, documented as not fixed).
#[test]
fn an_idle_worker_unmaps_a_dropped_dict_without_a_next_job() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let before = memfd_inodes();
    let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
    d.insert(1, vec![7; 1 << 20]).unwrap();
    let dict: BTreeSet<String> = memfd_inodes().difference(&before).cloned().collect();
    assert_eq!(pool.submit(read, d.handle()).result(), Ok(1 << 20));
    let pid = pool.stats().workers[0].pid.to_string();
    let held = |pid: &str| -> Vec<String> {
        memfd_inodes_of(pid).into_iter().filter(|i| dict.contains(i)).collect()
    };
    assert!(!held(&pid).is_empty(), "the worker maps the dict while it lives");
    drop(d);
    // The supervisor's tick is 5 ms; generous for a loaded host.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !held(&pid).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the idle worker still maps the dropped dict's segments {:?} after 10 s",
            held(&pid)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // And the pool goes on as before.
    assert_eq!(pool.submit(worker_maps, ()).result().map(|_| ()), Ok(()));
    assert_eq!(pool.stats().workers[0].jobs_done, 2, "the wake-up ran no job");
}
