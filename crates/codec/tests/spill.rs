//! Spilling to the shared heap: a 64 MiB value through a 64 KiB ring (in one process and
//! between two), every block freed exactly once, and malformed spilled envelopes refused.

use rkyv::{Archive, Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use zeroproc_codec::envelope::{
    decode, encode_into, DecodeError, Header, FLAG_SPILLED, HEADER_LEN,
};
use zeroproc_codec::payload::{decode_any, decode_spilled, discard, Payload};
use zeroproc_codec::spill::{send_any, spill, write_spilled_envelope, Sent, SPILL_BODY_LEN};
use zeroproc_ring::spsc::{Descriptor, Ring};
use zeroproc_shm::heap::Heap;
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};
use zeroproc_testkit as tk;

const HEAP_LAYOUT: Layout = Layout::new("codec-spill-test", 1);
const REGION: Offset<u8> = Offset::new(HEADER_SIZE as u64);
const BIG: usize = 8 << 20; // 8 Mi f64 = 64 MiB
const RING: usize = 64 << 10;

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
struct Msg {
    id: u64,
    data: Vec<f64>,
}

fn msg(id: u64, n: usize) -> Msg {
    Msg { id, data: (0..n).map(|i| i as f64 * 0.5 + id as f64).collect() }
}

fn heap_segment(len: usize) -> Segment {
    SegmentBuilder::new(HEAP_LAYOUT, len)
        .create_with(|seg| {
            Heap::init_in(seg, REGION, len).unwrap();
        })
        .unwrap()
}

/// Whether a `Msg` of `n` elements is larger than a quarter of the largest record.
fn spills(n: usize) -> bool {
    n * 8 > (RING / 2 - 16) / 4
}

/// Sizes sent in order: small (inline), 64 MiB (spilled), medium (spilled), small.
const SIZES: [usize; 5] = [3, BIG, 100, 20_000, 0];

fn produce(tx: &mut zeroproc_ring::spsc::Producer, heap: &Heap<'_>) {
    for (i, &n) in SIZES.iter().enumerate() {
        let sent = send_any(tx, heap, Header::new(i as u64, 9), &msg(i as u64, n)).unwrap();
        assert_eq!(matches!(sent, Sent::Spilled { .. }), spills(n), "size {n}");
    }
}

fn consume(rx: &mut zeroproc_ring::spsc::Consumer, heap: &Heap<'_>) {
    for (i, &n) in SIZES.iter().enumerate() {
        let rec = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let (h, p) = decode_any::<Msg>(&rec, heap).unwrap();
        assert_eq!((h.job_id, h.fn_id, h.flags), (i as u64, 9, 0));
        assert_eq!(p.is_spilled(), spills(n), "size {n}");
        assert_eq!(p.id, i as u64);
        assert_eq!(p.data.len(), n);
        let want = msg(i as u64, n);
        assert!(p.data.iter().zip(&want.data).all(|(a, b)| a.to_native() == *b));
    }
}

#[test]
fn sixty_four_mib_through_a_64_kib_ring_between_threads() {
    let seg = heap_segment(256 << 20);
    let heap = Heap::attach(&seg, REGION).unwrap();
    let ring = Ring::new(RING).unwrap();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    std::thread::scope(|s| {
        s.spawn(|| produce(&mut tx, &heap));
        consume(&mut rx, &heap);
    });
    heap.check().unwrap();
    assert_eq!(heap.stats().in_use_blocks(), 0, "every spilled block freed once");
}

#[test]
fn zp_spill_child() {
    tk::child_entry(|role, arg| {
        let (heap_id, ring) = arg.split_once(' ').unwrap();
        let id: SegmentId = heap_id.parse().unwrap();
        let seg = Segment::attach(&id, HEAP_LAYOUT).unwrap();
        let heap = Heap::attach(&seg, REGION).unwrap();
        let d: Descriptor = ring.parse().unwrap();
        let ring = Ring::open(&d).unwrap();
        match role {
            "producer" => produce(&mut ring.producer().unwrap(), &heap),
            "consumer" => consume(&mut ring.consumer().unwrap(), &heap),
            _ => panic!("unknown role {role}"),
        }
    });
}

fn across_processes(child_role: &str) {
    let seg = Arc::new(heap_segment(256 << 20));
    let heap = Heap::attach(&seg, REGION).unwrap();
    let ring = Ring::new(RING).unwrap();
    let arg = format!("{} {}", seg.id(), ring.descriptor().unwrap());
    let mut child = tk::spawn_role("zp_spill_child", child_role, &arg);
    if child_role == "producer" {
        consume(&mut ring.consumer().unwrap(), &heap);
    } else {
        produce(&mut ring.producer().unwrap(), &heap);
    }
    let st = tk::wait_timeout(&mut child, Duration::from_secs(120));
    assert!(st.success(), "child {child_role}: {st:?}");
    heap.check().unwrap();
    assert_eq!(heap.stats().in_use_blocks(), 0, "blocks freed by the other process");
}

#[test]
fn sixty_four_mib_from_a_child_process() {
    across_processes("producer");
}

#[test]
fn sixty_four_mib_to_a_child_process() {
    across_processes("consumer");
}

/// A 16-byte aligned buffer holding `bytes`.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut v = vec![0u128; bytes.len().div_ceil(16)];
    // SAFETY: u128 has no padding and any bits are valid; the length fits.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), bytes.len()) }
        .copy_from_slice(bytes);
    v
}

fn as_bytes(v: &[u128], len: usize) -> &[u8] {
    // SAFETY: as above, `len <= 16 * v.len()`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), len) }
}

/// A spilled envelope for `value`, as bytes.
fn spilled_envelope(heap: &Heap<'_>, value: &Msg) -> Vec<u8> {
    let b = spill(heap, value, 0).unwrap();
    let mut buf = vec![0u8; HEADER_LEN + SPILL_BODY_LEN];
    write_spilled_envelope(&mut buf, Header::new(5, 6), &b);
    buf
}

#[test]
fn each_spilled_block_is_read_and_freed_exactly_once() {
    let seg = heap_segment(8 << 20);
    let heap = Heap::attach(&seg, REGION).unwrap();
    let env = aligned(&spilled_envelope(&heap, &msg(1, 1000)));
    let bytes = as_bytes(&env, HEADER_LEN + SPILL_BODY_LEN);
    assert!(matches!(decode::<Msg>(bytes), Err(DecodeError::Spilled)));
    {
        let (h, p) = decode_any::<Msg>(bytes, &heap).unwrap();
        assert_eq!((h.job_id, h.fn_id, h.flags & FLAG_SPILLED), (5, 6, 0));
        assert!(matches!(p, Payload::Spilled(_)));
        // A second decode of the same record while the first view lives: refused.
        assert!(matches!(decode_any::<Msg>(bytes, &heap), Err(DecodeError::Claimed)));
        assert_eq!(heap.stats().in_use_blocks(), 1);
    }
    assert_eq!(heap.stats().in_use_blocks(), 0);
    // After the free, and after the block is reused by another spill: still refused.
    let env2 = aligned(&spilled_envelope(&heap, &msg(2, 1000)));
    assert!(matches!(decode_any::<Msg>(bytes, &heap), Err(DecodeError::Claimed)));
    assert!(matches!(discard(bytes, &heap), Err(DecodeError::Claimed)));
    let bytes2 = as_bytes(&env2, HEADER_LEN + SPILL_BODY_LEN);
    // Handing over: the block survives the view and is freed by its new owner.
    let (_, g) = decode_spilled::<Msg>(bytes2, &heap).unwrap();
    assert_eq!(g.id, 2);
    let block = g.into_block();
    assert_eq!(heap.stats().in_use_blocks(), 1);
    block.free(&heap).unwrap();
    assert_eq!(heap.stats().in_use_blocks(), 0);
    // Inline records are not spilled.
    let mut buf = vec![0u128; 64];
    let n = {
        // SAFETY: as in `aligned`.
        let b = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), 1024) };
        encode_into(b, Header::new(1, 1), &msg(3, 3)).unwrap()
    };
    let inline = as_bytes(&buf, n);
    assert!(matches!(decode_spilled::<Msg>(inline, &heap), Err(DecodeError::NotSpilled)));
    assert_eq!(discard(inline, &heap).unwrap().job_id, 1);
    heap.check().unwrap();
}

#[test]
fn a_block_that_fails_validation_is_freed_and_reported() {
    let seg = heap_segment(8 << 20);
    let heap = Heap::attach(&seg, REGION).unwrap();
    let b = spill(&heap, &msg(1, 100), 0).unwrap();
    // Corrupt the archive's root (the last 16 bytes: id, and the Vec's relative pointer and
    // length): the pointer goes out of bounds.
    let p = heap.ptr_len(b.offset, 16 + b.len).unwrap();
    // SAFETY: the block is live and unclaimed; nobody else uses this heap.
    unsafe { p.as_ptr().add(16 + b.len - 16).write_bytes(0xff, 16) };
    let mut env = vec![0u8; 48];
    write_spilled_envelope(&mut env, Header::new(1, 1), &b);
    let env = aligned(&env);
    let r = decode_any::<Msg>(as_bytes(&env, 48), &heap);
    assert!(matches!(r, Err(DecodeError::Invalid(_))), "{r:?}");
    // What a user reads (JobError::Decode): not rancor's advice to rebuild it with
    // features (new-user finding), but what failed.
    // (A debug build's rancor keeps its own message, which names the overrun.)
    let msg = r.unwrap_err().to_string();
    let names_it = msg.contains("do not validate") || msg.contains("overran");
    assert!(names_it && !msg.contains("rancor"), "{msg}");
    assert_eq!(heap.stats().in_use_blocks(), 0, "claimed, invalid, freed");
    heap.check().unwrap();
}

#[test]
fn bad_offsets_and_lengths_are_errors() {
    let seg = heap_segment(8 << 20);
    let heap = Heap::attach(&seg, REGION).unwrap();
    let good = spill(&heap, &msg(1, 100), 0).unwrap();
    let live_other = heap.alloc(4096, 16).unwrap(); // a live block that is not a spill
    let region_end = REGION.get() + heap.region_len();
    let mut cases: Vec<(u64, u64, u64)> = vec![
        (0, 10, good.nonce),
        (u64::MAX, 10, good.nonce),
        (u64::MAX - 15, 10, good.nonce),
        (region_end, 10, good.nonce),
        (region_end - 16, 10, good.nonce),
        (good.offset.get() + 16, 10, good.nonce),
        (good.offset.get() + 1, 10, good.nonce),
        (good.offset.get(), u64::MAX, good.nonce),
        (good.offset.get(), u64::MAX - 15, good.nonce),
        (good.offset.get(), 1 << 40, good.nonce),
        (good.offset.get(), good.len as u64, 0),
        (good.offset.get(), good.len as u64, good.nonce ^ 1),
        (live_other.get(), 100, good.nonce),
    ];
    let mut s = 0x1234_5678_9abc_def1u64;
    for _ in 0..5000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let off = REGION.get() + s % (heap.region_len() + 64);
        cases.push((off & !15, s >> 40, s.rotate_left(7)));
    }
    for (off, len, nonce) in cases {
        let mut env = vec![0u8; 48];
        env[0..2].copy_from_slice(&zeroproc_codec::envelope::MAGIC.to_le_bytes());
        env[2] = zeroproc_codec::envelope::VERSION;
        env[3] = FLAG_SPILLED;
        env[16..24].copy_from_slice(&off.to_le_bytes());
        env[24..32].copy_from_slice(&len.to_le_bytes());
        env[32..40].copy_from_slice(&nonce.to_le_bytes());
        let env = aligned(&env);
        let r = decode_any::<Msg>(as_bytes(&env, 48), &heap);
        assert!(r.is_err(), "offset {off:#x} len {len} decoded");
        // Wrong body length.
        assert!(matches!(
            decode_any::<Msg>(as_bytes(&env, 40), &heap),
            Err(DecodeError::BadSpill(_))
        ));
    }
    // The good block is untouched by all of that and still decodes.
    let mut env = vec![0u8; 48];
    write_spilled_envelope(&mut env, Header::new(1, 1), &good);
    let env = aligned(&env);
    assert_eq!(decode_any::<Msg>(as_bytes(&env, 48), &heap).unwrap().1.id, 1);
    heap.free(live_other).unwrap();
    heap.check().unwrap();
    assert_eq!(heap.stats().in_use_blocks(), 0);
}

#[test]
fn heap_exhaustion_is_an_error_and_leaks_nothing() {
    let seg = heap_segment(1 << 20);
    let heap = Heap::attach(&seg, REGION).unwrap();
    let (mut tx, _rx) = zeroproc_ring::spsc::channel(4096).unwrap();
    let r = send_any(&mut tx, &heap, Header::new(1, 1), &msg(1, 1 << 20));
    assert!(matches!(r, Err(zeroproc_codec::spill::SpillSendError::Spill(_))), "{r:?}");
    assert_eq!(heap.stats().in_use_blocks(), 0);
}
