//! In-process tests of the SPSC ring: wrap-around with pads, full/empty, TooLarge,
//! batching, close semantics, corrupted shared memory, role claims, attach validation.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_ring::spsc::*;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};

const TEST_LAYOUT: Layout = Layout::new("spsc-unit", 1);
/// The ring header puts meta, tail, head, not_empty, not_full on one cache-padded slot each.
const SLOT: usize = DATA_OFFSET / 5;
const TAIL_AT: usize = SLOT;
const HEAD_AT: usize = 2 * SLOT;
/// Byte offset of `producer_pid` in the meta slot: magic u64, capacity u64, version u32.
const PRODUCER_PID_AT: usize = 20;
const CONSUMER_PID_AT: usize = 24;

/// A ring in a segment of our own, with raw access to its header for corruption tests.
struct SegRing {
    seg: Arc<Segment>,
    ring: Ring,
}

impl SegRing {
    fn new(cap: usize) -> Self {
        let seg = Arc::new(Segment::create(TEST_LAYOUT, size_for(cap).unwrap()).unwrap());
        // SAFETY: the segment is fresh and private to this test.
        let ring =
            unsafe { Ring::init_in(seg.clone(), Offset::new(HEADER_SIZE as u64), cap) }.unwrap();
        Self { seg, ring }
    }
    /// Pointer to byte `at` of the ring region (header at 0, buffer at DATA_OFFSET).
    fn raw(&self, at: usize) -> *mut u8 {
        // SAFETY: the test only asks for offsets inside the ring region.
        unsafe { self.seg.data().add(at) }
    }
    fn poke_u64(&self, at: usize, v: u64) {
        // SAFETY: aligned offsets inside the region; a hostile peer's plain write.
        unsafe { self.raw(at).cast::<u64>().write_volatile(v) }
    }
    fn poke_u32(&self, at: usize, v: u32) {
        // SAFETY: as above.
        unsafe { self.raw(at).cast::<u32>().write_volatile(v) }
    }
    fn peek_u64(&self, at: usize) -> u64 {
        // SAFETY: as above.
        unsafe { self.raw(at).cast::<u64>().read_volatile() }
    }
}

fn send(tx: &mut Producer, data: &[u8], kind: u32, tag: u64) -> *const u8 {
    let mut r = tx.try_reserve(data.len()).unwrap();
    r.copy_from_slice(data);
    r.set_kind(kind);
    r.set_tag(tag);
    let p = r.as_ptr();
    r.commit();
    p
}

#[test]
fn wrap_around_inserts_a_pad_and_restarts_at_zero() {
    let (mut tx, mut rx) = heap_channel(256).unwrap();
    let a = send(&mut tx, &[1; 100], 0, 0); // record 0..128
    assert_eq!(&*rx.try_recv().unwrap(), &[1; 100][..]);
    let b = send(&mut tx, &[2; 80], 0, 0); // record 128..224
                                           // SAFETY: both pointers are into the same buffer.
    assert_eq!(unsafe { b.offset_from(a) }, 128);
    assert_eq!(&*rx.try_recv().unwrap(), &[2; 80][..]);
    // 32 bytes left before the end; a 64-byte record gets a 32-byte pad and starts at 0.
    let c = send(&mut tx, &[3; 40], 5, 6);
    assert_eq!(c, a, "the record after the pad starts at the beginning of the buffer");
    let g = rx.try_recv().unwrap();
    assert_eq!((&*g, g.kind(), g.tag()), (&[3; 40][..], 5, 6));
    drop(g);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
}

#[test]
fn many_wraps_with_varied_sizes_stay_in_order_and_intact() {
    let (mut tx, mut rx) = heap_channel(1024).unwrap();
    let max = tx.max_payload();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut sent, mut got) = (0u64, 0u64);
    while got < 20_000 {
        let burst = next() % 8;
        for _ in 0..burst {
            let len = (next() as usize) % (max + 1);
            match tx.try_reserve(len) {
                Ok(mut r) => {
                    for (i, b) in r.iter_mut().enumerate() {
                        *b = (sent as u8).wrapping_add(i as u8);
                    }
                    r.set_tag(sent);
                    r.commit();
                    sent += 1;
                }
                Err(TryReserveError::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let take = next() % 8;
        for _ in 0..take {
            match rx.try_recv() {
                Ok(g) => {
                    assert_eq!(g.tag(), got);
                    assert_eq!(g.as_ptr() as usize % 16, 0, "payloads are 16-byte aligned");
                    for (i, b) in g.iter().enumerate() {
                        assert_eq!(*b, (got as u8).wrapping_add(i as u8));
                    }
                    got += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn full_and_empty() {
    let (mut tx, mut rx) = heap_channel(128).unwrap();
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    for i in 0..7u64 {
        // 16 bytes each: 7 and the room kept for the next record's header fill 128.
        let mut r = tx.try_reserve(0).unwrap();
        r.set_tag(i);
        r.commit();
    }
    assert_eq!(tx.try_reserve(0).err(), Some(TryReserveError::Full));
    assert_eq!(tx.try_send(b""), Err(TrySendError::Full(&b""[..])));
    assert_eq!(rx.try_recv().unwrap().tag(), 0);
    tx.try_reserve(0).unwrap().commit(); // one slot freed
    assert_eq!(tx.try_reserve(0).err(), Some(TryReserveError::Full));
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, 7);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
}

#[test]
fn too_large_hands_the_payload_back() {
    let (mut tx, mut rx) = heap_channel(256).unwrap();
    let max = tx.max_payload();
    assert_eq!(max, 256 / 2 - 16);
    let big = vec![7u8; max + 1];
    assert_eq!(
        tx.try_reserve(max + 1).err(),
        Some(TryReserveError::TooLarge { len: max + 1, max })
    );
    assert_eq!(tx.try_send(&big), Err(TrySendError::TooLarge(&big[..])));
    assert_eq!(tx.send(&big), Err(SendError::TooLarge(&big[..])));
    assert!(matches!(tx.reserve(usize::MAX), Err(ReserveError::TooLarge { .. })));
    // The largest payload always fits in an empty ring, wherever the tail is.
    for _ in 0..10 {
        tx.try_send(&vec![1u8; max]).unwrap();
        assert_eq!(rx.try_recv().unwrap().len(), max);
        tx.try_send(&[0; 16]).unwrap();
        rx.try_recv().unwrap();
    }
}

#[test]
fn staged_records_are_invisible_until_published() {
    let (mut tx, mut rx) = heap_channel(4096).unwrap();
    for i in 0..5u8 {
        let mut r = tx.try_reserve(1).unwrap();
        r[0] = i;
        r.stage();
    }
    assert_eq!(tx.staged_bytes(), 5 * 32);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    tx.publish();
    assert_eq!(tx.staged_bytes(), 0);
    let mut seen = vec![];
    assert_eq!(rx.drain(3, |r| seen.push(r[0])), Ok(3));
    assert_eq!(rx.drain(usize::MAX, |r| seen.push(r[0])), Ok(2));
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    assert_eq!(rx.drain(10, |_| {}), Err(TryRecvError::Empty));
    assert_eq!(rx.drain(0, |_| {}), Ok(0));
    // A commit publishes everything staged before it.
    tx.try_reserve(0).unwrap().stage();
    tx.try_reserve(0).unwrap().commit();
    assert_eq!(rx.drain(10, |_| {}), Ok(2));
}

#[test]
fn staging_into_a_full_ring_publishes_the_batch() {
    let (mut tx, mut rx) = heap_channel(256).unwrap();
    let mut staged = 0;
    loop {
        match tx.try_reserve(16) {
            Ok(r) => {
                r.stage();
                staged += 1;
            }
            Err(TryReserveError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(staged, 256 / 32 - 1, "7 records and the next header's room fill 256 bytes");
    assert_eq!(tx.staged_bytes(), 0, "Full published the batch so the consumer can progress");
    assert_eq!(rx.drain(usize::MAX, |_| {}), Ok(staged));
    // A blocking reserve with a staged batch in a full ring must not deadlock either.
    let (mut tx, mut rx) = heap_channel(256).unwrap();
    let t = std::thread::spawn(move || {
        for i in 0..1000u32 {
            let mut r = tx.reserve(16).unwrap();
            r[..4].copy_from_slice(&i.to_le_bytes());
            r.stage();
        }
    });
    let mut next = 0u32;
    while next < 1000 {
        match rx.recv() {
            Ok(g) => {
                assert_eq!(g[..4], next.to_le_bytes());
                next += 1;
            }
            Err(e) => panic!("after {next}: {e}"),
        }
    }
    t.join().unwrap();
}

#[test]
fn abandoned_reservation_and_truncate() {
    let (mut tx, mut rx) = heap_channel(1024).unwrap();
    {
        let mut r = tx.try_reserve(100).unwrap();
        r.fill(9);
    } // abandoned: nothing published, space reused
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    let mut r = tx.try_reserve(100).unwrap();
    r[..3].copy_from_slice(b"abc");
    r.truncate(3);
    r.truncate(50); // growing is ignored
    assert_eq!(r.len(), 3);
    r.commit();
    assert_eq!(&*rx.try_recv().unwrap(), b"abc");
}

#[test]
#[should_panic(expected = "exceeds MAX_KIND")]
fn kind_is_24_bits() {
    let (mut tx, _rx) = heap_channel(1024).unwrap();
    tx.try_reserve(0).unwrap().set_kind(MAX_KIND + 1);
}

#[test]
fn deferred_release_frees_space_in_one_step() {
    let (mut tx, mut rx) = heap_channel(128).unwrap();
    while tx.try_send(&[]).is_ok() {}
    rx.try_recv().unwrap().defer_release();
    rx.try_recv().unwrap().defer_release();
    assert_eq!(tx.try_reserve(0).err(), Some(TryReserveError::Full), "not released yet");
    rx.release();
    tx.try_send(&[]).unwrap();
    tx.try_send(&[]).unwrap();
    assert!(tx.try_send(&[]).is_err());
}

#[test]
fn dropping_the_producer_delivers_the_rest_then_disconnects() {
    let (mut tx, mut rx) = channel(4096).unwrap();
    tx.try_send(b"a").unwrap();
    tx.try_reserve(1).unwrap().stage(); // staged: published by drop
    drop(tx);
    assert_eq!(&*rx.try_recv().unwrap(), b"a");
    assert_eq!(rx.recv().unwrap().len(), 1);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
    assert_eq!(rx.recv().err(), Some(RecvError::Disconnected));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).err(), Some(RecvTimeoutError::Disconnected));
    assert_eq!(rx.drain(5, |_| {}), Err(TryRecvError::Disconnected));
}

#[test]
fn dropping_the_consumer_disconnects_the_producer() {
    let (mut tx, rx) = channel(4096).unwrap();
    drop(rx);
    assert_eq!(tx.try_send(b"x"), Err(TrySendError::Disconnected(&b"x"[..])));
    assert_eq!(tx.send(b"y"), Err(SendError::Disconnected(&b"y"[..])));
    assert_eq!(tx.try_reserve(1).err(), Some(TryReserveError::Disconnected));
}

#[test]
fn close_wakes_a_sleeping_peer() {
    for strategy in [WaitStrategy::Sleep, WaitStrategy::Spin, WaitStrategy::default()] {
        // Consumer asleep on an empty ring; the producer's drop wakes it.
        let (tx, rx) = channel(4096).unwrap();
        let mut rx = rx.with_wait_strategy(strategy);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(tx);
        });
        let start = Instant::now();
        assert_eq!(rx.recv().err(), Some(RecvError::Disconnected));
        assert!(start.elapsed() < Duration::from_secs(20));
        t.join().unwrap();
        // Producer asleep on a full ring; the consumer's drop wakes it.
        let (tx, rx) = channel(64).unwrap();
        let mut tx = tx.with_wait_strategy(strategy);
        while tx.try_send(&[0; 16]).is_ok() {}
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(rx);
        });
        assert_eq!(tx.send(&[1; 16]), Err(SendError::Disconnected(&[1; 16][..])));
        t.join().unwrap();
    }
}

#[test]
fn timeouts() {
    let (mut tx, mut rx) = channel(64).unwrap();
    let start = Instant::now();
    assert_eq!(rx.recv_timeout(Duration::from_millis(20)).err(), Some(RecvTimeoutError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(rx.recv_deadline(Instant::now()).err(), Some(RecvTimeoutError::Timeout));
    while tx.try_send(&[0; 16]).is_ok() {}
    let start = Instant::now();
    assert_eq!(
        tx.reserve_timeout(16, Duration::from_millis(20)).err(),
        Some(ReserveTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    let e = tx.send_deadline(b"z", Instant::now()).unwrap_err();
    assert_eq!(e, SendTimeoutError::Timeout(&b"z"[..]));
}

#[test]
fn blocking_threads_exchange_in_every_wait_mode() {
    for strategy in [
        WaitStrategy::Spin,
        WaitStrategy::Sleep,
        WaitStrategy::SpinThenSleep { spin: Duration::from_micros(5) },
    ] {
        let (tx, rx) = channel(512).unwrap();
        let mut tx = tx.with_wait_strategy(strategy);
        let mut rx = rx.with_wait_strategy(strategy);
        const N: u64 = 20_000;
        let t = std::thread::spawn(move || {
            for i in 0..N {
                let mut r = tx.reserve((i % 200) as usize).unwrap();
                r.fill(i as u8);
                r.set_tag(i);
                if i % 3 == 0 {
                    r.stage();
                } else {
                    r.commit();
                }
            }
        });
        for i in 0..N {
            let g = rx.recv().unwrap();
            assert_eq!((g.tag(), g.len()), (i, (i % 200) as usize), "{strategy:?}");
            assert!(g.iter().all(|&b| b == i as u8));
        }
        assert_eq!(rx.recv().err(), Some(RecvError::Disconnected));
        t.join().unwrap();
    }
}

#[test]
fn corrupt_record_headers_are_reported_not_followed() {
    // Each case: a committed record whose header a hostile peer then overwrites with
    // these (byte offset in the header, u32 value) writes.
    type Writes = &'static [(usize, u32)];
    let cases: [(&str, Writes); 4] = [
        ("len beyond capacity", &[(0, u32::MAX)]),
        ("len beyond max payload", &[(0, 241)]),
        ("bad mark", &[(4, 0x1234)]),
        ("pad not reaching the end", &[(0, 16), (4, 0x5A00_0000)]),
    ];
    for (what, writes) in cases {
        let (mut tx, mut rx) = heap_channel(512).unwrap();
        let payload = send(&mut tx, &[1; 8], 0, 0);
        let header = payload.wrapping_sub(16).cast_mut();
        for &(at, v) in writes {
            // SAFETY: the header sits 16 bytes before the payload, inside the buffer; no
            // reference to it exists (a hostile peer's plain write).
            unsafe { header.add(at).cast::<u32>().write(v) };
        }
        match rx.try_recv() {
            Err(TryRecvError::Corrupt(c)) => assert_eq!(c.pos, 0, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        // Sticky, and reported by every consuming operation.
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Corrupt(_))), "{what}");
        assert!(matches!(rx.recv(), Err(RecvError::Corrupt(_))), "{what}");
        assert!(matches!(rx.drain(9, |_| {}), Err(TryRecvError::Corrupt(_))), "{what}");
    }
}

#[test]
fn corrupt_indices_are_reported() {
    // The consumer does not read the tail (records are committed by their own header's
    // word): a damaged tail shows it nothing. A producer claiming the ring checks it.
    for bad_tail in [8u64, 4096, u64::MAX - 15] {
        let sr = SegRing::new(256);
        let mut rx = sr.ring.consumer().unwrap();
        sr.poke_u64(TAIL_AT, bad_tail);
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "tail {bad_tail}");
        assert!(matches!(sr.ring.producer(), Err(RingError::Corrupt(_))), "tail {bad_tail}");
    }
    // Producer: the consumer's head goes past the tail, backwards or misaligned.
    for bad_head in [1000u64, 8, 0] {
        let sr = SegRing::new(256);
        let mut tx = sr.ring.producer().unwrap();
        let mut rx = sr.ring.consumer().unwrap();
        tx.try_send(&[0; 16]).unwrap();
        tx.try_send(&[0; 16]).unwrap();
        drop(rx.try_recv().unwrap()); // head = 32
        while tx.try_send(&[0; 16]).is_ok() {}
        sr.poke_u64(HEAD_AT, bad_head);
        assert!(matches!(tx.try_reserve(16), Err(TryReserveError::Corrupt(_))), "head {bad_head}");
        assert!(matches!(tx.try_send(b"x"), Err(TrySendError::Corrupt(..))));
    }
}

#[test]
fn random_garbage_never_escapes_the_buffer() {
    // A small fuzzer: random bytes over the whole buffer and a random tail; whatever the
    // consumer returns must be a record inside the buffer. (Random words are mostly not 0,
    // so garbage can go on looking committed lap after lap: a few laps' worth of records
    // are taken, or until an error.)
    let cap = 512usize;
    let sr = SegRing::new(cap);
    let data = sr.raw(DATA_OFFSET) as usize;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut records, mut corrupt) = (0, 0);
    for iter in 0..20_000 {
        // SAFETY: the previous handles are dropped; nothing else uses the region.
        let ring =
            unsafe { Ring::init_in(sr.seg.clone(), Offset::new(HEADER_SIZE as u64), cap) }.unwrap();
        let mut rx = ring.consumer().unwrap();
        for i in 0..cap / 8 {
            let mut w = next();
            if iter % 2 == 0 && i % 2 == 0 {
                // Half the time make headers plausible (valid marks, small lengths).
                w = (w & 0x00FF_FFFF_0000_01F0) | (0xA5 << 56);
            }
            sr.poke_u64(DATA_OFFSET + 8 * i, w);
        }
        let tail = if iter % 3 == 0 { next() } else { (next() % (cap as u64 + 1)) & !15 };
        sr.poke_u64(TAIL_AT, tail);
        for _ in 0..4 * cap / 16 {
            match rx.try_recv() {
                Ok(g) => {
                    let p = g.as_ptr() as usize;
                    // (An empty record in the buffer's last 16 bytes has its empty payload
                    // at the buffer's start: the position after its header wraps.)
                    let at = p as isize - data as isize;
                    assert!(p >= data && p + g.len() <= data + cap, "escapes: {at} + {}", g.len());
                    records += 1;
                }
                Err(TryRecvError::Corrupt(_)) => {
                    corrupt += 1;
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert!(records > 100 && corrupt > 100, "fuzzer exercised both ({records}, {corrupt})");
}

#[test]
fn one_producer_and_one_consumer_per_ring() {
    let ring = Ring::new(1024).unwrap();
    let me = std::process::id();
    let tx = ring.producer().unwrap();
    assert!(matches!(ring.producer(), Err(RingError::Claimed { pid }) if pid == me));
    let rx = ring.consumer().unwrap();
    assert!(matches!(ring.consumer(), Err(RingError::Claimed { pid }) if pid == me));
    drop(tx);
    drop(rx);
    assert!(matches!(ring.producer(), Err(RingError::Closed)));
    assert!(matches!(ring.consumer(), Err(RingError::Closed)));
}

#[test]
fn a_claim_held_by_a_dead_pid_is_taken_over() {
    let sr = SegRing::new(1024);
    let dead = u32::MAX - 7; // never a live pid (pids fit in i32)
    sr.poke_u32(PRODUCER_PID_AT, dead);
    sr.poke_u32(CONSUMER_PID_AT, dead);
    let mut tx = sr.ring.producer().unwrap();
    let mut rx = sr.ring.consumer().unwrap();
    tx.try_send(b"after takeover").unwrap();
    assert_eq!(&*rx.try_recv().unwrap(), b"after takeover");
}

#[test]
fn a_producer_killed_between_its_commit_and_its_tail_store_is_resumed_after_the_commit() {
    // A producer commits a batch by its first record's header word, then stores the tail.
    // Killed between the two, the records are visible to the consumer while the tail lags:
    // the next producer must resume after them, not at the tail (it would overwrite
    // records the consumer takes or has taken, and leave it waiting at a position no
    // record starts at).
    let sr = SegRing::new(1024);
    let mut tx = sr.ring.producer().unwrap();
    let mut rx = sr.ring.consumer().unwrap();
    tx.try_send(b"one").unwrap(); // 0..32
    let after_one = 32;
    for m in [&b"two"[..], b"three"] {
        let mut r = tx.try_reserve(m.len()).unwrap();
        r.copy_from_slice(m);
        r.stage();
    }
    tx.publish();
    std::mem::forget(tx); // killed: no close
    sr.poke_u64(TAIL_AT, after_one); // ... before its tail store
    sr.poke_u32(PRODUCER_PID_AT, u32::MAX - 7); // a pid that is never alive
    assert_eq!(&*rx.try_recv().unwrap(), b"one");
    assert_eq!(&*rx.try_recv().unwrap(), b"two");
    let mut tx = sr.ring.producer().unwrap();
    tx.try_send(b"four").unwrap();
    assert_eq!(&*rx.try_recv().unwrap(), b"three");
    assert_eq!(&*rx.try_recv().unwrap(), b"four");
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
}

#[test]
fn attach_validates_the_header() {
    let sr = SegRing::new(1024);
    let off = Offset::new(HEADER_SIZE as u64);
    assert_eq!(Ring::attach(sr.seg.clone(), off).unwrap().capacity(), 1024);
    // Misaligned and out-of-bounds offsets.
    assert!(matches!(Ring::attach(sr.seg.clone(), Offset::new(264)), Err(RingError::Offset(_))));
    assert!(matches!(
        Ring::attach(sr.seg.clone(), Offset::new(1 << 30)),
        Err(RingError::Offset(_))
    ));
    // Wrong version, capacity not a power of two, capacity past the segment's end.
    sr.poke_u32(16, RING_VERSION + 1);
    assert!(matches!(Ring::attach(sr.seg.clone(), off), Err(RingError::Version { .. })));
    sr.poke_u32(16, RING_VERSION);
    sr.poke_u64(8, 1000);
    assert!(matches!(Ring::attach(sr.seg.clone(), off), Err(RingError::BadHeader(_))));
    sr.poke_u64(8, 1 << 30);
    assert!(matches!(Ring::attach(sr.seg.clone(), off), Err(RingError::BadHeader(_))));
    sr.poke_u64(8, 1024);
    // Bad magic: not a ring.
    let magic = sr.peek_u64(0);
    sr.poke_u64(0, magic ^ 1);
    assert!(matches!(Ring::attach(sr.seg.clone(), off), Err(RingError::NotARing)));
    sr.poke_u64(0, magic);
    assert!(Ring::attach(sr.seg.clone(), off).is_ok());
    // Inconsistent indices are refused at claim time.
    sr.poke_u64(TAIL_AT, 8);
    assert!(matches!(sr.ring.producer(), Err(RingError::Corrupt(_))));
    // Capacity limits.
    assert!(matches!(Ring::in_heap(100), Err(RingError::Capacity(100))));
    assert!(matches!(Ring::in_heap(32), Err(RingError::Capacity(32))));
    assert!(RingLayout::new(MIN_CAPACITY).is_ok());
}

#[test]
fn descriptors_round_trip() {
    let ring = Ring::new(4096).unwrap();
    let d = ring.descriptor().unwrap();
    assert_eq!(d.offset, HEADER_SIZE as u64);
    let parsed: Descriptor = d.to_string().parse().unwrap();
    assert_eq!(parsed, d);
    assert!("memfd:1:2:3".parse::<Descriptor>().is_err());
    assert!("memfd:1:2:3@12".parse::<Descriptor>().is_err());
    let other = Ring::open(&parsed).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = other.consumer().unwrap();
    assert_eq!(tx.descriptor(), Some(d.clone()));
    assert_eq!(rx.descriptor(), Some(d));
    tx.try_send(b"via descriptor").unwrap();
    assert_eq!(&*rx.try_recv().unwrap(), b"via descriptor");
    assert!(Ring::in_heap(64).unwrap().producer().unwrap().descriptor().is_none());
}

/// A producer on a ring whose pages are not allocated yet (the pool's, a queue's) faults
/// them in 64 KiB ahead of its writes on its first lap, not one 4 KiB page per write
/// fault: 66 write faults in a fresh pool's first 5,448 tiny round trips, 10–14 with it.
#[test]
fn a_first_lap_producer_faults_in_pages_ahead_of_its_writes() {
    let cap = 256 << 10;
    let seg =
        zeroproc_shm::SegmentBuilder::new(Layout::new("spsc-ahead", 1), size_for(cap).unwrap())
            .reserve_later()
            .create()
            .unwrap();
    let seg = Arc::new(seg);
    // SAFETY: the segment is fresh and this region is used by nothing else.
    let ring = unsafe { Ring::init_in(seg.clone(), Offset::new(HEADER_SIZE as u64), cap) }.unwrap();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let held = || zeroproc_testkit::fd::allocated(seg.fd());
    let fresh = held();
    // Records up to the second page of the buffer: the first page faulted in as written,
    // then the next 64 KiB at once.
    let mut sent = 0u64;
    while sent < 5000 {
        tx.send(&[7u8; 48]).unwrap();
        assert_eq!(*rx.recv().unwrap(), [7u8; 48]);
        sent += 64;
    }
    let after = held();
    assert!(after >= fresh + (64 << 10), "{fresh} → {after} bytes held after 5,000 bytes written");
    assert!(after < fresh + (160 << 10), "{fresh} → {after}: only the next 64 KiB, not the ring");
}
