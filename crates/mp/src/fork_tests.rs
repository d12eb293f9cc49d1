//! Queues, arrays and containers in a child forked by `libc::fork` while another thread
//! holds one of this crate's process-global tables (`zeroproc_shm::fork`). Each child ends
//! itself, or by SIGALRM after 10 s: a hang is a failure.

use crate::{Queue, SharedArray, SharedDict};
use zeroproc_testkit::fork_while_held;

fn assert_exited_0(status: i32, what: &str) {
    assert!(
        zeroproc_testkit::exited_0(status),
        "{what}: child status {status:#x} (14 = SIGALRM: it hung)"
    );
}

/// A queue made, attached by handle and used in the child.
fn queue_round_trip() -> bool {
    let Ok(q) = Queue::<u64>::new(4) else { return false };
    let Ok(other) = q.handle().attach() else { return false };
    q.put(7).is_ok() && other.get().ok() == Some(7)
}

/// Before the queue and pipe cache was per fork generation, the child waited for ever on
/// its lock at its first `Queue::new`.
#[test]
fn a_child_forked_while_the_channel_cache_is_held_makes_queues() {
    let _warm = Queue::<u64>::new(4).unwrap();
    assert_exited_0(fork_while_held(crate::channel::cache::hold, queue_round_trip), "queue");
}

/// The same for the shared-array cache.
#[test]
fn a_child_forked_while_the_array_cache_is_held_makes_arrays() {
    let _warm = SharedArray::<u64>::zeroed(8).unwrap();
    let status = fork_while_held(crate::shared::cache::hold, || {
        let Ok(a) = SharedArray::<u64>::from_slice(&[1, 2, 3]) else { return false };
        let read = a.handle().read().map(|r| r.iter().sum::<u64>()).ok();
        read == Some(6)
    });
    assert_exited_0(status, "array");
}

/// The same for the container cache (reached when a handle is attached).
#[test]
fn a_child_forked_while_the_container_cache_is_held_attaches_dicts() {
    let warm = SharedDict::<u64, u64>::new().unwrap();
    drop(warm.handle().attach().unwrap());
    let status = fork_while_held(crate::container::hold_cache, || {
        let Ok(d) = SharedDict::<u64, u64>::new() else { return false };
        let Ok(other) = d.handle().attach() else { return false };
        d.insert(1, 2).is_ok() && other.get(&1).ok() == Some(Some(2))
    });
    assert_exited_0(status, "dict");
}

/// The same for the trim thread's list of heaps (held while it looks, every 100 ms):
/// a queue's heap registers there when it is attached.
#[test]
fn a_child_forked_while_the_trim_list_is_held_attaches_queues() {
    let _warm = Queue::<u64>::new(4).unwrap().handle().attach().unwrap();
    assert_exited_0(fork_while_held(crate::trim::hold, queue_round_trip), "trim");
}
