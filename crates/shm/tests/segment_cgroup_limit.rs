//! A segment larger than the room left under the process's memory cgroup limit (a Slurm
//! job's, a container's) is `CreateError::NoSpace`, as on a machine short of RAM — not the
//! cgroup's OOM killer's SIGKILL in the middle of `fallocate` (the free-memory check read
//! only the machine's `MemAvailable`).
//!
//! Needs a writable memory cgroup (root, cgroup v1 memory controller or v2 with memory
//! delegated): elsewhere the test says so and checks nothing.

use std::path::PathBuf;
use std::process::Command;
use zeroproc_shm::{CreateError, Layout, Segment};

const L: Layout = Layout::new("test-cgroup", 1);
const CHILD: &str = "ZEROPROC_TEST_CGROUP_CHILD";

/// This process's memory cgroup directory and the name of its limit file.
fn own_memory_cgroup() -> Option<(PathBuf, &'static str)> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in groups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some((
                PathBuf::from("/sys/fs/cgroup/memory").join(rel),
                "memory.limit_in_bytes",
            ));
        }
        if controllers.is_empty() && PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Some((PathBuf::from("/sys/fs/cgroup").join(rel), "memory.max"));
        }
    }
    None
}

/// Runs this test binary's test `test` again in a child placed in a new memory cgroup of
/// 64 MiB (`env` names the cgroup's `cgroup.procs` for the child to join), and returns
/// the child's exit status and output; `None` (skipped, said on stderr) where no such
/// cgroup can be made.
fn in_a_64_mib_cgroup(test: &str, env: &str) -> Option<(std::process::ExitStatus, String)> {
    let Some((mine, limit_file)) = own_memory_cgroup() else {
        eprintln!("no memory cgroup found: skipped");
        return None;
    };
    let dir = mine.join(format!("zeroproc-test-{test}-{}", std::process::id()));
    if std::fs::create_dir(&dir).is_err()
        || std::fs::write(dir.join(limit_file), (64u64 << 20).to_string()).is_err()
    {
        let _ = std::fs::remove_dir(&dir);
        eprintln!("cannot create a limited memory cgroup under {mine:?}: skipped");
        return None;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(env, dir.join("cgroup.procs"))
        .output()
        .expect("run the child");
    let _ = std::fs::remove_dir(&dir);
    Some((out.status, String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[test]
fn a_segment_past_the_cgroup_limit_is_no_space() {
    if let Ok(procs) = std::env::var(CHILD) {
        // The child: join the limited cgroup, then ask for 256 MiB.
        std::fs::write(&procs, std::process::id().to_string()).expect("join the cgroup");
        match Segment::create(L, 256 << 20) {
            Err(CreateError::NoSpace { requested, available }) => {
                println!("CHILD NoSpace requested={requested} available={available}")
            }
            Err(e) => println!("CHILD other error: {e}"),
            Ok(_) => println!("CHILD created"),
        }
        return;
    }
    let Some((status, stdout)) =
        in_a_64_mib_cgroup("a_segment_past_the_cgroup_limit_is_no_space", CHILD)
    else {
        return;
    };
    assert!(
        status.success() && stdout.contains("CHILD NoSpace"),
        "child under a 64 MiB cgroup creating 256 MiB: {:?}\n{stdout}",
        status
    );
}

const BURST_CHILD: &str = "ZEROPROC_TEST_CGROUP_BURST_CHILD";

/// Segments created one after another, each small next to the room left (under a
/// sixteenth of it) but together past the cgroup's limit, end with `NoSpace` — not with
/// the cgroup's OOM killer's SIGKILL in the middle of one's `fallocate`. A reading of the
/// available memory reused for 100 ms must count the segments created since it was taken.
#[test]
fn segments_created_in_a_burst_past_the_cgroup_limit_are_no_space() {
    if let Ok(procs) = std::env::var(BURST_CHILD) {
        std::fs::write(&procs, std::process::id().to_string()).expect("join the cgroup");
        let mut kept = Vec::new();
        for i in 0..64 {
            // 3 MiB each (every page allocated at creation): 192 MiB in all, under 64 MiB.
            match Segment::create(L, 3 << 20) {
                Ok(s) => kept.push(s),
                Err(CreateError::NoSpace { requested, available }) => {
                    println!("CHILD NoSpace at {i}: requested={requested} available={available}");
                    return;
                }
                Err(e) => {
                    println!("CHILD other error at {i}: {e}");
                    return;
                }
            }
        }
        println!("CHILD created all");
        return;
    }
    let Some((status, stdout)) = in_a_64_mib_cgroup(
        "segments_created_in_a_burst_past_the_cgroup_limit_are_no_space",
        BURST_CHILD,
    ) else {
        return;
    };
    assert!(
        status.success() && stdout.contains("CHILD NoSpace"),
        "child under a 64 MiB cgroup creating 3 MiB segments in a burst: {:?}\n{stdout}",
        status
    );
}

const LATER_CHILD: &str = "ZEROPROC_TEST_CGROUP_LATER_CHILD";

/// Large segments created with `reserve_later` (a pool's with big rings: 4 rings of 8 MiB
/// are a 32 MiB segment) under a 64 MiB cgroup: the one that does not fit next to those
/// already created is `NoSpace`, as with the default — not a SIGKILL from the cgroup's OOM
/// killer later, when the jobs first touch pages no check counted.
#[test]
fn large_segments_reserved_later_past_the_cgroup_limit_are_no_space() {
    if let Ok(procs) = std::env::var(LATER_CHILD) {
        std::fs::write(&procs, std::process::id().to_string()).expect("join the cgroup");
        let mut kept = Vec::new();
        for i in 0..8 {
            match zeroproc_shm::SegmentBuilder::new(L, 24 << 20).reserve_later().create() {
                Ok(s) => kept.push(s),
                Err(CreateError::NoSpace { requested, available }) => {
                    println!("CHILD NoSpace at {i}: requested={requested} available={available}");
                    break;
                }
                Err(e) => {
                    println!("CHILD other error at {i}: {e}");
                    break;
                }
            }
        }
        // Every page of those created touched, as their users would in time.
        for s in &kept {
            for at in (0..s.data_len()).step_by(4096) {
                // SAFETY: inside the data region, which nothing else uses.
                unsafe { s.data().add(at).write(1) };
            }
        }
        println!("CHILD touched {} segments", kept.len());
        return;
    }
    let Some((status, stdout)) = in_a_64_mib_cgroup(
        "large_segments_reserved_later_past_the_cgroup_limit_are_no_space",
        LATER_CHILD,
    ) else {
        return;
    };
    assert!(
        status.success() && stdout.contains("CHILD NoSpace"),
        "child under a 64 MiB cgroup creating 24 MiB segments reserved later: {:?}\n{stdout}",
        status
    );
}
