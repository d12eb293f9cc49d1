//! The one send path (`zeroproc_codec::send`): inline or spilled, values handed back on
//! every error, and no heap block leaked when a record is not published.

use std::ops::{Deref, DerefMut};
use zeroproc_codec::envelope::{decode, Header};
use zeroproc_codec::payload::decode_any;
use zeroproc_codec::send::{
    send, send_with, Buffer, Draft, HeapOverflow, NoOverflow, Publish, Records, Ring, SendError,
    Sent, Wait,
};
use zeroproc_ring::spsc::ReserveTimeoutError;
use zeroproc_shm::heap::Heap;
use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};

fn heap_segment(name: &'static str) -> Segment {
    let seg = Segment::create(Layout::new(name, 1), 8 << 20).unwrap();
    Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 8 << 20).unwrap();
    seg
}

fn heap(seg: &Segment) -> Heap<'_> {
    Heap::attach(seg, Offset::new(HEADER_SIZE as u64)).unwrap()
}

#[test]
fn small_values_go_inline_large_ones_spill_and_both_decode() {
    let seg = heap_segment("send-both");
    let h = heap(&seg);
    let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 14).unwrap();
    for n in [0usize, 10, 500, 100_000] {
        let v: Vec<u32> = (0..n as u32).collect();
        let mut ring = Ring::new(&mut tx, Wait::Never, Publish::Commit).kind(5).tag(n as u64);
        let sent = send(&mut ring, &mut HeapOverflow(&h), Header::new(n as u64, 1), &v).unwrap();
        assert_eq!(matches!(sent, Sent::Spilled(_)), n == 100_000, "n = {n}");
        let rec = rx.try_recv().unwrap();
        assert_eq!((rec.kind(), rec.tag()), (5, n as u64));
        let (hd, got) = decode_any::<Vec<u32>>(&rec, &h).unwrap();
        assert_eq!(hd.job_id, n as u64);
        assert_eq!(got.len(), n);
    }
    assert_eq!(h.stats().in_use_blocks(), 0, "every spilled block was read and freed");
}

#[test]
fn a_full_ring_hands_the_value_back_and_frees_the_block() {
    let seg = heap_segment("send-full");
    let h = heap(&seg);
    let (mut tx, _rx) = zeroproc_ring::spsc::channel(256).unwrap();
    // Fill the ring.
    while tx.try_reserve(16).map(|r| r.commit()).is_ok() {}
    let big = vec![7u64; 50_000];
    let mut ring = Ring::new(&mut tx, Wait::Never, Publish::Commit);
    let r = send_with::<_, Vec<u64>, _, _, _>(
        &mut ring,
        &mut HeapOverflow(&h),
        Header::new(1, 0),
        big,
        |_| Ok::<(), ()>(()),
    );
    match r {
        Err((SendError::Records(ReserveTimeoutError::Timeout), Some(v))) => {
            assert_eq!(v.len(), 50_000)
        }
        other => panic!("expected a full ring with the value back, got {:?}", other.map(|_| ())),
    }
    assert_eq!(h.stats().in_use_blocks(), 0, "the spilled block was given back");
}

#[test]
fn finish_refusing_abandons_the_record_and_gives_the_block_back() {
    let seg = heap_segment("send-finish");
    let h = heap(&seg);
    let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 14).unwrap();
    for n in [10usize, 100_000] {
        let mut ring = Ring::new(&mut tx, Wait::Never, Publish::Commit);
        let v = vec![1u8; n];
        let r = send_with::<_, Vec<u8>, _, _, _>(
            &mut ring,
            &mut HeapOverflow(&h),
            Header::new(1, 0),
            v,
            |v| if v.len() > 5 { Err("refused") } else { Ok(()) },
        );
        assert!(matches!(r, Err((SendError::Finish("refused"), None))), "n = {n}");
        assert!(rx.try_recv().is_err(), "nothing was published (n = {n})");
        assert_eq!(h.stats().in_use_blocks(), 0, "n = {n}");
    }
}

/// Records whose publish always fails: the spilled block must come back.
struct Refusing(Vec<u8>);
struct RefusingDraft<'a>(&'a mut [u8]);

impl Deref for RefusingDraft<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0
    }
}
impl DerefMut for RefusingDraft<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0
    }
}
impl Draft for RefusingDraft<'_> {
    type Error = &'static str;
    fn publish(self, _: usize) -> Result<(), &'static str> {
        Err("closed")
    }
}
impl Records for Refusing {
    type Error = &'static str;
    type Draft<'a> = RefusingDraft<'a>;
    fn max_len(&self) -> usize {
        1024
    }
    fn draft(&mut self, len: usize) -> Result<RefusingDraft<'_>, &'static str> {
        self.0.resize(len.max(self.0.len()), 0);
        Ok(RefusingDraft(&mut self.0[..len]))
    }
}

#[test]
fn a_failed_publish_of_a_spilled_record_gives_the_block_back() {
    let seg = heap_segment("send-publish");
    let h = heap(&seg);
    let r = send(
        &mut Refusing(Vec::new()),
        &mut HeapOverflow(&h),
        Header::new(1, 0),
        &vec![3u64; 10_000],
    );
    assert!(matches!(r, Err(SendError::Records("closed"))), "{r:?}");
    assert_eq!(h.stats().in_use_blocks(), 0);
}

#[test]
fn a_buffer_grows_to_any_size_and_no_heap_means_unspillable_for_a_ring() {
    let mut buf = Buffer::new();
    let v: Vec<u64> = (0..1_000_000).collect();
    send(&mut buf, &mut NoOverflow, Header::new(2, 3), &v).unwrap();
    let (hd, got) = decode::<Vec<u64>>(buf.bytes()).unwrap();
    assert_eq!((hd.job_id, hd.fn_id, got.len()), (2, 3, 1_000_000));
    let (mut tx, _rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
    let mut ring = Ring::new(&mut tx, Wait::Until(None), Publish::Commit);
    match send(&mut ring, &mut NoOverflow, Header::new(1, 0), &v) {
        Err(SendError::Overflow(u)) => assert!(u.need > 1 << 11, "need {}", u.need),
        other => panic!("expected Unspillable, got {other:?}"),
    }
}
