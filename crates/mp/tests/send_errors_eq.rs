//! The send side's errors compare as crossbeam-channel's do: equal when the variant and the
//! payload (`T`'s `PartialEq`) are, with any other field (a pid, rkyv's serializer error, a
//! corrupt-ring report) compared by its message, as `DecodeError` compares rkyv's errors.
//! So `assert_eq!(q.try_put(x), Err(TryPutError::Full(x)))` compiles and holds.

use rkyv::rancor::{self, Source};
use std::time::Duration;
use zeroproc_mp::pipe::{self, RecvError, SendError, SendTimeoutError, TrySendError};
use zeroproc_mp::queue::{PutError, PutTimeoutError, TryPutError};
use zeroproc_mp::Queue;

const MS: Duration = Duration::from_millis(1);

fn rkyv_error(msg: &str) -> rancor::Error {
    rancor::Error::new(std::io::Error::other(msg.to_string()))
}

#[test]
fn queue_put_errors_compare_by_variant_and_payload() {
    let q = Queue::<u32>::new(1).unwrap();
    q.put(1).unwrap();
    assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    assert_ne!(q.try_put(2), Err(TryPutError::Full(3)));
    assert_ne!(q.try_put(2), Err(TryPutError::Closed(2)));
    assert_eq!(q.put_timeout(4, MS), Err(PutTimeoutError::Timeout(4)));
    q.close();
    assert_eq!(q.put(5), Err(PutError::Closed(5)));
    assert_eq!(q.try_put(6), Err(TryPutError::Closed(6)));
    assert_eq!(q.put_timeout(7, MS), Err(PutTimeoutError::Closed(7)));
    // `Eq` too, when the payload is.
    fn is_eq<E: Eq>(_: &E) {}
    is_eq(&TryPutError::Full(String::from("x")));
    is_eq(&PutError::Closed(1u8));
    is_eq(&PutTimeoutError::Timeout(()));
}

#[test]
fn queue_too_large_compares() {
    let q = Queue::<Vec<u8>>::builder(2).slot_size(256).max_heap_size(1 << 20).build().unwrap();
    let big = vec![1u8; 4 << 20];
    assert_eq!(q.put(big.clone()), Err(PutError::TooLarge(big.clone())));
    assert_eq!(q.try_put(big.clone()), Err(TryPutError::TooLarge(big)));
}

#[test]
fn serializer_errors_compare_by_message() {
    let a = TryPutError::Serialize(1u8, rkyv_error("no room"));
    assert_eq!(a, TryPutError::Serialize(1u8, rkyv_error("no room")));
    assert_ne!(a, TryPutError::Serialize(2u8, rkyv_error("no room")));
    // Different causes differ where rkyv keeps its messages (debug builds); a release
    // build's rancor error carries none ("failed without error information"), so there
    // two serializer errors with equal payloads compare equal.
    if rkyv_error("no room").to_string() != rkyv_error("another cause").to_string() {
        assert_ne!(a, TryPutError::Serialize(1u8, rkyv_error("another cause")));
    }
    assert_ne!(a, TryPutError::Full(1u8));
    let s = SendError::Serialize(1u8, rkyv_error("no room"));
    assert_eq!(s, SendError::Serialize(1u8, rkyv_error("no room")));
    assert_ne!(s, SendError::Disconnected(1u8));
}

#[test]
fn pipe_send_errors_compare_by_variant_payload_and_pid() {
    let (mut a, b) = pipe::pipe::<u64>().unwrap();
    let mut n = 0;
    let full = loop {
        match a.try_send(n) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(full, TrySendError::Full(n));
    assert_eq!(a.send_timeout(9, MS), Err(SendTimeoutError::Timeout(9)));
    drop(b);
    assert_eq!(a.send(1), Err(SendError::Disconnected(1)));
    assert_eq!(a.try_send(2), Err(TrySendError::Disconnected(2)));
    assert_ne!(a.try_send(2), Err(TrySendError::Full(2)));
    assert_eq!(a.send_bytes(b"ab"), Err(SendError::Disconnected(&b"ab"[..])));
    assert_eq!(TrySendError::InUse(1u8, 10), TrySendError::InUse(1u8, 10));
    assert_ne!(TrySendError::InUse(1u8, 10), TrySendError::InUse(1u8, 11));
    // The receive side compared already.
    let (a2, mut b2) = pipe::pipe::<u64>().unwrap();
    drop(a2);
    assert_eq!(b2.recv(), Err(RecvError::Disconnected));
}

/// A value that can never fit names the limit and the setting that raises it (it said
/// only "value too large for the queue").
#[test]
fn too_large_names_the_limit_to_raise() {
    let q = Queue::<Vec<u8>>::builder(2).slot_size(256).max_heap_size(1 << 20).build().unwrap();
    let e = q.try_put(vec![1u8; 4 << 20]).unwrap_err().to_string();
    assert!(e.contains("max_heap_size") && e.contains("spill heap"), "{e}");
    let (mut a, _b) = pipe::PipeBuilder::<Vec<u8>>::new().max_heap_size(1 << 20).duplex().unwrap();
    let e = a.send(vec![1u8; 4 << 20]).unwrap_err().to_string();
    assert!(e.contains("PipeBuilder::max_heap_size") && e.contains("spill heap"), "{e}");
}
