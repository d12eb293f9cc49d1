//! White-box tests: the ABA tag, and a process "dying" between every two steps of alloc,
//! free and carve (the steps are replayed by hand and the rest is abandoned).

use super::block::{self, FREE};
use super::class::{block_bytes, class_for_units, UNIT};
use super::stack::PopRead;
use super::{FreeError, Heap};
use crate::atomic::Ordering::{Acquire, Relaxed};
use crate::{Layout, Offset, Segment, HEADER_SIZE};

const L: Layout = Layout::new("heap-unit", 1);
const REGION: Offset<u8> = Offset::new(HEADER_SIZE as u64);

fn seg() -> Segment {
    Segment::create(L, 1 << 16).unwrap()
}

/// The class of a 100-byte, 16-aligned request, and the header index of a payload.
fn class100() -> u32 {
    class_for_units(100u64.div_ceil(UNIT) + 1).unwrap()
}
fn idx(h: &Heap<'_>, off: Offset<u8>) -> u64 {
    (off.get() - h.region_off) / UNIT - 1
}

#[test]
fn a_stale_pop_fails_after_pop_pop_push_of_the_same_head() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let c = class100();
    let [a, b, x] = [0; 3].map(|_| h.alloc(100, 16).unwrap());
    for o in [x, b, a] {
        h.free(o).unwrap(); // list: a -> b -> x
    }
    // A popper reads head = a and a.link = b, then stalls...
    let head = h.slot(c).head.load(Acquire);
    let Ok(PopRead::Next(next)) = h.pop_read(c, head) else { panic!("expected a link") };
    assert_eq!((head & h.idx_mask(), next), (idx(&h, a), idx(&h, b)));
    // ...while others pop a and b and push a back: the head index is a again.
    assert_eq!(h.alloc(100, 16).unwrap(), a);
    assert_eq!(h.alloc(100, 16).unwrap(), b);
    h.free(a).unwrap();
    assert_eq!(h.slot(c).head.load(Relaxed) & h.idx_mask(), idx(&h, a));
    // Without the tag this CAS would succeed and install b, which is allocated.
    assert!(h.pop_commit(c, head, next).is_err());
    assert_eq!(h.alloc(100, 16).unwrap(), a);
    assert_eq!(h.alloc(100, 16).unwrap(), x);
    h.check().unwrap();
}

#[test]
fn death_after_the_pop_cas_leaks_only_that_block() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let c = class100();
    let [a, b] = [0; 2].map(|_| h.alloc(100, 16).unwrap());
    h.free(b).unwrap();
    h.free(a).unwrap();
    // Pop CAS done, ALLOC not yet stored: the dead process held `a`.
    let head = h.slot(c).head.load(Acquire);
    let Ok(PopRead::Next(next)) = h.pop_read(c, head) else { panic!() };
    h.pop_commit(c, head, next).unwrap();
    h.check().unwrap();
    assert_eq!(h.alloc(100, 16).unwrap(), b);
    // `a` is out of every list; a stray free of it is refused, not a corruption.
    assert_eq!(h.free(a), Err(FreeError::DoubleFree { offset: a.get() }));
    assert_eq!(h.stats().in_use_blocks(), 2);
    h.free(b).unwrap();
    h.check().unwrap();
}

#[test]
fn death_between_marking_free_and_pushing_leaks_only_that_block() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let c = class100();
    let [a, b] = [0; 2].map(|_| h.alloc(100, 16).unwrap());
    h.free(b).unwrap();
    // free(a): state CAS done, then death before (or during) the push.
    let i = idx(&h, a);
    h.block(i).word.store(block::word(h.salt, i, FREE, c), Relaxed);
    h.block(i).link.store(idx(&h, b), Relaxed); // push's link store, CAS never made
    h.check().unwrap();
    assert_eq!(h.alloc(100, 16).unwrap(), b);
    assert_ne!(h.alloc(100, 16).unwrap(), a);
    assert_eq!(h.free(a), Err(FreeError::DoubleFree { offset: a.get() }));
    h.check().unwrap();
}

#[test]
fn death_after_the_bump_cas_leaks_only_the_carved_bytes() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let c = class100();
    let a = h.alloc(100, 16).unwrap();
    // Bump CAS done, header and class counter never written.
    let bump = &h.header().bump;
    let cur = bump.load(Relaxed);
    bump.store(cur + block_bytes(c), Relaxed);
    h.check().unwrap();
    let st = h.stats();
    assert_eq!(st.unaccounted, block_bytes(c));
    let b = h.alloc(100, 16).unwrap();
    assert_eq!(b.get(), a.get() + 2 * block_bytes(c));
    // The abandoned block's would-be payload is not a block.
    let lost = Offset::new(a.get() + block_bytes(c));
    assert_eq!(h.free(lost), Err(FreeError::NotABlock { offset: lost.get() }));
    h.free(a).unwrap();
    h.free(b).unwrap();
    h.check().unwrap();
}

#[test]
fn a_cycle_in_a_free_list_is_found_by_check() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let [a, b] = [0; 2].map(|_| h.alloc(100, 16).unwrap());
    h.free(b).unwrap();
    h.free(a).unwrap();
    h.block(idx(&h, b)).link.store(idx(&h, a), Relaxed); // b -> a -> b ...
    let e = h.check().unwrap_err();
    assert!(e.problem.contains("cycle"), "{e}");
}

#[test]
fn geometry_keeps_24_tag_bits_and_fits_the_minimum_region() {
    use super::layout::{Geometry, MIN_TAG_BITS};
    use super::{MAX_REGION_LEN, MIN_REGION_LEN};
    let max = Geometry::for_len(MAX_REGION_LEN);
    assert!(64 - max.idx_bits >= MIN_TAG_BITS, "{max:?}");
    assert!(max.blocks_start < MIN_REGION_LEN);
    let gib = Geometry::for_len(1 << 30);
    assert_eq!((gib.num_classes, 64 - gib.idx_bits), (99, 37));
    let min = Geometry::for_len(MIN_REGION_LEN);
    assert!(min.blocks_start + 1024 <= MIN_REGION_LEN, "{min:?}");
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u64 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid as u64
}

/// Fills the heap with 100-byte blocks; returns them in address order.
fn fill100(h: &Heap<'_>) -> Vec<Offset<u8>> {
    let mut v: Vec<_> = std::iter::from_fn(|| h.alloc(100, 16).ok()).collect();
    v.sort_by_key(|o| o.get());
    v
}

/// Frees `blocks` and plays a merger `pid` that took the merge lock and drained the
/// 100-byte list into its stash; returns how many blocks it stashed.
fn stash_all(h: &Heap<'_>, blocks: &[Offset<u8>], pid: u64) -> usize {
    let c = class100();
    for b in blocks {
        h.free(*b).unwrap();
    }
    h.header().merge_owner.store(7 << 32 | pid, Relaxed);
    let mut n = 0;
    while let Some(i) = h.pop(c).unwrap() {
        h.stash_push(i, c);
        n += 1;
    }
    n
}

#[test]
fn a_merger_killed_with_a_full_stash_loses_nothing() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let blocks = fill100(&h);
    // A merger (a dead process) drained the whole list into its stash, then died.
    let n = stash_all(&h, &blocks, dead_pid());
    assert_eq!(n, blocks.len());
    h.check().unwrap();
    let st = h.stats();
    assert_eq!((st.stashed, st.in_use_blocks(), st.unaccounted), (n as u64, 0, 0), "{st:?}");
    // The next allocation finds every list empty, takes the lock from the dead owner,
    // puts the stash back, and is served.
    let a = h.alloc(100, 16).unwrap();
    assert_eq!(h.header().merge_owner.load(Relaxed), 0, "lock released");
    h.free(a).unwrap();
    let st = h.stats();
    assert_eq!((st.stashed, st.in_use_blocks(), st.unaccounted), (0, 0, 0), "{st:?}");
    assert_eq!(fill100(&h).len(), blocks.len(), "every block is back");
}

#[test]
fn a_merger_killed_while_rewriting_leaks_only_its_window_and_counts_it() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let c = class100();
    let blocks = fill100(&h);
    let (a, b) = (blocks[0], blocks[1]);
    h.free(a).unwrap();
    h.free(b).unwrap();
    // The merger popped both neighbours into its window, lowered a's count and destroyed
    // its header (the first rewrite steps), then died.
    h.header().merge_owner.store(7 << 32 | dead_pid(), Relaxed);
    let [ib, ia] = [h.pop(c).unwrap().unwrap(), h.pop(c).unwrap().unwrap()];
    assert_eq!([ia, ib], [idx(&h, a), idx(&h, b)]);
    h.slot(c).carved.fetch_sub(1, Relaxed);
    h.block(ia).word.store(0, Relaxed);
    h.check().unwrap();
    let st = h.stats();
    // b counts as in use (held), a as unaccounted bytes: never a count too high.
    assert_eq!((st.in_use_blocks(), st.unaccounted), (blocks.len() as u64 - 1, block_bytes(c)));
    assert_eq!(h.free(a), Err(FreeError::NotABlock { offset: a.get() }));
    // The heap keeps working: the lock is taken over, a free neighbour pair merges.
    h.free(blocks[2]).unwrap();
    h.free(blocks[3]).unwrap();
    let two = h.alloc(2 * 100 + 16, 16).unwrap();
    assert_eq!(two, blocks[2]);
    h.free(two).unwrap();
    h.check().unwrap();
    assert_eq!(h.stats().unaccounted, block_bytes(c));
}

/// A child process, stopped (SIGSTOP) until the guard drops (then killed and reaped).
struct Stopped(std::process::Child);

impl Stopped {
    fn new() -> Stopped {
        let c = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGSTOP) }, 0);
        let t = std::time::Instant::now();
        while !crate::process::is_halted(c.id()) {
            assert!(t.elapsed().as_secs() < 10, "the child did not stop");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Stopped(c)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_allocation_gives_up_on_a_merge_lock_held_by_a_stopped_process() {
    let s = seg();
    let h = Heap::init_in(&s, REGION, 1 << 16).unwrap();
    let blocks = fill100(&h);
    // A merger drained the list into its stash and was stopped there, lock held.
    let stopped = Stopped::new();
    stash_all(&h, &blocks, stopped.pid() as u64);
    assert_eq!(h.merge_holder(), Some(stopped.pid()));
    // The allocation cannot be served until it resumes; it must say so (OutOfMemory)
    // rather than wait inside `alloc` for as long as the stop lasts. Before the fix this
    // waited for ever: run on a thread and give it 10 s.
    let (tx, rx) = std::sync::mpsc::channel();
    let (seg_ref, region) = (&s, REGION);
    std::thread::scope(|sc| {
        sc.spawn(move || {
            let h = Heap::attach(seg_ref, region).unwrap();
            let _ = tx.send(h.alloc(100, 16).map(|_| ()));
        });
        let r = rx.recv_timeout(std::time::Duration::from_secs(10));
        if r.is_err() {
            // Let the waiter through (the scope joins it), then fail.
            h.header().merge_owner.store(0, Relaxed);
            panic!("alloc waited for the stopped merge-lock holder");
        }
        assert!(matches!(r.unwrap(), Err(super::AllocError::OutOfMemory { .. })));
    });
    // Once the holder finishes (here: its stash is put back and the lock released), the
    // heap serves again.
    h.header().merge_owner.store(0, Relaxed);
    drop(stopped);
    h.header().merge_owner.store(7 << 32 | dead_pid(), Relaxed); // recovery puts it back
    let a = h.alloc(100, 16).unwrap();
    h.free(a).unwrap();
    assert_eq!(fill100(&h).len(), blocks.len(), "every block is back");
}
