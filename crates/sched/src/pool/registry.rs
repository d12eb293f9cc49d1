//! The registry of running pools, so that `zeroproc top` can find them.
//!
//! A pool's segment is an anonymous memfd (nothing in `/dev/shm`): other processes of the
//! same user reach it through `/proc/PID/fd/FD`, which they must be told. So every
//! [`Pool`](super::Pool) writes one small file when it is built and removes it when it is
//! dropped:
//!
//! * directory: `$XDG_RUNTIME_DIR/zeroproc/`, else `/tmp/zeroproc-<uid>/`; created mode
//!   0700, and refused (no registration, no listing) if it exists but is a symlink, is
//!   owned by someone else or is open to group or others;
//! * file: `<pid>-<start ticks>-<token>.pool`, mode 0600, written under a temporary name
//!   and renamed, holding `key=value` lines: `segment` (the pool segment's id), `pid`,
//!   `name`, `workers`, `started` (Unix ms), `exe`.
//!
//! The entry is written by the pool's supervisor thread while the workers start (off the
//! build's critical path: an entry costs ~0.3 ms of file-system calls on a disk-backed
//! `/tmp`) and removed when that thread ends, i.e. once the pool is shut down and its
//! workers have exited (`Pool`'s drop waits for that).
//!
//! The pid *and* the process start time (field 22 of `/proc/PID/stat`) identify the
//! owner, so an entry left by a SIGKILLed controller is recognised as stale even after
//! its pid was reused. Stale entries are never listed, and are removed by
//! [`running_pools`] and by every registration. A registration that cannot be written
//! (read-only or hostile directory) is skipped: a pool works without it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroproc_shm::SegmentId;

/// File-name suffix of registry entries.
const SUFFIX: &str = ".pool";
/// File-name suffix of entries being written.
const TMP_SUFFIX: &str = ".tmp";

/// A running pool, as its registry entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    /// The pool's name ([`PoolBuilder::name`](super::PoolBuilder::name), default
    /// `<executable>-<pid>`).
    pub name: String,
    /// Pid of the controller (the process that built the pool).
    pub pid: u32,
    /// Number of worker slots.
    pub workers: usize,
    /// When the pool was built (wall clock).
    pub started: SystemTime,
    /// The pool segment, for [`PoolObserver::attach`](super::PoolObserver::attach).
    pub segment: SegmentId,
    /// The controller's executable.
    pub exe: String,
    /// The entry's file.
    pub path: PathBuf,
}

impl PoolEntry {
    /// Time since the pool was built (zero if the clock went back).
    pub fn uptime(&self) -> Duration {
        SystemTime::now().duration_since(self.started).unwrap_or_default()
    }
}

/// A pool's entry, removed when dropped (by the pool's supervisor thread, as it ends).
#[derive(Debug)]
pub(crate) struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The registry directory of this user (it may not exist yet).
pub fn registry_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        if d.is_absolute() && d.is_dir() {
            return d.join("zeroproc");
        }
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    // Not `temp_dir()`: every process of the user must agree, whatever its TMPDIR.
    PathBuf::from(format!("/tmp/zeroproc-{uid}"))
}

/// The registry directory, created if needed; `None` if it cannot be trusted (not a
/// directory, a symlink, another owner, open to group or others) or created.
fn trusted_dir(create: bool) -> Option<PathBuf> {
    let dir = registry_dir();
    if create {
        // Mode 0700 from the start (then checked below, whoever created it).
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    }
    let md = std::fs::symlink_metadata(&dir).ok()?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    (md.is_dir() && md.uid() == me && md.mode() & 0o077 == 0).then_some(dir)
}

/// Start time of process `pid` in clock ticks since boot (field 22 of its stat), which
/// together with the pid names one process for the life of the machine.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after it are
    // counted from the last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `ticks` still runs.
fn owner_alive(pid: u32, ticks: u64) -> bool {
    start_ticks(pid) == Some(ticks) && zeroproc_shm::process::is_alive(pid)
}

/// The (pid, start ticks) an entry's file name encodes.
fn owner_of(file_name: &str) -> Option<(u32, u64)> {
    let stem = file_name.strip_suffix(SUFFIX).or_else(|| file_name.strip_suffix(TMP_SUFFIX))?;
    let stem = stem.strip_prefix('.').unwrap_or(stem);
    let mut it = stem.split('-');
    let pid = it.next()?.parse().ok()?;
    let ticks = it.next()?.parse().ok()?;
    Some((pid, ticks))
}

/// Removes the entries (and half-written ones) whose owner no longer runs.
fn sweep(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some((pid, ticks)) = name.to_str().and_then(owner_of) else { continue };
        if !owner_alive(pid, ticks) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Replaces characters that would break the one-line-per-key format.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The default pool name: `<executable file name>-<pid>`.
pub(crate) fn default_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("pool")
        .to_owned();
    format!("{stem}-{}", std::process::id())
}

/// Writes this process's entry for a pool; `None` if the registry is unusable.
#[cold]
pub(crate) fn register(segment: &SegmentId, name: &str, workers: usize) -> Option<Registration> {
    let dir = trusted_dir(true)?;
    sweep(&dir);
    let pid = std::process::id();
    let ticks = start_ticks(pid)?;
    let stem = format!("{pid}-{ticks}-{:016x}", segment.token());
    let path = dir.join(format!("{stem}{SUFFIX}"));
    let tmp = dir.join(format!(".{stem}{TMP_SUFFIX}"));
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let text = format!(
        "segment={segment}\npid={pid}\nname={}\nworkers={workers}\nstarted={started}\nexe={}\n",
        clean(name),
        clean(&exe)
    );
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    match written {
        Ok(()) => Some(Registration { path }),
        Err(_) => {
            let _ = std::fs::remove_file(&tmp);
            None
        }
    }
}

/// An entry is a few hundred bytes; anything larger is not one.
const MAX_ENTRY: u64 = 16 << 10;

/// Reads one entry file without following a symlink or blocking on a FIFO or device
/// (`O_NONBLOCK`): `None` unless it is a regular file of at most [`MAX_ENTRY`] bytes.
fn read_entry(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let md = f.metadata().ok()?;
    if !md.is_file() || md.len() > MAX_ENTRY {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_ENTRY).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Parses one entry file (`None` if malformed).
fn parse(path: &Path, text: &str) -> Option<PoolEntry> {
    let get =
        |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
    let ms: u64 = get("started")?.parse().ok()?;
    Some(PoolEntry {
        name: get("name")?.to_owned(),
        pid: get("pid")?.parse().ok()?,
        workers: get("workers")?.parse().ok()?,
        started: UNIX_EPOCH + Duration::from_millis(ms),
        segment: get("segment")?.parse().ok()?,
        exe: get("exe").unwrap_or("").to_owned(),
        path: path.to_owned(),
    })
}

/// The pools of this user that are running now, by pid. Entries of processes that no
/// longer run are removed on the way.
pub fn running_pools() -> Vec<PoolEntry> {
    let Some(dir) = trusted_dir(false) else { return Vec::new() };
    sweep(&dir);
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<PoolEntry> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            if !name.ends_with(SUFFIX) || name.starts_with('.') {
                return None;
            }
            let (pid, ticks) = owner_of(name)?;
            let text = read_entry(&e.path())?;
            let entry = parse(&e.path(), &text)?;
            (entry.pid == pid && owner_alive(pid, ticks)).then_some(entry)
        })
        .collect();
    out.sort_by(|a, b| (a.pid, a.started, &a.name).cmp(&(b.pid, b.started, &b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_encode_the_owner() {
        assert_eq!(owner_of("12-345-00000000000000ff.pool"), Some((12, 345)));
        assert_eq!(owner_of(".12-345-00000000000000ff.tmp"), Some((12, 345)));
        assert_eq!(owner_of("notes.txt"), None);
        assert_eq!(owner_of("x-1-2.pool"), None);
    }

    #[test]
    fn own_start_time_is_stable_and_alive() {
        let me = std::process::id();
        let t = start_ticks(me).expect("own stat");
        assert_eq!(start_ticks(me), Some(t));
        assert!(owner_alive(me, t));
        assert!(!owner_alive(me, t + 1), "another start time is another process");
    }

    #[test]
    fn entries_parse_and_names_are_one_line() {
        let text = "segment=memfd:1:2:00000000000000ff\npid=1\nname=a b\nworkers=3\n\
                    started=1000\nexe=/x\n";
        let e = parse(Path::new("/r/1-2-ff.pool"), text).unwrap();
        assert_eq!((e.pid, e.workers, e.name.as_str()), (1, 3, "a b"));
        assert_eq!(e.started, UNIX_EPOCH + Duration::from_secs(1));
        assert!(parse(Path::new("/r/x"), "pid=1\n").is_none());
        assert_eq!(clean("a\nb\tc"), "a b c");
    }
}
