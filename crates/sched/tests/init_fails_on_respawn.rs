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
