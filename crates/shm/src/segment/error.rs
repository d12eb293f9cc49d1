//! Errors of segment creation and attachment.

use super::AddressSpace;
use std::fmt;
use std::io;

/// Creating a segment failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// Not enough memory / tmpfs space to reserve the segment up front. Reported at
    /// creation, so a full `/dev/shm` never becomes a SIGBUS later.
    NoSpace {
        /// Bytes requested.
        requested: u64,
        /// Bytes available when checked (0 when the kernel refused the reservation).
        available: u64,
    },
    /// The requested size is below the header size or overflows.
    BadSize(u64),
    /// The segment's mapping does not fit under this process's address-space limit
    /// (`RLIMIT_AS`, `ulimit -v`); found before any page is reserved.
    AddressSpace(AddressSpace),
    /// A system call failed.
    Io(&'static str, io::Error),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::NoSpace { requested, available } => write!(
                f,
                "not enough memory for a {requested}-byte shared segment ({})",
                room(*available)
            ),
            CreateError::BadSize(n) => write!(f, "invalid segment size {n}"),
            CreateError::AddressSpace(a) => write!(f, "{a}"),
            CreateError::Io(what, e) => write!(f, "{what} failed: {e}{}", hint(e)),
        }
    }
}

/// Where the room of a [`CreateError::NoSpace`] / `GrowError::NoSpace` was looked for.
/// The pages of a segment are the machine's RAM (a memfd, the default) or the free space
/// of its directory (`Backing::Named`): "shared memory" alone sent users to `df /dev/shm`,
/// which plays no part by default (hpc29).
pub(crate) fn room(available: u64) -> String {
    if available == 0 {
        "the kernel refused to reserve its pages: out of RAM, or of the memory cgroup's or \
         the segment directory's room"
            .to_string()
    } else {
        format!(
            "{available} bytes available: the RAM the kernel reports available, less under \
             this process's memory cgroup limit, or the free space of the segment's \
             directory for a named segment"
        )
    }
}

/// For a descriptor limit reached (EMFILE, ENFILE): what holds the descriptors and the
/// limit to raise. Before, 1,018 arrays made in a loop under the usual `ulimit -n` of
/// 1024 failed with "pwrite failed: Too many open files" and nothing more (hpc29).
/// For a file-size limit (EFBIG, found by `os::check_file_size`): that limit and its
/// value (env36).
pub(crate) fn hint(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EFBIG) => {
            let limit = super::os::file_size_limit()
                .map_or_else(|| "unlimited now".to_string(), |l| format!("{l} bytes"));
            format!(
                " (the segment is larger than this process's file-size limit, RLIMIT_FSIZE \
                 (`ulimit -f`): {limit}; shared memory is a file and counts against it — \
                 raise the soft limit (`ulimit -f unlimited`; under Slurm it comes from the \
                 submitting shell: `--propagate=NONE`))"
            )
        }
        Some(libc::EMFILE) => {
            // SAFETY: getrlimit writes into `lim`, a properly sized out-parameter.
            let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: a valid resource and out pointer.
            let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
            let show = |v: libc::rlim_t| {
                if v == libc::RLIM_INFINITY {
                    "unlimited".to_string()
                } else {
                    v.to_string()
                }
            };
            let limits = if got {
                format!("soft limit {}, hard limit {}", show(lim.rlim_cur), show(lim.rlim_max))
            } else {
                "limit unknown".to_string()
            };
            format!(
                " (this process's descriptor limit is reached: {limits}; every live shared \
                 array, queue, pipe, container and pool holds a descriptor — raise the soft \
                 limit, `ulimit -n` or setrlimit(RLIMIT_NOFILE), or drop objects no longer used)"
            )
        }
        Some(libc::ENFILE) => " (the system-wide open-file limit is reached: fs.file-max)".into(),
        _ => String::new(),
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Attaching to a segment was refused. Every malformed or foreign segment ends here,
/// before any of its content is interpreted.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// The segment does not exist (or its creator is gone and it was anonymous).
    NotFound(io::Error),
    /// Opening or mapping failed for another reason.
    Io(&'static str, io::Error),
    /// The mapping does not fit under this process's address-space limit (`RLIMIT_AS`,
    /// `ulimit -v`: a worker's, say, lowered by its pool's initializer).
    AddressSpace(AddressSpace),
    /// Smaller than a header, or shorter than its header claims.
    Truncated {
        /// Length the header requires.
        expected: u64,
        /// Actual file length.
        actual: u64,
    },
    /// The first bytes are not [`MAGIC`](super::MAGIC): not a zeroproc segment.
    Foreign,
    /// Written by a different version of the header format.
    HeaderVersion {
        /// Version found.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// Holds a different structure (or another version of it).
    Layout {
        /// Layout name, version and hash found in the header.
        found: (String, u32, u64),
        /// What the caller expected.
        expected: (String, u32, u64),
    },
    /// The id's token does not match the header: the segment it named is gone and its
    /// descriptor number (or name) now belongs to another segment, or the id was guessed.
    Token,
    /// Owned by another user, or readable/writable by others; `uid` `u32::MAX` with
    /// `mode` 0 when opening it was refused (permission denied) before either was read.
    Permission {
        /// Owner uid of the backing file.
        uid: u32,
        /// Its mode bits.
        mode: u32,
    },
    /// The creator has not finished initialising it.
    NotReady,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::NotFound(e) => write!(
                f,
                "segment not found ({e}): the process that created it has dropped it or \
                 exited (keep a queue, pipe, array or container alive in its creator until \
                 every process given its handle has attached it)"
            ),
            AttachError::Io(what, e) => write!(f, "{what} failed: {e}{}", hint(e)),
            AttachError::AddressSpace(a) => write!(f, "{a}"),
            AttachError::Truncated { expected, actual } => {
                write!(f, "segment truncated: {actual} bytes, header requires {expected}")
            }
            AttachError::Foreign => write!(f, "not a zeroproc segment (bad magic)"),
            AttachError::HeaderVersion { found, expected } => {
                write!(f, "segment header version {found}, this build understands {expected}")
            }
            AttachError::Layout { found, expected } => write!(
                f,
                "segment holds {:?} v{} (hash {:016x}), expected {:?} v{} (hash {:016x})",
                found.0, found.1, found.2, expected.0, expected.1, expected.2
            ),
            AttachError::Token => write!(
                f,
                "segment token mismatch: the segment this id named is gone and the id now \
                 reaches another one (its creator dropped it or exited, and the descriptor \
                 or name was reused: keep a queue, pipe, array or container alive in its \
                 creator until every process given its handle has attached it), or the id \
                 was guessed"
            ),
            // The open itself was refused (EACCES/EPERM): no owner or mode was read.
            AttachError::Permission { uid: u32::MAX, mode: 0 } => write!(
                f,
                "permission denied: the segment (or its owner's /proc entry) belongs to \
                 another user"
            ),
            AttachError::Permission { uid, mode } => {
                write!(f, "segment owned by uid {uid} with mode {mode:o}: refused")
            }
            AttachError::NotReady => write!(f, "segment not initialised by its creator yet"),
        }
    }
}

impl std::error::Error for AttachError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message names where the room was counted (it said "shared memory", and users
    /// looked at `df /dev/shm`, which the default memfd backing does not use: hpc29).
    #[test]
    fn no_space_names_where_the_room_was_counted() {
        let m = CreateError::NoSpace { requested: 4 << 30, available: 1 << 30 }.to_string();
        assert!(m.contains("4294967296-byte") && m.contains("1073741824 bytes available"), "{m}");
        assert!(m.contains("RAM") && m.contains("cgroup"), "{m}");
        let m = CreateError::NoSpace { requested: 4 << 30, available: 0 }.to_string();
        assert!(m.contains("refused") && !m.contains("0 bytes available"), "{m}");
    }

    /// The two texts are one sentence each: a string literal continued over source lines
    /// without a `\` kept the next line's indentation, and users read "or of the memory
    /// cgroup's or          the segment directory's room" (found by api31 and num31).
    #[test]
    fn no_space_reads_without_runs_of_spaces() {
        for available in [0, 1 << 30] {
            let m = CreateError::NoSpace { requested: 4 << 30, available }.to_string();
            assert!(!m.contains("  ") && !m.contains('\n'), "{m:?}");
        }
    }
}
