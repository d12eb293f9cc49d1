//! Every handle kind reports its segment id to `segment_refs::collect` when archived (the
//! cluster relies on it to know which handles a job holds: a kind that did not would be
//! sent to other nodes, where its id names nothing), and archives exactly as before.

use rkyv::rancor::Error;
use zeroproc_mp::segment_refs::collect;

/// Archives `h` inside `collect`: exactly one id, the one its `Debug` names; it decodes back
/// equal.
fn reports_its_id<H>(what: &str, h: &H)
where
    H: std::fmt::Debug + PartialEq + rkyv::Archive,
    H: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            Error,
        >,
    >,
    H::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, Error>>
        + rkyv::Deserialize<H, rkyv::api::high::HighDeserializer<Error>>,
{
    let (bytes, ids) = collect(|| rkyv::to_bytes::<Error>(h).expect("archived"));
    assert_eq!(ids.len(), 1, "{what}: {ids:?}");
    assert!(ids[0].starts_with("memfd:") || ids[0].starts_with("shm:"), "{what}: {ids:?}");
    assert!(format!("{h:?}").contains(&ids[0]), "{what}: {h:?} does not name {}", ids[0]);
    let back = rkyv::from_bytes::<H, Error>(&bytes).expect("decoded");
    assert_eq!(&back, h, "{what}");
    // Outside `collect` nothing is recorded, and a later collect starts empty.
    let _ = rkyv::to_bytes::<Error>(h).expect("archived");
    let (_, none) = collect(|| rkyv::to_bytes::<Error>(&ids[0]).expect("archived"));
    assert!(none.is_empty(), "{what}: the id as a String is data: {none:?}");
}

#[test]
fn every_handle_kind_reports_its_segment() {
    let mut a = zeroproc_mp::SharedArray::from_slice(&[1u32, 2, 3, 4]).unwrap();
    reports_its_id("ArrayHandle", &a.handle());
    let chunks = a.chunks_mut(2).unwrap();
    let (_, ids) = collect(|| rkyv::to_bytes::<Error>(&chunks[0]).unwrap());
    assert_eq!(ids, [a.segment_id().to_string()], "ChunkMut");
    drop(chunks);
    let v = zeroproc_mp::SharedVec::<u64>::with_capacity(4).unwrap();
    let (_, ids) = collect(|| rkyv::to_bytes::<Error>(&v.handle()).unwrap());
    assert_eq!(ids.len(), 1, "VecHandle: {ids:?}");
    assert!(format!("{:?}", v.handle()).contains(&ids[0]), "VecHandle");
    let q = zeroproc_mp::Queue::<u64>::new(2).unwrap();
    reports_its_id("QueueHandle", &q.handle());
    let jq = zeroproc_mp::JoinableQueue::<u64>::new(2).unwrap();
    reports_its_id("JoinableQueueHandle", &jq.handle());
    let (c1, _c2) = zeroproc_mp::pipe::<u64>().unwrap();
    reports_its_id("ConnectionHandle", &c1.handle());
    let (tx, rx) = zeroproc_mp::pipe_oneway::<u64>().unwrap();
    reports_its_id("SenderHandle", &tx.handle());
    reports_its_id("ReceiverHandle", &rx.handle());
    let d = zeroproc_mp::SharedDict::<String, u64>::new().unwrap();
    reports_its_id("DictHandle", &d.handle());
    let l = zeroproc_mp::SharedList::<u64>::new().unwrap();
    reports_its_id("ListHandle", &l.handle());
    let ns = zeroproc_mp::Namespace::new().unwrap();
    reports_its_id("NamespaceHandle", &ns.handle());
    let cell = zeroproc_mp::SharedCell::new(std::sync::atomic::AtomicU64::new(0)).unwrap();
    let (_, ids) = collect(|| rkyv::to_bytes::<Error>(&cell.handle()).unwrap());
    assert_eq!(ids.len(), 1, "CellHandle: {ids:?}");
    assert!(format!("{:?}", cell.handle()).contains(&ids[0]), "CellHandle");
    // Several handles in one value: each distinct id once, in order.
    let (_, ids) = collect(|| {
        rkyv::to_bytes::<Error>(&(
            a.handle(),
            q.handle(),
            a.handle(),
            "memfd:1:2:00000000000000aa".to_string(),
        ))
        .unwrap()
    });
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], a.segment_id().to_string());
}
