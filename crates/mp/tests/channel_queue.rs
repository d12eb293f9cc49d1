//! In-process tests of `Queue`: every method and every error, spilling, handles,
//! corruption. (Cross-process behaviour and crashes: `channel_xproc.rs`.)

use rkyv::rancor::Error;
use rkyv::{Archive, Deserialize, Serialize};
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use zeroproc_mp::queue::{
    ChannelError, CorruptError, GetError, GetTimeoutError, PutError, PutTimeoutError, QueueHandle,
    TryGetError, TryPutError, DEFAULT_HEAP_SIZE, DEFAULT_SLOT_SIZE,
};
use zeroproc_mp::Queue;
use zeroproc_ring::mpmc;
use zeroproc_shm::{Layout, Offset, Segment};

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Job {
    id: u64,
    name: String,
    data: Vec<f64>,
}

fn job(id: u64, n: usize) -> Job {
    Job { id, name: format!("job-{id}"), data: (0..n).map(|i| (i as f64) + id as f64).collect() }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn queue_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Queue<Job>>();
    check::<QueueHandle<Job>>();
}

#[test]
fn new_defaults_and_rounding() {
    let q = Queue::<u64>::new(1000).unwrap();
    assert_eq!(q.capacity(), 1024);
    assert_eq!(q.slot_size(), DEFAULT_SLOT_SIZE);
    assert_eq!(q.heap_size(), DEFAULT_HEAP_SIZE);
    let q = Queue::<u64>::with_slot_size(3, 10).unwrap();
    assert_eq!((q.capacity(), q.slot_size()), (4, 48)); // at least MIN_SLOT_SIZE
    let q = Queue::<u64>::builder(2).slot_size(100).heap_size(5000).build().unwrap();
    assert_eq!((q.slot_size(), q.heap_size()), (112, 8192));
    assert!(matches!(Queue::<u64>::new(0), Err(ChannelError::Config(_))));
    assert!(matches!(Queue::<u64>::with_slot_size(1, 32 << 20), Err(ChannelError::Config(_))));
    assert!(format!("{q:?}").contains("Queue"));
}

/// `Queue::new(0)` is what a Python user writes for `Queue()` (`maxsize=0`: unbounded).
/// The error said "queue capacity must be in 1..=2^32", with no word on why 0 is not
/// unbounded here nor what to pass (docs33).
#[test]
fn a_zero_capacity_error_says_queues_are_bounded_and_what_to_pass() {
    for e in
        [Queue::<u64>::new(0).unwrap_err(), zeroproc_mp::JoinableQueue::<u64>::new(0).unwrap_err()]
    {
        let msg = e.to_string();
        assert!(msg.contains("always bounded"), "{msg}");
        assert!(msg.contains("maxsize=0"), "{msg}");
        assert!(msg.contains("Queue::new(1024)"), "{msg}");
    }
}

#[test]
fn put_get_round_trip_in_order() {
    let q = Queue::<Job>::new(64).unwrap();
    for i in 0..50 {
        q.put(job(i, i as usize)).unwrap();
    }
    assert_eq!(q.len(), 50);
    for i in 0..50 {
        assert_eq!(q.get().unwrap(), job(i, i as usize));
    }
    assert!(q.is_empty());
}

#[test]
fn try_put_full_hands_the_value_back_and_try_get_empty() {
    let q = Queue::<Job>::new(2).unwrap();
    assert!(matches!(q.try_get(), Err(TryGetError::Empty)));
    q.try_put(job(1, 1)).unwrap();
    q.try_put(job(2, 1)).unwrap();
    assert!(q.is_full());
    match q.try_put(job(3, 1)) {
        Err(TryPutError::Full(j)) => assert_eq!(j, job(3, 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(q.try_get().unwrap().id, 1);
    q.try_put(job(3, 1)).unwrap();
    assert_eq!(q.try_get().unwrap().id, 2);
    assert_eq!(q.try_get().unwrap().id, 3);
}

#[test]
fn timeouts_and_deadlines() {
    let q = Queue::<u32>::new(1).unwrap();
    q.put_timeout(1, MS).unwrap();
    let t0 = Instant::now();
    assert!(matches!(q.put_timeout(2, 20 * MS), Err(PutTimeoutError::Timeout(2))));
    assert!(t0.elapsed() >= 20 * MS);
    assert!(matches!(q.put_deadline(3, Instant::now()), Err(PutTimeoutError::Timeout(3))));
    assert_eq!(q.get_deadline(Instant::now() + MS).unwrap(), 1);
    let t0 = Instant::now();
    assert!(matches!(q.get_timeout(20 * MS), Err(GetTimeoutError::Timeout)));
    assert!(t0.elapsed() >= 20 * MS);
    assert!(matches!(q.get_deadline(Instant::now()), Err(GetTimeoutError::Timeout)));
    assert!(matches!(q.get_ref_timeout(MS), Err(GetTimeoutError::Timeout)));
    assert!(matches!(q.get_ref_deadline(Instant::now()), Err(GetTimeoutError::Timeout)));
    assert!(matches!(q.get_with_timeout(MS, |v| *v), Err(GetTimeoutError::Timeout)));
    assert!(matches!(q.get_with_deadline(Instant::now(), |v| *v), Err(GetTimeoutError::Timeout)));
    q.put_deadline(4, Instant::now() + MS).unwrap();
    assert_eq!(q.get_timeout(MS).unwrap(), 4);
}

#[test]
fn blocking_put_and_get_wake_each_other() {
    let q = Queue::<u64>::new(2).unwrap();
    let c = q.clone();
    let t = thread::spawn(move || (0..1000).map(|_| c.get().unwrap()).sum::<u64>());
    for i in 0..1000 {
        q.put(i).unwrap();
    }
    assert_eq!(t.join().unwrap(), (0..1000u64).sum::<u64>());
}

#[test]
fn close_refuses_puts_drains_gets_and_wakes_waiters() {
    let q = Queue::<String>::new(4).unwrap();
    let c = q.clone();
    let waiter = thread::spawn(move || c.get());
    thread::sleep(10 * MS);
    q.put("last".into()).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), "last");
    q.put("drained".into()).unwrap();
    let c = q.clone();
    q.close();
    assert!(q.is_closed() && c.is_closed());
    assert!(matches!(q.put("x".into()), Err(PutError::Closed(s)) if s == "x"));
    assert!(matches!(q.try_put("y".into()), Err(TryPutError::Closed(s)) if s == "y"));
    assert!(matches!(q.put_timeout("z".into(), MS), Err(PutTimeoutError::Closed(_))));
    assert_eq!(q.get().unwrap(), "drained");
    assert!(matches!(q.get(), Err(GetError::Closed)));
    assert!(matches!(q.try_get(), Err(TryGetError::Closed)));
    assert!(matches!(q.get_timeout(MS), Err(GetTimeoutError::Closed)));
    assert!(matches!(q.get_ref(), Err(GetError::Closed)));
    assert!(matches!(q.try_get_with(|_| ()), Err(TryGetError::Closed)));
    // A blocked getter is woken by close.
    let q = Queue::<u8>::new(2).unwrap();
    let c = q.clone();
    let t = thread::spawn(move || c.get());
    thread::sleep(10 * MS);
    q.close();
    assert!(matches!(t.join().unwrap(), Err(GetError::Closed)));
}

#[test]
fn get_ref_and_get_with_read_in_place() {
    let q = Queue::<Job>::new(4).unwrap();
    q.put(job(7, 3)).unwrap();
    q.put(job(8, 3)).unwrap();
    q.put(job(9, 3)).unwrap();
    {
        let r = q.get_ref().unwrap();
        assert!(!r.is_spilled());
        assert_eq!(r.id, 7);
        assert_eq!(r.name.as_str(), "job-7");
        assert_eq!(r.deserialize().unwrap(), job(7, 3));
        assert!(format!("{r:?}").contains("in its queue slot"));
    }
    assert_eq!(q.get_with(|a| (a.id.to_native(), a.data.len())).unwrap(), (8, 3));
    assert_eq!(q.try_get_ref().unwrap().id, 9);
    assert!(matches!(q.try_get_ref(), Err(TryGetError::Empty)));
    assert!(matches!(q.try_get_with(|_| ()), Err(TryGetError::Empty)));
}

#[test]
fn a_panicking_get_with_drops_the_value_and_frees_the_slot() {
    let q = Queue::<u32>::new(1).unwrap();
    q.put(1).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.get_with(|_| panic!("boom")).unwrap();
    }));
    assert!(r.is_err());
    assert!(q.is_empty());
    q.try_put(2).unwrap(); // the slot is free again
    assert_eq!(q.get().unwrap(), 2);
}

#[test]
fn values_larger_than_a_slot_spill_into_the_heap() {
    let q = Queue::<Job>::with_slot_size(4, 64).unwrap();
    let big = job(1, 10_000); // 80 KB
    q.put(big.clone()).unwrap();
    q.put(job(2, 1)).unwrap(); // small: inline
    let r = q.get_ref().unwrap();
    assert!(r.is_spilled());
    assert_eq!(r.data.len(), 10_000);
    assert!(format!("{r:?}").contains("spill heap"));
    drop(r);
    assert_eq!(q.get().unwrap(), job(2, 1));
    for _ in 0..3 {
        q.put(big.clone()).unwrap();
        assert_eq!(q.get().unwrap(), big);
        q.put(big.clone()).unwrap();
        assert_eq!(q.get_with(|a| a.data.len()).unwrap(), 10_000);
    }
}

#[test]
fn too_large_values_are_handed_back() {
    let q = Queue::<Vec<u8>>::builder(2).slot_size(64).heap_size(0).build().unwrap();
    assert!(matches!(q.try_put(vec![1; 100]), Err(TryPutError::TooLarge(v)) if v.len() == 100));
    assert!(matches!(q.put(vec![1; 100]), Err(PutError::TooLarge(_))));
    let q = Queue::<Vec<u8>>::builder(2)
        .slot_size(64)
        .heap_size(64 << 10)
        .max_heap_size(64 << 10)
        .build()
        .unwrap();
    assert!(matches!(q.put(vec![1; 100_000]), Err(PutError::TooLarge(_))));
    assert!(matches!(q.put_timeout(vec![1; 100_000], MS), Err(PutTimeoutError::TooLarge(_))));
    q.put(vec![2; 1000]).unwrap(); // fits the heap
    assert_eq!(q.get().unwrap(), vec![2; 1000]);
}

#[test]
fn a_full_heap_makes_puts_wait_for_gets() {
    // 64 KiB heap that may not grow: holds a couple of 20 KB values at a time.
    let q = Queue::<Vec<u8>>::builder(16)
        .slot_size(64)
        .heap_size(64 << 10)
        .max_heap_size(64 << 10)
        .build()
        .unwrap();
    let mut n = 0;
    while q.try_put(vec![n as u8; 20_000]).is_ok() {
        n += 1;
    }
    assert!(n >= 1, "at least one spilled value fits");
    assert!(matches!(q.try_put(vec![0; 20_000]), Err(TryPutError::Full(_))));
    assert!(matches!(q.put_timeout(vec![0; 20_000], 5 * MS), Err(PutTimeoutError::Timeout(_))));
    let c = q.clone();
    let t = thread::spawn(move || c.put(vec![99; 20_000]));
    thread::sleep(20 * MS);
    assert_eq!(q.get().unwrap(), vec![0; 20_000]); // frees a block: the put proceeds
    t.join().unwrap().unwrap();
    for i in 1..n {
        assert_eq!(q.get().unwrap(), vec![i as u8; 20_000]);
    }
    assert_eq!(q.get().unwrap(), vec![99; 20_000]);
    // close wakes a put waiting for heap space.
    while q.try_put(vec![1; 20_000]).is_ok() {}
    let c = q.clone();
    let t = thread::spawn(move || c.put(vec![2; 20_000]));
    thread::sleep(20 * MS);
    q.close();
    assert!(matches!(t.join().unwrap(), Err(PutError::Closed(_))));
}

#[test]
fn many_threads_exactly_once() {
    let q = Queue::<u64>::new(8).unwrap();
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..2000 {
                    q.put(p * 10_000 + i).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = q.get() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    all.sort();
    let want: Vec<u64> = (0..3u64).flat_map(|p| (0..2000).map(move |i| p * 10_000 + i)).collect();
    assert_eq!(all, want);
}

#[test]
fn handles_attach_to_the_same_queue_and_travel_as_rkyv() {
    let q = Queue::<Job>::new(4).unwrap();
    let h = q.handle();
    assert_eq!(h, h.clone());
    assert!(h.segment_id().starts_with("memfd:"));
    assert!(format!("{h:?}").contains("QueueHandle"));
    let bytes = rkyv::to_bytes::<Error>(&h).unwrap();
    let back = rkyv::from_bytes::<QueueHandle<Job>, Error>(&bytes).unwrap();
    assert_eq!(back, h);
    let other = back.attach().unwrap();
    other.put(job(5, 5)).unwrap();
    assert_eq!(q.get().unwrap(), job(5, 5));
    let again = Queue::from_handle(&h).unwrap();
    q.put(job(6, 0)).unwrap();
    assert_eq!(again.get().unwrap(), job(6, 0));
}

/// The archived shape of `QueueHandle<T>`, to forge handles.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
struct Mirror {
    segment: String,
    joinable: bool,
    type_hash: u64,
    _t: PhantomData<fn() -> u32>,
}

fn reinterpret<A, B>(a: &A) -> B
where
    A: for<'x> Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'x>,
            Error,
        >,
    >,
    B: Archive,
    B::Archived: for<'x> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'x, Error>>
        + Deserialize<B, rkyv::api::high::HighDeserializer<Error>>,
{
    rkyv::from_bytes::<B, Error>(&rkyv::to_bytes::<Error>(a).unwrap()).unwrap()
}

#[test]
fn forged_and_mistyped_handles_are_refused() {
    let q = Queue::<u32>::new(2).unwrap();
    let h = q.handle();
    // Another message type.
    let wrong: QueueHandle<u64> = reinterpret(&h);
    assert!(matches!(wrong.attach(), Err(ChannelError::TypeMismatch)));
    // Another kind (claims to be joinable).
    let mut m: Mirror = reinterpret(&h);
    m.joinable = true;
    let forged: QueueHandle<u32> = reinterpret(&m);
    assert!(matches!(forged.attach(), Err(ChannelError::KindMismatch { found: "Queue" })));
    // Garbage and stale ids.
    m.joinable = false;
    m.segment = "nonsense".into();
    assert!(matches!(reinterpret::<_, QueueHandle<u32>>(&m).attach(), Err(ChannelError::BadId(_))));
    m.segment = format!("memfd:{}:9999:0123456789abcdef", std::process::id());
    assert!(matches!(
        reinterpret::<_, QueueHandle<u32>>(&m).attach(),
        Err(ChannelError::Attach(_))
    ));
    // A pipe's segment is not a queue.
    let (tx, _rx) = zeroproc_mp::pipe_oneway::<u32>().unwrap();
    #[derive(Archive, Serialize, Deserialize)]
    struct SenderMirror {
        segment: String,
        type_hash: u64,
        _t: PhantomData<fn() -> u32>,
    }
    let s: SenderMirror = reinterpret(&tx.handle());
    m.segment = s.segment;
    let e = reinterpret::<_, QueueHandle<u32>>(&m).attach();
    assert!(matches!(e, Err(ChannelError::KindMismatch { found: "one-way pipe" })), "{e:?}");
}

/// The queue's ring, reached behind the queue's back (layout of `channel::header`: 1408 bytes, align 128).
fn raw_ring(q: &Queue<u32>) -> mpmc::Ring {
    #[repr(C, align(128))]
    struct HeaderShape([u8; 1408]);
    let layout = Layout::new("zeroproc-channel", 5).with_type::<HeaderShape>();
    let id = q.handle().segment_id().parse().unwrap();
    let seg = Arc::new(Segment::attach(&id, layout).unwrap());
    mpmc::Ring::attach(seg, Offset::new(256 + 1408)).unwrap()
}

#[test]
fn damaged_records_are_reported_and_skipped() {
    let q = Queue::<u32>::new(8).unwrap();
    let raw = raw_ring(&q);
    raw.try_push(b"not an envelope").unwrap();
    q.put(1).unwrap();
    raw.try_push([0u8; 3]).unwrap();
    q.put(2).unwrap();
    // A spilled reference to a block that does not exist.
    let mut fake = [0u8; 48];
    let b = zeroproc_codec::spill::SpilledBlock { offset: Offset::new(1 << 30), len: 8, nonce: 1 };
    let h = zeroproc_codec::envelope::Header::new(0, 0);
    zeroproc_codec::spill::write_spilled_envelope(&mut fake, h, &b);
    raw.try_push(fake).unwrap();
    q.put(3).unwrap();
    let e = q.get().unwrap_err();
    assert!(matches!(e, GetError::Corrupt(CorruptError::Decode(_))), "{e}");
    assert_eq!(q.get().unwrap(), 1);
    assert!(matches!(q.try_get_ref(), Err(TryGetError::Corrupt(_))));
    assert_eq!(q.get().unwrap(), 2);
    assert!(matches!(q.get_timeout(MS), Err(GetTimeoutError::Corrupt(CorruptError::Decode(_)))));
    assert_eq!(q.get().unwrap(), 3);
    assert!(q.is_empty());
}

#[test]
fn wait_strategy_and_stats() {
    use zeroproc_shm::wait::WaitStrategy;
    let mut q = Queue::<u8>::new(2).unwrap();
    q.set_wait_strategy(WaitStrategy::Sleep);
    assert_eq!(q.wait_strategy(), WaitStrategy::Sleep);
    let c = q.clone();
    let t = thread::spawn(move || c.get().unwrap());
    thread::sleep(5 * MS);
    q.put(3).unwrap();
    assert_eq!(t.join().unwrap(), 3);
    assert_eq!(q.ring_stats().dead_readers, 0);
}

#[test]
fn error_messages_and_into_inner() {
    let e = TryPutError::Full(5u8);
    assert_eq!(
        e.to_string(),
        "queue is full (no free slot, or no room in its spill heap for a value this large)"
    );
    assert_eq!(format!("{e:?}"), "Full(..)");
    assert_eq!(e.into_inner(), 5);
    let q = Queue::<u8>::new(1).unwrap();
    q.close();
    assert_eq!(q.get().unwrap_err().to_string(), "queue is closed and drained");
    assert_eq!(q.try_get().unwrap_err().to_string(), "queue is closed and drained");
    assert_eq!(q.put(1).unwrap_err().into_inner(), 1);
}

#[test]
fn get_ref_reads_in_the_slot_and_holds_it_until_dropped() {
    let q = Queue::<Vec<u64>>::new(4).unwrap();
    for i in 0..3u64 {
        q.put(vec![i; 8]).unwrap();
    }
    let r = q.get_ref().unwrap();
    assert!(format!("{r:?}").contains("in its queue slot"), "{r:?}");
    // The other slots keep working while the Ref lives; its bytes do not change.
    assert_eq!(q.get().unwrap(), vec![1; 8]);
    assert_eq!(q.get().unwrap(), vec![2; 8]);
    q.put(vec![10; 8]).unwrap();
    assert_eq!(r.as_slice(), &[0u64; 8][..]);
    // The held slot is the one producers need next after lapping: it waits for the Ref.
    assert!(q.try_put(vec![11; 8]).is_err());
    drop(r);
    q.put(vec![11; 8]).unwrap();
    let rest: Vec<u64> = (0..2).map(|_| q.get().unwrap()[0]).collect();
    assert_eq!(rest, [10, 11]);
}

/// A queue whose heap is at its maximum, filled with payloads of one size: the number
/// that fit.
fn fill_small(q: &Queue<Vec<u8>>, a: usize) -> usize {
    let mut n = 0;
    while q.try_put(vec![n as u8; a]).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn at_the_heap_maximum_small_payloads_make_room_for_larger_ones() {
    // Fails before the heap merged free neighbours: the 8 KiB put into the drained queue
    // was TooLarge ("fits neither a slot nor the spill heap at its maximum size").
    let q = Queue::<Vec<u8>>::builder(1024).heap_size(1 << 20).max_heap_size(1 << 20).build();
    let q = q.unwrap();
    let a = 4 << 10;
    let n = fill_small(&q, a);
    assert!(n > 100, "{n} payloads of {a} B in 1 MiB");
    for k in 0..n {
        assert_eq!(q.get().unwrap(), vec![k as u8; a]);
    }
    for size in [2 * a, 64 * a, 150 * a] {
        q.put_timeout(vec![7; size], Duration::from_secs(10)).unwrap();
        assert_eq!(q.get().unwrap(), vec![7; size]);
    }
    // And back: the large blocks split into small ones again (splitting leaves some
    // pieces too small for this size between live payloads: 194 of 204 when written).
    let again = fill_small(&q, a);
    assert!(again >= n * 9 / 10, "{again} of {n} fit again");
}

#[test]
fn a_blocking_put_at_the_heap_maximum_waits_for_neighbours_to_be_freed() {
    let q = Queue::<Vec<u8>>::builder(1024).heap_size(1 << 20).max_heap_size(1 << 20).build();
    let q = q.unwrap();
    let a = 4 << 10;
    let n = fill_small(&q, a);
    // Full: a 2A payload has to wait (it is not TooLarge: it fits once memory is freed).
    assert!(matches!(q.try_put(vec![9; 2 * a]), Err(TryPutError::Full(_))));
    let producer = {
        let q = q.clone();
        thread::spawn(move || q.put_timeout(vec![9; 2 * a], Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(20));
    // The first two payloads were carved next to each other: getting them frees 2A.
    assert_eq!(q.get().unwrap(), vec![0; a]);
    assert_eq!(q.get().unwrap(), vec![1; a]);
    producer.join().unwrap().unwrap();
    for k in 2..n {
        assert_eq!(q.get().unwrap(), vec![k as u8; a]);
    }
    assert_eq!(q.get().unwrap(), vec![9; 2 * a]);
}

/// A process forked while it holds a `Ref` to a spilled value gets a copy of it; the
/// child's drop of that copy must leave the parent's value alone. It freed the value's
/// heap block (and cleared the parent's holds entry) while the parent still read it in
/// place: the block could be handed to the next large `put` and overwritten under the
/// parent's `&Archived`.
#[test]
fn a_forked_childs_copy_of_a_ref_does_not_free_the_parents_value() {
    let q = zeroproc_mp::Queue::<Vec<u64>>::builder(4).max_heap_size(4 << 20).build().unwrap();
    q.put(vec![7; 100_000]).unwrap(); // 800 KB: spilled
    let r = q.get_ref().unwrap();
    assert!(r.is_spilled());
    assert_eq!(q.heap_stats().unwrap().in_use_blocks(), 1);
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: the child's bitwise copy of the parent's `Ref`, dropped once in the child
        // (as its inherited locals are); the parent's is untouched by it.
        drop(unsafe { std::ptr::read(&r) });
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child: {status:#x}");
    assert_eq!(
        q.heap_stats().unwrap().in_use_blocks(),
        1,
        "the child's copy freed the block the parent still reads"
    );
    assert!(r.iter().all(|x| x.to_native() == 7));
    drop(r);
    assert_eq!(q.heap_stats().unwrap().in_use_blocks(), 0);
}

/// A child forked while its parent uses a queue uses its copy of the parent's `Queue` at
/// the same time: it is one more producer and consumer of the MPMC ring (claims carry the
/// child's own pid, refreshed at the fork), as a Python child's copy of a
/// `multiprocessing.Queue` is. Every value, small or spilled to the heap, arrives exactly
/// once and each producer's in order.
#[test]
fn a_forked_child_shares_its_parents_queue() {
    const N: u64 = 2_000;
    let q = Queue::<Vec<u64>>::new(16).unwrap();
    let back = Queue::<u64>::new(4096).unwrap();
    let go = Queue::<u64>::new(2).unwrap();
    // Every 7th value spills (160 KB).
    fn value(tag: u64, i: u64) -> Vec<u64> {
        vec![tag << 32 | i; if i % 7 == 0 { 20_000 } else { 1 }]
    }
    fn uniform(v: &[u64]) -> bool {
        v.iter().all(|&x| x == v[0])
    }
    // SAFETY: the child uses the queues (shared memory; no lock of the parent's threads:
    // the parent has none running here) and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(60) };
        let mut code = 0;
        // Produce N values while the parent produces N too...
        for i in 0..N {
            if q.put(value(1, i)).is_err() {
                code = 1;
            }
        }
        // ...then take N of the 2N values the parent puts next, beside the parent.
        if go.get().is_err() {
            code = 3;
        }
        for _ in 0..N {
            match q.get() {
                Ok(v) if uniform(&v) => back.put(v[0]).unwrap(),
                _ => code = 2,
            }
        }
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    // Phase 1: both produce N, the parent takes all 2N.
    let (mut next, mut got) = ([0u64; 2], 0);
    let producer = {
        let q = q.clone();
        thread::spawn(move || (0..N).for_each(|i| q.put(value(0, i)).unwrap()))
    };
    while got < 2 * N {
        let v = q.get_timeout(Duration::from_secs(30)).expect("phase 1 value");
        assert!(uniform(&v), "a damaged value");
        let (tag, i) = ((v[0] >> 32) as usize, v[0] & 0xFFFF_FFFF);
        assert_eq!(i, next[tag], "producer {tag}'s values out of order or lost");
        assert_eq!(v.len(), if i % 7 == 0 { 20_000 } else { 1 });
        next[tag] += 1;
        got += 1;
    }
    producer.join().unwrap();
    // Phase 2: the parent puts 2N; it and the child each take N.
    go.put(1).unwrap();
    let producer = {
        let q = q.clone();
        thread::spawn(move || (0..2 * N).for_each(|i| q.put(value(2, i)).unwrap()))
    };
    let mut seen = vec![0u8; 2 * N as usize];
    for _ in 0..N {
        let v = q.get_timeout(Duration::from_secs(30)).expect("phase 2 value");
        assert!(uniform(&v));
        seen[(v[0] & 0xFFFF_FFFF) as usize] += 1;
    }
    producer.join().unwrap();
    let mut status = 0;
    // SAFETY: our own child; a valid out-pointer (its alarm bounds the wait).
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x} (14 = SIGALRM: it hung)");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: a put failed in the child, 2: a get, 3: go");
    for _ in 0..N {
        let x = back.get_timeout(Duration::from_secs(10)).expect("the child's values");
        seen[(x & 0xFFFF_FFFF) as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c == 1), "a value lost or taken twice");
    assert!(q.is_empty() && back.is_empty());
}
