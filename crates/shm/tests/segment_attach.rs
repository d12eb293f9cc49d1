//! Attach refuses every foreign, truncated, other-version, other-layout or other-owner
//! segment with a clear error, before interpreting any of its content.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroproc_shm::{AttachError, Backing, Layout, Segment, SegmentBuilder, SegmentId};

const L: Layout = Layout::new("test-attach", 1).with_type::<AtomicU64>();

fn named() -> SegmentBuilder {
    SegmentBuilder::new(L, 4096).backing(Backing::Named("/dev/shm".into()))
}

#[test]
fn memfd_round_trip_shares_memory() {
    let a = Segment::create(L, 4096).unwrap();
    let b = Segment::attach(a.id(), L).unwrap();
    assert_ne!(a.base(), b.base(), "a second mapping, not the same pointer");
    // SAFETY: the data region is 256-byte aligned and zero-initialised.
    let (x, y) = unsafe { (&*a.data().cast::<AtomicU64>(), &*b.data().cast::<AtomicU64>()) };
    x.store(0xdead_beef, Ordering::Release);
    assert_eq!(y.load(Ordering::Acquire), 0xdead_beef);
    let id: SegmentId = a.id().to_string().parse().unwrap();
    assert_eq!(&id, a.id());
}

#[test]
fn named_round_trip_is_0600_and_unlinked_on_drop() {
    let a = named().create().unwrap();
    let path = a.path().unwrap().to_owned();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with(&format!("zeroproc-{}-", std::process::id())));
    assert_eq!(name.rsplit('-').next().unwrap().len(), 16, "64 random bits in the name");
    let b = Segment::attach(a.id(), L).unwrap();
    drop(a);
    assert!(!path.exists(), "creator's drop unlinks");
    drop(b);
}

#[test]
fn wrong_layout_version_or_hash_is_refused() {
    let a = Segment::create(L, 4096).unwrap();
    for other in [
        Layout::new("test-attach", 2).with_type::<AtomicU64>(),
        Layout::new("test-attach", 1).with_type::<u8>(),
        Layout::new("something-else", 1).with_type::<AtomicU64>(),
    ] {
        match Segment::attach(a.id(), other) {
            Err(AttachError::Layout { found, expected }) => {
                assert_eq!(found.0, "test-attach");
                assert_eq!(expected.2, other.hash);
            }
            r => panic!("expected a layout error, got {r:?}"),
        }
    }
}

#[test]
fn wrong_token_is_refused() {
    let a = Segment::create(L, 4096).unwrap();
    let SegmentId::Memfd { pid, fd, token } = a.id().clone() else { unreachable!() };
    let guessed = SegmentId::Memfd { pid, fd, token: token ^ 1 };
    assert!(matches!(Segment::attach(&guessed, L), Err(AttachError::Token)));
}

#[test]
fn garbage_header_fields_are_refused() {
    type Corrupt = fn(&mut [u8]);
    const R: usize = std::mem::offset_of!(zeroproc_shm::Header, reserved_len);
    let state_off = std::mem::offset_of!(zeroproc_shm::Header, state);
    let cases: &[(&str, Corrupt)] = &[
        ("magic", |h| h[0] ^= 0xff),
        ("header version", |h| h[8] = 99),
        ("header size", |h| h[12] = 7),
        ("total length", |h| h[16] ^= 0x10),
        ("total length below the file", |h| h[17] = 0),
        ("reserved length", |h| h[R] ^= 0x10),
        ("reserved length above the file", |h| h[R + 1] ^= 0x40),
        ("token", |h| h[24] ^= 0x01),
        ("layout name", |h| h[32] ^= 0x20),
    ];
    for (what, corrupt) in cases {
        let a = Segment::create(L, 4096).unwrap();
        // SAFETY: the header is the first 256 bytes of our own mapping; nobody else uses it.
        let hdr = unsafe { std::slice::from_raw_parts_mut(a.base(), 256) };
        corrupt(hdr);
        let r = Segment::attach(a.id(), L);
        assert!(r.is_err(), "corrupted {what} was accepted");
        assert!(!r.unwrap_err().to_string().is_empty(), "{what}: error has a message");
    }
    // A header whose state word says "still initialising".
    let a = Segment::create(L, 4096).unwrap();
    // SAFETY: as above.
    let hdr = unsafe { std::slice::from_raw_parts_mut(a.base(), 256) };
    hdr[state_off..state_off + 4].copy_from_slice(&0u32.to_ne_bytes());
    assert!(matches!(Segment::attach(a.id(), L), Err(AttachError::NotReady)));
}

#[test]
fn foreign_and_truncated_files_are_refused() {
    // A foreign file: right owner and mode, wrong content.
    let a = named().create().unwrap();
    let path = a.path().unwrap().to_owned();
    let id = a.id().clone();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(matches!(Segment::attach(&id, L), Err(AttachError::Foreign)));
    // Shorter than a header.
    std::fs::write(&path, b"tiny").unwrap();
    assert!(matches!(Segment::attach(&id, L), Err(AttachError::Truncated { .. })));
    drop(a);

    // A real segment cut short after creation.
    let b = named().create().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(b.path().unwrap()).unwrap();
    f.set_len(512).unwrap();
    match Segment::attach(b.id(), L) {
        Err(AttachError::Truncated { expected, actual }) => {
            assert_eq!(actual, 512);
            assert!(expected > 512);
        }
        r => panic!("expected Truncated, got {r:?}"),
    }
}

#[test]
fn group_or_world_accessible_file_is_refused() {
    let a = named().create().unwrap();
    let path = a.path().unwrap().to_owned();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(Segment::attach(a.id(), L), Err(AttachError::Permission { .. })));
}

#[test]
fn missing_segment_is_not_found() {
    let id = SegmentId::Named { path: "/dev/shm/zeroproc-1-0000000000000000".into(), token: 1 };
    assert!(matches!(Segment::attach(&id, L), Err(AttachError::NotFound(_))));
    let id = SegmentId::Memfd { pid: u32::MAX / 2, fd: 3, token: 1 };
    assert!(matches!(Segment::attach(&id, L), Err(AttachError::NotFound(_))));
}

#[test]
fn a_dropped_segment_is_not_found_and_the_message_says_why() {
    // A new user dropped a queue before the child it was handed to attached it: the
    // message said only "No such file or directory".
    // Another test's thread may take the freed descriptor number between the drop and the
    // attach (a segment of its own: `Token`, or `NotReady` while it is being created; seen
    // once in a full run): that is the next test's case, so try again.
    for _ in 0..20 {
        let seg = Segment::create(L, 4096).unwrap();
        let id = seg.id().clone();
        drop(seg);
        let e = Segment::attach(&id, L).expect_err("attached a dropped segment");
        if matches!(e, AttachError::Token | AttachError::NotReady | AttachError::Layout { .. }) {
            continue;
        }
        assert!(matches!(e, AttachError::NotFound(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("created it has dropped it or exited"), "{msg}");
        return;
    }
    panic!("the dropped segment's descriptor was taken by another segment 20 times in a row");
}

#[test]
fn a_dropped_segment_whose_descriptor_was_reused_says_why() {
    // A new user dropped a queue, made another (which took the memfd's descriptor number),
    // then attached the first one's handle: the message said only "segment token mismatch
    // (stale or guessed id)", not that the creator had dropped it. The reuse, made
    // deterministic: the old id is the live segment's descriptor with another token.
    let next = Segment::create(L, 4096).unwrap();
    let SegmentId::Memfd { pid, fd, token } = next.id().clone() else { return };
    let old = SegmentId::Memfd { pid, fd, token: token ^ 1 };
    let e = Segment::attach(&old, L).expect_err("attached a dropped segment");
    assert!(matches!(e, AttachError::Token), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("its creator dropped it or exited"), "{msg}");
}

#[test]
fn not_ready_until_init_finishes() {
    let seg = SegmentBuilder::new(L, 4096)
        .create_with(|s| {
            assert!(matches!(Segment::attach(s.id(), L), Err(AttachError::NotReady)));
        })
        .unwrap();
    assert!(Segment::attach(seg.id(), L).is_ok());
}

#[test]
fn offsets_are_bounds_and_alignment_checked() {
    use zeroproc_shm::{Offset, OffsetError};
    let a = Segment::create(L, 4096).unwrap();
    let len = a.len() as u64;
    assert!(a.resolve(Offset::<u64>::new(len - 8), 1).is_ok());
    assert!(matches!(
        a.resolve(Offset::<u64>::new(len - 4), 1),
        Err(OffsetError::OutOfBounds { .. })
    ));
    assert!(matches!(a.resolve(Offset::<u64>::new(257), 1), Err(OffsetError::Misaligned { .. })));
    assert!(matches!(
        a.resolve(Offset::<u64>::new(256), usize::MAX),
        Err(OffsetError::OutOfBounds { .. })
    ));
}
