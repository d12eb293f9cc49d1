//! `zeroproc top` against a real pool: the registry lists it while it lives, a read-only
//! snapshot (in-process and through the `zeroproc` binary) shows its job counts, and the
//! entry is gone once the pool is dropped; entries of dead processes are swept.

use std::process::Command;
use std::time::{Duration, Instant};
use zeroproc_sched::{running_pools, Pool, PoolObserver};

zeroproc_sched::test_worker!();

fn top(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zeroproc")).arg("top").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "zeroproc top {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The columns of the `zeroproc top --once` row starting with `first`.
fn row(frame: &str, first: &str) -> Vec<String> {
    let line = frame
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{frame}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn registry_snapshot_and_removal() {
    let name = format!("top-test-{}", std::process::id());
    let pool = Pool::builder().workers(2).name(name.clone()).build().expect("pool");
    assert_eq!(pool.name(), name);
    let jobs = 60u64;
    // One job per item (`chunk_size(1)`: tiny items are batched by default).
    let sum: u64 = pool.map(|x: u64| x + 1, 0..jobs).chunk_size(1).map(Result::unwrap).sum();
    assert_eq!(sum, jobs * (jobs + 1) / 2);

    // Listed, with the right pid, worker count and segment.
    let entry = running_pools()
        .into_iter()
        .find(|p| p.name == name)
        .expect("the pool is in the registry while it lives");
    assert_eq!(entry.pid, std::process::id());
    assert_eq!(entry.workers, 2);
    assert_eq!(&entry.segment, pool.segment_id());
    assert!(entry.path.exists());

    // A read-only snapshot counts every job (a worker counts a job just after it publishes
    // the result, so wait for the last count).
    let obs = PoolObserver::attach(&entry.segment).expect("read-only attach");
    assert_eq!(obs.workers(), 2);
    let t = Instant::now();
    while obs.snapshot().jobs_done() < jobs && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let snap = obs.snapshot();
    assert_eq!(snap.jobs_done(), jobs);
    let stats = pool.stats();
    for (w, s) in snap.workers.iter().zip(&stats.workers) {
        assert_eq!(w.jobs_done, s.jobs_done, "worker {}", w.index);
        assert_eq!(w.pid, s.pid, "worker {}", w.index);
        assert!(w.ready);
    }

    // The binary: the list shows it, `--once` shows the same counts.
    let list = top(&[]);
    assert!(
        list.lines().any(|l| l.contains(&name) && l.contains(&entry.pid.to_string())),
        "{list}"
    );
    let frame = top(&[&name, "--once"]);
    assert!(frame.contains(&format!("pool {name} (pid {})", entry.pid)), "{frame}");
    assert_eq!(row(&frame, "total")[1], jobs.to_string(), "{frame}");
    for w in &snap.workers {
        let cols = row(&frame, &w.index.to_string());
        assert_eq!(cols[1], w.pid.to_string(), "{frame}");
        assert_eq!(cols[3], w.jobs_done.to_string(), "{frame}");
    }

    // Dropped: the entry is gone, from the registry and from the binary's list.
    let path = entry.path.clone();
    drop(obs);
    drop(pool);
    assert!(!path.exists(), "entry file removed on drop");
    assert!(running_pools().iter().all(|p| p.name != name));
    assert!(!top(&[]).contains(&name));
    let out = Command::new(env!("CARGO_BIN_EXE_zeroproc"))
        .args(["top", &name, "--once"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "watching a dropped pool fails");
}

#[test]
fn queue_depth_and_running_jobs_are_visible() {
    let name = format!("top-queue-{}", std::process::id());
    let pool = Pool::builder().workers(1).name(name.clone()).build().expect("pool");
    let sleep = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let futures: Vec<_> = (0..4).map(|_| pool.submit(sleep, 300)).collect();
    let obs = PoolObserver::attach(pool.segment_id()).expect("read-only attach");
    // The supervisor publishes the queue depth at its next tick (5 ms).
    let t = Instant::now();
    let mut seen = None;
    while t.elapsed() < Duration::from_secs(5) {
        let w = obs.snapshot().workers[0].clone();
        if w.owed == 4 && w.running != 0 {
            seen = Some(w);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let w = seen.expect("4 jobs owed and one running, seen within 5 s");
    assert_eq!(w.jobs_done, 0);
    // Busy time grows while the first job runs, before any busy/idle boundary.
    std::thread::sleep(Duration::from_millis(100));
    assert!(obs.snapshot().workers[0].busy >= Duration::from_millis(50));
    for f in futures {
        assert_eq!(f.result(), Ok(300));
    }
    let t = Instant::now();
    while obs.snapshot().workers[0].owed != 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let w = obs.snapshot().workers[0].clone();
    assert_eq!((w.owed, w.jobs_done), (0, 4));
}

#[test]
fn entries_of_dead_processes_are_swept() {
    // A pid that surely ran and ended: a child we waited for.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let dir = zeroproc_sched::registry_dir();
    // As the registry creates it (it refuses a directory open to others).
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    let stale = dir.join(format!("{dead}-1-00000000000000ff.pool"));
    std::fs::write(
        &stale,
        format!(
            "segment=memfd:{dead}:3:00000000000000ff\npid={dead}\nname=stale\nworkers=1\n\
             started=0\nexe=/x\n"
        ),
    )
    .unwrap();
    assert!(running_pools().iter().all(|p| p.pid != dead), "a dead process's pool is not listed");
    assert!(!stale.exists(), "and its entry was removed");
}
