//! The per-process cache of channel segments (alone in its binary, one test: it counts
//! entries, which other tests running in parallel would change).

use zeroproc_mp::channel::cache;
use zeroproc_mp::{pipe, Queue};

#[test]
fn the_cache_maps_once_and_forgets_dropped_channels() {
    let before = cache::cached();
    let q = Queue::<u8>::new(2).unwrap();
    assert_eq!(cache::cached(), before + 1);
    let a = q.handle().attach().unwrap();
    let b = q.handle().attach().unwrap();
    assert_eq!(cache::cached(), before + 1, "attaching in the owner reuses its mapping");
    drop((q, a));
    b.put(1).unwrap(); // still mapped through b
    assert_eq!(b.get().unwrap(), 1);
    drop(b);
    assert_eq!(cache::cached(), before, "forgotten once the last handle is gone");
    assert_eq!(cache::evict_unused(), 0);
    // Pipes too.
    let (_x, y) = pipe::<u8>().unwrap();
    let h = y.handle();
    let _c = h.attach().unwrap();
    assert_eq!(cache::cached(), before + 1, "the creator's mapping is reused");
}
