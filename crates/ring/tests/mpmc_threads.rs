//! In-process tests of the MPMC ring (`zeroproc_ring::mpmc::Ring`) with threads: exactly
//! once delivery under contention, full/empty/close, timeouts, `TooLarge`, wake-ups,
//! attach validation, and corrupted shared memory (an error, never out-of-bounds).
#![cfg(not(loom))]

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use zeroproc_ring::mpmc::*;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};

/// A record: producer id, sequence number, a checksum of both, and `extra` filler bytes.
fn encode(p: u32, seq: u64, extra: usize, buf: &mut [u8]) {
    buf[..4].copy_from_slice(&p.to_le_bytes());
    buf[4..12].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in buf[20..20 + extra].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8).wrapping_mul(31) ^ p as u8;
    }
    let sum = checksum(&buf[..12], &buf[20..20 + extra]);
    buf[12..20].copy_from_slice(&sum.to_le_bytes());
}

fn decode(buf: &[u8]) -> (u32, u64) {
    assert!(buf.len() >= 20, "short record: {} bytes", buf.len());
    let p = u32::from_le_bytes(buf[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(buf[4..12].try_into().unwrap());
    let sum = u64::from_le_bytes(buf[12..20].try_into().unwrap());
    assert_eq!(sum, checksum(&buf[..12], &buf[20..]), "checksum of record ({p}, {seq})");
    (p, seq)
}

fn checksum(head: &[u8], tail: &[u8]) -> u64 {
    // FNV-1a.
    head.iter()
        .chain(tail)
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn records_per_producer() -> u64 {
    if cfg!(debug_assertions) {
        20_000
    } else {
        250_000
    }
}

#[test]
fn many_producers_many_consumers_exactly_once() {
    const P: u32 = 4;
    const C: usize = 4;
    let n = records_per_producer();
    let ring = Ring::new(64, 64).unwrap();
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..P as u64 * n).map(|_| AtomicU8::new(0)).collect());
    let sum = Arc::new(AtomicU64::new(0));
    let strategies = [
        WaitStrategy::default(),
        WaitStrategy::Sleep,
        WaitStrategy::Spin,
        WaitStrategy::SpinThenSleep { spin: Duration::from_micros(5) },
    ];
    let consumers: Vec<_> = (0..C)
        .map(|c| {
            let r = ring.clone().with_wait_strategy(strategies[c % strategies.len()]);
            let (seen, sum) = (seen.clone(), sum.clone());
            thread::spawn(move || {
                let mut last = vec![None::<u64>; P as usize];
                let mut count = 0u64;
                loop {
                    match r.pop_with(decode) {
                        Ok((p, seq)) => {
                            let l = &mut last[p as usize];
                            assert!(l.is_none_or(|l| l < seq), "producer {p}: {seq} after {l:?}");
                            *l = Some(seq);
                            // Relaxed: a per-record counter, read after join.
                            seen[(p as u64 * n + seq) as usize].fetch_add(1, Ordering::Relaxed);
                            sum.fetch_add(seq, Ordering::Relaxed);
                            count += 1;
                        }
                        Err(PopError::Closed) => return count,
                        Err(e) => panic!("consumer {c}: {e}"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let r = ring.clone().with_wait_strategy(strategies[p as usize % strategies.len()]);
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                for seq in 0..n {
                    let extra = (seq % 45) as usize;
                    if seq % 2 == 0 {
                        r.push_with(20 + extra, |b| encode(p, seq, extra, b)).unwrap();
                    } else {
                        encode(p, seq, extra, &mut buf);
                        r.push(&buf[..20 + extra]).unwrap();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    ring.close();
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, P as u64 * n);
    let bad: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| c.load(Ordering::Relaxed) != 1)
        .map(|(i, c)| (i, c.load(Ordering::Relaxed)))
        .take(10)
        .collect();
    assert!(bad.is_empty(), "records not seen exactly once: {bad:?}");
    assert_eq!(sum.load(Ordering::Relaxed), P as u64 * (n * (n - 1) / 2));
    assert_eq!(ring.stats(), Stats::default());
    assert!(ring.is_empty());
}

#[test]
fn handles_are_clone_send_sync() {
    fn check<T: Clone + Send + Sync + std::fmt::Debug>() {}
    check::<Ring>();
    let ring = Ring::new(2, 16).unwrap();
    assert!(format!("{ring:?}").contains("capacity: 2"));
}

#[test]
fn full_empty_and_close() {
    let ring = Ring::new(4, 16).unwrap();
    assert!(ring.is_empty());
    assert_eq!(ring.try_pop(), Err(TryPopError::Empty));
    for i in 0..4u8 {
        ring.try_push([i]).unwrap();
    }
    assert!(ring.is_full());
    assert_eq!(ring.len(), 4);
    assert_eq!(ring.try_push(vec![9u8]), Err(TryPushError::Full(vec![9u8])));
    assert!(matches!(ring.try_push_with(1, |b| b[0] = 9), Err(TryPushError::Full(_))));
    assert_eq!(ring.try_pop().unwrap(), [0]);
    ring.try_push([4]).unwrap();
    ring.close();
    assert!(ring.is_closed());
    assert_eq!(ring.try_push([5]), Err(TryPushError::Closed([5])));
    assert_eq!(ring.push([5]), Err(PushError::Closed([5])));
    assert_eq!(ring.push_timeout([5], Duration::from_secs(5)), Err(PushTimeoutError::Closed([5])));
    // Consumers drain, then see Closed.
    for i in 1..5u8 {
        assert_eq!(ring.pop().unwrap(), [i]);
    }
    assert_eq!(ring.try_pop(), Err(TryPopError::Closed));
    assert_eq!(ring.pop(), Err(PopError::Closed));
    assert_eq!(ring.pop_timeout(Duration::from_secs(5)), Err(PopTimeoutError::Closed));
}

#[test]
fn close_wakes_blocked_producers_and_consumers() {
    let empty = Ring::new(2, 16).unwrap().with_wait_strategy(WaitStrategy::Sleep);
    let full = Ring::new(1, 16).unwrap().with_wait_strategy(WaitStrategy::Sleep);
    full.try_push([0]).unwrap();
    let (e2, f2) = (empty.clone(), full.clone());
    let c = thread::spawn(move || e2.pop());
    let p = thread::spawn(move || f2.push([1]));
    thread::sleep(Duration::from_millis(30));
    empty.close();
    full.close();
    assert_eq!(c.join().unwrap(), Err(PopError::Closed));
    assert_eq!(p.join().unwrap(), Err(PushError::Closed([1])));
    assert_eq!(full.try_pop().unwrap(), [0], "what was pushed before close is drained");
}

#[test]
fn timeouts_hand_the_item_back() {
    let ring = Ring::new(1, 16).unwrap();
    let t = Instant::now();
    assert_eq!(ring.pop_timeout(Duration::from_millis(20)), Err(PopTimeoutError::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(20));
    ring.push(b"a").unwrap();
    let t = Instant::now();
    let r = ring.push_deadline(b"b", t + Duration::from_millis(20));
    assert_eq!(r, Err(PushTimeoutError::Timeout(b"b")));
    assert!(t.elapsed() >= Duration::from_millis(20));
    let r = ring.push_with_deadline(1, Some(Instant::now()), |b| b[0] = 1);
    assert!(matches!(r, Err(PushTimeoutError::Timeout(_))));
    // A deadline in the past still polls once.
    assert_eq!(ring.pop_deadline(Instant::now() - Duration::from_secs(1)).unwrap(), b"a");
    let r = ring.pop_with_deadline(Some(Instant::now()), |b| b.len());
    assert_eq!(r, Err(PopTimeoutError::Timeout));
}

#[test]
fn too_large_hands_the_payload_back() {
    let ring = Ring::new(4, 60).unwrap();
    assert_eq!(ring.slot_size(), 64);
    let big = vec![7u8; 65];
    assert_eq!(ring.try_push(big.clone()), Err(TryPushError::TooLarge(big.clone())));
    assert_eq!(ring.push(big.clone()), Err(PushError::TooLarge(big.clone())));
    assert_eq!(ring.push_timeout(&big, Duration::ZERO), Err(PushTimeoutError::TooLarge(&big)));
    let called = std::cell::Cell::new(false);
    let r = ring.try_push_with(65, |_| called.set(true));
    assert!(matches!(r, Err(TryPushError::TooLarge(_))));
    assert!(matches!(ring.push_with(1 << 20, |_| called.set(true)), Err(PushError::TooLarge(_))));
    assert!(!called.get(), "the closure is handed back, not called");
    ring.try_push(&big[..64]).unwrap();
    assert_eq!(ring.try_pop().unwrap(), &big[..64]);
    ring.try_push([0u8; 0]).unwrap();
    assert_eq!(ring.try_pop().unwrap(), b"", "empty records are records");
}

#[test]
fn sleeping_ping_pong_loses_no_wakeup() {
    let n = if cfg!(debug_assertions) { 2_000 } else { 20_000 };
    let ping = Ring::new(1, 16).unwrap().with_wait_strategy(WaitStrategy::Sleep);
    let pong = Ring::new(1, 16).unwrap().with_wait_strategy(WaitStrategy::Sleep);
    let (ping2, pong2) = (ping.clone(), pong.clone());
    let echo = thread::spawn(move || {
        while let Ok(v) = ping2.pop() {
            pong2.push(v).unwrap();
        }
    });
    for i in 0..n as u64 {
        ping.push(i.to_le_bytes()).unwrap();
        let v = pong.pop_with(|b| u64::from_le_bytes(b.try_into().unwrap())).unwrap();
        assert_eq!(v, i);
    }
    ping.close();
    echo.join().unwrap();
}

#[test]
fn panicking_closures_leave_the_ring_usable() {
    let ring = Ring::new(2, 16).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| ring.push_with(4, |_| panic!("writer dies"))));
    assert!(r.is_err());
    ring.push(b"after").unwrap();
    assert_eq!(ring.pop().unwrap(), b"after", "the aborted slot was skipped");
    ring.push(b"dropped").unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| ring.pop_with(|_| -> () { panic!("reader dies") })));
    assert!(r.is_err());
    assert_eq!(ring.try_pop(), Err(TryPopError::Empty));
    for i in 0..5u8 {
        ring.push([i]).unwrap();
        assert_eq!(ring.pop().unwrap(), [i]);
    }
    assert_eq!(ring.stats().tombstones_skipped, 1);
}

/// The state or length word of slot `index`, for corrupting it.
fn word(ring: &Ring, index: usize, len: bool) -> &AtomicU64 {
    let (state, len_off) = ring.slot_word_offsets(index);
    let off = if len { len_off } else { state };
    let p = ring.segment().resolve(Offset::<AtomicU64>::new(off), 1).unwrap();
    // SAFETY: in bounds and aligned (checked by `resolve`); the words are atomics.
    unsafe { p.as_ref() }
}

#[test]
fn corrupted_length_is_an_error_not_an_overrun() {
    let ring = Ring::new(4, 32).unwrap();
    for (k, bogus) in [33, 1 << 40, u64::MAX].into_iter().enumerate() {
        ring.push(b"first").unwrap();
        ring.push(b"second").unwrap();
        let index = (2 * k) % 4; // the slot of "first"
        word(&ring, index, true).store(bogus, Ordering::Relaxed);
        let r = ring.try_pop();
        assert_eq!(r, Err(TryPopError::Corrupt(CorruptError::Len { index, len: bogus })));
        assert_eq!(ring.try_pop().unwrap(), b"second");
    }
    assert_eq!(ring.stats().corrupt_slots, 3);
}

#[test]
fn corrupted_state_words_are_reported_and_skipped() {
    let ring = Ring::new(4, 32).unwrap();
    // Misaligned seq, invalid aux, many laps off: each detectable kind of garbage.
    let garbage = [0xdead_beef_dead_beef_u64, 0x5 << 24 | 2 << 22 | 77, 0x40 << 24];
    for (k, &g) in garbage.iter().enumerate() {
        ring.push(b"a").unwrap();
        ring.push(b"b").unwrap();
        // Corrupt the slot of the record "a" (the head).
        let head_index = (k * 2) % 4;
        word(&ring, head_index, false).store(g, Ordering::Relaxed);
        match ring.pop() {
            Err(PopError::Corrupt(CorruptError::State { index, word })) => {
                assert_eq!((index, word), (head_index, g));
            }
            r => panic!("garbage {g:#x}: expected a corruption error, got {r:?}"),
        }
        assert_eq!(ring.pop().unwrap(), b"b", "the ring continues after the bad slot");
    }
    // Several laps later everything still works (the slots were reset).
    for i in 0..12u8 {
        ring.push([i]).unwrap();
        assert_eq!(ring.pop().unwrap(), [i]);
    }
    assert_eq!(ring.stats().corrupt_slots, 3);
}

#[test]
fn random_garbage_never_panics_or_hangs() {
    let ring = Ring::new(8, 16).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200 {
        for i in 0..8 {
            if rnd() % 3 == 0 {
                word(&ring, i, false).store(rnd(), Ordering::Relaxed);
            }
            if rnd() % 3 == 0 {
                word(&ring, i, true).store(rnd() % 64, Ordering::Relaxed);
            }
        }
        for _ in 0..4 {
            let _ = ring.try_push(b"x");
            if let Ok(n) = ring.try_pop_with(|b| b.len()) {
                assert!(n <= ring.slot_size());
            }
        }
    }
}

#[test]
fn rings_in_a_shared_segment_and_attach_validation() {
    let need = Ring::required_size(8, 64).unwrap();
    let seg = Arc::new(Segment::create(Layout::new("mpmc-test", 1), 2 * need + 4096).unwrap());
    let a_off = Offset::new(HEADER_SIZE as u64);
    let b_off = Offset::new((HEADER_SIZE + need) as u64);
    // SAFETY: the two regions do not overlap and nothing else uses the segment.
    let a = unsafe { Ring::create_in(seg.clone(), a_off, 8, 64) }.unwrap();
    // SAFETY: as above.
    let b = unsafe { Ring::create_in(seg.clone(), b_off, 8, 64) }.unwrap();
    a.push(b"to a").unwrap();
    b.push(b"to b").unwrap();
    let a2 = Ring::attach(seg.clone(), a_off).unwrap();
    assert_eq!(a2.pop().unwrap(), b"to a");
    assert_eq!(Ring::attach(seg.clone(), b_off).unwrap().pop().unwrap(), b"to b");

    // Creation errors.
    // SAFETY: the call fails its checks before writing anything.
    let e = unsafe { Ring::create_in(seg.clone(), Offset::new(HEADER_SIZE as u64 + 8), 8, 64) };
    assert!(matches!(e, Err(CreateError::BadOffset(_))));
    // SAFETY: the call fails its checks before writing anything.
    let e = unsafe { Ring::create_in(seg.clone(), Offset::new(0), 8, 64) };
    assert!(matches!(e, Err(CreateError::BadOffset(0))), "never over the segment header");
    // SAFETY: the call fails its checks before writing anything.
    let e = unsafe { Ring::create_in(seg.clone(), b_off, 1 << 20, 64) };
    assert!(matches!(e, Err(CreateError::TooSmall { .. })));
    // SAFETY: the call fails its checks before writing anything.
    let e = unsafe { Ring::create_in(seg.clone(), b_off, 6, 64) };
    assert!(matches!(e, Err(CreateError::BadCapacity(6))));
    // SAFETY: the call fails its checks before writing anything.
    let e = unsafe { Ring::create_in(seg.clone(), b_off, 8, 0) };
    assert!(matches!(e, Err(CreateError::BadSlotSize(0))));

    // Attach errors.
    let misaligned = Offset::new(HEADER_SIZE as u64 + 64);
    assert!(matches!(Ring::attach(seg.clone(), misaligned), Err(AttachError::Offset(_))));
    let past_end = Offset::new(seg.len() as u64);
    assert!(matches!(Ring::attach(seg.clone(), past_end), Err(AttachError::Offset(_))));
    let nothing = Offset::new((HEADER_SIZE + 2 * need) as u64 / 128 * 128 + 128);
    assert!(matches!(Ring::attach(seg.clone(), nothing), Err(AttachError::NotInitialized)));
    // The segment header is not a ring.
    assert!(matches!(Ring::attach(seg.clone(), Offset::new(0)), Err(AttachError::BadMagic(_))));
    // Forged control words: version, then geometry, then a capacity the segment cannot hold.
    // Control starts with magic: u64, version: u32, closed: u32, capacity: u64.
    let version = seg.resolve(Offset::<AtomicU32>::new(b_off.get() + 8), 1).unwrap();
    let capacity = seg.resolve(Offset::<AtomicU64>::new(b_off.get() + 16), 1).unwrap();
    // SAFETY: in bounds and aligned (checked by `resolve`); the control words are atomics.
    let (version, capacity) = unsafe { (version.as_ref(), capacity.as_ref()) };
    assert_eq!(capacity.load(Ordering::Relaxed), 8);
    version.store(RING_VERSION + 1, Ordering::Relaxed);
    let r = Ring::attach(seg.clone(), b_off);
    assert!(
        matches!(r, Err(AttachError::Version { found, expected })
            if found == RING_VERSION + 1 && expected == RING_VERSION),
        "{r:?}"
    );
    version.store(RING_VERSION, Ordering::Relaxed);
    capacity.store(7, Ordering::Relaxed);
    assert!(matches!(Ring::attach(seg.clone(), b_off), Err(AttachError::BadGeometry { .. })));
    capacity.store(1 << 20, Ordering::Relaxed);
    assert!(matches!(Ring::attach(seg.clone(), b_off), Err(AttachError::TooSmall { .. })));
    capacity.store(8, Ordering::Relaxed);
    assert!(Ring::attach(seg.clone(), b_off).is_ok());
}

#[test]
fn descriptors_round_trip_and_reject_garbage() {
    let ring = Ring::new(16, 128).unwrap();
    let d = ring.descriptor();
    let text = d.to_string();
    let parsed: Descriptor = text.parse().unwrap();
    assert_eq!(parsed, d);
    let other = Ring::open(&parsed).unwrap();
    other.push(b"hello").unwrap();
    assert_eq!(ring.pop().unwrap(), b"hello");
    for bad in ["", "mpmc:", "mpmc:12", "mpmc:x@memfd:1:2:3", "spsc:256@memfd:1:2:3", "mpmc:1@nope"]
    {
        assert!(bad.parse::<Descriptor>().is_err(), "{bad:?} parsed");
    }
    // A descriptor whose segment exists but whose offset holds no ring.
    let wrong = Descriptor { offset: d.offset + 128 * 64, ..d.clone() };
    assert!(Ring::open(&wrong).is_err());
    let mut seen = HashSet::new();
    assert!(seen.insert(text), "descriptor is printable");
}

/// Bytes of memory a segment's file holds.
fn allocated(seg: &Segment) -> u64 {
    zeroproc_testkit::fd::allocated(seg.fd())
}

#[test]
fn a_new_ring_holds_memory_only_for_the_slots_values_reached() {
    // 1,024 slots of 1 KiB: creating it wrote every slot's state word (1 MiB faulted in).
    let ring = Ring::new(1024, 1008).unwrap();
    let fresh = allocated(ring.segment());
    assert!(fresh <= 2 * 4096, "{fresh} bytes allocated by a ring nothing was pushed to");
    for lap in 0..3u32 {
        for i in 0..1024u32 {
            ring.try_push((lap * 1024 + i).to_le_bytes()).unwrap();
        }
        for i in 0..1024u32 {
            assert_eq!(ring.try_pop().unwrap(), (lap * 1024 + i).to_le_bytes());
        }
    }
    assert_eq!(ring.try_pop(), Err(TryPopError::Empty));
    assert!(allocated(ring.segment()) > 1 << 20, "every slot was used");
}

#[test]
fn a_ring_created_over_used_memory_starts_empty() {
    let need = Ring::required_size(8, 64).unwrap();
    let seg = Arc::new(Segment::create(Layout::new("ring-over-garbage", 1), need).unwrap());
    // SAFETY: the data region is ours alone, `need` bytes long.
    unsafe { seg.data().write_bytes(0xa5, need) };
    let at = Offset::new(HEADER_SIZE as u64);
    // SAFETY: nothing else uses this segment.
    let ring = unsafe { Ring::create_in(seg, at, 8, 64) }.unwrap();
    assert_eq!(ring.try_pop(), Err(TryPopError::Empty));
    for i in 0..20u8 {
        ring.try_push([i]).unwrap();
        assert_eq!(ring.try_pop().unwrap(), [i]);
    }
    assert_eq!(ring.stats().corrupt_slots, 0);
}
