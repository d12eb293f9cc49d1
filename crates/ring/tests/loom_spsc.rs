//! Loom models of the SPSC ring: the index protocol (records arrive once, in order, intact,
//! across a wrap with a pad), batched publish/consume, and the sleep/wake handshake over
//! the futex model (a lost wake-up deadlocks the model, which loom reports).
//!
//! These run the ring's real producer/consumer code over a heap ring (`Ring::in_heap`),
//! whose buffer is shadowed by loom cells: loom also checks that every buffer access is
//! ordered after the other side's conflicting access (the Release/Acquire on tail/head).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zeroproc-ring --release --test loom_spsc`
//! (preemption bound 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise).
#![cfg(loom)]

use loom::thread;
use zeroproc_ring::spsc::{Consumer, Producer, RecvError, Ring, TryRecvError, TrySendError};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// A 64-byte ring: max payload 16 bytes, so records take 16 or 32 bytes.
fn ring64() -> (Producer, Consumer) {
    let r = Ring::in_heap(64).unwrap();
    (r.producer().unwrap(), r.consumer().unwrap())
}

/// Payload of record `i`: `len(i)` bytes of `i + 1`.
fn len(i: u64) -> usize {
    [16, 0, 16][i as usize]
}

fn check(i: u64, tag: u64, data: &[u8]) {
    assert_eq!(tag, i, "records arrive once, in order");
    assert_eq!(data.len(), len(i));
    assert!(data.iter().all(|&b| b == i as u8 + 1), "record {i} intact");
}

fn spin_send(tx: &mut Producer, i: u64) {
    loop {
        match tx.try_reserve(len(i)) {
            Ok(mut r) => {
                r.fill(i as u8 + 1);
                r.set_tag(i);
                r.commit();
                return;
            }
            Err(_) => thread::yield_now(),
        }
    }
}

/// Three records through a 64-byte ring: 0..32, 32..48, then a 16-byte pad and the third
/// record at offset 0 (which needs the first to be released).
#[test]
fn index_protocol_wraps_with_pad() {
    model(|| {
        let (mut tx, mut rx) = ring64();
        let p = thread::spawn(move || {
            for i in 0..3 {
                spin_send(&mut tx, i);
            }
        });
        let mut i = 0;
        while i < 3 {
            match rx.try_recv() {
                Ok(g) => {
                    check(i, g.tag(), &g);
                    i += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        p.join().unwrap();
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
    });
}

/// Staged records become visible together with one publish; drain releases them at once
/// and the producer reuses the space (which loom checks is ordered after the reads).
#[test]
fn batched_publish_and_drain() {
    model(|| {
        let (mut tx, mut rx) = ring64();
        let p = thread::spawn(move || {
            for i in 0..2 {
                let mut r = tx.try_reserve(len(i)).unwrap();
                r.fill(i as u8 + 1);
                r.set_tag(i);
                r.stage();
            }
            tx.publish();
            // Needs the batch's space back: waits for the consumer's single release.
            loop {
                match tx.try_send(&[9; 16]) {
                    Ok(()) => break,
                    Err(TrySendError::Full(_)) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut next = 0;
        while next < 2 {
            match rx.drain(2, |r| {
                check(next, r.tag(), &r);
                next += 1;
            }) {
                Ok(n) => assert!(n > 0),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
            // A batch is published at once: never half of it.
            assert!(next == 0 || next == 2, "saw {next} of a 2-record batch");
        }
        loop {
            match rx.try_recv() {
                Ok(g) => {
                    assert_eq!(&*g, &[9; 16]);
                    break;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        p.join().unwrap();
    });
}

/// Both sides block (the ring holds two of the three 32-byte records): the consumer sleeps
/// on not_empty, the producer on not_full, and the producer's drop must wake the consumer
/// to see Disconnected. A lost wake-up anywhere is a model deadlock.
#[test]
fn sleep_wake_handshake_never_loses_a_wakeup() {
    model(|| {
        let (mut tx, mut rx) = ring64();
        let p = thread::spawn(move || {
            for i in 0..3u64 {
                let mut r = tx.reserve(16).unwrap();
                r.fill(i as u8 + 1);
                r.set_tag(i);
                r.commit();
            }
            drop(tx);
        });
        for i in 0..3u64 {
            let g = rx.recv().unwrap();
            assert_eq!(g.tag(), i);
            assert!(g.iter().all(|&b| b == i as u8 + 1));
        }
        assert_eq!(rx.recv().err(), Some(RecvError::Disconnected));
        p.join().unwrap();
    });
}
