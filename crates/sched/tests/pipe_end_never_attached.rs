//! A pipe end handed to a `Process` child that ends (exits, panics, is killed) before it
//! ever attaches the end: the parent, which dropped its own copy, must see the end gone —
//! `recv` gives `Disconnected` (Python's `EOFError`), `send` `Disconnected` once the ring
//! is full — instead of waiting for ever. Before diff35 the end's claim word stayed 0
//! ("not attached yet", not dead) and `recv()` hung (usercrate/diff/pipe_eof_diff.py).

use std::time::{Duration, Instant};
use zeroproc_mp::pipe::{ConnectionHandle, ReceiverHandle, RecvTimeoutError, SenderHandle};
use zeroproc_sched::Process;

zeroproc_sched::test_worker!();

/// Far above the few hundred ms the peer watch takes; the hang this guards against never
/// ends, so a generous bound costs nothing when the code is right.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_child_that_panics_before_attaching_its_end_is_seen_gone() {
    let (mut a, b) = zeroproc_mp::pipe::<u64>().unwrap();
    let mut c = Process::spawn(
        |_end: ConnectionHandle<u64>| panic!("failed before using the pipe"),
        b.handle(),
    )
    .unwrap();
    drop(b);
    let t = Instant::now();
    // Not joined first: the parent is blocked in recv, as in Python's idiom.
    assert_eq!(a.recv_timeout(LIMIT), Err(RecvTimeoutError::Disconnected), "{:?}", t.elapsed());
    assert_eq!(c.join().unwrap(), zeroproc_sched::Exit::Code(1));
}

#[test]
fn a_child_that_exits_before_attaching_a_oneway_sender_is_seen_gone() {
    let (tx, mut rx) = zeroproc_mp::pipe_oneway::<u64>().unwrap();
    let mut c =
        Process::spawn(|_end: SenderHandle<u64>| std::process::exit(0), tx.handle()).unwrap();
    drop(tx);
    assert_eq!(rx.recv_timeout(LIMIT), Err(RecvTimeoutError::Disconnected));
    c.join().unwrap();
}

#[test]
fn a_receiver_child_killed_before_attaching_fails_the_senders_full_ring() {
    let (mut tx, rx) = zeroproc_mp::pipe_oneway::<u64>().unwrap();
    let mut c = Process::spawn(
        |_end: ReceiverHandle<u64>| std::thread::sleep(Duration::from_secs(60)),
        rx.handle(),
    )
    .unwrap();
    drop(rx);
    c.kill();
    let t = Instant::now();
    let mut sent = 0u64;
    // The ring holds a few thousand small messages; once full, the send waits for the
    // reader, which is gone.
    let err = loop {
        match tx.send_timeout(sent, LIMIT) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(t.elapsed() < LIMIT, "still sending after {sent} messages");
    };
    assert!(
        matches!(err, zeroproc_mp::pipe::SendTimeoutError::Disconnected(_)),
        "{err:?} after {sent} messages in {:?}",
        t.elapsed()
    );
    c.join().unwrap();
}

#[test]
fn a_child_that_attaches_later_still_gets_its_end() {
    // The reservation names the expected holder for liveness only: the child attaching
    // (after a pause) claims the end as before and the messages go through.
    let (mut a, b) = zeroproc_mp::pipe::<u64>().unwrap();
    let mut c = Process::spawn(
        |end: ConnectionHandle<u64>| {
            std::thread::sleep(Duration::from_millis(300));
            let mut end = end.attach().unwrap();
            end.send(7).unwrap();
            assert_eq!(end.recv().unwrap(), 8);
        },
        b.handle(),
    )
    .unwrap();
    drop(b);
    assert_eq!(a.recv_timeout(LIMIT), Ok(7));
    a.send(8).unwrap();
    assert_eq!(c.join().unwrap(), zeroproc_sched::Exit::Code(0));
    assert_eq!(a.recv_timeout(LIMIT), Err(RecvTimeoutError::Disconnected));
}
