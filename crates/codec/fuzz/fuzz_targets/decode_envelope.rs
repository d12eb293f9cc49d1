//! Envelope decoding must never panic or misbehave, whatever the bytes: inline envelopes
//! (`decode`), either kind through `decode_any` with a small shared heap, and valid spilled
//! envelopes whose reference or heap archive the input mutates.
//!
//! Input: the first byte picks the mode, the rest is the record (modes 0, 1) or a list of
//! `(position, xor)` mutations (modes 2, 3).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rkyv::{Archive, Deserialize, Serialize};
use std::sync::OnceLock;
use zeroproc_codec::envelope::{decode, Header, HEADER_LEN};
use zeroproc_codec::payload::decode_any;
use zeroproc_codec::spill::{spill, write_spilled_envelope, BLOCK_PREFIX, SPILL_BODY_LEN};
use zeroproc_shm::heap::Heap;
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, HEADER_SIZE};

#[derive(Archive, Serialize, Deserialize)]
struct Job {
    id: u64,
    name: String,
    data: Vec<f64>,
    tags: Option<Vec<u32>>,
    parts: Vec<(u8, String)>,
}

fn sample() -> Job {
    Job {
        id: 42,
        name: "fuzz".into(),
        data: vec![1.0, 2.5, -3.0],
        tags: Some(vec![7, 8]),
        parts: vec![(1, "a".into()), (2, "bc".into())],
    }
}

const REGION: Offset<u8> = Offset::new(HEADER_SIZE as u64);
const HEAP_LEN: usize = 4 << 20;

fn heap() -> &'static Heap<'static> {
    static SEG: OnceLock<Segment> = OnceLock::new();
    static HEAP: OnceLock<Heap<'static>> = OnceLock::new();
    HEAP.get_or_init(|| {
        let seg = SEG.get_or_init(|| {
            SegmentBuilder::new(Layout::new("codec-fuzz", 1), HEAP_LEN)
                .create_with(|s| {
                    Heap::init_in(s, REGION, HEAP_LEN).unwrap();
                })
                .unwrap()
        });
        Heap::attach(seg, REGION).unwrap()
    })
}

/// Reads every part of an accepted value (validation promised it is all in bounds).
fn touch(j: &ArchivedJob) -> usize {
    let mut n = j.id.to_native() as usize + j.name.len() + j.data.iter().count();
    if let Some(t) = j.tags.as_ref() {
        n += t.iter().map(|x| x.to_native() as usize).sum::<usize>();
    }
    n + j.parts.iter().map(|p| p.0 as usize + p.1.len()).sum::<usize>()
}

/// `bytes` copied into a 16-byte aligned buffer.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut v = vec![0u128; bytes.len().div_ceil(16)];
    as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

fn as_bytes_mut(v: &mut [u128]) -> &mut [u8] {
    // SAFETY: u128 has no padding; every byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 16) }
}

/// Applies `(position u16, xor u8)` mutations to `target`.
fn mutate(target: &mut [u8], muts: &[u8]) {
    if target.is_empty() {
        return;
    }
    for m in muts.chunks_exact(3) {
        let pos = u16::from_le_bytes([m[0], m[1]]) as usize % target.len();
        target[pos] ^= m[2];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let heap = heap();
    match mode % 4 {
        0 => {
            let mut buf = aligned(rest);
            if let Ok((_, j)) = decode::<Job>(&as_bytes_mut(&mut buf)[..rest.len()]) {
                std::hint::black_box(touch(j));
            }
        }
        1 => {
            let mut buf = aligned(rest);
            let r = decode_any::<Job>(&as_bytes_mut(&mut buf)[..rest.len()], heap);
            if let Ok((_, j)) = &r {
                std::hint::black_box(touch(j));
            }
        }
        m => {
            let block = spill(heap, &sample(), 0).expect("the heap has room for one sample");
            let mut env = [0u128; 3];
            let len = write_spilled_envelope(as_bytes_mut(&mut env), Header::new(1, 2), &block);
            assert_eq!(len, HEADER_LEN + SPILL_BODY_LEN);
            if m == 2 {
                // Damage the archive in the heap block.
                let p = heap.ptr_len(block.offset, BLOCK_PREFIX + block.len).unwrap();
                // SAFETY: the block is live, unclaimed and used by nobody else.
                let archive = unsafe {
                    std::slice::from_raw_parts_mut(p.as_ptr().add(BLOCK_PREFIX), block.len)
                };
                mutate(archive, rest);
            } else {
                // Damage the envelope (header and heap reference).
                mutate(&mut as_bytes_mut(&mut env)[..len], rest);
            }
            let r = decode_any::<Job>(&as_bytes_mut(&mut env)[..len], heap);
            if let Ok((_, j)) = &r {
                std::hint::black_box(touch(j));
            }
            drop(r);
            // Whatever happened, the block is freed exactly once: by the decoder, or here
            // when the damaged envelope never claimed it (a second free is detected).
            let _ = heap.free(block.offset);
            assert_eq!(heap.stats().in_use_blocks(), 0, "a spilled block leaked");
        }
    }
});
