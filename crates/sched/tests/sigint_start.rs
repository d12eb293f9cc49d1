//! Ctrl-C (SIGINT to the whole foreground process group) that reaches a worker while it
//! *starts* — between its exec and the handler that leaves SIGINT to the controller — in a
//! controller that handles Ctrl-C (the documented way to let running jobs finish).
//!
//! Found by a user program outside the repo (2026-12-06): with SIGINT sent to the process
//! group every 10 ms, 53 of 200 `Pool::build()` calls failed with "worker 1 died during
//! start-up (the worker died of a signal before it attached the pool)", and a worker
//! respawned meanwhile (crash, `max_jobs_per_worker`) counted such a death as a failed
//! start (3 in a row retire the slot). Python's spawn-started workers die of the
//! `KeyboardInterrupt` too (`BrokenProcessPool`), but zeroproc documents that the
//! controller decides: a controller still alive after the SIGINT handles it, so a worker
//! the signal killed before it could leave SIGINT to the controller is started again.
//!
//! The Ctrl-C is simulated by a thread that sends SIGINT to each new child of this
//! process the moment it appears (before it can have reached `init()`), for the first
//! `n` children only. Own test binary: that thread would signal other tests' workers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

/// One test at a time: the signalling thread sends SIGINT to whichever new child appears.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pids of this process's children (every thread's).
fn children() -> Vec<i32> {
    let mut v = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return v };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            v.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    v
}

/// Sends SIGINT, once, to each of the next `n` children of this process as soon as it
/// appears; stops when `stop` is set. Returns how many were signalled.
fn interrupt_new_children(n: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let before: HashSet<i32> = children().into_iter().collect();
    std::thread::spawn(move || {
        let mut seen = before;
        let mut sent = 0;
        let end = Instant::now() + Duration::from_secs(20);
        while sent < n && !stop.load(Ordering::Relaxed) && Instant::now() < end {
            for pid in children() {
                if sent < n && seen.insert(pid) {
                    // SAFETY: kill sends a signal to a child of this process.
                    unsafe { libc::kill(pid, libc::SIGINT) };
                    sent += 1;
                }
            }
            std::hint::spin_loop();
        }
        sent
    })
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// The controller handles Ctrl-C (here: it is never signalled itself); a worker killed by
/// the SIGINT before its handler was installed is started again, so `build` succeeds.
/// Before the fix: `Err(WorkerExited { exit_code: None, reason: "the worker died of a
/// signal before it attached the pool" })`.
#[test]
fn sigint_while_workers_start_does_not_fail_the_build() {
    let _one = one_at_a_time();
    let signaller = interrupt_new_children(2, Arc::new(AtomicBool::new(false)));
    let pool = Pool::builder().workers(2).build();
    // Ends once it has signalled two children: those of the build (or, if this thread
    // was not scheduled in time, the two started workers, which leave SIGINT alone).
    let sent = signaller.join().unwrap();
    assert_eq!(sent, 2, "two workers were signalled");
    let pool = pool.expect("build after SIGINT reached starting workers");
    let pids: HashSet<u32> =
        (0..20).map(|_| pool.submit(worker_pid, ()).result().unwrap()).collect();
    assert!(!pids.is_empty());
}

/// Workers respawned after each job (`max_jobs_per_worker(1)`) while SIGINTs arrive: a
/// SIGINT death before the handshake is not a failed start. Before the fix the third one
/// in a row retired the only slot and the remaining jobs failed with `NoWorkers`.
#[test]
fn sigint_while_workers_respawn_does_not_retire_the_slot() {
    let _one = one_at_a_time();
    let pool = Pool::builder().workers(1).max_jobs_per_worker(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = interrupt_new_children(6, stop.clone());
    let mut errors = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    let mut done = 0;
    // Until the signaller has signalled its 6 children, and at least 12 jobs.
    while (!signaller.is_finished() || done < 12) && Instant::now() < end {
        match pool.submit(worker_pid, ()).result() {
            Ok(_) => done += 1,
            Err(e @ JobError::NoWorkers) => {
                errors.push(e.to_string());
                break;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = signaller.join().unwrap();
    assert_eq!(errors, Vec::<String>::new());
    assert!(done >= 12, "{done} jobs done");
    assert_eq!(sent, 6, "respawned workers signalled");
}
