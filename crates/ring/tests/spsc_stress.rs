//! Cross-process stress: a producer process sends varied-size records (0..=512 bytes from
//! a deterministic PRNG), each carrying its sequence number (tag) and a checksum of its
//! payload (kind); the consumer process verifies there is no loss, duplicate, reorder or
//! corruption. Busy-poll mode: 10,000,000 records; sleeping mode: 1,000,000.
//! `ZP_SPSC_STRESS_SCALE=N` multiplies both counts.
#![cfg(not(loom))]

use std::time::{Duration, Instant};
use zeroproc_ring::spsc::{Descriptor, Producer, RecvError, Ring, TryRecvError, MAX_KIND};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_testkit as tk;

const MAX_LEN: u64 = 512;

#[test]
fn zp_child() {
    tk::child_entry(|role, arg| match role {
        "producer" => {
            let mut it = arg.split('|');
            let d: Descriptor = it.next().unwrap().parse().unwrap();
            let strategy = strategy(it.next().unwrap());
            let count: u64 = it.next().unwrap().parse().unwrap();
            let ring = Ring::open(&d).unwrap();
            let mut tx = ring.producer().unwrap().with_wait_strategy(strategy);
            produce(&mut tx, count);
            // Dropping the producer publishes what is staged and closes our side.
        }
        _ => panic!("unknown role {role}"),
    });
}

fn strategy(mode: &str) -> WaitStrategy {
    match mode {
        "spin" => WaitStrategy::Spin,
        "sleep" => WaitStrategy::Sleep,
        _ => panic!("mode {mode}"),
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Payload length of record `seq`: 0..=512.
fn len_of(seq: u64) -> usize {
    (splitmix(seq) % (MAX_LEN + 1)) as usize
}

/// Fills the payload of record `seq` with PRNG bytes.
fn fill(seq: u64, buf: &mut [u8]) {
    let mut s = splitmix(seq ^ 0x5555_5555_5555_5555) | 1;
    for c in buf.chunks_mut(8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        c.copy_from_slice(&s.to_le_bytes()[..c.len()]);
    }
}

/// 24-bit checksum of a payload (carried in the record kind).
fn checksum(b: &[u8]) -> u32 {
    let mut h = 0xCBF2_9CE4_8422_2325u64 ^ b.len() as u64;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x100_0000_01B3);
        h = h.rotate_left(29);
    }
    for &x in words.remainder() {
        h = (h ^ x as u64).wrapping_mul(0x100_0000_01B3);
    }
    ((h >> 40) ^ h) as u32 & MAX_KIND
}

fn produce(tx: &mut Producer, count: u64) {
    for seq in 0..count {
        let mut r = tx.reserve(len_of(seq)).expect("reserve");
        fill(seq, &mut r);
        let sum = checksum(&r);
        r.set_kind(sum);
        r.set_tag(seq);
        // Random batch boundaries: on average 4 records per publish.
        if splitmix(seq ^ 0xABCD) % 4 == 0 {
            r.commit();
        } else {
            r.stage();
        }
    }
}

/// Verifies one record; `next` is the sequence number expected.
fn verify(next: &mut u64, tag: u64, kind: u32, data: &[u8]) {
    assert_eq!(tag, *next, "loss, duplicate or reorder");
    assert_eq!(data.len(), len_of(tag), "record {tag}: wrong length");
    assert_eq!(kind, checksum(data), "record {tag}: payload corrupted");
    assert_eq!(data.as_ptr() as usize % 16, 0);
    *next += 1;
}

fn scale() -> u64 {
    std::env::var("ZP_SPSC_STRESS_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Runs a producer child and consumes in this process; returns records received.
fn run(mode: &str, capacity: usize, count: u64) -> u64 {
    let ring = Ring::new(capacity).unwrap();
    let mut rx = ring.consumer().unwrap().with_wait_strategy(strategy(mode));
    let arg = format!("{}|{mode}|{count}", ring.descriptor().unwrap());
    let start = Instant::now();
    let mut child = tk::spawn_role("zp_child", "producer", &arg);
    let mut next = 0u64;
    let mut batches = 0u64;
    loop {
        // Alternate between batched drains and single blocking receives.
        if (next / 4096) % 2 == 1 {
            match rx.drain(64, |r| verify(&mut next, r.tag(), r.kind(), &r)) {
                Ok(_) => {
                    batches += 1;
                    continue;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
                Err(e) => panic!("after {next}: {e}"),
            }
        }
        match rx.recv() {
            Ok(g) => {
                let (tag, kind) = (g.tag(), g.kind());
                verify(&mut next, tag, kind, &g);
            }
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("after {next}: {e}"),
        }
    }
    let elapsed = start.elapsed();
    let st = tk::wait_timeout(&mut child, Duration::from_secs(60));
    assert!(st.success(), "producer child failed: {st:?}");
    assert_eq!(next, count, "every record arrived");
    eprintln!(
        "spsc stress [{mode}, capacity {capacity}]: {count} records verified in {:.2?} \
         ({:.1} M records/s, {batches} drain batches)",
        elapsed,
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
    next
}

#[test]
fn ten_million_records_busy_poll() {
    run("spin", 1 << 20, 10_000_000 * scale());
}

#[test]
fn one_million_records_sleeping() {
    run("sleep", 1 << 16, 1_000_000 * scale());
}
