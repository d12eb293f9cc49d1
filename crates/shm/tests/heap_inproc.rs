//! The shared heap within one process: round trips, disjoint blocks, exhaustion and
//! recovery, refused frees, alignment, header validation, corruption detection, and a
//! multi-threaded stress followed by `check()`.

mod heap_common;
use heap_common::{fill, verify, Rng};
use std::collections::HashSet;
use std::sync::Arc;
use zeroproc_shm::heap::{AllocError, FreeError, Heap, HeapError, MAX_ALIGN, MIN_REGION_LEN};
use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};

const L: Layout = Layout::new("test-heap-inproc", 1);
const REGION: Offset<u8> = Offset::new(HEADER_SIZE as u64);

fn new_heap(len: usize) -> Segment {
    let seg = Segment::create(L, len).unwrap();
    Heap::init_in(&seg, REGION, len).unwrap();
    seg
}

fn heap(seg: &Segment) -> Heap<'_> {
    Heap::attach(seg, REGION).unwrap()
}

#[test]
fn round_trip_many_sizes() {
    let seg = new_heap(1 << 20);
    let h = heap(&seg);
    for size in [0usize, 1, 15, 16, 17, 100, 128, 129, 1000, 4096, 65536] {
        let off = h.alloc(size, 16).unwrap();
        assert_eq!(off.get() % 16, 0);
        assert!(h.usable_size(off).unwrap() >= size);
        fill(&h, off, size, off.get());
        verify(&h, off, size, off.get());
        h.free(off).unwrap();
        // The same class hands the block straight back.
        assert_eq!(h.alloc(size, 16).unwrap(), off);
        h.free(off).unwrap();
    }
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
}

#[test]
fn blocks_are_distinct_and_do_not_overlap() {
    let seg = new_heap(4 << 20);
    let h = heap(&seg);
    let mut rng = Rng(0x1234_5678);
    let mut live: Vec<(Offset<u8>, usize, u64)> = Vec::new();
    for round in 0..2000u64 {
        let size = match rng.below(10) {
            0 => rng.below(16 << 10) as usize,
            _ => rng.below(300) as usize,
        };
        let off = h.alloc(size, 16).unwrap();
        fill(&h, off, size, round);
        live.push((off, size, round));
        if rng.below(3) == 0 {
            let (o, s, k) = live.swap_remove(rng.below(live.len() as u64) as usize);
            verify(&h, o, s, k);
            h.free(o).unwrap();
        }
        if round % 500 == 0 {
            h.check().unwrap();
        }
    }
    let mut sorted = live.clone();
    sorted.sort_by_key(|(o, _, _)| o.get());
    for w in sorted.windows(2) {
        let (a, sa, _) = w[0];
        let (b, _, _) = w[1];
        assert!(a.get() + sa as u64 <= b.get(), "{a:?}+{sa} overlaps {b:?}");
        let block_end = a.get() + h.usable_size(a).unwrap() as u64;
        assert!(block_end + 16 <= b.get(), "{a:?}'s block overlaps {b:?}'s header");
    }
    let distinct: HashSet<u64> = live.iter().map(|(o, _, _)| o.get()).collect();
    assert_eq!(distinct.len(), live.len());
    for &(o, s, k) in &live {
        verify(&h, o, s, k);
        h.free(o).unwrap();
    }
    h.check().unwrap();
    let st = h.stats();
    assert_eq!(st.in_use_blocks(), 0);
    assert_eq!(st.unaccounted, 0);
}

#[test]
fn exhaustion_is_out_of_memory_then_recovers_after_free() {
    let seg = new_heap(64 << 10);
    let h = heap(&seg);
    let mut blocks = Vec::new();
    let err = loop {
        match h.alloc(500, 16) {
            Ok(o) => blocks.push(o),
            Err(e) => break e,
        }
    };
    match err {
        AllocError::OutOfMemory { requested, align, block_size, carve_remaining } => {
            assert_eq!((requested, align), (500, 16));
            assert!(block_size >= 516 && carve_remaining < block_size);
        }
        e => panic!("expected OutOfMemory, got {e:?}"),
    }
    assert!(blocks.len() > 64, "only {} blocks of 500 B in 64 KiB", blocks.len());
    // Smaller requests still carve from what is left, then fail too.
    while h.alloc(16, 16).is_ok() {}
    assert!(matches!(h.alloc(16, 16), Err(AllocError::OutOfMemory { .. })));
    // Freeing one block makes exactly that space available again, to its own class...
    let victim = blocks.pop().unwrap();
    h.free(victim).unwrap();
    let again = h.alloc(500, 16).unwrap();
    assert_eq!(again, victim);
    // ...and to other classes: with nothing else left, a larger free block is split, and
    // its pieces serve several smaller requests.
    h.free(again).unwrap();
    let small = h.alloc(16, 16).unwrap();
    assert_eq!(small, victim);
    assert_eq!(h.usable_size(small).unwrap(), 16);
    let mut pieces = vec![small];
    while let Ok(o) = h.alloc(16, 16) {
        pieces.push(o);
    }
    let block = 640; // the class of a 500-byte payload plus its header
    assert!(pieces.len() >= block / 32 - 1, "{} pieces of a {block} B block", pieces.len());
    for p in pieces {
        h.free(p).unwrap();
    }
    // Freed, the pieces merge back into a block that holds 500 bytes again.
    let whole = h.alloc(500, 16).unwrap();
    assert_eq!(whole, victim);
    h.free(whole).unwrap();
    // A request larger than the whole region is refused up front.
    assert!(matches!(h.alloc(1 << 20, 16), Err(AllocError::OutOfMemory { .. })));
    assert!(matches!(h.alloc(usize::MAX, 16), Err(AllocError::OutOfMemory { .. })));
    for b in blocks {
        h.free(b).unwrap();
    }
    h.check().unwrap();
}

#[test]
fn bad_frees_are_errors_and_leave_the_heap_intact() {
    let seg = new_heap(1 << 20);
    let h = heap(&seg);
    let live: Vec<_> = (0..200).map(|i| h.alloc(i * 7 % 500, 16).unwrap()).collect();
    for (i, &o) in live.iter().enumerate() {
        fill(&h, o, i * 7 % 500, o.get());
    }
    let a = live[10];
    let r = REGION.get();
    let cases = [
        (Offset::new(0), "segment start"),
        (Offset::new(r), "heap header"),
        (Offset::new(r + 64), "class table"),
        (Offset::new(u64::MAX - 15), "huge"),
        (Offset::new(seg.len() as u64 + 4096), "past the mapping"),
        (Offset::new(r + h.region_len() - 16), "beyond the bump pointer"),
    ];
    for (off, what) in cases {
        assert!(
            matches!(h.free(off), Err(FreeError::OutOfRange { .. })),
            "{what}: {:?}",
            h.free(off)
        );
    }
    assert!(matches!(h.free(Offset::new(a.get() + 1)), Err(FreeError::Misaligned { .. })));
    assert!(matches!(h.free(Offset::new(a.get() + 16)), Err(FreeError::NotABlock { .. })));
    assert!(matches!(h.free(Offset::new(a.get() - 16)), Err(FreeError::NotABlock { .. })));
    // Random 16-aligned offsets inside the block area that are not live block starts.
    let starts: HashSet<u64> = live.iter().map(|o| o.get()).collect();
    let mut rng = Rng(99);
    let area = h.stats().bump;
    for _ in 0..20_000 {
        let off = r + rng.below(area) / 16 * 16;
        if starts.contains(&off) {
            continue;
        }
        let e = h.free(Offset::new(off)).unwrap_err();
        assert!(!matches!(e, FreeError::DoubleFree { .. }) || off == a.get(), "{e:?}");
    }
    // Double free.
    h.free(a).unwrap();
    assert_eq!(h.free(a), Err(FreeError::DoubleFree { offset: a.get() }));
    assert_eq!(h.usable_size(a), Err(FreeError::DoubleFree { offset: a.get() }));
    h.check().unwrap();
    for (i, &o) in live.iter().enumerate() {
        if o != a {
            verify(&h, o, i * 7 % 500, o.get());
            h.free(o).unwrap();
        }
    }
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
}

#[test]
fn alignment_up_to_max_align() {
    let seg = new_heap(4 << 20);
    let h = heap(&seg);
    let mut live = Vec::new();
    let mut align = 1;
    while align <= MAX_ALIGN {
        for size in [1usize, 24, 100, 5000] {
            let off = h.alloc(size, align).unwrap();
            assert_eq!(off.get() % align as u64, 0, "align {align}");
            let p = h.ptr(off).unwrap();
            assert_eq!(p.as_ptr() as usize % align, 0, "address, align {align}");
            assert!(h.usable_size(off).unwrap() >= size);
            fill(&h, off, size, off.get() + align as u64);
            live.push((off, size, align));
        }
        align *= 2;
    }
    for &(off, size, align) in &live {
        verify(&h, off, size, off.get() + align as u64);
    }
    for &(off, _, _) in &live {
        h.free(off).unwrap();
        assert_eq!(h.free(off), Err(FreeError::DoubleFree { offset: off.get() }));
    }
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
    for bad in [0, 3, 8192, usize::MAX] {
        assert_eq!(h.alloc(8, bad), Err(AllocError::BadAlign { align: bad }));
    }
}

#[test]
fn init_and_attach_validate_the_region() {
    let seg = Segment::create(L, 1 << 16).unwrap();
    assert_eq!(Heap::attach(&seg, REGION).unwrap_err(), HeapError::NotInitialized);
    assert!(matches!(
        Heap::init_in(&seg, Offset::new(0), 4096),
        Err(HeapError::OutOfBounds { .. })
    ));
    assert!(matches!(
        Heap::init_in(&seg, Offset::new(288), 4096),
        Err(HeapError::Misaligned { .. })
    ));
    assert!(matches!(Heap::init_in(&seg, REGION, 100), Err(HeapError::BadLength { len: 96 })));
    assert!(matches!(Heap::init_in(&seg, REGION, 1 << 20), Err(HeapError::OutOfBounds { .. })));
    let h = Heap::init_in(&seg, REGION, seg.data_len()).unwrap();
    assert_eq!(h.region(), REGION);
    assert_eq!(Heap::init_in(&seg, REGION, 1 << 16).unwrap_err(), HeapError::AlreadyInitialized);
    Heap::attach(&seg, REGION).unwrap();
    // Another offset holds no heap (zero), or foreign bytes.
    assert_eq!(Heap::attach(&seg, Offset::new(8192)).unwrap_err(), HeapError::NotInitialized);
    let off = h.alloc(64, 64).unwrap();
    fill(&h, off, 64, 5);
    let at = Offset::new(off.get());
    assert!(matches!(Heap::attach(&seg, at), Err(HeapError::Foreign { .. })));
    // A header still being written (creator died mid-init) is "not ready".
    let magic = seg.resolve(REGION.cast::<u64>(), 1).unwrap().as_ptr();
    // SAFETY: the heap header's first word; nothing uses the heap concurrently here.
    let good = unsafe { magic.read_volatile() };
    // SAFETY: as above.
    unsafe { magic.write_volatile(u64::from_le_bytes(*b"ZPHEAP..")) };
    assert_eq!(Heap::attach(&seg, REGION).unwrap_err(), HeapError::NotReady);
    // SAFETY: as above.
    unsafe { magic.write_volatile(good) };
    // A header of another version, or damaged geometry, is refused.
    let hdr = seg.resolve(REGION.cast::<u32>(), 4).unwrap().as_ptr();
    // SAFETY: the heap header's version field is the u32 at byte 8; nothing else uses the
    // heap concurrently in this test.
    unsafe {
        hdr.add(2).write_volatile(99);
        assert_eq!(
            Heap::attach(&seg, REGION).unwrap_err(),
            HeapError::Version { found: 99, expected: zeroproc_shm::heap::HEAP_VERSION }
        );
        hdr.add(2).write_volatile(zeroproc_shm::heap::HEAP_VERSION);
        let classes = hdr.add(3).read_volatile();
        hdr.add(3).write_volatile(classes + 1);
        assert_eq!(Heap::attach(&seg, REGION).unwrap_err(), HeapError::Corrupt("num_classes"));
        hdr.add(3).write_volatile(classes);
    }
    Heap::attach(&seg, REGION).unwrap().check().unwrap();
    // The smallest heap works; one unit less is refused.
    let small = Segment::create(L, MIN_REGION_LEN as usize).unwrap();
    let min = MIN_REGION_LEN as usize;
    assert_eq!(
        Heap::init_in(&small, REGION, min - 16).unwrap_err(),
        HeapError::BadLength { len: MIN_REGION_LEN - 16 }
    );
    let h = Heap::init_in(&small, REGION, min).unwrap();
    let o = h.alloc(1000, 16).unwrap();
    h.free(o).unwrap();
    h.check().unwrap();
}

#[test]
fn overwritten_free_block_header_is_detected() {
    let seg = new_heap(1 << 16);
    let h = heap(&seg);
    let a = h.alloc(100, 16).unwrap();
    let b = h.alloc(100, 16).unwrap();
    h.free(b).unwrap();
    // A buffer overrun from `a` clobbers the header of the free block `b` behind it.
    let len = (b.get() - a.get()) as usize;
    let p = h.ptr_len(a, len).unwrap().as_ptr();
    // SAFETY: `a..b` is `a`'s block, so this writes a's payload and then b's header,
    // exactly what an overrun by a's owner would do; no other thread uses the heap.
    unsafe { p.write_bytes(0xAB, len) };
    let e = h.check().unwrap_err();
    assert_eq!(e.offset, Some(b.get() - 16), "{e}");
    // Allocation reports the damage instead of handing the block out, then carries on.
    match h.alloc(100, 16) {
        Err(AllocError::Corrupt { header, .. }) => assert_eq!(header, b.get() - 16),
        r => panic!("expected Corrupted, got {r:?}"),
    }
    h.check().unwrap();
    let c = h.alloc(100, 16).unwrap();
    assert_ne!(c, b);
    assert!(matches!(h.free(b), Err(FreeError::NotABlock { .. })));
    h.free(a).unwrap();
    h.free(c).unwrap();
    h.check().unwrap();
}

#[test]
fn threads_alloc_write_verify_free_then_check() {
    let seg = Arc::new(new_heap(8 << 20));
    let threads = 4;
    let iters = 100_000;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let seg = seg.clone();
            std::thread::spawn(move || {
                let h = heap(&seg);
                let mut rng = Rng(0xDEAD_BEEF ^ ((t as u64 + 1) * 0x1_0000_0001));
                let mut live: Vec<(Offset<u8>, usize, u64)> = Vec::new();
                for i in 0..iters {
                    if live.len() < 64 && (live.is_empty() || rng.below(2) == 0) {
                        let size = match rng.below(20) {
                            0 => rng.below(20_000) as usize,
                            _ => rng.below(512) as usize,
                        };
                        let align = 1usize << rng.below(8);
                        let off = h.alloc(size, align).unwrap();
                        assert_eq!(off.get() % align as u64, 0);
                        let key = (t as u64) << 40 | i as u64;
                        fill(&h, off, size, key);
                        live.push((off, size, key));
                    } else {
                        let (off, size, key) =
                            live.swap_remove(rng.below(live.len() as u64) as usize);
                        verify(&h, off, size, key);
                        h.free(off).unwrap();
                    }
                }
                for (off, size, key) in live {
                    verify(&h, off, size, key);
                    h.free(off).unwrap();
                }
            })
        })
        .collect();
    for t in handles {
        t.join().unwrap();
    }
    let h = heap(&seg);
    h.check().unwrap();
    let st = h.stats();
    assert_eq!(st.in_use_blocks(), 0, "{st:?}");
    assert_eq!(st.unaccounted, 0);
}

#[test]
fn blocks_move_between_threads() {
    let seg = Arc::new(new_heap(1 << 20));
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Offset<u8>, usize)>(16);
    let s2 = seg.clone();
    let producer = std::thread::spawn(move || {
        let h = heap(&s2);
        for i in 0..5000usize {
            let size = i % 700;
            let off = loop {
                match h.alloc(size, 16) {
                    Ok(o) => break o,
                    Err(AllocError::OutOfMemory { .. }) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            fill(&h, off, size, i as u64);
            tx.send((off, size)).unwrap();
        }
    });
    let h = heap(&seg);
    for i in 0..5000usize {
        let (off, size) = rx.recv().unwrap();
        verify(&h, off, size, i as u64);
        h.free(off).unwrap();
    }
    producer.join().unwrap();
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
}

/// A growable heap in a segment mapped at its maximum.
fn growable(len: usize, max: usize) -> Segment {
    let seg = zeroproc_shm::SegmentBuilder::new(L, len).max_data_len(max).create().unwrap();
    Heap::init_growable(&seg, REGION, len, max).unwrap();
    seg
}

#[test]
fn a_growable_heap_grows_for_every_mapping_up_to_its_maximum() {
    let seg = growable(64 << 10, 8 << 20);
    let h = heap(&seg);
    let other = Segment::attach(seg.id(), L).unwrap();
    let h2 = heap(&other);
    assert_eq!((h.region_len(), h.max_region_len()), (64 << 10, 8 << 20));
    assert!(h.can_hold(4 << 20), "counts what it may grow by");
    // Small blocks past the initial length: the heap doubles as it goes.
    let mut blocks = Vec::new();
    for i in 0..200u64 {
        let off = h.alloc(1000, 16).unwrap();
        fill(&h, off, 1000, i);
        blocks.push((off, i));
    }
    assert!(h.region_len() > 64 << 10 && h.region_len() < 1 << 20, "{}", h.region_len());
    // One large block: grown at least to what it needs.
    let big = h.alloc(3 << 20, 16).unwrap();
    fill(&h, big, 3 << 20, 99);
    assert_eq!(h2.region_len(), h.region_len(), "the other mapping sees the same length");
    assert_eq!(seg.committed_len(), other.committed_len());
    // Everything written through one mapping reads back through the other.
    for &(off, i) in &blocks {
        verify(&h2, off, 1000, i);
    }
    verify(&h2, big, 3 << 20, 99);
    // Beyond the maximum: out of memory, as for a fixed heap.
    assert!(matches!(h2.alloc(6 << 20, 16), Err(AllocError::OutOfMemory { .. })));
    assert!(!h.can_hold(9 << 20));
    for (off, _) in blocks {
        h2.free(off).unwrap();
    }
    h.free(big).unwrap();
    h.check().unwrap();
    assert!(h.region_len() <= h.max_region_len());
}

#[test]
fn a_handle_without_the_segment_follows_growth_but_does_not_grow() {
    let seg = growable(64 << 10, 4 << 20);
    let base = std::ptr::NonNull::new(seg.base()).unwrap();
    // SAFETY: the mapping outlives the handle (both end with this test).
    let raw = unsafe { Heap::attach_raw(base, seg.len(), REGION) }.unwrap();
    assert!(matches!(raw.alloc(1 << 20, 16), Err(AllocError::OutOfMemory { .. })));
    assert_eq!(raw.region_len(), 64 << 10, "no growth through a raw handle");
    let off = heap(&seg).alloc(1 << 20, 16).unwrap();
    assert!(raw.region_len() > 1 << 20);
    fill(&raw, off, 1 << 20, 5);
    verify(&heap(&seg), off, 1 << 20, 5);
    raw.free(off).unwrap();
}

#[test]
fn growth_the_system_cannot_back_is_an_error() {
    let avail = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("MemAvailable in /proc/meminfo")
        * 1024;
    let max = (avail * 2) as usize;
    let seg = growable(64 << 10, max);
    let h = heap(&seg);
    match h.alloc(avail as usize + (avail as usize / 2), 16) {
        Err(AllocError::GrowFailed { error: zeroproc_shm::GrowError::NoSpace { .. }, .. }) => {}
        r => panic!("expected GrowFailed(NoSpace), got {r:?}"),
    }
    assert_eq!(h.region_len(), 64 << 10, "unchanged");
    assert!(h.alloc(1000, 16).is_ok());
    h.check().unwrap();
}

#[test]
fn growable_heap_arguments_are_checked() {
    let seg =
        zeroproc_shm::SegmentBuilder::new(L, 64 << 10).max_data_len(1 << 20).create().unwrap();
    // The maximum must fit the mapping; the initial length the committed part.
    assert!(matches!(
        Heap::init_growable(&seg, REGION, 64 << 10, 2 << 20),
        Err(HeapError::OutOfBounds { .. })
    ));
    assert!(matches!(
        Heap::init_growable(&seg, REGION, 512 << 10, 1 << 20),
        Err(HeapError::OutOfBounds { .. })
    ));
    assert!(matches!(
        Heap::init_growable(&seg, REGION, 32 << 10, 16 << 10),
        Err(HeapError::BadLength { .. })
    ));
    assert!(Heap::init_growable(&seg, REGION, 32 << 10, (1 << 20) - HEADER_SIZE).is_ok());
}

/// Fills a fixed heap with blocks of `size` bytes; returns them in address order.
fn fill_with(h: &Heap<'_>, size: usize) -> Vec<Offset<u8>> {
    let mut blocks: Vec<_> = std::iter::from_fn(|| h.alloc(size, 16).ok()).collect();
    blocks.sort_by_key(|o| o.get());
    blocks
}

/// The bytes of a quiescent heap no block accounts for: without kills, only the units
/// merges left out of every block (a window one unit longer than the request, no class
/// one unit larger: `lost_merge_bytes`, counted over this binary's heaps). Asserted 0,
/// the test failed 1 run in 20–30 (16 bytes unaccounted after the 4-thread mix).
fn assert_accounted(h: &Heap<'_>) {
    h.check().unwrap();
    let s = h.stats();
    assert!(s.unaccounted <= zeroproc_shm::heap::lost_merge_bytes(), "{s:?}");
    assert_eq!(s.stashed, 0, "{s:?}");
    assert_eq!(s.in_use_bytes + s.free_bytes + s.unaccounted, s.bump - s.overhead, "{s:?}");
}

#[test]
fn at_its_maximum_freed_neighbours_merge_into_a_larger_block() {
    // Fails before merging: `alloc(2A)` was OutOfMemory although the whole heap was free.
    let seg = new_heap(256 << 10);
    let h = heap(&seg);
    let a = 4000;
    let blocks = fill_with(&h, a);
    assert!(blocks.len() > 40, "{} blocks", blocks.len());
    // Free pairs of neighbours (blocks 0,1 4,5 8,9 ...): each pair is 2A contiguous.
    let pairs: Vec<_> = blocks.chunks(4).filter(|c| c.len() == 4).collect();
    for c in &pairs {
        h.free(c[0]).unwrap();
        h.free(c[1]).unwrap();
    }
    h.check().unwrap();
    let mut big = Vec::new();
    for k in 0..pairs.len() {
        let off = h.alloc(2 * a, 16).unwrap_or_else(|e| panic!("2A number {k}: {e}"));
        fill(&h, off, 2 * a, k as u64);
        big.push(off);
    }
    // Every merged pair is used now: the next 2A has no room.
    assert!(matches!(h.alloc(2 * a, 16), Err(AllocError::OutOfMemory { .. })));
    // The live A blocks were never touched.
    for (k, c) in pairs.iter().enumerate() {
        verify(&h, big[k], 2 * a, k as u64);
        h.free(c[2]).unwrap();
        h.free(c[3]).unwrap();
    }
    for (k, off) in big.into_iter().enumerate() {
        verify(&h, off, 2 * a, k as u64);
        h.free(off).unwrap();
    }
    for b in blocks.chunks(4).filter(|c| c.len() < 4).flatten() {
        h.free(*b).unwrap();
    }
    assert_accounted(&h);
    // Everything is free: one block of most of the heap merges from all of it.
    let huge = h.alloc(200 << 10, 16).unwrap();
    fill(&h, huge, 200 << 10, 7);
    verify(&h, huge, 200 << 10, 7);
    h.free(huge).unwrap();
    assert_accounted(&h);
    // And back to small blocks.
    let small = fill_with(&h, 100);
    assert!(small.len() > 1500, "{} blocks of 100 B", small.len());
    for b in small {
        h.free(b).unwrap();
    }
    assert_accounted(&h);
}

#[test]
fn freed_blocks_that_are_not_neighbours_do_not_merge() {
    let seg = new_heap(128 << 10);
    let h = heap(&seg);
    let a = 4000;
    let blocks = fill_with(&h, a);
    // Every other block: plenty of free bytes, but no two of them adjacent.
    for b in blocks.iter().step_by(2) {
        h.free(*b).unwrap();
    }
    match h.alloc(2 * a, 16) {
        Err(AllocError::OutOfMemory { requested, .. }) => assert_eq!(requested, 2 * a),
        r => panic!("expected OutOfMemory, got {r:?}"),
    }
    assert!(h.can_hold(2 * a), "it fits once neighbours are freed");
    h.check().unwrap();
    // The failed pass handed every block back: all of them are reusable as they were.
    let again: Vec<_> = blocks.iter().step_by(2).map(|_| h.alloc(a, 16).unwrap()).collect();
    assert!(matches!(h.alloc(a, 16), Err(AllocError::OutOfMemory { .. })));
    // One more neighbour freed: now 2A fits.
    let mut again = again;
    let first = again.iter().position(|o| *o == blocks[0]).expect("block 0 came back");
    h.free(again.swap_remove(first)).unwrap();
    h.free(blocks[1]).unwrap();
    let two = h.alloc(2 * a, 16).unwrap();
    assert_eq!(two, blocks[0], "blocks 0 and 1 merged");
    h.free(two).unwrap();
    for b in again.into_iter().chain(blocks.iter().skip(3).step_by(2).copied()) {
        h.free(b).unwrap();
    }
    assert_accounted(&h);
}

#[test]
fn threads_mixing_sizes_at_the_maximum_merge_and_split_consistently() {
    let seg = Arc::new(new_heap(512 << 10));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let seg = Arc::clone(&seg);
            std::thread::spawn(move || {
                let h = heap(&seg);
                let mut rng = Rng(0xC0FFEE + t);
                let mut live: Vec<(Offset<u8>, usize, u64)> = Vec::new();
                let mut merged_big = 0;
                for i in 0..20_000u64 {
                    // Phases of small and of large payloads, so memory carved for one size
                    // is later needed by the other.
                    let big_phase = (i / 2000) % 2 == 1;
                    let size = if big_phase {
                        8000 + rng.below(24_000) as usize
                    } else {
                        rng.below(400) as usize
                    };
                    if live.len() < 12 && rng.below(3) != 0 {
                        match h.alloc(size, 16) {
                            Ok(off) => {
                                fill(&h, off, size, i);
                                live.push((off, size, i));
                                merged_big += big_phase as u64;
                            }
                            Err(AllocError::OutOfMemory { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    } else if !live.is_empty() {
                        let (o, s, k) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        verify(&h, o, s, k);
                        h.free(o).unwrap();
                    }
                }
                for (o, s, k) in live {
                    verify(&h, o, s, k);
                    h.free(o).unwrap();
                }
                merged_big
            })
        })
        .collect();
    let big: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(big > 1000, "only {big} large allocations succeeded");
    let h = heap(&seg);
    assert_accounted(&h);
    assert_eq!(h.stats().in_use_blocks(), 0);
}

/// A block that fits under the maximum but not after what is carved: the free blocks
/// carved last and the room past them up to the maximum make it, as a fresh heap would.
/// It was `OutOfMemory`: growth refused a block that did not fit after the bump pointer,
/// and the merge pass merged only the carved area (found through a pool that had carried
/// 200 then 400 MiB and refused 800 MiB under 1 GiB).
#[test]
fn a_block_past_the_bump_merges_free_blocks_with_the_room_up_to_the_maximum() {
    let seg = growable(64 << 10, 8 << 20);
    let h = heap(&seg);
    // 1.5 MiB and 3 MiB blocks: the heap grows to about 4.5 MiB, then both are freed.
    let a = h.alloc(1_400_000, 16).unwrap();
    let b = h.alloc(2_900_000, 16).unwrap();
    h.free(a).unwrap();
    h.free(b).unwrap();
    // 6 MiB: fits under 8 MiB, not after the 4.5 MiB carved.
    let c = h.alloc(6 << 20, 16).unwrap_or_else(|e| panic!("{e:?}; {:?}", h.stats()));
    fill(&h, c, 6 << 20, 7);
    verify(&h, c, 6 << 20, 7);
    h.free(c).unwrap();
    h.check().unwrap();
    assert_eq!(h.stats().in_use_blocks(), 0);
}
