//! A worker or `Process` that cannot be started because this process's descriptor limit
//! is reached names that limit and what to do, as a queue or array created there does.
//! Before env36 a `Process` said only "process: Too many open files (os error 24)" and a
//! pool "(no file descriptor free to start a process)", with no limit and no remedy
//! (`prlimit --nofile=8:8` on a user's program, `usercrate/env`).

use std::os::fd::{AsRawFd, OwnedFd};
use zeroproc_sched::{BuildError, Pool, Process};

zeroproc_sched::test_worker!();

fn noop(_: ()) {}

/// Holds every descriptor left under a lowered soft limit; restores both on drop.
struct Exhausted {
    held: Vec<OwnedFd>,
    old: libc::rlimit,
}

impl Exhausted {
    fn new() -> Exhausted {
        let mut old: libc::rlimit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: a valid resource and out pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let low = libc::rlimit { rlim_cur: open + 16, rlim_max: old.rlim_max };
        // SAFETY: lowering this process's own soft limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let mut held = Vec::new();
        let probe = std::fs::File::open("/dev/null").unwrap();
        loop {
            // SAFETY: dup of a descriptor we own; the result is owned by `held`.
            let fd = unsafe { libc::dup(probe.as_raw_fd()) };
            if fd < 0 {
                break;
            }
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            held.push(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) });
        }
        drop(probe); // one descriptor free: too few for a spawn (std's pipe needs two)
        Exhausted { held, old }
    }
}

impl Drop for Exhausted {
    fn drop(&mut self) {
        self.held.clear();
        // SAFETY: restoring the limits read in `new`.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}

fn names_the_limit(m: &str) {
    assert!(m.contains("descriptor limit") && m.contains("soft limit"), "{m}");
    assert!(m.contains("ulimit -n"), "no remedy named: {m}");
}

#[test]
fn a_spawn_short_of_descriptors_names_the_limit() {
    let pool_msg = {
        let _full = Exhausted::new();
        match Pool::builder().workers(1).build() {
            Err(BuildError::Spawn(e)) => e.to_string(),
            other => panic!("expected a spawn error, got {:?}", other.map(|_| ())),
        }
    };
    names_the_limit(&pool_msg);
    let process_msg = {
        let _full = Exhausted::new();
        match Process::spawn(noop, ()) {
            Err(e) => e.to_string(),
            Ok(mut p) => {
                p.join().unwrap();
                panic!("the process started with one descriptor free")
            }
        }
    };
    names_the_limit(&process_msg);
    // Both work again once descriptors are free.
    let mut p = Process::spawn(noop, ()).unwrap();
    p.join().unwrap();
    Pool::builder().workers(1).build().unwrap();
}
