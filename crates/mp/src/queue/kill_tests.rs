//! A queue producer or consumer SIGKILLed inside the heap's `alloc` or `free`, at the two
//! points where its spilled block is out of every free list and was named by nothing
//! before 2026-12-07 (the producer's intent got the offset after `alloc` returned; the
//! consumer cleared its entry before `free`): the heap now names the block in the holds
//! entry itself (`Heap::alloc_noted`, `Heap::free_noted`), and a sweep gives it back.
//! Each death is made exact with the heap's kill points (`zeroproc-shm`
//! `heap/failpoint.rs`, feature `fault-injection`) in a forked child.

use super::Queue;
use zeroproc_shm::heap::failpoint::{arm, Failpoint};

fn big(id: u64) -> Vec<u64> {
    vec![id; 40_000] // 320 KB: spilled
}

fn in_use(q: &Queue<Vec<u64>>) -> u64 {
    q.heap_stats().expect("a heap").in_use_blocks() // sweeps dead holders first
}

/// Runs `child` in a forked child that must die by SIGKILL at `at`.
fn dies_at(at: Failpoint, child: impl FnOnce()) {
    zeroproc_testkit::fork_dies_of_sigkill(at, || {
        arm(at);
        child();
    });
}

#[test]
fn a_producer_killed_right_after_the_heap_s_pop_cas_leaks_nothing() {
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    // A block of the value's class in its free list: the next put pops it.
    q.put(big(1)).unwrap();
    assert_eq!(q.get().unwrap()[0], 1);
    assert_eq!(in_use(&q), 0);
    dies_at(Failpoint::Popped, || {
        let _ = q.put(big(2));
    });
    assert_eq!(in_use(&q), 0, "the dead producer's block leaked");
    q.map.heap().unwrap().check().unwrap();
    assert!(q.is_empty());
}

#[test]
fn a_consumer_killed_inside_the_heap_s_free_leaks_nothing() {
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    q.put(big(1)).unwrap();
    assert_eq!(in_use(&q), 1);
    dies_at(Failpoint::Freed, || {
        let _ = q.get();
    });
    assert_eq!(in_use(&q), 0, "the dead consumer's block leaked");
    q.map.heap().unwrap().check().unwrap();
    // The heap serves as many large values as the queue has slots again.
    for i in 0..4 {
        q.put(big(i)).unwrap();
    }
}

#[test]
fn a_producer_killed_inside_the_lost_record_hook_s_free_leaks_nothing() {
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    q.put(big(1)).unwrap();
    // A consumer dies holding the slot (READING) before it registered the block.
    zeroproc_testkit::fork_run(|| std::mem::forget(q.ring.try_pop_guard().unwrap()));
    // A producer laps onto the dead reader's slot: the ring releases it and hands the
    // record to the queue's hook, which frees the block; the producer dies in that free,
    // right after the heap's CAS (its first free: the values it puts are inline).
    dies_at(Failpoint::Freed, || {
        for i in 0..4u64 {
            let _ = q.put_timeout(vec![i], std::time::Duration::from_secs(5));
            let _ = q.get_timeout(std::time::Duration::from_secs(5));
        }
    });
    assert_eq!(q.ring_stats().dead_readers, 1);
    assert_eq!(in_use(&q), 0, "the block the dead producer's hook was freeing leaked");
    q.map.heap().unwrap().check().unwrap();
}
