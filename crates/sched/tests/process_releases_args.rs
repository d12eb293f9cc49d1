//! A `Process` keeps the shared objects named in its arguments only until the child has
//! ended: once it is joined (or seen ended), a dict its creator dropped is gone from
//! memory even while the `Process` handle lives on — as Python's `Process` drops its
//! arguments at `start`, so a `Manager().dict()` is freed once the parent's proxy and the
//! child are gone.
//!
//! Found by mpsem31: a 200 MiB dict read by a child, the child joined, the dict dropped:
//! `Shmem` stayed 224 MiB higher for as long as the joined `Process` handle was kept (a
//! `Vec` of finished processes kept for their exit codes), and fell only when the handle
//! was dropped.

use std::collections::BTreeSet;
use std::time::Duration;
use zeroproc_mp::container::DictHandle;
use zeroproc_mp::SharedDict;
use zeroproc_sched::{Exit, Process};
use zeroproc_testkit::maps::memfd_inodes;

zeroproc_sched::test_worker!();

fn read_it(d: DictHandle<u32, Vec<u8>>) {
    let d = d.attach().unwrap();
    assert_eq!(d.get_with(&1, |v| v.len()).unwrap(), Some(1 << 20));
}

fn ended(p: &mut Process, how: &str) {
    match how {
        "join" => assert_eq!(p.join().unwrap(), Exit::Code(0)),
        "is_alive" => {
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while p.is_alive() {
                assert!(std::time::Instant::now() < until, "the child did not end");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        _ => unreachable!(),
    }
}

#[test]
fn a_dict_dropped_after_its_reader_ended_is_unmapped_while_the_process_handle_lives() {
    for how in ["join", "is_alive"] {
        let before = memfd_inodes();
        let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
        d.insert(1, vec![7; 1 << 20]).unwrap();
        let dict: BTreeSet<String> = memfd_inodes().difference(&before).cloned().collect();
        assert!(!dict.is_empty());
        let mut p = Process::spawn(read_it, d.handle()).unwrap();
        ended(&mut p, how);
        drop(d);
        let left: Vec<_> = memfd_inodes().intersection(&dict).cloned().collect();
        assert!(left.is_empty(), "{how}: the dropped dict's segments {left:?} stay mapped");
        drop(p);
    }
}
