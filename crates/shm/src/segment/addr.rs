//! The address-space limit (`RLIMIT_AS`, `ulimit -v`) and the mappings it refuses.
//!
//! The kernel refuses an `mmap` that would take a process's mapped address space
//! (`VmSize`) past `RLIMIT_AS` with `ENOMEM`, "Cannot allocate memory", however much RAM
//! is free. A batch system's or a sandbox's cap, or a pool initializer bounding its
//! workers, sets it. Creation checks it before reserving any page (a 3,000 MiB array
//! under a 2 GiB limit reserved 3 GB of RAM for 1.3 s before its mapping failed, num31);
//! attachment explains a refused mapping with it.

use std::fmt;
use std::io;

/// A mapping that does not fit under this process's address-space limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpace {
    /// Bytes the mapping needed.
    pub requested: u64,
    /// The limit (`RLIMIT_AS` soft limit), bytes.
    pub limit: u64,
    /// Bytes the process had mapped when the mapping was refused (`VmSize`).
    pub mapped: u64,
}

impl fmt::Display for AddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {}-byte mapping ({} MiB) does not fit in this process's address space: it is \
             limited to RLIMIT_AS {} MiB (`ulimit -v`, setrlimit) and {} MiB are mapped \
             already; the limit counts every mapping, not memory in use, so free RAM does \
             not help — raise the limit, or make the array (queue, heap) smaller",
            self.requested,
            self.requested.div_ceil(1 << 20),
            self.limit >> 20,
            self.mapped >> 20
        )
    }
}

/// This process's address-space limit, `None` when unlimited.
fn limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `lim`.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
    (r == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// This process's mapped address space (`VmSize` of `/proc/self/status`), 0 if unknown.
fn mapped() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

/// `Some` when mapping `len` more bytes would pass the limit (the kernel's own test:
/// mapped + len > limit). Reads nothing when no limit is set.
pub(crate) fn refused(len: u64) -> Option<AddressSpace> {
    let limit = limit()?;
    let mapped = mapped();
    (mapped.saturating_add(len) > limit).then_some(AddressSpace { requested: len, limit, mapped })
}

/// For a mapping of `len` bytes that failed with `e`: `Some` when it was `ENOMEM` under a
/// limit the mapping passes (otherwise the error is the system's, reported as it is).
pub(crate) fn explain(len: u64, e: &io::Error) -> Option<AddressSpace> {
    (e.raw_os_error() == Some(libc::ENOMEM)).then(|| refused(len)).flatten()
}
