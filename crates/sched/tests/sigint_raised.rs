//! A worker that dies of a SIGINT it brought on itself — its job or initializer restored
//! SIGINT's default action (a started worker leaves SIGINT to the controller: it catches
//! and ignores it) and raised it — is not a Ctrl-C the controller outlived: the job fails
//! with `WorkerDied` naming SIGINT, and a replacement whose initializer does it every time
//! counts as a failed start (three in a row retire the slot), like any other signal.
//! Before (review finding): such a death of a replacement was not counted, as though a
//! Ctrl-C had killed it before it could attach, so the slot was respawned for ever and a
//! job queued for it never ran nor failed.

use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

/// Restores SIGINT's default action and raises it: this process dies of SIGINT.
fn die_of_sigint() {
    // SAFETY: plain libc calls with a valid signal number; the process ends here.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}

fn interrupt_if_marked(marker: String) {
    if std::path::Path::new(&marker).exists() {
        die_of_sigint();
    }
}

#[test]
fn a_job_that_raises_sigint_fails_with_worker_died() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let r = pool
        .submit(
            |_: ()| -> u32 {
                die_of_sigint();
                0
            },
            (),
        )
        .result_timeout(Duration::from_secs(60))
        .expect("hung");
    assert_eq!(r, Err(JobError::WorkerDied { signal: Some(libc::SIGINT), exit_code: None }));
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("SIGINT") && msg.contains("default action"), "{msg}");
    assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2), "the pool serves on");
}

#[test]
fn replacements_whose_initializer_raises_sigint_are_failed_starts() {
    let marker = std::env::temp_dir().join(format!("zp-sigint-marker-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(interrupt_if_marked, marker.to_string_lossy().into_owned())
        .build()
        .unwrap();
    assert_eq!(pool.submit(|x: u64| x + 1, 1).result(), Ok(2));
    std::fs::write(&marker, b"x").unwrap();
    let died = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0).result();
    assert!(matches!(died, Err(JobError::WorkerDied { signal: Some(6), .. })), "{died:?}");
    // Its replacements die of SIGINT in the initializer: the slot is retired after three,
    // and the job queued for it fails instead of waiting for ever.
    let next = pool.submit(|x: u64| x + 1, 1).result_timeout(Duration::from_secs(60));
    let _ = std::fs::remove_file(&marker);
    let e = next.expect("hung: the slot was respawned for ever").expect_err("it ran");
    assert_eq!(e, JobError::WorkerDied { signal: Some(libc::SIGINT), exit_code: None });
}
