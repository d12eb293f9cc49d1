//! In-process tests of pipes: every method and error of `Connection`, `PipeSender`,
//! `PipeReceiver`, spilling, raw bytes, poll, handles. (Across processes and peer death:
//! `channel_xproc.rs`.)

use rkyv::{Archive, Deserialize, Serialize};
use std::thread;
use std::time::{Duration, Instant};
use zeroproc_mp::pipe::{
    ConnectionHandle, PipeBuilder, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError,
};
use zeroproc_mp::queue::ChannelError;
use zeroproc_mp::{pipe, pipe_oneway};

const MS: Duration = Duration::from_millis(1);

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Msg {
    n: u64,
    text: String,
    blob: Vec<u8>,
}

fn msg(n: u64, len: usize) -> Msg {
    Msg { n, text: format!("m{n}"), blob: (0..len).map(|i| (i as u64 + n) as u8).collect() }
}

#[test]
fn ends_are_send() {
    fn check<T: Send>() {}
    check::<zeroproc_mp::Connection<Msg>>();
    check::<zeroproc_mp::PipeSender<Msg>>();
    check::<zeroproc_mp::PipeReceiver<Msg>>();
}

#[test]
fn duplex_both_directions_in_order() {
    let (mut a, mut b) = pipe::<Msg>().unwrap();
    for i in 0..100 {
        a.send(msg(i, 10)).unwrap();
        b.send(msg(1000 + i, 3)).unwrap();
    }
    for i in 0..100 {
        assert_eq!(b.recv().unwrap(), msg(i, 10));
        assert_eq!(a.recv().unwrap(), msg(1000 + i, 3));
    }
    assert!(format!("{a:?}").contains("Connection"));
}

#[test]
fn try_forms_full_and_empty() {
    let (mut a, mut b) = PipeBuilder::<u64>::new().capacity(256).duplex().unwrap();
    assert!(matches!(b.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(b.try_recv_ref(), Err(TryRecvError::Empty)));
    assert!(matches!(b.try_recv_bytes(), Err(TryRecvError::Empty)));
    let mut n = 0;
    let e = loop {
        match a.try_send(n) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(n > 0);
    assert!(matches!(e, TrySendError::Full(v) if v == n));
    assert!(matches!(a.send_timeout(n, MS), Err(SendTimeoutError::Timeout(v)) if v == n));
    assert!(matches!(a.send_deadline(n, Instant::now()), Err(SendTimeoutError::Timeout(_))));
    for i in 0..n {
        assert_eq!(b.try_recv().unwrap(), i);
    }
    assert!(matches!(b.recv_timeout(MS), Err(RecvTimeoutError::Timeout)));
    assert!(matches!(b.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout)));
    assert!(matches!(b.recv_ref_deadline(Instant::now()), Err(RecvTimeoutError::Timeout)));
    assert!(matches!(b.recv_bytes_deadline(Instant::now()), Err(RecvTimeoutError::Timeout)));
}

#[test]
fn blocking_send_waits_for_the_receiver() {
    let (mut a, mut b) = PipeBuilder::<Msg>::new().capacity(1024).duplex().unwrap();
    let t = thread::spawn(move || {
        for i in 0..2000 {
            a.send(msg(i, 50)).unwrap();
        }
        a
    });
    for i in 0..2000 {
        assert_eq!(b.recv().unwrap(), msg(i, 50));
    }
    drop(t.join().unwrap());
    assert!(matches!(b.recv(), Err(RecvError::Disconnected)));
}

#[test]
fn recv_ref_reads_in_the_record_and_releases_on_drop() {
    let (mut a, mut b) = PipeBuilder::<Msg>::new().capacity(4096).duplex().unwrap();
    a.send(msg(1, 100)).unwrap();
    let r = b.recv_ref().unwrap();
    assert!(!r.is_spilled());
    assert!(format!("{r:?}").contains("ring record"));
    assert_eq!(r.n, 1);
    assert_eq!(r.blob.len(), 100);
    assert_eq!(r.deserialize().unwrap(), msg(1, 100));
    // The record is held: the ring's space is not released yet.
    let mut sent = 0;
    while a.try_send(msg(2, 100)).is_ok() {
        sent += 1;
    }
    drop(r);
    // (A smaller message: after a wrap, the freed record's bytes are at the buffer's start
    // while the new one also needs the pad before them and the 16 bytes the ring keeps
    // free for the next header.)
    assert!(a.try_send(msg(2, 50)).is_ok(), "space released by dropping the Ref");
    for _ in 0..=sent {
        assert_eq!(b.try_recv_ref().unwrap().n, 2);
    }
}

#[test]
fn large_messages_and_bytes_spill_and_come_back() {
    let (mut a, mut b) = PipeBuilder::<Msg>::new().capacity(4096).duplex().unwrap();
    let big = msg(9, 300_000);
    a.send(big.clone()).unwrap();
    a.send(msg(10, 1)).unwrap();
    let r = b.recv_ref().unwrap();
    assert!(r.is_spilled());
    assert_eq!(r.blob.len(), 300_000);
    drop(r);
    assert_eq!(b.recv().unwrap(), msg(10, 1));
    for _ in 0..5 {
        a.send(big.clone()).unwrap();
        assert_eq!(b.recv().unwrap(), big);
    }
    let raw: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    a.send_bytes(&raw).unwrap();
    a.send_bytes(b"small").unwrap();
    assert_eq!(b.recv_bytes().unwrap(), raw);
    assert_eq!(b.recv_bytes().unwrap(), b"small");
    // Larger than the initial heap (1 MiB by default): it grows.
    let huge = msg(0, 2 << 20);
    a.send(huge.clone()).unwrap();
    assert_eq!(b.recv().unwrap(), huge);
    // Larger than the heap's maximum: handed back.
    let (mut a, _b) =
        PipeBuilder::<Msg>::new().capacity(4096).max_heap_size(1 << 20).duplex().unwrap();
    assert!(matches!(a.send(huge), Err(SendError::TooLarge(m)) if m.blob.len() == 2 << 20));
    let huge_bytes = vec![0u8; 2 << 20];
    assert!(matches!(a.send_bytes(&huge_bytes), Err(SendError::TooLarge(_))));
}

#[test]
fn a_full_heap_makes_sends_wait_until_the_receiver_frees_or_leaves() {
    let (mut a, mut b) = PipeBuilder::<Vec<u8>>::new()
        .capacity(4096)
        .heap_size(64 << 10)
        .max_heap_size(64 << 10)
        .duplex()
        .unwrap();
    assert!(b.try_recv().is_err()); // b claims its side
    let mut n = 0;
    while a.try_send(vec![n; 30_000]).is_ok() {
        n += 1;
    }
    assert!(n >= 1);
    assert!(matches!(a.try_send(vec![9; 30_000]), Err(TrySendError::Full(_))));
    assert!(matches!(a.send_timeout(vec![9; 30_000], 20 * MS), Err(SendTimeoutError::Timeout(_))));
    let t = thread::spawn(move || {
        thread::sleep(20 * MS);
        let first = b.recv().unwrap(); // frees a block: the waiting send proceeds
        (b, first)
    });
    a.send(vec![7; 30_000]).unwrap();
    let (b, first) = t.join().unwrap();
    assert_eq!(first, vec![0; 30_000]);
    // The receiver leaves with the heap full: a waiting send gives up.
    let t = thread::spawn(move || {
        thread::sleep(20 * MS);
        drop(b);
    });
    assert!(matches!(a.send(vec![8; 30_000]), Err(SendError::Disconnected(_))));
    t.join().unwrap();
}

#[test]
fn a_message_of_the_other_kind_stays_queued() {
    let (mut a, mut b) = pipe::<u32>().unwrap();
    a.send_bytes(b"raw").unwrap();
    a.send(5).unwrap();
    assert!(matches!(b.recv(), Err(RecvError::WrongKind)));
    assert!(matches!(b.try_recv_ref(), Err(TryRecvError::WrongKind)));
    assert_eq!(b.recv_bytes().unwrap(), b"raw");
    assert!(matches!(b.recv_bytes(), Err(RecvError::WrongKind)));
    assert_eq!(*b.recv_ref().unwrap(), 5);
    assert!(RecvError::WrongKind.to_string().contains("other send method"));
    // Names the fix: which receive reads which send.
    let text = RecvError::WrongKind.to_string();
    assert!(text.contains("send_bytes message with recv_bytes"), "{text}");
    assert!(text.contains("send message with recv"), "{text}");
}

#[test]
fn poll_waits_and_keeps_the_message() {
    let (mut a, mut b) = pipe::<u32>().unwrap();
    assert!(!b.poll(Duration::ZERO));
    let t0 = Instant::now();
    assert!(!b.poll(10 * MS));
    assert!(t0.elapsed() >= 10 * MS);
    a.send(1).unwrap();
    assert!(b.poll(Duration::ZERO));
    assert!(b.poll(Duration::ZERO), "still there");
    assert_eq!(b.recv().unwrap(), 1);
    let t = thread::spawn(move || {
        thread::sleep(10 * MS);
        a.send(2).unwrap();
        a
    });
    assert!(b.poll(Duration::from_secs(5)));
    assert_eq!(*b.recv_ref().unwrap(), 2);
    // A stashed message is also found by recv_bytes (wrong kind) and the bytes forms.
    let mut a = t.join().unwrap();
    a.send_bytes(b"xy").unwrap();
    assert!(b.poll(MS));
    assert_eq!(b.try_recv_bytes().unwrap(), b"xy");
    drop(a);
    assert!(b.poll(MS), "a gone sender: recv returns at once");
    assert!(matches!(b.try_recv(), Err(TryRecvError::Disconnected)));
}

#[test]
fn dropped_peers_are_disconnected_after_draining() {
    let (mut a, mut b) = pipe::<u32>().unwrap();
    a.send(1).unwrap();
    a.send(2).unwrap();
    drop(a);
    assert_eq!(b.recv().unwrap(), 1);
    assert_eq!(b.try_recv().unwrap(), 2);
    assert!(matches!(b.recv(), Err(RecvError::Disconnected)));
    assert!(matches!(b.recv_timeout(MS), Err(RecvTimeoutError::Disconnected)));
    assert!(matches!(b.send(3), Err(SendError::Disconnected(3))));
    assert!(matches!(b.try_send(4), Err(TrySendError::Disconnected(4))));
    // An end never used and never handed out is closed when dropped.
    let (mut a, b) = pipe::<u32>().unwrap();
    drop(b);
    assert!(matches!(a.recv(), Err(RecvError::Disconnected)));
    assert!(matches!(a.send(1), Err(SendError::Disconnected(1))));
}

#[test]
fn oneway_pipes() {
    let (mut tx, mut rx) = pipe_oneway::<Msg>().unwrap();
    tx.send(msg(1, 1)).unwrap();
    tx.try_send(msg(2, 1)).unwrap();
    tx.send_timeout(msg(3, 1), MS).unwrap();
    tx.send_deadline(msg(4, 1), Instant::now()).unwrap();
    tx.send_bytes(b"b").unwrap();
    tx.send_bytes_deadline(b"c", Instant::now()).unwrap();
    assert_eq!(tx.max_record(), (64 << 10) / 2 - 16);
    assert!(rx.poll(MS));
    assert_eq!(rx.recv().unwrap().n, 1);
    assert_eq!(rx.try_recv().unwrap().n, 2);
    assert_eq!(rx.recv_timeout(MS).unwrap().n, 3);
    assert_eq!(rx.recv_deadline(Instant::now()).unwrap().n, 4);
    assert_eq!(rx.recv_bytes().unwrap(), b"b");
    assert_eq!(rx.recv_bytes_deadline(Instant::now()).unwrap(), b"c");
    tx.send(msg(5, 0)).unwrap();
    assert_eq!(rx.recv_ref().unwrap().n, 5);
    assert!(rx.try_recv_ref().is_err());
    assert!(rx.recv_ref_deadline(Instant::now()).is_err());
    assert!(rx.try_recv_bytes().is_err());
    assert!(format!("{tx:?} {rx:?}").contains("PipeSender"));
    drop(tx);
    assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
}

#[test]
fn handles_claim_ends_once() {
    let (mut a, b) = pipe::<String>().unwrap();
    let h: ConnectionHandle<String> = b.handle();
    assert_eq!(h, h.clone());
    assert!(format!("{h:?}").contains("ConnectionHandle"));
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap();
    let h2 = rkyv::from_bytes::<ConnectionHandle<String>, rkyv::rancor::Error>(&bytes).unwrap();
    let mut there = h2.attach().unwrap();
    assert!(matches!(h.attach(), Err(ChannelError::InUse { pid }) if pid == std::process::id()));
    drop(b); // handed out: dropping the unused original does not close the end
    a.send("hi".into()).unwrap();
    assert_eq!(there.recv().unwrap(), "hi");
    there.send("back".into()).unwrap();
    assert_eq!(a.recv().unwrap(), "back");
    // The creator's own end, once used, cannot be attached elsewhere.
    assert!(matches!(a.handle().attach(), Err(ChannelError::InUse { .. })));
    drop(there); // closed: the end is finished
    let again = h.attach().map(|_| ()).unwrap_err();
    assert!(matches!(again, ChannelError::EndClosed));
    // The message says why (a new user handed one end to several jobs: the second one's
    // attach said only "pipe end was closed").
    assert!(again.to_string().contains("serves one attachment"), "{again}");
    // One-way handles, and kinds that do not match.
    let (tx, rx) = pipe_oneway::<u8>().unwrap();
    let (th, rh) = (tx.handle(), rx.handle());
    assert_eq!((th.clone(), rh.clone()), (th.clone(), rh.clone()));
    let mut t2 = th.attach().unwrap();
    let mut r2 = rh.attach().unwrap();
    t2.send(7).unwrap();
    assert_eq!(r2.recv().unwrap(), 7);
    assert!(matches!(th.attach(), Err(ChannelError::InUse { .. })));
    let forged = rkyv::from_bytes::<ConnectionHandle<u8>, rkyv::rancor::Error>(
        &rkyv::to_bytes::<rkyv::rancor::Error>(&ConnMirror::from(&th)).unwrap(),
    )
    .unwrap();
    assert!(matches!(forged.attach(), Err(ChannelError::KindMismatch { found: "one-way pipe" })));
}

/// The archived shape of `ConnectionHandle<u8>`, built from a sender handle's fields.
#[derive(Archive, Serialize, Deserialize)]
struct ConnMirror {
    segment: String,
    end: u8,
    type_hash: u64,
    _t: std::marker::PhantomData<fn() -> u8>,
}

#[derive(Archive, Serialize, Deserialize)]
struct SenderMirror {
    segment: String,
    type_hash: u64,
    _t: std::marker::PhantomData<fn() -> u8>,
}

impl From<&zeroproc_mp::pipe::SenderHandle<u8>> for ConnMirror {
    fn from(h: &zeroproc_mp::pipe::SenderHandle<u8>) -> Self {
        let b = rkyv::to_bytes::<rkyv::rancor::Error>(h).unwrap();
        let s = rkyv::from_bytes::<SenderMirror, rkyv::rancor::Error>(&b).unwrap();
        ConnMirror { segment: s.segment, end: 0, type_hash: s.type_hash, _t: Default::default() }
    }
}

#[test]
fn builder_checks_and_strategies() {
    use zeroproc_shm::wait::WaitStrategy;
    assert!(matches!(PipeBuilder::<u8>::new().capacity(1000).duplex(), Err(ChannelError::Spsc(_))));
    let (mut tx, _rx) = PipeBuilder::<Vec<u8>>::new().capacity(256).heap_size(0).oneway().unwrap();
    assert!(matches!(tx.try_send(vec![0; 1000]), Err(TrySendError::TooLarge(_))));
    let (mut a, mut b) = PipeBuilder::<u8>::default().duplex().unwrap();
    a.set_wait_strategy(WaitStrategy::Sleep);
    b.set_wait_strategy(WaitStrategy::Spin);
    assert_eq!(a.wait_strategy(), WaitStrategy::Sleep);
    let t = thread::spawn(move || {
        let v = b.recv().unwrap();
        b.send(v + 1).unwrap();
    });
    a.send(1).unwrap();
    assert_eq!(a.recv().unwrap(), 2);
    t.join().unwrap();
    let (mut tx, mut rx) = pipe_oneway::<u8>().unwrap();
    tx.set_wait_strategy(WaitStrategy::Sleep);
    rx.set_wait_strategy(WaitStrategy::Sleep);
    assert!(format!("{:?}", PipeBuilder::<u8>::new()).contains("capacity"));
}

#[test]
fn error_messages() {
    let e = TrySendError::InUse(1u8, 42);
    assert!(e.to_string().starts_with("this end is in use by another attachment of it"));
    assert!(e.to_string().ends_with("the holder's pid: 42"));
    assert!(e.to_string().contains("give each process its own pipe, or use a Queue"));
    assert_eq!(format!("{e:?}"), "InUse(.., 42)");
    assert_eq!(e.into_inner(), 1);
    assert!(TryRecvError::InUse { pid: 3 }.to_string().contains("process 3"));
    assert!(TryRecvError::InUse { pid: 3 }.to_string().contains("its own pipe"));
    assert_eq!(RecvTimeoutError::Timeout.to_string(), "timed out waiting for a message");
}

/// An end used through two attachments in one process (the creator's `b` and
/// `b.handle().attach()`): the second is refused, and the message no longer blames
/// "another process" giving this process's own pid (user27: `b.send` said "this end is in
/// use by another process ...; its pid: <this process>", `b.recv` and `attach` "in use by
/// process <this process>: an end serves one process at a time").
#[test]
fn a_second_attachment_in_this_process_is_named_as_such() {
    let me = std::process::id();
    let (mut a, mut b) = pipe::<u64>().unwrap();
    let h = b.handle();
    let mut c = h.attach().unwrap();
    a.send(1).unwrap();
    assert_eq!(c.recv().unwrap(), 1);
    let recv = b.recv_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    assert!(matches!(recv, RecvTimeoutError::InUse { pid } if pid == me), "{recv:?}");
    let send = b.send(2).unwrap_err();
    let attach = h.attach().map(|_| ()).unwrap_err();
    assert!(matches!(attach, ChannelError::InUse { pid } if pid == me), "{attach:?}");
    for msg in [recv.to_string(), send.to_string(), attach.to_string()] {
        assert!(!msg.contains("by another process"), "{msg}");
        assert!(!msg.contains("one process at a time"), "{msg}");
        assert!(msg.contains("another attachment of it"), "{msg}");
    }
    assert!(recv.to_string().contains("in this process"), "{recv}");
    assert!(attach.to_string().contains("in this process"), "{attach}");
    // Another process's pid is still named as a process.
    assert!(RecvTimeoutError::InUse { pid: me + 1 }
        .to_string()
        .contains(&format!("process {}", me + 1)));
}

/// A pipe's spill heap at its maximum, filled with 20 KiB values and drained: larger
/// values are merged from the freed blocks. Fails without merging: the 40 KiB send is
/// `TooLarge` on the empty pipe.
#[test]
fn at_the_heap_maximum_small_values_make_room_for_larger_ones() {
    let (mut tx, mut rx) = PipeBuilder::<Vec<u8>>::new()
        .capacity(4096)
        .heap_size(1 << 20)
        .max_heap_size(1 << 20)
        .oneway()
        .unwrap();
    let a = 20 << 10; // few enough to fill the heap before the ring
    let mut n = 0;
    let full = loop {
        match tx.try_send(vec![n as u8; a]) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(full, TrySendError::Full(_)), "{full:?}");
    assert!(n > 30, "{n} values of {a} B");
    for k in 0..n {
        assert_eq!(rx.recv().unwrap(), vec![k as u8; a]);
    }
    for size in [2 * a, 30 * a] {
        tx.send_timeout(vec![3; size], Duration::from_secs(10)).unwrap();
        assert_eq!(rx.recv().unwrap(), vec![3; size]);
    }
}

/// A process forked while it holds pipe ends gets copies of them; when the child drops its
/// copies (its locals going out of scope), the parent's ends must keep working, as a
/// Python child closing its inherited connection leaves the parent's open. The copies'
/// drops closed the parent's ring sides (the receiver's: the parent's sends then failed
/// with `Disconnected`; an end not used yet was claimed and closed for good).
#[test]
fn a_forked_childs_copies_of_pipe_ends_do_not_close_the_parents() {
    let (mut tx, mut rx) = pipe_oneway::<u64>().unwrap();
    tx.send(1).unwrap();
    assert_eq!(rx.recv().unwrap(), 1); // both sides claimed and used
    let (mut tx2, mut rx2) = pipe_oneway::<u64>().unwrap(); // neither used yet
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: the child's bitwise copies of the parent's ends, each dropped once in the
        // child (as its inherited locals are); the parent's are untouched by it.
        unsafe {
            drop(std::ptr::read(&tx));
            drop(std::ptr::read(&rx));
            drop(std::ptr::read(&tx2));
            drop(std::ptr::read(&rx2));
        }
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child: {status:#x}");
    tx.send(2).expect("the parent's sender still sends");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("and its receiver receives"), 2);
    tx2.send(3).expect("an unused end of the parent's was closed by the child");
    assert_eq!(rx2.recv_timeout(Duration::from_secs(10)).unwrap(), 3);
}

/// A child forked after its parent used both ends of a pipe, using its copies of them while
/// the parent goes on with its own: the child's send and receive are refused with `InUse`
/// naming the parent, and the parent's messages are intact. Before, the child's copies
/// were a second writer and a second reader on each SPSC ring: its receive took the
/// parent's queued message (the parent waited for it in vain), its send put 99 where the
/// parent's next message went, all without an error. Python documents such use of one end
/// from two processes as corrupting its data; an end not used before the fork still serves
/// whichever process uses it first (the test above, and `a_forked_child_uses_an_end_its_parent_never_used`).
#[test]
fn a_forked_childs_use_of_its_parents_ends_is_refused() {
    let (mut tx, mut rx) = pipe_oneway::<u64>().unwrap();
    tx.send(1).unwrap();
    assert_eq!(rx.recv().unwrap(), 1); // both sides claimed by this process
    tx.send(2).unwrap(); // queued for the parent
    let parent = std::process::id();
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(10) };
        let sent = tx.send(99);
        let got = rx.try_recv();
        let send_refused = matches!(sent, Err(SendError::InUse(99, p)) if p == parent);
        let recv_refused = matches!(got, Err(TryRecvError::InUse { pid }) if pid == parent);
        let code = i32::from(!send_refused) | i32::from(!recv_refused) << 1;
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    });
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: the child's send went through, 2: its receive");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 2, "the parent's message");
    tx.send(3).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 3);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)), "nothing of the child's");
}

/// Python's idiom: make a pipe, fork, the child sends on an end its parent never used,
/// the parent receives.
#[test]
fn a_forked_child_uses_an_end_its_parent_never_used() {
    let (mut tx, mut rx) = pipe_oneway::<u64>().unwrap();
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(10) };
        let ok = tx.send(5).is_ok() && tx.send(6).is_ok();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(i32::from(!ok)) };
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child: {status:#x}");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 5);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 6);
}
