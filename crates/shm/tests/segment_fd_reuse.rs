//! A memfd segment's id names `/proc/PID/fd/FD`. Once the segment is dropped, the
//! descriptor number is free and the creator's next file may take it: attaching the old id
//! must then say the segment is gone (`NotFound`), not that some file is truncated, foreign
//! or has the wrong mode.
//!
//! One test in this binary: it places files at a freed descriptor number with `dup2`,
//! which must not race other tests' descriptors.

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use zeroproc_shm::{AttachError, Layout, Segment, SegmentId, SegmentView};

const L: Layout = Layout::new("test-fd-reuse", 1);

/// Drops a fresh memfd segment and returns its id and descriptor number.
fn dropped_segment() -> (SegmentId, i32) {
    let seg = Segment::create(L, 4096).unwrap();
    let id = seg.id().clone();
    let SegmentId::Memfd { fd, .. } = id else { panic!("default backing is a memfd") };
    drop(seg);
    (id, fd)
}

/// Puts `file` at descriptor `at`, as a reuse would (the open may already have taken it:
/// the lowest free number). The descriptor stays open until the process exits.
fn place(file: std::fs::File, at: i32) {
    if file.as_raw_fd() != at {
        // SAFETY: `at` was just freed by this single-test process; `file`'s descriptor is
        // valid.
        assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), at) }, at);
    } else {
        std::mem::forget(file);
    }
}

fn assert_gone(id: &SegmentId, names: &str) {
    for e in [Segment::attach(id, L).err(), SegmentView::attach(id, L).err()] {
        let e = e.expect("attached a file that reused a dropped segment's descriptor");
        assert!(matches!(e, AttachError::NotFound(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("dropped it or exited"), "{msg}");
        assert!(msg.contains(names), "{msg}");
    }
}

#[test]
fn a_reused_descriptor_is_reported_as_a_dropped_segment() {
    let dir = std::env::temp_dir().join(format!("zp-fd-reuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // A log file the program opened (mode 0644, any length): was "mode 644: refused".
    let (id, fd) = dropped_segment();
    let log = dir.join("log.txt");
    std::fs::write(&log, vec![b'x'; 8192]).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    place(std::fs::File::open(&log).unwrap(), fd);
    assert_gone(&id, "log.txt");

    // A private file (0600) of a few bytes: was "segment truncated: 5 bytes".
    let (id, fd) = dropped_segment();
    let small = dir.join("small");
    std::fs::write(&small, b"hello").unwrap();
    std::fs::set_permissions(&small, std::fs::Permissions::from_mode(0o600)).unwrap();
    place(std::fs::OpenOptions::new().read(true).write(true).open(&small).unwrap(), fd);
    assert_gone(&id, "small");

    // A private file with content that is no segment: was "not a zeroproc segment".
    let (id, fd) = dropped_segment();
    let data = dir.join("data");
    std::fs::write(&data, vec![0x5a; 8192]).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o600)).unwrap();
    place(std::fs::OpenOptions::new().read(true).write(true).open(&data).unwrap(), fd);
    assert_gone(&id, "data");

    // Another segment being created in the same descriptor (memfd made, not yet sized).
    let (id, fd) = dropped_segment();
    let name = std::ffi::CString::new(format!("zeroproc-{}", std::process::id())).unwrap();
    // SAFETY: a valid C string and plain flags.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0);
    // SAFETY: `raw` was just returned by the kernel and is owned by nobody else.
    let memfd = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fchmod(raw, 0o600) }, 0);
    place(memfd.try_clone().unwrap(), fd);
    assert_gone(&id, "another segment being created");
    // ... sized, header not written yet.
    memfd.set_len(8192).unwrap();
    assert_gone(&id, "another segment being created");

    // A live segment whose header was damaged is still reported as damaged.
    let seg = Segment::create(L, 4096).unwrap();
    // SAFETY: the header's first bytes (the magic) belong to this segment, which nothing
    // else uses.
    unsafe { seg.base().write_bytes(0x77, 8) };
    let e = Segment::attach(seg.id(), L).expect_err("attached a segment with a bad magic");
    assert!(matches!(e, AttachError::Foreign), "{e:?}");

    std::fs::remove_dir_all(&dir).unwrap();
}
