//! A segment's name, as passed between processes (argv, env, a job argument).

use std::fmt;
use std::str::FromStr;

/// How another process finds a segment.
///
/// Its text form (`Display`/`FromStr`) is what goes into an environment variable or a
/// command line: `memfd:PID:FD:TOKEN` or `shm:NAME:TOKEN` (token in hex).
///
/// # Example
/// ```
/// use zeroproc_shm::SegmentId;
/// let id: SegmentId = "memfd:42:7:00ff".parse().unwrap();
/// assert_eq!(id, SegmentId::Memfd { pid: 42, fd: 7, token: 0xff });
/// assert_eq!(id.to_string(), "memfd:42:7:00000000000000ff");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SegmentId {
    /// An anonymous memfd, reached through `/proc/PID/fd/FD` (same-user access only, like
    /// a 0600 file). Nothing is ever visible in `/dev/shm`.
    Memfd {
        /// Creator's pid.
        pid: u32,
        /// The memfd's descriptor number in the creator.
        fd: i32,
        /// The header's random token.
        token: u64,
    },
    /// A POSIX shared-memory object in a tmpfs directory (default `/dev/shm`).
    Named {
        /// Absolute path of the file.
        path: String,
        /// The header's random token.
        token: u64,
    },
}

impl SegmentId {
    /// The random token the header must carry.
    pub fn token(&self) -> u64 {
        match self {
            SegmentId::Memfd { token, .. } | SegmentId::Named { token, .. } => *token,
        }
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentId::Memfd { pid, fd, token } => write!(f, "memfd:{pid}:{fd}:{token:016x}"),
            SegmentId::Named { path, token } => write!(f, "shm:{path}:{token:016x}"),
        }
    }
}

/// A segment id's text did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSegmentIdError(pub String);

impl fmt::Display for ParseSegmentIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a zeroproc segment id: {:?}", self.0)
    }
}

impl std::error::Error for ParseSegmentIdError {}

impl FromStr for SegmentId {
    type Err = ParseSegmentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseSegmentIdError(s.to_owned());
        if let Some(rest) = s.strip_prefix("memfd:") {
            let mut it = rest.split(':');
            let pid = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
            let fd = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
            let token = it.next().and_then(|v| u64::from_str_radix(v, 16).ok()).ok_or_else(bad)?;
            if it.next().is_some() {
                return Err(bad());
            }
            Ok(SegmentId::Memfd { pid, fd, token })
        } else if let Some(rest) = s.strip_prefix("shm:") {
            let (path, tok) = rest.rsplit_once(':').ok_or_else(bad)?;
            let token = u64::from_str_radix(tok, 16).map_err(|_| bad())?;
            if !path.starts_with('/') {
                return Err(bad());
            }
            Ok(SegmentId::Named { path: path.to_owned(), token })
        } else {
            Err(bad())
        }
    }
}
