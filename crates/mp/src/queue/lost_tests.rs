//! A process that dies holding a ring slot whose record names a spilled block, outside
//! the holds table's cover: the ring's crash recovery drops the record, and the queue's
//! lost-record hook must take the block back (before the hook, it leaked for the life of
//! the queue). Each death is made deterministic with `fork` + `_exit` at the exact point.

use super::Queue;
use std::time::Duration;
use zeroproc_codec::envelope::Header;
use zeroproc_codec::spill::{spill, write_spilled_envelope};

fn big(id: u64) -> Vec<u64> {
    vec![id; 40_000] // 320 KB: spilled
}

fn in_use(q: &Queue<Vec<u64>>) -> u64 {
    q.heap_stats().expect("a heap").in_use_blocks()
}

/// Runs `child` in a forked child (it touches shared memory with atomics and plain copies
/// only); waits for it.
fn in_child(child: impl FnOnce()) {
    zeroproc_testkit::fork_run(child);
}

#[test]
fn a_consumer_dead_between_its_ring_claim_and_its_registration_leaks_nothing() {
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    q.put(big(1)).unwrap();
    assert_eq!(in_use(&q), 1);
    // Claims the slot (READING, with its pid) and dies before looking at the record,
    // as a consumer killed right after the ring's claim.
    in_child(|| std::mem::forget(q.ring.try_pop_guard().unwrap()));
    // Producers come round to the dead reader's slot and release it.
    for i in 0..4u64 {
        q.put_timeout(vec![i], Duration::from_secs(5)).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), vec![i]);
    }
    assert_eq!(q.ring_stats().dead_readers, 1);
    assert_eq!(in_use(&q), 0, "the dead consumer's block leaked");
}

#[test]
fn a_producer_dead_between_its_copy_and_its_publish_leaks_nothing() {
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    let heap = q.map.heap().unwrap();
    // The block as a producer holds it once its holds entry is cleared (in the slot copy).
    let block = spill(heap, &big(2), 0).unwrap();
    assert_eq!(in_use(&q), 1);
    in_child(|| {
        let r = q.ring.try_push_with(q.slot_size(), |buf| {
            write_spilled_envelope(buf, Header::new(0, 0), &block);
            // Dies holding the slot (WRITING), the record complete but unpublished.
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        });
        assert!(r.is_ok());
    });
    // A consumer comes to the dead writer's slot and tombstones it.
    assert!(q.get_timeout(Duration::from_millis(200)).is_err());
    assert_eq!(q.ring_stats().dead_writers, 1);
    assert_eq!(in_use(&q), 0, "the dead producer's block leaked");
}
