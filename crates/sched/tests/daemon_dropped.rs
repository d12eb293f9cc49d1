//! A daemon `Process` whose handle is dropped runs until the program exits, which kills
//! it, as Python's daemon whose object the program did not keep. Python's worker-pool
//! idiom `Process(target=worker, args=(q,), daemon=True).start()` ported as written — a
//! temporary `Process::new(worker, q.handle()).daemon(true).start()` — killed each
//! consumer at the end of its statement before newuser36, and the program's
//! `JoinableQueue::join()` waited for ever.
//!
//! The cases run this binary again on one hidden test (the program whose exit is checked).

use std::time::Duration;
use zeroproc_mp::queue::{JoinableQueue, JoinableQueueHandle};
use zeroproc_sched::Process;

zeroproc_sched::test_worker!();

/// Set in the binary run again (absent in the ordinary run): a directory for the pids.
const INNER_ENV: &str = "ZP_DAEMON_DROPPED_INNER";

/// Python's daemon consumer: writes its pid into the directory, then serves for ever.
fn consume((q, dir): (JoinableQueueHandle<u64>, String)) {
    let me = std::process::id();
    std::fs::write(format!("{dir}/{me}"), "").unwrap();
    let q = q.attach().unwrap();
    while let Ok(t) = q.get() {
        std::thread::sleep(Duration::from_millis(t));
        q.task_done().unwrap();
    }
}

#[test]
fn inner_python_daemon_consumers_as_temporaries() {
    let Some(dir) = std::env::var_os(INNER_ENV) else { return };
    let dir = dir.into_string().unwrap();
    let q = JoinableQueue::<u64>::new(64).unwrap();
    for _ in 0..2 {
        // The Python idiom, written as a Rust temporary.
        Process::new(consume, (q.handle(), dir.clone())).daemon(true).start().unwrap();
    }
    (0..20).for_each(|_| q.put(2).unwrap());
    q.join_timeout(Duration::from_secs(20)).expect("the dropped daemons did the work");
    eprintln!("inner: joined");
    // Returning ends the binary: its exit kills the two daemons still waiting in `get`.
}

/// Whether `pid` still names a process (a zombie counts: not reaped).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn dropped_daemon_consumers_do_the_work_and_die_at_exit() {
    let dir = std::env::temp_dir().join(format!("zp-daemon-dropped-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_python_daemon_consumers_as_temporaries", "-q", "--nocapture"])
        .env(INNER_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(60), "the inner program");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "the inner program failed: {err}");
    assert!(err.contains("inner: joined"), "{err}");
    let pids: Vec<u32> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap().parse().unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(pids.len(), 2, "both daemons ran their body: {pids:?}");
    // The inner program killed and reaped them in its exit: gone (a pid reused meanwhile
    // would be a false alarm; it needs the pid space to wrap within these milliseconds).
    for pid in pids {
        assert!(!exists(pid), "daemon {pid} outlived the program that started it");
    }
}
