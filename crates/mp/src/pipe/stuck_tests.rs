//! A blocking send whose value can never fit the pipe's spill heap as it stands (a block
//! leaked, nothing in either ring) fails with `TooLarge` instead of waiting for ever; a
//! send that a record still in the pipe could make room for waits for it.

use super::{PipeBuilder, SendError};
use std::sync::mpsc;
use std::time::Duration;

const K: usize = 1024;

#[test]
fn a_blocking_send_that_can_never_fit_the_leaked_heap_is_too_large_not_a_hang() {
    let (mut a, mut b) =
        PipeBuilder::<Vec<u8>>::new().heap_size(1 << 20).max_heap_size(1 << 20).duplex().unwrap();
    a.send(vec![1; 300 * K]).unwrap();
    let heap = a.mapping().heap().expect("a heap");
    let _leaked = heap.alloc(16 * K, 16).unwrap(); // never freed: as a killed sender's
    assert_eq!(b.recv().unwrap().len(), 300 * K);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = a.send(vec![2; 700 * K]).map_err(|e| e.to_string());
        let _ = tx.send((r, a));
    });
    let (r, mut a) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("send waited for ever on an empty pipe whose heap cannot fit the value");
    let e = r.expect_err("the value cannot fit");
    assert!(e.contains("leaked") && e.contains("max_heap_size"), "{e}");
    // A record still in the pipe (here, the other way) may free room: wait for it.
    b.send(vec![3; 400 * K]).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(b.send(vec![4; 400 * K]).map_err(|e: SendError<_>| e.to_string()));
        b
    });
    assert!(rx.recv_timeout(Duration::from_millis(2500)).is_err(), "gave up on a queued record");
    assert_eq!(a.recv().unwrap().len(), 400 * K);
    rx.recv_timeout(Duration::from_secs(20)).expect("woken by the free").expect("send");
    assert_eq!(a.recv().unwrap().len(), 400 * K);
}

/// A message the receiver has `poll`ed (so moved out of the ring into the receiver's
/// stash, its block not yet claimed) will free its block once it is received: a send
/// waiting for that room must wait, as Python's would, not give up after `STUCK_AFTER`
/// because the rings look empty.
#[test]
fn a_send_waiting_for_a_polled_message_to_be_received_waits_for_it() {
    let (mut tx, mut rx) =
        PipeBuilder::<Vec<u8>>::new().heap_size(1 << 20).max_heap_size(1 << 20).oneway().unwrap();
    tx.send(vec![1; 600 * K]).unwrap();
    assert!(rx.poll(Duration::from_secs(5)), "the first message is there");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // No room until the first message is received and freed.
        let r = tx.send(vec![2; 600 * K]).map_err(|e| e.to_string());
        let _ = done_tx.send(r);
        tx
    });
    // Well past STUCK_AFTER (1 s): the send must still be waiting.
    match done_rx.recv_timeout(Duration::from_millis(2500)) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        r => panic!("the send did not wait for the polled message to be received: {r:?}"),
    }
    assert_eq!(rx.recv().unwrap().len(), 600 * K);
    let r = done_rx.recv_timeout(Duration::from_secs(20)).expect("woken by the free");
    r.expect("the send fits once the first message was received");
    assert_eq!(rx.recv().unwrap().len(), 600 * K);
}
