//! Growing a segment's file under every process's mapping: `Segment::grow_to` and the
//! same step for structures that keep only the descriptor and the base (a growable heap).
//!
//! The reservation (`fallocate` of the new range, mode 0: allocates the pages and extends
//! the file; it never shrinks it) happens first; only then is the header's
//! `committed_len` raised (`Extent::publish`, Release). A failed reservation leaves the
//! file as it was (tmpfs undoes a partial `fallocate`) and is an error here, never a
//! SIGBUS later. Racing growers need no lock: both reserve, the larger length stays.

use super::{os, Header, Segment};
use std::fmt;
use std::os::fd::{AsRawFd, RawFd};

/// Why a segment (or a heap in it) could not grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrowError {
    /// The length asked for is past the segment's maximum (its mapping).
    BeyondMaximum {
        /// Total length asked for, header included.
        requested: u64,
        /// The segment's maximum total length.
        max: u64,
    },
    /// Not enough memory (or tmpfs space) to reserve the new range.
    NoSpace {
        /// Bytes the growth needed.
        requested: u64,
        /// Bytes available when checked (0 when the kernel refused the reservation).
        available: u64,
    },
    /// `fallocate` failed for another reason (the `errno`).
    Io {
        /// The error number.
        errno: i32,
    },
}

impl fmt::Display for GrowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrowError::BeyondMaximum { requested, max } => write!(
                f,
                "cannot grow the segment to {requested} bytes: its maximum is {max} bytes"
            ),
            GrowError::NoSpace { requested, available } => write!(
                f,
                "not enough memory to grow the shared segment by {requested} bytes ({})",
                super::error::room(*available)
            ),
            GrowError::Io { errno } => {
                let e = std::io::Error::from_raw_os_error(*errno);
                write!(f, "growing the segment failed: fallocate: {e}{}", super::error::hint(&e))
            }
        }
    }
}

impl std::error::Error for GrowError {}

impl Segment {
    /// Bytes of the file backed now, header included: what may be touched. Equal to
    /// [`len`](Self::len) for a segment that cannot grow.
    pub fn committed_len(&self) -> usize {
        self.header().committed_len.get() as usize
    }

    /// Extends the backing file to `total_len` bytes (header included, rounded up to
    /// pages; no-op if it is already that long) for every process attached to the segment, which all see the
    /// new range through the mapping they already have. At most [`len`](Self::len): see
    /// [`SegmentBuilder::max_data_len`](super::SegmentBuilder::max_data_len). Returns the
    /// committed length afterwards.
    pub fn grow_to(&self, total_len: u64) -> Result<u64, GrowError> {
        // SAFETY: the descriptor and the header belong to this segment, alive while `self`.
        unsafe { grow_file(self.fd.as_raw_fd(), self.header(), total_len) }
    }
}

/// Reserves the file of the segment whose header is `h` up to `total_len` and publishes
/// the new committed length.
///
/// # Safety
/// `fd` must be the open descriptor of the file mapped under `h`.
pub(crate) unsafe fn grow_file(fd: RawFd, h: &Header, total_len: u64) -> Result<u64, GrowError> {
    let total_len = total_len.checked_next_multiple_of(os::page_size() as u64).unwrap_or(u64::MAX);
    let cur = h.committed_len.get();
    if total_len <= cur {
        return Ok(cur);
    }
    if total_len > h.total_len {
        return Err(GrowError::BeyondMaximum { requested: total_len, max: h.total_len });
    }
    let more = total_len - cur;
    if let Err(e) = os::check_file_size(total_len) {
        return Err(GrowError::Io { errno: e.raw_os_error().unwrap_or(libc::EFBIG) });
    }
    let available = os::mem_available();
    if more > available {
        return Err(GrowError::NoSpace { requested: more, available });
    }
    // SAFETY: `fd` is a valid descriptor (caller); mode 0 allocates `cur..total_len` and
    // extends the file to `total_len` if it is shorter; it never shrinks it.
    if unsafe { libc::fallocate(fd, 0, cur as libc::off_t, more as libc::off_t) } != 0 {
        let e = os::last_err();
        return Err(match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::ENOMEM) => {
                GrowError::NoSpace { requested: more, available: 0 }
            }
            errno => GrowError::Io { errno: errno.unwrap_or(0) },
        });
    }
    // After the reservation succeeded (see `extent`).
    h.committed_len.publish(total_len);
    Ok(h.committed_len.get())
}
