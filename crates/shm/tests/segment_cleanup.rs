//! Nothing is left in /dev/shm after a creator returns, panics, calls `exit`, or is
//! SIGKILLed; and a full tmpfs is an error at creation, never a SIGBUS later.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroproc_shm::{Backing, CreateError, Layout, Segment, SegmentBuilder};
use zeroproc_testkit as tk;

const L: Layout = Layout::new("test-cleanup", 1);

#[test]
fn zp_child() {
    tk::child_entry(|role, arg| {
        // `arg` is "memfd", "named" (in /dev/shm) or the directory to create a named segment in.
        let backing = match arg {
            "memfd" => Backing::Memfd,
            "named" => Backing::Named("/dev/shm".into()),
            dir => Backing::Named(dir.into()),
        };
        let seg = SegmentBuilder::new(L, 1 << 20).backing(backing).create().unwrap();
        println!("{}", seg.id());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        match role {
            "return" => drop(seg),
            "panic" => {
                let _keep = seg;
                std::panic::set_hook(Box::new(|_| {}));
                panic!("creator panics while holding the segment");
            }
            "exit" => {
                std::mem::forget(seg); // no destructor: only the atexit hook can clean up
                std::process::exit(3);
            }
            "sleep" => {
                let _keep = seg;
                std::thread::sleep(Duration::from_secs(60));
            }
            _ => unreachable!(),
        }
    });
}

/// Runs a creator child; returns (its pid, the segment id it printed, its exit status).
fn run_creator(role: &str, backing: &str) -> (u32, String, std::process::ExitStatus) {
    let mut c = tk::spawn_role_piped("zp_child", role, backing);
    let pid = c.id();
    let out = std::io::BufReader::new(c.stdout.take().unwrap());
    // libtest prints its own lines first; the id is the first line that looks like one.
    let mut lines = out.lines().map(|l| l.unwrap());
    let id = lines.find(|l| l.starts_with("memfd:") || l.starts_with("shm:")).unwrap_or_default();
    if role == "sleep" {
        tk::sigkill(&c);
    }
    lines.for_each(drop); // drain to EOF so the child never writes into a closed pipe
    let st = tk::wait_timeout(&mut c, Duration::from_secs(30));
    (pid, id, st)
}

fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("zeroproc-{pid}-");
    tk::dev_shm_entries().into_iter().filter(|e| e.starts_with(&prefix)).collect()
}

fn leftovers_in(dir: &Path, pid: u32) -> Vec<String> {
    let prefix = format!("zeroproc-{pid}-");
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|e: &String| e.starts_with(&prefix))
        .collect()
}

#[test]
fn named_segment_removed_when_creator_returns_panics_or_exits() {
    for (role, ok_exit) in [("return", Some(0)), ("panic", Some(101)), ("exit", Some(3))] {
        let (pid, id, st) = run_creator(role, "named");
        assert!(id.starts_with("shm:/dev/shm/zeroproc-"), "{role}: printed {id:?}");
        assert_eq!(st.code(), ok_exit, "{role}");
        assert!(leftovers(pid).is_empty(), "{role}: left {:?}", leftovers(pid));
    }
}

#[test]
fn named_segment_of_sigkilled_creator_is_swept_by_next_creation() {
    use std::os::unix::process::ExitStatusExt;
    // A directory of its own: a named creation by a test running in parallel would sweep
    // /dev/shm and remove the stale file before this test looks for it.
    let dir = Path::new("/dev/shm").join(format!("zp-sweep-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pid, _id, st) = run_creator("sleep", dir.to_str().unwrap());
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    // SIGKILL runs no code in the victim: the file is still there...
    assert_eq!(leftovers_in(&dir, pid).len(), 1);
    // ...until the next named creation in that directory sweeps it.
    let next = SegmentBuilder::new(L, 4096).backing(Backing::Named(dir.clone())).create().unwrap();
    assert!(leftovers_in(&dir, pid).is_empty(), "stale segment of dead pid {pid} not swept");
    drop(next);
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn memfd_segment_leaves_nothing_in_dev_shm_even_on_sigkill() {
    use std::os::unix::process::ExitStatusExt;
    for role in ["return", "panic", "exit", "sleep"] {
        let (pid, id, st) = run_creator(role, "memfd");
        assert!(id.starts_with(&format!("memfd:{pid}:")), "{role}: printed {id:?}");
        if role == "sleep" {
            assert_eq!(st.signal(), Some(libc::SIGKILL));
        }
        assert!(leftovers(pid).is_empty());
        // The anonymous file went with its creator: nothing can reach it any more.
        let id: zeroproc_shm::SegmentId = id.parse().unwrap();
        assert!(matches!(Segment::attach(&id, L), Err(zeroproc_shm::AttachError::NotFound(_))));
    }
}

#[test]
fn memfd_request_beyond_available_memory_is_an_error() {
    match Segment::create(L, 1 << 50) {
        Err(CreateError::NoSpace { requested, available }) => assert!(requested > available),
        r => panic!("expected NoSpace, got {r:?}"),
    }
}

/// A private 4 MiB tmpfs, or None when this process may not mount (not root).
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    fn mount() -> Option<Self> {
        // One directory per mount: tests of this binary run in parallel in one process.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zp-tmpfs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            Some(SmallTmpfs(dir))
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn full_tmpfs_is_a_creation_error_not_a_sigbus() {
    let Some(fs) = SmallTmpfs::mount() else {
        eprintln!(
            "SKIPPED: cannot mount a private tmpfs (needs root); full-/dev/shm case untested"
        );
        return;
    };
    let backing = Backing::Named(fs.path().to_owned());
    // Larger than the whole filesystem: refused up front.
    match SegmentBuilder::new(L, 8 << 20).backing(backing.clone()).create() {
        Err(CreateError::NoSpace { .. }) => {}
        r => panic!("expected NoSpace, got {r:?}"),
    }
    // A 3 MiB segment fits; then fill the rest of the filesystem with a file...
    let seg = SegmentBuilder::new(L, 3 << 20).backing(backing.clone()).populate(false).create();
    let seg = seg.unwrap();
    let filler = fs.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![1u8; 64 << 10];
    use std::io::Write;
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    // ...now every page of the segment must still be writable: its space was reserved at
    // creation (a sparse file would SIGBUS here and kill the test process).
    // SAFETY: the data region is ours, data_len bytes long.
    let data = unsafe { std::slice::from_raw_parts_mut(seg.data(), seg.data_len()) };
    for (i, b) in data.iter_mut().enumerate().step_by(4096) {
        *b = i as u8;
    }
    // And a further segment is a clean error.
    match SegmentBuilder::new(L, 1 << 20).backing(backing).create() {
        Err(CreateError::NoSpace { .. }) => {}
        r => panic!("expected NoSpace on a full tmpfs, got {r:?}"),
    }
    drop(seg);
    let _ = std::fs::remove_file(&filler);
}

#[test]
fn a_full_tmpfs_is_a_growth_error_not_a_sigbus() {
    use zeroproc_shm::heap::{AllocError, Heap};
    use zeroproc_shm::{GrowError, Offset, HEADER_SIZE};
    let Some(fs) = SmallTmpfs::mount() else {
        eprintln!("SKIPPED: cannot mount a private tmpfs (needs root); full-tmpfs growth untested");
        return;
    };
    // 64 KiB reserved, up to 16 MiB mapped: more than the 4 MiB filesystem holds.
    let seg = SegmentBuilder::new(L, 64 << 10)
        .max_data_len(16 << 20)
        .backing(Backing::Named(fs.path().to_owned()))
        .create()
        .unwrap();
    let region = Offset::new(HEADER_SIZE as u64);
    let heap = Heap::init_growable(&seg, region, 60 << 10, 16 << 20).unwrap();
    // Growth within the filesystem works and is visible through a second mapping.
    let a = heap.alloc(1 << 20, 16).unwrap();
    let other = Segment::attach(seg.id(), L).unwrap();
    let heap2 = Heap::attach(&other, region).unwrap();
    // SAFETY: `a` is a live block of 1 MiB that only this test uses.
    unsafe { heap2.ptr_len(a, 1 << 20).unwrap().as_ptr().write_bytes(7, 1 << 20) };
    // Past what the filesystem holds: an error, the heap unchanged, nothing faulted.
    match heap.alloc(6 << 20, 16) {
        Err(AllocError::GrowFailed { error: GrowError::NoSpace { .. }, .. }) => {}
        r => panic!("expected GrowFailed(NoSpace), got {r:?}"),
    }
    assert!(matches!(seg.grow_to(15 << 20), Err(GrowError::NoSpace { .. })));
    assert!(heap.region_len() < 6 << 20);
    assert!((seg.committed_len() as u64) < 6 << 20);
    heap.free(a).unwrap();
    heap.check().unwrap();
    assert!(heap2.alloc(1 << 20, 16).is_ok(), "the freed block is reused");
}
