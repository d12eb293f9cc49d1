//! Instructions of a put/get pair of a spilled value: the figure to watch when changing
//! the spill path (heap alloc/free, holds table). Meant for callgrind, whose counts are
//! stable here (wall-clock time is not):
//!
//! `valgrind --tool=callgrind target/release/examples/spill_cost 1000` and
//! `... spill_cost 0`; the difference over 1000 is one pair's instructions.
//!
//! The value is small (200 bytes) but the slot smaller (64 bytes), so it spills: the heap
//! and holds-table steps are a visible share of the pair.
use zeroproc_mp::Queue;

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let q = Queue::<Vec<u8>>::with_slot_size(4, 64).unwrap();
    let v = vec![7u8; 200];
    q.put(v.clone()).unwrap(); // warm up: carve the block, map everything
    assert_eq!(q.get().unwrap(), v);
    for _ in 0..n {
        q.put(v.clone()).unwrap();
        let got = q.get().unwrap();
        assert_eq!(got.len(), 200);
    }
    println!("{n} put/get pairs of a spilled 200-byte value");
}
