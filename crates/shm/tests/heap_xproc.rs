//! The shared heap across real processes: concurrent stress from several children in one
//! segment, blocks allocated in one process and freed in another, and children SIGKILLed
//! mid-stress, after which `check()` passes, the heap still serves allocations, and the
//! leak is bounded by what the dead child held.

mod heap_common;
use heap_common::{fill, verify, Rng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use zeroproc_shm::heap::{AllocError, Heap};
use zeroproc_shm::{Layout, Offset, Segment, SegmentId, HEADER_SIZE};
use zeroproc_testkit as tk;

const L: Layout = Layout::new("test-heap-xproc", 1);
/// The first 4 KiB of the data region hold the mailbox and progress counters.
const CONTROL: usize = 4096;
const REGION: Offset<u8> = Offset::new((HEADER_SIZE + CONTROL) as u64);
const MAILBOX_SLOTS: usize = 64;
/// Blocks a stress child holds at most at any time.
const WORKING_SET: usize = 32;
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// The control area: a mailbox of block offsets (0 = empty) and per-child op counters.
#[repr(C)]
struct Control {
    mailbox: [AtomicU64; MAILBOX_SLOTS],
    progress: [AtomicU64; 16],
}

fn control(seg: &Segment) -> &Control {
    // SAFETY: the data region starts with CONTROL >= size_of::<Control>() zeroed bytes,
    // 256-byte aligned, used only through these atomics.
    unsafe { &*seg.data().cast::<Control>() }
}

fn create(len: usize) -> Segment {
    zeroproc_shm::SegmentBuilder::new(L, CONTROL + len)
        .create_with(|seg| {
            Heap::init_in(seg, REGION, len).unwrap();
        })
        .unwrap()
}

fn heap(seg: &Segment) -> Heap<'_> {
    Heap::attach(seg, REGION).unwrap()
}

/// Allocates, retrying while other processes hold the memory.
fn alloc_retry(h: &Heap<'_>, size: usize, align: usize) -> Offset<u8> {
    loop {
        match h.alloc(size, align) {
            Ok(o) => return o,
            Err(AllocError::OutOfMemory { .. }) => std::thread::yield_now(),
            Err(e) => panic!("alloc({size}, {align}): {e}"),
        }
    }
}

/// Random alloc / fill / verify / free with at most WORKING_SET live blocks.
fn stress(h: &Heap<'_>, seed: u64, iters: u64, max_size: u64, progress: &AtomicU64) {
    let mut rng = Rng(seed | 1);
    let mut live: Vec<(Offset<u8>, usize, u64)> = Vec::with_capacity(WORKING_SET);
    for i in 0..iters {
        if live.len() < WORKING_SET && (live.is_empty() || rng.below(2) == 0) {
            let size = rng.below(max_size) as usize;
            let align = 1usize << rng.below(9);
            let off = alloc_retry(h, size, align);
            assert_eq!(off.get() % align as u64, 0);
            let key = seed << 32 ^ i;
            fill(h, off, size, key);
            live.push((off, size, key));
        } else {
            let (off, size, key) = live.swap_remove(rng.below(live.len() as u64) as usize);
            verify(h, off, size, key);
            h.free(off).unwrap();
        }
        // Relaxed: a progress indicator for the parent.
        progress.fetch_add(1, Ordering::Relaxed);
    }
    for (off, size, key) in live {
        verify(h, off, size, key);
        h.free(off).unwrap();
    }
}

/// Blocks a "mixed" child holds at most.
const MIXED_SET: usize = 4;
/// The largest payload of a "mixed" child (its block is at most 20 KiB).
const MIXED_MAX: u64 = 16 << 10;

/// Payload sizes spread over every class from 16 bytes to `MIXED_MAX`, at a heap's
/// maximum: most allocations find their own list empty, so free blocks are split and
/// free neighbours merged all the time. On OutOfMemory a block of its own is freed.
fn mixed_forever(h: &Heap<'_>, seed: u64, progress: &AtomicU64) {
    let mut rng = Rng(seed | 1);
    let mut live: Vec<(Offset<u8>, usize, u64)> = Vec::new();
    for i in 0.. {
        if live.len() < MIXED_SET && rng.below(2) == 0 {
            let size = 16usize << rng.below(11);
            let size = (size + rng.below(size as u64) as usize).min(MIXED_MAX as usize);
            match h.alloc(size, 16) {
                Ok(off) => {
                    fill(h, off, size, seed << 32 ^ i);
                    live.push((off, size, seed << 32 ^ i));
                }
                Err(AllocError::OutOfMemory { .. }) => {
                    if let Some((off, size, key)) = live.pop() {
                        verify(h, off, size, key);
                        h.free(off).unwrap();
                    }
                }
                Err(e) => panic!("alloc({size}): {e}"),
            }
        } else if let Some((off, size, key)) = live.pop() {
            verify(h, off, size, key);
            h.free(off).unwrap();
        }
        // Relaxed: a progress indicator for the parent.
        progress.fetch_add(1, Ordering::Relaxed);
    }
}

fn msg_size(i: u64) -> usize {
    (i * 37 % 3000) as usize
}

#[test]
fn zp_heap_child() {
    tk::child_entry(|role, arg| {
        let mut it = arg.split(';');
        let id: SegmentId = it.next().unwrap().parse().unwrap();
        let mut num = || it.next().unwrap().parse::<u64>().unwrap();
        let seg = Segment::attach(&id, L).unwrap();
        let h = heap(&seg);
        let ctl = control(&seg);
        match role {
            "stress" => {
                let (seed, iters, slot) = (num(), num(), num());
                stress(&h, seed, iters, 2000, &ctl.progress[slot as usize]);
            }
            "mixed" => {
                let (seed, slot) = (num(), num());
                mixed_forever(&h, seed, &ctl.progress[slot as usize]);
            }
            "release" => {
                let slot = num();
                loop {
                    h.release_free_pages(1 << 20);
                    // Relaxed: a progress indicator for the parent.
                    ctl.progress[slot as usize].fetch_add(1, Ordering::Relaxed);
                }
            }
            "forever" => {
                let (seed, slot) = (num(), num());
                stress(&h, seed, u64::MAX, 300, &ctl.progress[slot as usize]);
            }
            "producer" => {
                for i in 0..num() {
                    let off = alloc_retry(&h, msg_size(i), 16);
                    fill(&h, off, msg_size(i), i);
                    let slot = &ctl.mailbox[i as usize % MAILBOX_SLOTS];
                    // Acquire: pairs with the consumer's Release store of 0, so its reads of
                    // the previous block in this slot are done.
                    while slot.load(Ordering::Acquire) != 0 {
                        std::thread::yield_now();
                    }
                    // Release: publishes the block's contents; pairs with the consumer's
                    // Acquire load.
                    slot.store(off.get(), Ordering::Release);
                }
            }
            "consumer" => {
                let mut own = Rng(7);
                for i in 0..num() {
                    let slot = &ctl.mailbox[i as usize % MAILBOX_SLOTS];
                    let off = loop {
                        // Acquire: pairs with the producer's Release store.
                        match slot.load(Ordering::Acquire) {
                            0 => std::thread::yield_now(),
                            o => break Offset::new(o),
                        }
                    };
                    verify(&h, off, msg_size(i), i);
                    h.free(off).unwrap();
                    // Release: see the producer.
                    slot.store(0, Ordering::Release);
                    // Some allocation of our own in between, from the same classes.
                    let size = own.below(3000) as usize;
                    let mine = alloc_retry(&h, size, 16);
                    fill(&h, mine, size, !i);
                    verify(&h, mine, size, !i);
                    h.free(mine).unwrap();
                }
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

fn spawn(role: &str, seg: &Segment, nums: &[u64]) -> std::process::Child {
    let mut arg = seg.id().to_string();
    for n in nums {
        arg.push_str(&format!(";{n}"));
    }
    tk::spawn_role("zp_heap_child", role, &arg)
}

fn expect_success(mut c: std::process::Child, what: &str) {
    let st = tk::wait_timeout(&mut c, CHILD_LIMIT);
    assert!(st.success(), "{what} failed: {st:?}");
}

#[test]
fn processes_stress_one_heap_concurrently() {
    let seg = create(4 << 20);
    let children: Vec<_> =
        (0..3).map(|k| spawn("stress", &seg, &[0xA11CE + k, 100_000, k])).collect();
    // Once every child is running, the parent takes part too: all four overlap.
    let end = std::time::Instant::now() + CHILD_LIMIT;
    for k in 0..3 {
        // Relaxed: a progress indicator.
        while control(&seg).progress[k].load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < end, "stress child {k} never started");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let h = heap(&seg);
    stress(&h, 0xB0B, 100_000, 2000, &control(&seg).progress[15]);
    for (k, c) in children.into_iter().enumerate() {
        expect_success(c, &format!("stress child {k}"));
    }
    h.check().unwrap();
    let st = h.stats();
    assert_eq!(st.in_use_blocks(), 0, "{st:?}");
    assert_eq!(st.unaccounted, 0);
}

#[test]
fn blocks_allocated_in_one_process_are_freed_in_another() {
    let seg = create(1 << 20);
    let n = 50_000;
    let producer = spawn("producer", &seg, &[n]);
    let consumer = spawn("consumer", &seg, &[n]);
    expect_success(producer, "producer");
    expect_success(consumer, "consumer");
    let h = heap(&seg);
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
    // And the other direction: the parent allocates, a child process frees.
    let offs: Vec<_> = (0..MAILBOX_SLOTS as u64)
        .map(|i| {
            let off = h.alloc(msg_size(i), 16).unwrap();
            fill(&h, off, msg_size(i), i);
            control(&seg).mailbox[i as usize].store(off.get(), Ordering::Release);
            off
        })
        .collect();
    assert_eq!(h.stats().in_use_blocks(), MAILBOX_SLOTS as u64);
    expect_success(spawn("consumer", &seg, &[MAILBOX_SLOTS as u64]), "consumer");
    for off in offs {
        assert!(h.free(off).is_err(), "{off:?} was freed by the child");
    }
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
}

/// Waits until the child's progress counter passes `target` (or the child exits).
fn wait_progress(seg: &Segment, slot: usize, target: u64, c: &mut std::process::Child) {
    let end = std::time::Instant::now() + CHILD_LIMIT;
    // Relaxed: a progress indicator.
    while control(seg).progress[slot].load(Ordering::Relaxed) < target {
        assert!(c.try_wait().unwrap().is_none(), "victim exited early");
        assert!(std::time::Instant::now() < end, "victim made no progress");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn kill(mut c: std::process::Child) {
    use std::os::unix::process::ExitStatusExt;
    tk::sigkill(&c);
    let st = tk::wait_timeout(&mut c, CHILD_LIMIT);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}");
}

/// After kills: the heap validates, and serves (and takes back) a burst of allocations.
fn still_serves(h: &Heap<'_>, seed: u64) {
    h.check().unwrap();
    let mut rng = Rng(seed);
    let blocks: Vec<_> = (0..500)
        .map(|i| {
            let size = rng.below(4000) as usize;
            let off = h.alloc(size, 1 << rng.below(8)).unwrap();
            fill(h, off, size, i);
            (off, size, i)
        })
        .collect();
    for (off, size, key) in blocks {
        verify(h, off, size, key);
        h.free(off).unwrap();
    }
    h.check().unwrap();
}

#[test]
fn sigkilled_children_leak_at_most_what_they_held() {
    let seg = create(4 << 20);
    let h = heap(&seg);
    let mut rng = Rng(std::process::id() as u64 * 0x9E37_79B9 + 1);
    let max_block = 1024; // a 300-byte payload aligned to 256 takes a 640-byte block
    let kills = 8u64;
    // Phase 1: one victim at a time; the heap is quiescent when each is dead.
    for k in 0..kills {
        let slot = k as usize % 8;
        let before = h.stats();
        let mut c = spawn("forever", &seg, &[rng.next() >> 1, slot as u64]);
        let start = control(&seg).progress[slot].load(Ordering::Relaxed);
        wait_progress(&seg, slot, start + 2000 + rng.below(20_000), &mut c);
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        kill(c);
        h.check().unwrap_or_else(|e| panic!("after kill {k}: {e}"));
        let after = h.stats();
        let leaked = after.in_use_blocks() - before.in_use_blocks();
        assert!(leaked <= WORKING_SET as u64 + 1, "kill {k} leaked {leaked} blocks");
        assert!(after.unaccounted - before.unaccounted <= max_block);
        still_serves(&h, k);
    }
    // Phase 2: victims die while a survivor process keeps working in the same heap.
    let survivor = spawn("stress", &seg, &[0x5EED, 60_000, 9]);
    for k in 0..4u64 {
        let slot = 10 + k as usize;
        let mut c = spawn("forever", &seg, &[rng.next() >> 1, slot as u64]);
        wait_progress(&seg, slot, 2000 + rng.below(10_000), &mut c);
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        kill(c);
    }
    expect_success(survivor, "survivor");
    h.check().unwrap();
    let st = h.stats();
    let victims = kills + 4;
    assert!(
        st.in_use_blocks() <= victims * (WORKING_SET as u64 + 1),
        "{} blocks in use after {victims} kills",
        st.in_use_blocks()
    );
    assert!(st.unaccounted <= victims * max_block);
    eprintln!(
        "after {victims} kills: {} blocks ({} bytes) leaked, {} bytes unaccounted",
        st.in_use_blocks(),
        st.in_use_bytes,
        st.unaccounted
    );
    still_serves(&h, 99);
}

/// Fills the heap with blocks of `size` until it is full (merging and splitting as it
/// must), then frees them; returns the bytes obtained.
fn fill_and_drain(h: &Heap<'_>, size: usize) -> u64 {
    let blocks: Vec<_> = std::iter::from_fn(|| h.alloc(size, 16).ok()).collect();
    for (k, off) in blocks.iter().enumerate() {
        fill(h, *off, size.min(64), k as u64);
    }
    for (k, off) in blocks.iter().enumerate() {
        verify(h, *off, size.min(64), k as u64);
        h.free(*off).unwrap();
    }
    (blocks.len() * size) as u64
}

#[test]
fn sigkilled_children_mid_merge_leave_the_heap_whole() {
    let len = 1 << 20;
    let seg = create(len);
    let h = heap(&seg);
    let mut rng = Rng(std::process::id() as u64 * 0x51ED_2701 + 3);
    let kills = 16u64;
    let max_block = (MIXED_MAX * 5 / 4 + 16).next_multiple_of(16);
    let (mut mid_merge, mut leaked_total, mut leaked_max) = (0, 0u64, 0u64);
    let slot = 0;
    for k in 0..kills {
        let before = h.stats();
        let mut c = spawn("mixed", &seg, &[rng.next() >> 1, slot as u64]);
        let start = control(&seg).progress[slot].load(Ordering::Relaxed);
        wait_progress(&seg, slot, start + 500 + rng.below(5000), &mut c);
        std::thread::sleep(Duration::from_micros(rng.below(2000)));
        kill(c);
        h.check().unwrap_or_else(|e| panic!("after kill {k}: {e}"));
        let after = h.stats();
        mid_merge += (after.stashed > 0) as u64;
        // What the victim held (at most MIXED_SET blocks), plus what a kill inside the heap
        // loses: one block in flight, or a merge window (the request plus one block).
        let lost = |s: &zeroproc_shm::heap::HeapStats| s.in_use_bytes + s.unaccounted;
        let leaked = lost(&after).saturating_sub(lost(&before));
        leaked_total += leaked;
        leaked_max = leaked_max.max(leaked);
        assert!(
            leaked <= (MIXED_SET as u64 + 3) * max_block,
            "kill {k} leaked {leaked} bytes: {after:?}"
        );
        // The heap still serves: small blocks from (nearly) all its free bytes, so no
        // free memory went missing, and large ones merged from the small ones.
        let free = h.stats().free_bytes;
        let small = fill_and_drain(&h, 100) / 100 * 128;
        assert!(small >= free * 9 / 10, "after kill {k}: {small} of {free} free bytes");
        assert!(fill_and_drain(&h, 4000) > 0, "after kill {k}: no 4000 B block");
        let st = h.stats();
        assert_eq!(st.stashed, 0, "the dead merger's stash was put back: {st:?}");
        h.check().unwrap();
    }
    let st = h.stats();
    eprintln!(
        "{kills} kills of mixed-size children ({mid_merge} while a merge stash was out): \
         {leaked_total} bytes leaked in all, at most {leaked_max} per kill; at the end \
         {} blocks ({} bytes) in use, {} bytes unaccounted",
        st.in_use_blocks(),
        st.in_use_bytes,
        st.unaccounted
    );
    assert!(lost_ok(&st, kills, max_block, len as u64));
}

/// The total leak after `kills` victims is below what they could have held between them,
/// and well below the heap.
fn lost_ok(st: &zeroproc_shm::heap::HeapStats, kills: u64, max_block: u64, len: u64) -> bool {
    let lost = st.in_use_bytes + st.unaccounted;
    lost <= kills * (MIXED_SET as u64 + 3) * max_block && lost < len
}

/// A process killed while it releases the pages of large free blocks
/// (`release_free_pages`, which the channels' and the pool's trim threads call in any
/// process that consumed large values) holds every large free block it popped: they must
/// come back, not leak with it. Each round: a heap full of 1 MiB blocks, all free; a child
/// releasing their pages in a loop is SIGKILLed; then every block must be allocatable again
/// (at most one lost per kill: the block between a pop and its next store, as for any
/// killed allocator).
#[test]
fn a_process_killed_while_releasing_free_pages_leaks_at_most_one_block() {
    const BLOCKS: usize = 16;
    const PAYLOAD: usize = (1 << 20) - 16; // with its header: exactly a 1 MiB block
    let mut rng = Rng(std::process::id() as u64 * 0x2545_F491 + 7);
    for round in 0..12u64 {
        // Room for BLOCKS blocks after the heap's own header area, no more.
        let seg = create((BLOCKS + 1) << 20);
        let h = heap(&seg);
        let offs: Vec<_> = std::iter::from_fn(|| h.alloc(PAYLOAD, 16).ok()).collect();
        assert_eq!(offs.len(), BLOCKS, "a fresh heap holds {BLOCKS} blocks");
        offs.iter().for_each(|&o| h.free(o).unwrap());
        let slot = 0;
        let mut c = spawn("release", &seg, &[slot]);
        let start = control(&seg).progress[slot as usize].load(Ordering::Relaxed);
        wait_progress(&seg, slot as usize, start + 3 + rng.below(20), &mut c);
        std::thread::sleep(Duration::from_micros(rng.below(2000)));
        kill(c);
        h.check().unwrap_or_else(|e| panic!("round {round}: {e}"));
        let again: Vec<_> = std::iter::from_fn(|| h.alloc(PAYLOAD, 16).ok()).collect();
        assert!(
            again.len() + 1 >= BLOCKS,
            "round {round}: {} of {BLOCKS} free 1 MiB blocks could be allocated after the kill: {:?}",
            again.len(),
            h.stats()
        );
        again.iter().for_each(|&o| h.free(o).unwrap());
        h.check().unwrap();
    }
}
