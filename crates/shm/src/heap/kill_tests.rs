//! A process SIGKILLed at the two points of `alloc` and `free` where a block belongs to it
//! and to no list (`failpoint.rs`): with the block named in a note (`alloc_noted`,
//! `free_noted`), a survivor gives it back with `reclaim_noted`; the heap is whole and
//! serves the block again. Before the notes (the caller stored the offset after `alloc`
//! returned, and cleared it before `free`), both kills leaked the block.

use super::failpoint::{arm, Failpoint};
use super::Heap;
use crate::atomic::Ordering::Relaxed;
use crate::{Layout, Offset, Segment, HEADER_SIZE};
use std::sync::atomic::AtomicU64;

const L: Layout = Layout::new("heap-kill", 1);
const REGION: Offset<u8> = Offset::new(HEADER_SIZE as u64);

/// A note word in the heap's own shared memory (a forked child's store must reach us).
fn note<'h>(h: &Heap<'h>) -> &'h AtomicU64 {
    let o = h.alloc(8, 16).unwrap();
    let p = h.ptr_len(o, 8).unwrap();
    // SAFETY: a live 16-aligned block of ours in the mapping, only used atomically.
    let n = unsafe { &*p.as_ptr().cast::<AtomicU64>() };
    n.store(0, Relaxed);
    n
}

/// Runs `child` in a forked child that must die by SIGKILL at the armed point.
fn dies_at(at: Failpoint, child: impl FnOnce()) {
    zeroproc_testkit::fork_dies_of_sigkill(at, || {
        arm(at);
        child();
    });
}

#[test]
fn a_process_killed_right_after_its_pop_leaves_the_block_noted_and_reclaimable() {
    let s = Segment::create(L, 1 << 16).unwrap();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let n = note(&h);
    let b = h.alloc(1000, 16).unwrap();
    h.free(b).unwrap(); // the class's list holds b: the next alloc pops it
    let before = h.stats().in_use_blocks();
    dies_at(Failpoint::Popped, || {
        let _ = h.alloc_noted(1000, 16, n);
    });
    assert_eq!(h.stats().in_use_blocks(), before + 1, "b is out of its list");
    let named = n.load(Relaxed);
    assert_eq!(named, b.get(), "the dead process's note does not name its block");
    // SAFETY: the note of a dead process, read after its death; no one else acts on it.
    unsafe { h.reclaim_noted(Offset::new(named), n) }.unwrap();
    assert_eq!(n.load(Relaxed), 0, "the reclaim did not clear the note");
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), before, "the block leaked");
    assert_eq!(h.alloc(1000, 16).unwrap(), b, "the block is not back in its list");
}

#[test]
fn a_process_killed_inside_free_leaves_the_block_noted_and_reclaimable() {
    let s = Segment::create(L, 1 << 16).unwrap();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let n = note(&h);
    let b = h.alloc_noted(1000, 16, n).unwrap();
    let before = h.stats().in_use_blocks();
    dies_at(Failpoint::Freed, || {
        let _ = h.free_noted(b, n);
    });
    assert_eq!(h.stats().in_use_blocks(), before, "b is in no list");
    let named = n.load(Relaxed);
    assert_eq!(named, b.get(), "the dead process's note does not name its block");
    // SAFETY: as above.
    unsafe { h.reclaim_noted(Offset::new(named), n) }.unwrap();
    assert_eq!(n.load(Relaxed), 0, "the reclaim did not clear the note");
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), before - 1, "the block leaked");
    assert_eq!(h.alloc(1000, 16).unwrap(), b, "the block is not back in its list");
}

#[test]
fn a_completed_free_clears_the_note_and_a_reclaim_of_a_listed_block_is_refused_by_state() {
    // A note cleared by `free_noted` names nothing: a reclaimer that finds 0 does nothing.
    let s = Segment::create(L, 1 << 16).unwrap();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let n = note(&h);
    let b = h.alloc_noted(1000, 16, n).unwrap();
    h.free_noted(b, n).unwrap();
    assert_eq!(n.load(Relaxed), 0);
    // Over-aligned: the note ends on the returned offset; both lead to the block.
    let a = h.alloc_noted(1000, 256, n).unwrap();
    assert_eq!(n.load(Relaxed), a.get());
    // SAFETY: we are the holder and never touch `a` again (as if we had died).
    unsafe { h.reclaim_noted(a, n) }.unwrap();
    h.check().unwrap();
}
