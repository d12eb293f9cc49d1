//! A container whose creator attached its own handle (to give a thread or a helper an
//! owned object) is unmapped, and its memory freed, once the creator and the attachment
//! have both dropped it — as a `Manager().dict()` is freed once its proxies are gone.
//!
//! Found by mpsem31: a dict holding 200 MiB, attached once in its creator for a thread,
//! both dropped: `Shmem` stayed 224 MiB higher, with a descriptor open, until the process
//! happened to attach some other container.

use zeroproc_mp::{Namespace, SharedDict, SharedList};
use zeroproc_testkit::maps::memfd_inodes;

/// The memfd segments `make` creates that are still mapped once it returns (it creates
/// a container, attaches its handle, and drops both).
fn left_after(make: impl FnOnce()) -> Vec<String> {
    let before = memfd_inodes();
    make();
    memfd_inodes().difference(&before).cloned().collect()
}

#[test]
fn a_self_attached_dict_list_or_namespace_is_unmapped_when_both_are_dropped() {
    let left = left_after(|| {
        let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
        d.insert(1, vec![1; 1 << 20]).unwrap();
        let there = d.handle().attach().unwrap();
        std::thread::scope(|s| {
            s.spawn(move || assert_eq!(there.get_with(&1, |v| v.len()).unwrap(), Some(1 << 20)));
        });
        drop(d);
    });
    assert!(left.is_empty(), "the dropped dict's segments {left:?} stay mapped");

    let left = left_after(|| {
        let l = SharedList::<u8>::new().unwrap();
        l.handle().attach().unwrap().push(1).unwrap();
        let ns = Namespace::new().unwrap();
        ns.handle().attach().unwrap().set("x", 1u8).unwrap();
    });
    assert!(left.is_empty(), "the dropped list's or namespace's segments {left:?} stay mapped");
}
