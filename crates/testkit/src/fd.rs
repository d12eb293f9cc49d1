//! Descriptors in tests: a segment's memory as another process mapping it would see it.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A duplicate of `fd` (a segment's descriptor, say), standing for a process that maps
/// the segment: the file stays alive while it is open.
pub fn dup(fd: RawFd) -> OwnedFd {
    // SAFETY: dup(2) of a descriptor the caller holds; the new one is ours alone.
    let d = unsafe { libc::dup(fd) };
    assert!(d >= 0, "dup failed");
    // SAFETY: `d` is a fresh descriptor owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(d) }
}

/// Bytes of memory the file behind `fd` holds (its allocated blocks): a segment's own
/// descriptor (`seg.fd()`) or a duplicate of it.
pub fn allocated(fd: impl AsFd) -> u64 {
    let fd = fd.as_fd();
    // SAFETY: fstat writes into `st`, a properly sized out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and out pointer.
    assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
    st.st_blocks as u64 * 512
}
