//! What a process maps, from `/proc/<pid>/maps`.

use std::collections::BTreeSet;

/// The inodes of the memfd segments mapped in this process (one per segment, whatever
/// the number of its mappings): a segment gone from here is unmapped.
pub fn memfd_inodes() -> BTreeSet<String> {
    memfd_inodes_of("self")
}

/// [`memfd_inodes`] of process `pid` (`"self"`, or a pid such as a pool worker's).
pub fn memfd_inodes_of(pid: &str) -> BTreeSet<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter(|l| l.contains("/memfd:"))
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .collect()
}
