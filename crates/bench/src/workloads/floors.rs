//! The machine's floors: one cache line bounced between two spinning processes, and a futex
//! wake round trip between two sleeping processes. No queue can beat the first; a sleeping
//! queue cannot beat the second.

use crate::peer;
use hdrhistogram::Histogram;
use std::time::Instant;
use zeroproc_shm::atomic::{AtomicU32, Ordering};
use zeroproc_shm::futex;
use zeroproc_shm::{Layout, Segment, SegmentBuilder};

#[repr(C, align(128))]
struct Line(AtomicU32);

/// Two words on separate 128-byte lines (adjacent-line prefetch pairs 64-byte lines).
#[repr(C)]
struct Floor {
    ping: Line,
    pong: Line,
}

const LAYOUT: Layout = Layout::new("bench-floor", 1).with_type::<Floor>();
const STOP: u32 = u32::MAX;

fn floor(seg: &Segment) -> &Floor {
    // SAFETY: the data region is 256-byte aligned, zero-initialised (all-zero atomics are
    // valid) and larger than `Floor`.
    unsafe { &*seg.data().cast::<Floor>() }
}

fn wait_for(word: &AtomicU32, v: u32, sleep: bool) -> u32 {
    loop {
        // Acquire: pairs with the other side's Release store of the value.
        let cur = word.load(Ordering::Acquire);
        if cur == v || cur == STOP {
            return cur;
        }
        if sleep {
            futex::wait(word, cur, None);
        } else {
            std::hint::spin_loop();
        }
    }
}

fn post(word: &AtomicU32, v: u32, sleep: bool) {
    // Release: pairs with the Acquire load in `wait_for`.
    word.store(v, Ordering::Release);
    if sleep {
        futex::wake(word, 1);
    }
}

/// Peer side: echo every ping as a pong.
pub fn peer(arg: &str, sleep: bool) -> Result<(), String> {
    let id = arg.parse().map_err(|e| format!("{e}"))?;
    let seg = Segment::attach(&id, LAYOUT).map_err(|e| e.to_string())?;
    let f = floor(&seg);
    let mut next = 1u32;
    loop {
        if wait_for(&f.ping.0, next, sleep) == STOP {
            return Ok(());
        }
        post(&f.pong.0, next, sleep);
        next += 1;
    }
}

fn round(samples: usize, h: &mut Histogram<u64>, sleep: bool) -> Result<(), String> {
    crate::affinity::pin_to(0);
    let seg = SegmentBuilder::new(LAYOUT, std::mem::size_of::<Floor>())
        .create()
        .map_err(|e| e.to_string())?;
    let role = if sleep { "floor-futex" } else { "floor-spin" };
    let child = peer::spawn(role, &seg.id().to_string()).map_err(|e| e.to_string())?;
    let f = floor(&seg);
    let warm = samples / 10;
    for i in 1..=(samples + warm) as u32 {
        let t = Instant::now();
        post(&f.ping.0, i, sleep);
        wait_for(&f.pong.0, i, sleep);
        let ns = t.elapsed().as_nanos() as u64;
        if i as usize > warm {
            h.record(ns.max(1)).ok();
        }
    }
    post(&f.ping.0, STOP, sleep);
    if sleep {
        futex::wake(&f.ping.0, 1);
    }
    peer::finish(child)
}

/// One round of the spinning cache-line bounce.
pub fn round_spin(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    round(samples, h, false)
}

/// One round of the futex wake round trip (both sides sleep between messages).
pub fn round_futex(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    round(samples, h, true)
}
