//! How to create and fill a large memfd, and how a second mapping (a worker's) first
//! touches it: the measurements behind `SharedArray::from_slice` (docs/performance.md,
//! issue #14). Every way is timed interleaved with the others; medians are printed.
//!
//! `cargo run --release -p zeroproc-shm --example memfd_fill [MiB] [repetitions]`

use std::io::Error;
use std::time::Instant;

/// How the pages get their data.
#[derive(Clone, Copy)]
enum Fill {
    /// `mmap(MAP_POPULATE)`, then copy through the mapping.
    MapPopulate,
    /// `madvise(MADV_POPULATE_WRITE)`, then copy through the mapping.
    MadvPopulate,
    /// Copy through a fresh mapping, faulting.
    Fault,
    /// `pwrite` into the file; the mapping is not populated.
    Pwrite,
}

const WAYS: [(&str, bool, Fill); 6] = [
    ("fallocate + MAP_POPULATE + copy", true, Fill::MapPopulate),
    ("fallocate + MADV_POPULATE_WRITE + copy", true, Fill::MadvPopulate),
    ("no fallocate, faults during the copy", false, Fill::Fault),
    ("fallocate, faults during the copy", true, Fill::Fault),
    ("fallocate + pwrite", true, Fill::Pwrite),
    ("pwrite only", false, Fill::Pwrite),
];

/// This thread's CPU time (user + system), ms.
fn cpu_ms() -> f64 {
    // SAFETY: rusage is plain integers; all-zero is a valid value to be overwritten.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer for the calling thread's usage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 * 1e3 + v.tv_usec as f64 / 1e3;
    t(u.ru_utime) + t(u.ru_stime)
}

fn check(ok: bool, what: &str) {
    assert!(ok, "{what}: {}", Error::last_os_error());
}

/// Creates a memfd of `src.len()` bytes filled with `src` one way; returns (wall, CPU) ms.
fn create(src: &[u8], reserve: bool, fill: Fill) -> (f64, f64) {
    let (len, c0, t0) = (src.len(), cpu_ms(), Instant::now());
    // SAFETY: plain syscalls on a descriptor and a mapping this function owns; the copy
    // targets the `len` bytes just mapped, which nothing else references.
    unsafe {
        let fd = libc::memfd_create(c"memfd_fill".as_ptr(), libc::MFD_CLOEXEC);
        check(fd >= 0, "memfd_create");
        check(libc::ftruncate(fd, len as i64) == 0, "ftruncate");
        if reserve {
            check(libc::fallocate(fd, 0, 0, len as i64) == 0, "fallocate");
        }
        if let Fill::Pwrite = fill {
            let n = libc::pwrite(fd, src.as_ptr().cast(), len, 0);
            check(n == len as isize, "pwrite");
        }
        let populate = if let Fill::MapPopulate = fill { libc::MAP_POPULATE } else { 0 };
        let p = libc::mmap(std::ptr::null_mut(), len, 3, libc::MAP_SHARED | populate, fd, 0);
        check(p != libc::MAP_FAILED, "mmap");
        if let Fill::MadvPopulate = fill {
            check(libc::madvise(p, len, libc::MADV_POPULATE_WRITE) == 0, "madvise");
        }
        if !matches!(fill, Fill::Pwrite) {
            std::ptr::copy_nonoverlapping(src.as_ptr(), p.cast::<u8>(), len);
        }
        let r = (t0.elapsed().as_secs_f64() * 1e3, cpu_ms() - c0);
        libc::munmap(p, len);
        libc::close(fd);
        r
    }
}

/// A second mapping of a filled memfd, populated `how` (0 lazily, 1 MAP_POPULATE,
/// 2 MADV_POPULATE_READ, 3 MADV_WILLNEED), then summed: (wall ms, minor faults).
fn attach_and_sum(fd: i32, len: usize, how: usize) -> (f64, i64) {
    let t0 = Instant::now();
    // SAFETY: a fresh shared mapping of `fd` (at least `len` bytes long), read as u64s
    // (any bits are valid) and unmapped before returning.
    unsafe {
        let fl = libc::MAP_SHARED | if how == 1 { libc::MAP_POPULATE } else { 0 };
        let q = libc::mmap(std::ptr::null_mut(), len, 3, fl, fd, 0);
        check(q != libc::MAP_FAILED, "mmap");
        match how {
            2 => check(libc::madvise(q, len, libc::MADV_POPULATE_READ) == 0, "madvise"),
            3 => check(libc::madvise(q, len, libc::MADV_WILLNEED) == 0, "madvise"),
            _ => {}
        }
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        let f0 = ru.ru_minflt;
        let x = std::slice::from_raw_parts(q.cast::<u64>(), len / 8);
        std::hint::black_box(x.iter().fold(0u64, |a, b| a.wrapping_add(*b)));
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        let r = (t0.elapsed().as_secs_f64() * 1e3, ru.ru_minflt - f0);
        libc::munmap(q, len);
        r
    }
}

/// (wall, CPU) ms of `f`.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (c0, t0) = (cpu_ms(), Instant::now());
    f();
    (t0.elapsed().as_secs_f64() * 1e3, cpu_ms() - c0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let arg =
        |i: usize, d: usize| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (len, reps) = (arg(1, 256) << 20, arg(2, 9).max(1));
    let src = vec![7u8; len];
    let mut warm = vec![1u8; len];
    let mut t: Vec<Vec<(f64, f64)>> = vec![Vec::new(); WAYS.len() + 2];
    for _ in 0..reps {
        t[0].push(timed(|| {
            warm.copy_from_slice(&src);
            std::hint::black_box(&mut warm);
        }));
        t[1].push(timed(|| drop(std::hint::black_box(src.to_vec()))));
        for (i, &(_, reserve, fill)) in WAYS.iter().enumerate() {
            t[i + 2].push(create(&src, reserve, fill));
        }
    }
    println!("{} MiB, medians of {reps} interleaved repetitions: wall ms, CPU ms", len >> 20);
    let names = ["memcpy into touched memory", "to_vec (memcpy into fresh memory)"];
    for (i, r) in t.into_iter().enumerate() {
        let name = names.get(i).copied().unwrap_or_else(|| WAYS[i - 2].0);
        let (w, c): (Vec<f64>, Vec<f64>) = r.into_iter().unzip();
        println!("  {name:42} {:7.1} {:7.1}", median(w), median(c));
    }
    attach(&src, reps);
}

/// The worker's side: a second mapping of a filled memfd, first touched by a sum.
fn attach(src: &[u8], reps: usize) {
    let len = src.len();
    // SAFETY: a memfd of our own, filled by pwrite; closed at the end.
    let fd = unsafe { libc::memfd_create(c"memfd_fill".as_ptr(), libc::MFD_CLOEXEC) };
    check(fd >= 0, "memfd_create");
    // SAFETY: `fd` is ours; `src` is `len` readable bytes.
    check(unsafe { libc::ftruncate(fd, len as i64) } == 0, "ftruncate");
    // SAFETY: as above.
    check(unsafe { libc::pwrite(fd, src.as_ptr().cast(), len, 0) } == len as isize, "pwrite");
    let ways = ["lazily (faults)", "MAP_POPULATE", "MADV_POPULATE_READ", "MADV_WILLNEED"];
    let mut t: Vec<Vec<(f64, i64)>> = vec![Vec::new(); ways.len()];
    for _ in 0..reps {
        for (how, r) in t.iter_mut().enumerate() {
            r.push(attach_and_sum(fd, len, how));
        }
    }
    println!("second mapping + sum: wall ms, minor faults while summing");
    for (name, r) in ways.iter().zip(t) {
        let faults = r[0].1;
        println!("  {name:42} {:7.1} {faults:7}", median(r.into_iter().map(|x| x.0).collect()));
    }
    // SAFETY: closes our own descriptor.
    unsafe { libc::close(fd) };
}
