//! A replacement worker whose initializer fails: the job it was to run fails with an error
//! that says so. Before, it read "worker died running the job (exit code Some(93))": the
//! job never ran, and 93 is zeroproc's code for a failed initializer (new-user finding).

use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn refuse_if_marked(marker: String) {
    if std::path::Path::new(&marker).exists() {
        panic!("initializer refuses: marker present");
    }
}

#[test]
fn a_failed_initializer_of_a_replacement_is_named() {
    let marker = std::env::temp_dir().join(format!("zp-init-marker-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(refuse_if_marked, marker.to_string_lossy().into_owned())
        .build()
        .unwrap();
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
    std::fs::write(&marker, b"x").unwrap();
    let died = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0).result();
    assert!(matches!(died, Err(JobError::WorkerDied { signal: Some(6), .. })), "{died:?}");
    // Its replacements fail in the initializer; the job queued for them fails with that.
    let next = pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(60));
    let _ = std::fs::remove_file(&marker);
    let e = next.expect("hung").expect_err("ran on a worker whose initializer failed");
    assert!(matches!(e, JobError::WorkerDied { exit_code: Some(93), .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("initializer failed") && !msg.contains("Some("), "{msg}");
    // Every slot retired: later jobs fail with `NoWorkers`, whose message names the
    // failing initializer as the likely cause (it said only "every worker slot was
    // retired"). The marker is gone, but the slot stays retired, as Python's pool stays
    // broken.
    std::fs::write(&marker, b"x").unwrap();
    let mut last = None;
    for _ in 0..20 {
        let r = pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(60));
        let e = r.expect("hung").expect_err("ran on a worker whose initializer failed");
        if e == JobError::NoWorkers {
            last = Some(e);
            break;
        }
    }
    let _ = std::fs::remove_file(&marker);
    let msg = last.expect("the slot was never retired").to_string();
    assert!(msg.contains("initializer") && msg.contains("build a new one"), "{msg}");
}

fn sleep_then(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    x
}

/// One slot's initializer fails in its replacements (3 failed starts: the slot is
/// retired) while the other worker is healthy and busy: the jobs queued on the retired
/// slot that did not fit the other worker at once run there later. Before, they failed
/// with `WorkerDied` (exit code 93, "the job did not run") although a worker was there to
/// run them (user28 `init_fails_one_slot`: 128 of 812 jobs); Python's pool would be
/// broken, but ours documents that the queued jobs move to the other slots.
#[test]
fn jobs_queued_on_a_retired_slot_run_on_the_healthy_worker() {
    let marker = std::env::temp_dir().join(format!("zp-init-one-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pool = Pool::builder()
        .workers(2)
        .initializer_with(refuse_if_marked, marker.to_string_lossy().into_owned())
        .build()
        .unwrap();
    std::fs::write(&marker, b"x").unwrap();
    // Its worker dies (and is never replaced: the marker is there) while both workers'
    // queues fill: 1 ms jobs, far more than the healthy worker takes at once.
    let crash = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0);
    let futs: Vec<_> = (1..=800u64).map(|i| pool.submit(sleep_then, i)).collect();
    let crashed = crash.result();
    assert!(matches!(crashed, Err(JobError::WorkerDied { signal: Some(6), .. })), "{crashed:?}");
    let mut failed = Vec::new();
    for f in futs {
        match f.result_timeout(Duration::from_secs(60)).expect("hung") {
            Ok(_) => {}
            Err(e) => failed.push(e),
        }
    }
    let _ = std::fs::remove_file(&marker);
    let retired = pool.stats().workers.iter().filter(|w| w.pid == 0).count();
    assert_eq!(retired, 1, "{}", pool.stats());
    // At most the job each failed start was to run (3) fails.
    assert!(failed.len() <= 3, "{} failed: {:?}", failed.len(), &failed[..failed.len().min(3)]);
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
}

fn exit_93() {
    std::process::exit(93)
}

/// An initializer that calls `exit(93)` — zeroproc's code for a panicking one — is named
/// as an initializer that called `exit`: the build said "initializer panicked" (exec38),
/// though nothing panicked (a panic is told apart by the worker's state word).
#[test]
fn an_initializer_calling_exit_93_is_not_called_a_panic() {
    let Err(e) = Pool::builder().workers(1).initializer(exit_93).build() else { panic!("built") };
    let msg = e.to_string();
    assert!(matches!(e, zeroproc_sched::BuildError::WorkerExited { .. }), "{e:?}");
    assert!(msg.contains("called exit") && !msg.contains("panicked"), "{msg}");
}

fn exit_if_marked(marker: String) {
    if std::path::Path::new(&marker).exists() {
        std::process::exit(5);
    }
}

/// A replacement worker whose initializer calls `exit(5)` (not a panic): once its slot is
/// given up, the job it was to run fails with that exit code, and the message names the
/// initializer. It read "worker died running the job (exit code 5: the job, code it
/// called, or a thread an earlier job left running ended the process ...)" — the job never
/// ran (exec38).
#[test]
fn a_replacement_whose_initializer_exits_is_named() {
    let marker = std::env::temp_dir().join(format!("zp-init-exit-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(exit_if_marked, marker.to_string_lossy().into_owned())
        .max_jobs_per_worker(1)
        .build()
        .unwrap();
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
    std::fs::write(&marker, b"x").unwrap();
    let next = pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(60));
    let _ = std::fs::remove_file(&marker);
    let e = next.expect("hung").expect_err("ran on a worker whose initializer exits");
    assert!(matches!(e, JobError::WorkerDied { exit_code: Some(5), .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("initializer"), "{msg}");
}

/// A job that calls `exit(93)` itself: its error read only "zeroproc's code for a worker
/// whose initializer failed (a replacement worker: the job did not run ...)" (exec38) —
/// the job ran, and there was no initializer. The message now gives the job's own exit as
/// the other way to that code.
#[test]
fn a_job_exiting_with_zeroprocs_code_is_named_too() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let e = pool.submit(|_: u64| -> u64 { std::process::exit(93) }, 0).result().unwrap_err();
    assert!(matches!(e, JobError::WorkerDied { exit_code: Some(93), .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("the job") && msg.contains("exit(93)"), "{msg}");
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
}
