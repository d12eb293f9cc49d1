//! Cross-process failure cases with real processes: a producer SIGKILLed mid-stream (the
//! consumer gets everything published before the kill, then `Disconnected`, not a hang),
//! a consumer SIGKILLed while holding a record (the producer gets `Disconnected`; a new
//! consumer takes over and the held record is delivered again), and role claims refused
//! across processes while the holder lives.
#![cfg(not(loom))]

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_ring::spsc::*;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Layout, Offset, Segment, SegmentId, HEADER_SIZE};
use zeroproc_testkit as tk;

const CAP: usize = 1 << 16;
/// A segment with a ring at HEADER_SIZE and a progress counter right after it.
const KILL_LAYOUT: Layout = Layout::new("spsc-crash-test", 1).with_value(CAP as u64);

fn counter_offset() -> usize {
    HEADER_SIZE + size_for(CAP).unwrap()
}

fn counter(seg: &Segment) -> &AtomicU64 {
    let p = seg.resolve(Offset::<AtomicU64>::new(counter_offset() as u64), 1).unwrap();
    // SAFETY: in bounds and aligned (checked); zero-initialised shared memory is a valid
    // AtomicU64, only ever accessed atomically.
    unsafe { p.as_ref() }
}

fn payload_len(seq: u64) -> usize {
    (seq * 7919 % 300) as usize
}

fn write_payload(seq: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
}

fn check(seq: u64, data: &[u8]) {
    assert_eq!(data.len(), payload_len(seq), "record {seq} length");
    let ok = data.iter().enumerate().all(|(i, &b)| b == (seq as usize + i) as u8);
    assert!(ok, "record {seq} intact");
}

#[test]
fn zp_child() {
    tk::child_entry(|role, arg| match role {
        // Sends forever, counting published records in the side counter after each commit.
        "endless-producer" => {
            let seg =
                Arc::new(Segment::attach(&arg.parse::<SegmentId>().unwrap(), KILL_LAYOUT).unwrap());
            let ring = Ring::attach(seg.clone(), Offset::new(HEADER_SIZE as u64)).unwrap();
            let mut tx = ring.producer().unwrap();
            let published = counter(&seg);
            for seq in 0.. {
                let mut r = tx.reserve(payload_len(seq)).unwrap();
                write_payload(seq, &mut r);
                r.set_tag(seq);
                r.commit();
                // Release: pairs with the parent's Acquire load after the kill.
                published.store(seq + 1, Ordering::Release);
            }
        }
        // Takes one record, announces it, and holds it (and the consumer claim) forever.
        "holding-consumer" => {
            let d: Descriptor = arg.parse().unwrap();
            let ring = Ring::open(&d).unwrap();
            let mut rx = ring.consumer().unwrap();
            let g = rx.recv().unwrap();
            println!("holding {}", g.tag());
            use std::io::Write;
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        _ => panic!("unknown role {role}"),
    });
}

#[test]
fn producer_sigkilled_mid_stream() {
    for strategy in [WaitStrategy::default(), WaitStrategy::Sleep, WaitStrategy::Spin] {
        let seg = Arc::new(Segment::create(KILL_LAYOUT, size_for(CAP).unwrap() + 64).unwrap());
        // SAFETY: the segment is fresh; the ring region is used by nothing else.
        let ring =
            unsafe { Ring::init_in(seg.clone(), Offset::new(HEADER_SIZE as u64), CAP) }.unwrap();
        let mut rx = ring.consumer().unwrap().with_wait_strategy(strategy);
        let mut child = tk::spawn_role("zp_child", "endless-producer", &seg.id().to_string());
        let child_pid = child.id();
        // The killer strikes at an arbitrary moment after 50,000 records were published,
        // while we keep consuming at full speed: the producer may be writing a record,
        // publishing, or waiting for space.
        let seg2 = seg.clone();
        let killer = std::thread::spawn(move || {
            while counter(&seg2).load(Ordering::Acquire) < 50_000 {
                std::thread::sleep(Duration::from_micros(200));
            }
            let jitter = Instant::now().elapsed().subsec_nanos() as u64 % 3000;
            std::thread::sleep(Duration::from_micros(jitter));
            tk::sigkill(&child);
            // Reap it at once: until then it is a zombie, which still counts as alive.
            child.wait().unwrap();
            Instant::now()
        });
        let mut next = 0u64;
        let mut checked_claim = false;
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(g) => {
                    assert_eq!(g.tag(), next, "in order, no loss or duplicate");
                    check(next, &g);
                    next += 1;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("after {next}: {e} (a dead producer must not hang us)"),
            }
            if next == 1000 && !checked_claim {
                checked_claim = true;
                // The producer is live and holds its claim.
                assert!(
                    matches!(ring.producer(), Err(RingError::Claimed { pid }) if pid == child_pid),
                    "a second producer is refused while the first lives"
                );
            }
        }
        let killed_at = killer.join().unwrap();
        let published = counter(&seg).load(Ordering::Acquire);
        let start = killed_at;
        let took = start.elapsed();
        // Everything published before the kill arrived: the counter is stored after each
        // commit, so at most one record was published but not counted.
        assert!(
            next == published || next == published + 1,
            "{strategy:?}: received {next}, producer had published {published}"
        );
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected), "sticky");
        eprintln!(
            "producer killed [{strategy:?}]: {next} records received ({published} counted \
             published), Disconnected {took:.2?} after the kill"
        );
    }
}

#[test]
fn consumer_sigkilled_while_holding_a_record() {
    let ring = Ring::new(4096).unwrap();
    let mut tx = ring.producer().unwrap();
    for seq in 0..10u64 {
        let mut r = tx.reserve(payload_len(seq % 3)).unwrap();
        write_payload(seq % 3, &mut r);
        r.set_tag(seq);
        r.commit();
    }
    let desc = ring.descriptor().unwrap().to_string();
    let mut child = tk::spawn_role_piped("zp_child", "holding-consumer", &desc);
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = out.lines().map(|l| l.unwrap()).find(|l| l.starts_with("holding")).unwrap();
    assert_eq!(line, "holding 0");
    assert!(
        matches!(ring.consumer(), Err(RingError::Claimed { pid }) if pid == child.id()),
        "a second consumer is refused while the first lives"
    );
    // Fill the ring, so the next send has to wait for a consumer that will never come.
    while tx.try_send(&[7; 100]).is_ok() {}
    tk::sigkill(&child);
    child.wait().unwrap();
    let start = Instant::now();
    assert_eq!(
        tx.send_timeout(&[8; 100], Duration::from_secs(30)),
        Err(SendTimeoutError::Disconnected(&[8; 100][..])),
        "a dead consumer is detected, not waited for"
    );
    eprintln!("consumer killed: producer saw Disconnected after {:.2?}", start.elapsed());
    // A new consumer takes the dead one's place; the record it held (never released) is
    // delivered again, nothing is lost.
    let mut rx = ring.consumer().unwrap();
    for seq in 0..10u64 {
        let g = rx.try_recv().unwrap();
        assert_eq!(g.tag(), seq);
        check(seq % 3, &g);
    }
    while let Ok(g) = rx.try_recv() {
        assert_eq!(&*g, &[7; 100]);
    }
}
