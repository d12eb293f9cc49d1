//! A dropped SharedArray gives its memory back at once, though other processes still map
//! its segment: a pool worker that read the array keeps the mapping in its cache until its
//! next attach, and a memfd's pages live as long as any mapping or descriptor does.
//!
//! Before: a 4 GiB array dropped by its owner stayed in RAM (`Shmem` in /proc/meminfo)
//! for as long as the workers that had read it ran no job attaching another array; the
//! next array of another shape was created beside it (a peak of both), or refused with
//! `Create(NoSpace)` though the user had dropped the first (hpc29).
//!
//! A descriptor of the segment (a `dup` of the owner's) stands for the other process's
//! mapping here: both keep the file alive, and its allocated blocks are what is measured.

use std::os::fd::OwnedFd;
use std::sync::Mutex;
use zeroproc_mp::shared::cache;
use zeroproc_mp::SharedArray;
use zeroproc_shm::SegmentId;
use zeroproc_testkit::fd::allocated; // bytes of memory the segment's file holds

/// The reuse limit is per process; the tests of this file set it in turn.
static LIMIT: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

/// A descriptor of the array's segment, standing for a process mapping it.
fn dup_of(a: &SharedArray<u64>) -> OwnedFd {
    let SegmentId::Memfd { fd, .. } = a.segment_id() else { panic!("not a memfd") };
    zeroproc_testkit::fd::dup(*fd)
}

#[test]
fn a_dropped_array_frees_its_memory_while_another_mapping_remains() {
    let _g = LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    cache::set_reuse_limit(0);
    let a = SharedArray::from_slice(&vec![1u64; 8 << 20]).unwrap(); // 64 MiB
    let other = dup_of(&a);
    assert!(allocated(&other) >= 64 * MIB, "the elements are allocated");
    drop(a);
    let left = allocated(&other);
    assert!(left < MIB, "{left} bytes still allocated after the drop");
    cache::set_reuse_limit(1 << 30);
}

#[test]
fn a_kept_array_frees_its_memory_when_released() {
    let _g = LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    cache::set_reuse_limit(1 << 30);
    let a = SharedArray::from_slice(&vec![1u64; (2 << 20) + 3]).unwrap(); // 16 MiB
    let other = dup_of(&a);
    drop(a);
    assert!(allocated(&other) >= 16 * MIB, "kept for the next array of its shape");
    assert_eq!(cache::release_dropped(), 1);
    let left = allocated(&other);
    assert!(left < MIB, "{left} bytes still allocated after the release");
}

#[test]
fn a_live_reader_keeps_the_elements_of_a_dropped_array() {
    let _g = LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    cache::set_reuse_limit(0);
    let a = SharedArray::from_slice(&vec![7u64; (1 << 20) + 5]).unwrap();
    let other = dup_of(&a);
    let h = a.handle();
    let r = h.read().unwrap();
    drop(a);
    assert!(r.iter().all(|&v| v == 7), "a reader's elements changed under it");
    assert!(allocated(&other) >= 8 * MIB);
    drop(r);
    cache::set_reuse_limit(1 << 30);
}

#[test]
fn an_array_dropped_under_a_chunk_writer_frees_its_memory_once_it_is_done() {
    let _g = LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    cache::set_reuse_limit(0);
    let mut a = SharedArray::from_slice(&vec![5u64; 4 << 20]).unwrap(); // 32 MiB
    let other = dup_of(&a);
    let chunks = a.chunks_mut(1 << 20).unwrap();
    let mut w = chunks[1].write().unwrap();
    drop(a);
    w[0] = 6; // the writer still writes: its elements must stay
    assert!(allocated(&other) >= 32 * MIB, "freed under a live writer");
    assert_eq!(cache::free_pending(), 1, "freed while the writer works");
    drop(w);
    assert_eq!(cache::free_pending(), 0);
    let left = allocated(&other);
    assert!(left < MIB, "{left} bytes still allocated after the writer finished");
    drop(chunks);
    cache::set_reuse_limit(1 << 30);
}
