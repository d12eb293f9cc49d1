//! Ring record parsing must never read or hand out anything outside the ring, panic or
//! loop forever, whatever another process wrote into shared memory.
//!
//! The first input byte picks the mode, the rest drives it:
//! * 0: an SPSC ring whose buffer, tail and head are raw input bytes;
//! * 1: an SPSC ring holding valid records (lengths from the input) that the rest of the
//!   input damages with `(position u16, xor u8)` mutations over header, indices and buffer;
//! * 2: an MPMC ring holding valid slots whose state/length words and payloads are
//!   damaged the same way.
//!
//! Every record or slot handed out must lie inside the buffer and respect the ring's
//! maximum; its bytes are all read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use zeroproc_ring::mpmc;
use zeroproc_ring::spsc::{self, size_for, DATA_OFFSET};
use zeroproc_shm::{Layout, Offset, Segment, SegmentBuilder, HEADER_SIZE};

const CAP: usize = 1024;
const SLOTS: usize = 8;
const SLOT: usize = 64;

fn segment() -> &'static Arc<Segment> {
    static SEG: OnceLock<Arc<Segment>> = OnceLock::new();
    SEG.get_or_init(|| {
        let len = size_for(CAP).unwrap() + mpmc::Ring::required_size(SLOTS, SLOT).unwrap() + 4096;
        Arc::new(SegmentBuilder::new(Layout::new("ring-fuzz", 1), len).create().unwrap())
    })
}

const SPSC_AT: u64 = HEADER_SIZE as u64;

fn mpmc_at() -> u64 {
    (HEADER_SIZE + size_for(CAP).unwrap()).next_multiple_of(mpmc::REGION_ALIGN) as u64
}

fn bytes(seg: &Segment, off: usize, n: usize) -> &mut [u8] {
    assert!(off + n <= seg.len());
    // SAFETY: in bounds; this process is the only user of the segment and no handle to
    // the region is alive while the slice is (the fuzz target plays the hostile peer).
    unsafe { std::slice::from_raw_parts_mut(seg.base().add(off), n) }
}

/// Applies `(position u16, xor u8)` mutations to `target`.
fn mutate(target: &mut [u8], muts: &[u8]) {
    for m in muts.chunks_exact(3) {
        let pos = u16::from_le_bytes([m[0], m[1]]) as usize % target.len();
        target[pos] ^= m[2];
    }
}

/// Drains the consumer, checking every record it hands out.
fn consume(seg: &Segment, ring: &spsc::Ring) {
    let Ok(mut rx) = ring.consumer() else { return };
    let buf = seg.base() as usize + SPSC_AT as usize + DATA_OFFSET;
    let max = ring.max_payload();
    for _ in 0..2 * CAP / 16 {
        match rx.try_recv() {
            Ok(r) => {
                let p = r.as_ptr() as usize;
                assert!(r.len() <= max, "record longer than the ring's maximum");
                assert!(p >= buf && p + r.len() <= buf + CAP, "record outside the buffer");
                std::hint::black_box(r.iter().map(|&b| b as u64).sum::<u64>());
            }
            Err(_) => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let seg = segment();
    match mode % 3 {
        0 => {
            // SAFETY: no handle to this region is alive (each iteration drops its own).
            let ring = unsafe { spsc::Ring::init_in(seg.clone(), Offset::new(SPSC_AT), CAP) }.unwrap();
            let at = SPSC_AT as usize;
            if rest.len() >= 16 {
                bytes(seg, at + 128, 8).copy_from_slice(&rest[..8]); // tail
                bytes(seg, at + 256, 8).copy_from_slice(&rest[8..16]); // head
                let body = &rest[16..];
                let n = body.len().min(CAP);
                bytes(seg, at + DATA_OFFSET, n).copy_from_slice(&body[..n]);
            }
            consume(seg, &ring);
        }
        1 => {
            // SAFETY: as above.
            let ring = unsafe { spsc::Ring::init_in(seg.clone(), Offset::new(SPSC_AT), CAP) }.unwrap();
            let (lens, muts) = rest.split_at(rest.len().min(12));
            {
                let mut tx = ring.producer().unwrap();
                for (i, &l) in lens.iter().enumerate() {
                    let payload = vec![i as u8; l as usize];
                    if tx.try_send(&payload).is_err() {
                        break;
                    }
                }
                // Dropping the producer publishes and closes its side.
            }
            mutate(bytes(seg, SPSC_AT as usize, DATA_OFFSET + CAP), muts);
            consume(seg, &ring);
        }
        _ => {
            let at = mpmc_at();
            // SAFETY: as above.
            let ring = unsafe { mpmc::Ring::create_in(seg.clone(), Offset::new(at), SLOTS, SLOT) }
                .unwrap();
            let (lens, muts) = rest.split_at(rest.len().min(SLOTS));
            for (i, &l) in lens.iter().enumerate() {
                let _ = ring.try_push(vec![i as u8; l as usize % (SLOT + 1)]);
            }
            let region = mpmc::Ring::required_size(SLOTS, SLOT).unwrap();
            mutate(bytes(seg, at as usize, region), muts);
            for _ in 0..2 * SLOTS {
                match ring.try_pop_with(|b| {
                    assert!(b.len() <= ring.slot_size(), "slot payload beyond the slot");
                    b.iter().map(|&x| x as u64).sum::<u64>()
                }) {
                    Ok(s) => {
                        std::hint::black_box(s);
                    }
                    Err(mpmc::TryPopError::Empty) | Err(mpmc::TryPopError::Closed) => break,
                    Err(_) => {}
                }
            }
        }
    }
});
