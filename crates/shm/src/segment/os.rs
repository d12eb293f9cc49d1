//! The system calls behind segments: memfd or O_EXCL file creation, space reservation,
//! mapping, random tokens, and cleanup of named segments left by dead creators.

use super::CreateError;
use crate::fork::ForkLocal;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

pub(crate) fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// 64 random bits from the kernel's CSPRNG.
pub(crate) fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        // SAFETY: writes at most `8 - got` bytes into `buf[got..]`, which is in bounds.
        let r = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), 8 - got, 0) };
        if r > 0 {
            got += r as usize;
        } else if last_err().raw_os_error() != Some(libc::EINTR) {
            panic!("getrandom failed: {}", last_err());
        }
    }
    u64::from_ne_bytes(buf)
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

pub(crate) fn memfd(name: &str) -> Result<OwnedFd, CreateError> {
    let c = CString::new(name).expect("no NUL in name");
    // SAFETY: `c` is a valid C string; the flags are plain integers.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(CreateError::Io("memfd_create", last_err()));
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let fd = above_stdio(fd).map_err(|e| CreateError::Io("fcntl(F_DUPFD_CLOEXEC)", e))?;
    // A memfd is created 0777; make it 0600 like every other segment (attach checks it).
    // SAFETY: `fd` is a valid descriptor we own.
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) } != 0 {
        return Err(CreateError::Io("fchmod", last_err()));
    }
    Ok(fd)
}

pub(crate) fn open_excl(path: &Path) -> Result<OwnedFd, CreateError> {
    let c = cpath(path);
    // SAFETY: `c` is a valid C string; O_EXCL makes this fail if anything is there.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(CreateError::Io("open(O_CREAT|O_EXCL)", last_err()));
    }
    // SAFETY: freshly returned descriptor, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    above_stdio(fd).map_err(|e| CreateError::Io("fcntl(F_DUPFD_CLOEXEC)", e))
}

/// The lowest descriptor a segment may have: above stdin, stdout and stderr.
pub(crate) const FIRST_SEGMENT_FD: libc::c_int = 3;

/// `fd`, moved above the standard descriptors if it is one of 0, 1, 2.
///
/// A process that closed its stdout or stderr (a job tidying up, a daemon that closes
/// them instead of pointing them at `/dev/null`) gets that number back from its next
/// `open`: a segment there would take every `println!`/`eprintln!` — and a panic's
/// message — as a write into its file at offset 0, over its header (found by svc32: a job
/// closed fds 1 and 2, its worker then attached the spill heap as fd 1, and the next job's
/// `println!` wrote over the heap's header: every later large payload of every worker
/// failed with "spill heap: Foreign { magic: .. }" for the pool's life). The standard
/// number is left closed, as the process had it.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= FIRST_SEGMENT_FD {
        return Ok(fd);
    }
    // SAFETY: `fd` is a valid descriptor we own; F_DUPFD_CLOEXEC returns a new one (the
    // lowest free at or above 3, close-on-exec like the original) or -1.
    let moved = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, FIRST_SEGMENT_FD) };
    if moved < 0 {
        return Err(last_err());
    }
    // SAFETY: freshly returned descriptor, owned by nobody else. `fd` is closed on return.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

pub(crate) fn cpath(path: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in path")
}

/// Memory available for a new segment of `request` bytes: [`mem_available`], or a reading
/// of it at most 100 ms old while the request is under a sixteenth of that reading.
/// Creating a small segment (a queue, a dict) spent ~30 µs of its ~75 µs reading
/// `/proc/meminfo` and the cgroup's `memory.stat`; a large one always reads afresh.
///
/// The reading kept is lowered by each request it answers: segments created one after
/// another within the 100 ms are counted against it, as a fresh reading would count the
/// pages they allocated. Without that, a burst of small segments under a memory cgroup
/// passed this check together past the limit, and the cgroup's OOM killer ended the
/// process in a `fallocate` instead of a `NoSpace` (a segment reserved later is counted
/// too: the reading can only be low, and a request too large for it reads afresh).
///
/// The kept reading is behind a lock that is never waited for: a caller that finds it
/// taken reads afresh. A child forked while another thread held it would otherwise wait
/// for ever on its first segment (children forked beside a reading thread did: the test
/// `a_child_forked_during_a_memory_reading_can_read_it` took 95 s, ~19 of 20 children
/// ended by their 5 s alarm).
pub(crate) fn mem_available_for(request: u64) -> u64 {
    use std::sync::{Mutex, TryLockError};
    use std::time::{Duration, Instant};
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = match LAST.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return mem_available(),
    };
    let (at, avail) = match *last {
        Some((at, avail)) if at.elapsed() < Duration::from_millis(100) && request < avail / 16 => {
            (at, avail)
        }
        _ => (Instant::now(), mem_available()),
    };
    *last = Some((at, avail.saturating_sub(request)));
    avail
}

/// Bytes of RAM this process can still get for memfd pages: what the kernel reports as
/// available, or less under a memory cgroup's limit (a Slurm job, a container), whose
/// pages are charged to the cgroup — past its limit `fallocate` does not fail, the
/// cgroup's OOM killer kills the process instead.
pub(crate) fn mem_available() -> u64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let host = s
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX);
    host.min(cgroup_available().unwrap_or(u64::MAX))
}

/// Room left under the memory limits of this process's cgroup and its ancestors (v2, or
/// v1's memory controller), `None` where no limit is found. Reclaimable file cache
/// (`inactive_file`) counts as room, as the kernel reclaims it before killing anything.
///
/// Which levels have a limit is found once per process (a segment creation must stay
/// cheap: reading every level's files each time tripled its cost); a limit set later on
/// a level that had none then is not seen. Each call reads the limited levels' usage.
/// Found again in a forked child ([`ForkLocal`]): one forked while another thread was
/// finding them waited for ever on its first segment.
fn cgroup_available() -> Option<u64> {
    static LIMITED: ForkLocal<std::sync::OnceLock<Vec<CgroupLevel>>> =
        ForkLocal::new(std::sync::OnceLock::new);
    let mut best: Option<u64> = None;
    for level in LIMITED.get().get_or_init(limited_cgroup_levels) {
        let read = |name: &str| std::fs::read_to_string(level.dir.join(name)).ok();
        let num = |v: Option<String>| v.and_then(|v| v.trim().parse::<u64>().ok());
        let Some(limit) = num(read(level.files[0])) else { continue };
        let usage = num(read(level.files[1])).unwrap_or(0);
        let reclaimable = read("memory.stat")
            .and_then(|st| {
                st.lines().find_map(|l| l.strip_prefix(level.files[2])?.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        let room = cgroup_room(limit, usage, reclaimable);
        best = Some(best.map_or(room, |b| b.min(room)));
    }
    best
}

/// A cgroup directory with a memory limit, and its files: limit, usage, and the
/// `memory.stat` key of reclaimable file cache.
struct CgroupLevel {
    dir: std::path::PathBuf,
    files: [&'static str; 3],
}

/// The levels from the cgroup root down to this process's cgroup whose memory limit is
/// set (v2: "0::/path" under /sys/fs/cgroup; v1: "N:memory:/path" under its controller).
fn limited_cgroup_levels() -> Vec<CgroupLevel> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut out = Vec::new();
    for line in groups.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (root, files) = if controllers.is_empty() {
            ("/sys/fs/cgroup", ["memory.max", "memory.current", "inactive_file "])
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                "/sys/fs/cgroup/memory",
                ["memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file "],
            )
        } else {
            continue;
        };
        let mut dir = std::path::PathBuf::from(root);
        let mut levels = vec![dir.clone()];
        for part in path.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            levels.push(dir.clone());
        }
        for dir in levels {
            // "max" (v2) or about i64::MAX (v1) is no limit; a missing file (a namespaced
            // path) is none found.
            let limit = std::fs::read_to_string(dir.join(files[0]))
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if limit.is_some_and(|l| l < 1 << 62) {
                out.push(CgroupLevel { dir, files });
            }
        }
    }
    out
}

/// Room under a cgroup `limit` with `usage` charged, of which `reclaimable` is file cache.
fn cgroup_room(limit: u64, usage: u64, reclaimable: u64) -> u64 {
    limit.saturating_sub(usage.saturating_sub(reclaimable))
}

/// Free bytes in the filesystem holding `dir`.
pub(crate) fn fs_available(dir: &Path) -> u64 {
    let c = cpath(dir);
    // SAFETY: statvfs writes into `st`, a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string, `st` a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return u64::MAX;
    }
    st.f_bavail as u64 * st.f_frsize as u64
}

/// This process's file-size limit (`RLIMIT_FSIZE`, `ulimit -f`), if any.
pub(crate) fn file_size_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid resource and a properly sized out pointer.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } == 0;
    (got && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// `EFBIG` for a file of `len` bytes past [`file_size_limit`], found before the call
/// that would extend it: past the limit `ftruncate` and `fallocate` raise SIGXFSZ, whose
/// default action kills the process (CPython ignores SIGXFSZ at start-up, so its
/// `SharedMemory` gets `OSError: File too large`; a library leaves the signal alone).
pub(crate) fn check_file_size(len: u64) -> io::Result<()> {
    match file_size_limit() {
        Some(limit) if len > limit => Err(io::Error::from_raw_os_error(libc::EFBIG)),
        _ => Ok(()),
    }
}

/// Sets the file's size to `len` bytes (no page allocated).
pub(crate) fn size(fd: &OwnedFd, len: u64) -> Result<(), CreateError> {
    check_file_size(len).map_err(|e| CreateError::Io("ftruncate", e))?;
    // SAFETY: `fd` is a valid descriptor we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(CreateError::Io("ftruncate", last_err()));
    }
    Ok(())
}

/// Allocates the file's first `len` bytes now (tmpfs pages, zeroed), so running out of
/// space is an error here and never a SIGBUS on first touch.
pub(crate) fn allocate(fd: &OwnedFd, len: u64) -> Result<(), CreateError> {
    check_file_size(len).map_err(|e| CreateError::Io("fallocate", e))?;
    // SAFETY: `fd` is a valid descriptor; mode 0 allocates the range (tmpfs supports it).
    let r = unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r != 0 {
        let e = last_err();
        return Err(match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::ENOMEM) => {
                CreateError::NoSpace { requested: len, available: 0 }
            }
            _ => CreateError::Io("fallocate", e),
        });
    }
    Ok(())
}

/// Maps `len` bytes of `fd` shared and read-write (`populate`: pre-fault the page tables).
pub(crate) fn map(fd: &OwnedFd, len: usize, populate: bool) -> io::Result<*mut u8> {
    map_prot(fd, len, populate, libc::PROT_READ | libc::PROT_WRITE)
}

/// Maps `len` bytes of `fd` shared with protection `prot`.
pub(crate) fn map_prot(
    fd: &OwnedFd,
    len: usize,
    populate: bool,
    prot: libc::c_int,
) -> io::Result<*mut u8> {
    let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
    // SAFETY: a fresh mapping chosen by the kernel (addr = null); `fd` is valid.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        Err(last_err())
    } else {
        Ok(p.cast())
    }
}

/// Faults in (and allocates) every page of the mapping `[p, p + len)` for writing.
pub(crate) fn populate_write(p: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: `[p, p + len)` is one whole mapping of ours (a segment's), page aligned;
    // populating changes no byte of it.
    let r = unsafe { libc::madvise(p.cast(), len, libc::MADV_POPULATE_WRITE) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_err())
    }
}

// ---- named segments: unlink at exit, sweep after dead creators ----

/// The named segments this process created and has not unlinked. Per fork generation
/// ([`ForkLocal`]): a child forked while another thread registered one got the list locked
/// for ever (its first named segment, and its `exit`, hung), and a child that exited
/// normally unlinked its parent's segments from under it.
pub(super) static NAMED: ForkLocal<Mutex<Vec<CString>>> = ForkLocal::new(|| Mutex::new(Vec::new()));

extern "C" fn unlink_all_at_exit() {
    if let Ok(mut v) = NAMED.get().lock() {
        for p in v.drain(..) {
            // SAFETY: `p` is a valid C string.
            unsafe { libc::unlink(p.as_ptr()) };
        }
    }
}

/// Remembers a named segment so that `exit()` (which skips destructors) still unlinks it.
pub(crate) fn register_named(path: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(unlink_all_at_exit) };
    });
    NAMED.get().lock().unwrap_or_else(|e| e.into_inner()).push(cpath(path));
}

/// Unlinks a named segment now and forgets it.
pub(crate) fn unlink_named(path: &Path) {
    let c = cpath(path);
    let mut v = NAMED.get().lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|p| p != &c);
    // SAFETY: `c` is a valid C string.
    unsafe { libc::unlink(c.as_ptr()) };
}

/// File-name prefix of named segments: `zeroproc-<creator pid>-<random>`.
pub(crate) const NAME_PREFIX: &str = "zeroproc-";

/// The creator's pid in a named segment's file name (`zeroproc-<pid>-<random>`).
pub(crate) fn creator_of(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix(NAME_PREFIX)?;
    rest.split('-').next()?.parse::<u32>().ok()
}

/// Removes `zeroproc-<pid>-*` files in `dir` whose creator pid no longer exists: what a
/// SIGKILLed creator could not clean up itself. Returns how many were removed.
pub fn sweep_stale(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = creator_of(name) else { continue };
        if !crate::process::is_alive(pid) && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}
