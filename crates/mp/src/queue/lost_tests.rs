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

#[test]
fn a_drain_loop_of_try_get_passes_a_producer_dead_mid_write() {
    // reliability_spill_kills (spill37's report: twice in ~120 runs, "0 of 4 large values
    // fit" on a heap found whole afterwards): the last round's killed producer left the
    // head slot WRITING with values published behind it; `while q.try_get().is_ok()`
    // stopped at its first call (the ring's stuck watch was not yet due: Empty), so the
    // ring stayed full, and the next puts waited for a consumer that never came. The next
    // drain, seconds later, found the watch due and took everything: the heap was whole.
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    let heap = q.map.heap().unwrap();
    let block = spill(heap, &big(0), 0).unwrap();
    in_child(|| {
        let r = q.ring.try_push_with(q.slot_size(), |buf| {
            write_spilled_envelope(buf, Header::new(0, 0), &block);
            // SAFETY: ends the child at once, holding the slot WRITING.
            unsafe { libc::_exit(0) };
        });
        assert!(r.is_ok());
    });
    for i in 1..4 {
        q.put_timeout(big(i), Duration::from_secs(5)).unwrap();
    }
    let drained: Vec<u64> = std::iter::from_fn(|| q.try_get().ok()).map(|v| v[0]).collect();
    assert_eq!(drained, [1, 2, 3], "try_get said Empty with values queued");
    assert_eq!(q.ring_stats().dead_writers, 1);
    assert_eq!(in_use(&q), 0, "the dead producer's block leaked");
    let fit = (0..4).take_while(|&i| q.put_timeout(big(i), Duration::from_millis(300)).is_ok());
    assert_eq!(fit.count(), 4);
}
