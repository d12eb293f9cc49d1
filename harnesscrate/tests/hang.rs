//! Tests that hang on purpose when `HARNESS_HANG=1`, for a harness's time-out to kill
//! (nextest's `slow-timeout`). Without the variable they return at once.

zeroproc::test_worker!();

use zeroproc::{Pool, Process};
use zeroproc_harnesscrate::sleepy;

fn hang_wanted() -> bool {
    std::env::var_os("HARNESS_HANG").is_some()
}

/// Blocked in `result()` on a job that outlives the test's time-out.
#[test]
fn hang_in_result() {
    if !hang_wanted() {
        return;
    }
    let pool = Pool::builder().workers(2).build().unwrap();
    let futs: Vec<_> = (0..4).map(|_| pool.submit(sleepy, 600_000)).collect();
    for f in futs {
        let _ = f.result();
    }
}

/// The test's own thread loops; the workers are idle.
#[test]
fn hang_in_the_test_body() {
    if !hang_wanted() {
        return;
    }
    let _pool = Pool::builder().workers(3).build().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A shared pool in a static, busy.
#[test]
fn hang_with_a_static_pool() {
    if !hang_wanted() {
        return;
    }
    static POOL: std::sync::LazyLock<Pool> =
        std::sync::LazyLock::new(|| Pool::builder().workers(2).build().unwrap());
    let _ = POOL.map(sleepy, [600_000u64; 4]).count();
}

/// A `Process` child still running.
#[test]
fn hang_with_a_process() {
    if !hang_wanted() {
        return;
    }
    let mut p = Process::spawn(
        |ms: u64| {
            sleepy(ms);
        },
        600_000,
    )
    .unwrap();
    let _ = p.join();
}

/// The test ignores SIGTERM (as a program with a handler may), and so do workers started
/// after that (an ignored signal stays ignored across exec): only nextest's SIGKILL ends
/// them.
#[test]
fn hang_ignoring_sigterm() {
    if !hang_wanted() {
        return;
    }
    // SAFETY: setting SIGTERM's disposition to ignore has no preconditions.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    let pool = Pool::builder().workers(2).build().unwrap();
    let _busy: Vec<_> = (0..4).map(|_| pool.submit(sleepy, 600_000)).collect();
    let _p = Process::spawn(
        |ms: u64| {
            sleepy(ms);
        },
        600_000,
    )
    .unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
