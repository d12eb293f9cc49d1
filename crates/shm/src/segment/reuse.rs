//! Telling a reused descriptor from a damaged segment.
//!
//! A `memfd:PID:FD:TOKEN` id is reached through `/proc/PID/fd/FD`. Once the creator drops
//! the segment (or it was never kept alive long enough), `FD` is free, and the creator's
//! next `open`, `socket` or `memfd_create` may take the same number. Attaching then opens
//! *that* file, and the checks refuse it — but for the wrong-sounding reason ("segment
//! truncated: 0 bytes", "not a zeroproc segment", "mode 644: refused"), when the cause is
//! that the segment is gone. [`explain`] turns such refusals into
//! [`AttachError::NotFound`] naming what the descriptor now holds.
//!
//! A refusal counts as reuse when the descriptor no longer names a zeroproc memfd
//! (`readlink` of the path; segments are created as `memfd:zeroproc-PID`), or names one
//! that is shorter than a header or has no header yet: a segment whose id was handed out
//! was complete, and a memfd never shrinks, so that is another segment being created in
//! the same descriptor. A zeroproc memfd with a damaged header stays what it is.

use super::{AttachError, SegmentId, HEADER_SIZE};
use std::io;

/// `e`, or `NotFound` when the refusal came from `id`'s descriptor now naming another file.
#[cold]
pub(super) fn explain(id: &SegmentId, e: AttachError, blank_header: bool) -> AttachError {
    let SegmentId::Memfd { pid, fd, .. } = id else {
        return e;
    };
    let refused_content = matches!(
        e,
        AttachError::Truncated { .. }
            | AttachError::Foreign
            | AttachError::HeaderVersion { .. }
            | AttachError::Permission { .. }
    );
    if !refused_content {
        return e;
    }
    let Ok(target) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
        return e;
    };
    let target = target.to_string_lossy().into_owned();
    let ours = target.starts_with("/memfd:zeroproc-");
    let unfinished = match e {
        AttachError::Truncated { actual, .. } => actual < HEADER_SIZE as u64,
        AttachError::Foreign => blank_header,
        _ => false,
    };
    if ours && !unfinished {
        return e;
    }
    let now = if ours { format!("another segment being created ({target})") } else { target };
    AttachError::NotFound(io::Error::other(format!(
        "descriptor {fd} of process {pid} now names {now}"
    )))
}
