//! Growth on demand across real processes: a child grows a queue's, a pipe's or a dict's
//! shared memory and the parent (which mapped it before) reads the values living in the
//! grown range; the defaults hold a 64 MiB value and 100,000 small dict entries; past the
//! configured maximum a value is refused and handed back.

use rkyv::rancor::Error;
use std::time::Duration;
use zeroproc_mp::container::{ContainerError, DictHandle};
use zeroproc_mp::pipe::{PipeBuilder, SenderHandle, TrySendError};
use zeroproc_mp::queue::{PutError, QueueHandle, TryPutError};
use zeroproc_mp::{Queue, SharedDict};
use zeroproc_testkit as tk;
use zeroproc_testkit::{to_hex as hex, unhex};

const ENTRY: &str = "zp_growth_child";
const LIMIT: Duration = Duration::from_secs(120);
/// The value size Python users put in a queue or a dict and expect to fit.
const BIG: usize = 64 << 20;
/// Entries of the dict test.
const ENTRIES: u64 = 100_000;

/// A value whose every byte depends on its position and seed (so a torn or misplaced
/// range is noticed).
fn big(seed: u8) -> Vec<u8> {
    (0..BIG).map(|i| (i as u8).wrapping_mul(31) ^ (i >> 12) as u8 ^ seed).collect()
}

fn is_big(v: &[u8], seed: u8) -> bool {
    v.len() == BIG
        && v.iter()
            .enumerate()
            .all(|(i, &b)| b == (i as u8).wrapping_mul(31) ^ (i >> 12) as u8 ^ seed)
}

fn value_of(k: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x55
}

#[test]
fn zp_growth_child() {
    tk::child_entry(|role, arg| match role {
        "queue-put" => {
            let q = rkyv::from_bytes::<QueueHandle<Vec<u8>>, Error>(&unhex(arg))
                .unwrap()
                .attach()
                .unwrap();
            q.put(big(1)).unwrap();
            q.put(big(2)).unwrap();
        }
        "pipe-send" => {
            let mut tx = rkyv::from_bytes::<SenderHandle<Vec<u8>>, Error>(&unhex(arg))
                .unwrap()
                .attach()
                .unwrap();
            tx.send(big(3)).unwrap();
        }
        "dict-fill" => {
            let d = rkyv::from_bytes::<DictHandle<u64, u64>, Error>(&unhex(arg))
                .unwrap()
                .attach()
                .unwrap();
            for k in 0..ENTRIES {
                d.insert(k, value_of(k)).unwrap();
            }
            d.insert(u64::MAX, 1).unwrap();
        }
        _ => panic!("unknown role {role}"),
    });
}

fn run(role: &str, arg: &str) {
    let mut c = tk::spawn_role(ENTRY, role, arg);
    assert!(tk::wait_timeout(&mut c, LIMIT).success(), "child {role} failed");
}

#[test]
fn a_queue_grown_by_a_child_hands_64_mib_values_to_the_parent() {
    let q = Queue::<Vec<u8>>::new(4).unwrap();
    let before = q.heap_size();
    assert_eq!(before, zeroproc_mp::queue::DEFAULT_HEAP_SIZE);
    run("queue-put", &hex(&q.handle()));
    assert!(q.heap_size() > 2 * BIG, "the child's growth is seen here: {}", q.heap_size());
    assert!(is_big(&q.get().unwrap(), 1));
    assert!(is_big(&q.get().unwrap(), 2));
    // The grown heap serves this process too (its blocks are free again).
    q.put(big(9)).unwrap();
    assert!(is_big(&q.get().unwrap(), 9));
}

#[test]
fn a_pipe_grown_by_a_child_hands_a_64_mib_message_to_the_parent() {
    let (tx, mut rx) = PipeBuilder::<Vec<u8>>::new().oneway().unwrap();
    run("pipe-send", &hex(&tx.handle()));
    assert!(is_big(&rx.recv().unwrap(), 3));
    drop(tx);
}

#[test]
fn a_default_dict_filled_by_a_child_holds_100_000_entries() {
    let d = SharedDict::<u64, u64>::new().unwrap();
    let start = d.capacity_bytes();
    run("dict-fill", &hex(&d.handle()));
    assert_eq!(d.len().unwrap(), ENTRIES as usize + 1);
    for k in (0..ENTRIES).step_by(7) {
        assert_eq!(d.get(&k).unwrap(), Some(value_of(k)), "key {k}");
    }
    assert!(d.capacity_bytes() > start, "grown by the child: {}", d.capacity_bytes());
    let s = d.stats();
    assert_eq!(s.blocks_in_use, ENTRIES + 2, "{s:?}"); // entries + the table
    println!(
        "{} entries: heap {} KiB (in use {} KiB) of at most {} MiB",
        ENTRIES + 1,
        s.capacity_bytes >> 10,
        s.bytes_in_use >> 10,
        s.max_capacity_bytes >> 20
    );
}

#[test]
fn a_default_dict_holds_a_64_mib_value() {
    let d = SharedDict::<u32, Vec<u8>>::new().unwrap();
    d.insert(1, big(4)).unwrap();
    let other = d.handle().attach().unwrap();
    assert!(is_big(&other.get(&1).unwrap().unwrap(), 4));
}

#[test]
fn past_the_maximum_the_value_is_handed_back() {
    let q =
        Queue::<Vec<u8>>::builder(4).heap_size(64 << 10).max_heap_size(1 << 20).build().unwrap();
    let v = vec![5u8; 2 << 20];
    match q.try_put(v) {
        Err(TryPutError::TooLarge(v)) => assert_eq!(v, vec![5u8; 2 << 20]),
        r => panic!("expected TooLarge, got {r:?}"),
    }
    match q.put(vec![6u8; 2 << 20]) {
        Err(PutError::TooLarge(v)) => assert_eq!(v.len(), 2 << 20),
        r => panic!("expected TooLarge, got {r:?}"),
    }
    // Below the maximum it grows instead.
    q.put(vec![7u8; 600 << 10]).unwrap();
    assert_eq!(q.get().unwrap(), vec![7u8; 600 << 10]);

    let (mut tx, _rx) =
        PipeBuilder::<Vec<u8>>::new().heap_size(4096).max_heap_size(1 << 20).oneway().unwrap();
    match tx.try_send(vec![8u8; 2 << 20]) {
        Err(TrySendError::TooLarge(v)) => assert_eq!(v.len(), 2 << 20),
        r => panic!("expected TooLarge, got {r:?}"),
    }

    let d = SharedDict::<u32, Vec<u8>>::with_max_capacity_bytes(16 << 10, 1 << 20).unwrap();
    d.insert(1, vec![1; 300 << 10]).unwrap(); // grows past 16 KiB
    let e = d.insert(2, vec![2; 2 << 20]).unwrap_err();
    assert!(matches!(e.error(), ContainerError::Full { .. }), "{e}");
    assert_eq!(e.into_inner(), (2, vec![2; 2 << 20]));
    assert_eq!(d.get(&1).unwrap().unwrap().len(), 300 << 10);
}
