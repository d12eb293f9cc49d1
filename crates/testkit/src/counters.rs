//! Counters shared by a test process and the worker processes it starts: a file of
//! `u32`s under `/tmp`, named after a tag, the test process (the workers' parent) and a
//! round, mapped `MAP_SHARED` once per process and round and never unmapped. A job
//! counts its runs with an atomic add; the test reads the counts after the map.
//!
//! ```ignore
//! // In the test process:
//! zeroproc_testkit::counters::create("steal", round, N);
//! // In a worker (its parent is the test process):
//! zeroproc_testkit::counters::open("steal", std::os::unix::process::parent_id(), round, N)[i]
//!     .fetch_add(1, Ordering::Relaxed);
//! // Back in the test process:
//! let runs = zeroproc_testkit::counters::open("steal", std::process::id(), round, N);
//! zeroproc_testkit::counters::remove("steal", round);
//! ```

use std::sync::atomic::AtomicU32;
use std::sync::Mutex;

fn path(tag: &str, parent: u32, round: u64) -> String {
    format!("/tmp/zp-{tag}-{parent}-{round}")
}

/// Creates round `round`'s file of `len` zeroed counters, in the test process.
pub fn create(tag: &str, round: u64, len: usize) {
    let f = std::fs::File::create(path(tag, std::process::id(), round)).unwrap();
    f.set_len(len as u64 * 4).unwrap();
}

/// The `len` counters of round `round` created by the test process `parent` (a worker
/// passes its parent's pid, the test process its own), mapped at the first call.
pub fn open(tag: &str, parent: u32, round: u64, len: usize) -> &'static [AtomicU32] {
    type Mapped = (String, usize);
    static MAPS: Mutex<Vec<Mapped>> = Mutex::new(Vec::new());
    let name = path(tag, parent, round);
    let mut maps = MAPS.lock().unwrap();
    let at = match maps.iter().find(|m| m.0 == name) {
        Some(m) => m.1,
        None => {
            let f = std::fs::OpenOptions::new().read(true).write(true).open(&name).unwrap();
            // SAFETY: a shared mapping of `len` u32s of the file (`create` sized it so),
            // never unmapped.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len * 4,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    std::os::fd::AsRawFd::as_raw_fd(&f),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED, "mapping {name}");
            maps.push((name, p as usize));
            p as usize
        }
    };
    // SAFETY: the mapping lives for ever and holds `len` u32s, page-aligned; an
    // `AtomicU32` has the layout of a `u32`.
    unsafe { std::slice::from_raw_parts(at as *const AtomicU32, len) }
}

/// Removes round `round`'s file (its mappings stay valid), in the test process.
pub fn remove(tag: &str, round: u64) {
    let _ = std::fs::remove_file(path(tag, std::process::id(), round));
}
