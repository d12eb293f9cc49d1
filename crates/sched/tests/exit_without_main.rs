//! A test binary (libtest's own `main`, no `#[zeroproc::main]`) whose tests left jobs on a
//! pool that is never dropped — one shared by the tests in a `static POOL:
//! LazyLock<Pool>`, or a leaked one: those jobs finish before the binary exits, as
//! Python waits at exit for a module-level executor's pending work (and pytest's
//! session-scoped executor fixture shuts it down with `wait=True`) — whether the tests
//! passed (libtest returns from `main`), failed (it calls `exit(101)`) or a test called
//! `std::process::exit`. Before (harness32), only `#[zeroproc::main]` did this: a test
//! binary, a criterion bench (`criterion_main!` calls `init()` alone) or a program with
//! `init()` alone exited at once and the jobs were lost without a word (measured: 0 of 4
//! files written, the binary ended in 14 ms), with them any `Process` a job had started,
//! and the pool's registry entry was left in the registry directory.
//!
//! Each case runs this binary again on one hidden test, with a directory for the jobs to
//! write in.

use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// Where the jobs write, in the binary run again (absent in the ordinary run).
const DIR_ENV: &str = "ZP_EXIT_POOL_DIR";

/// The pool the tests of this binary share, never dropped.
static POOL: LazyLock<Pool> = LazyLock::new(|| Pool::builder().workers(2).build().unwrap());

/// A job: writes `path` after `ms` milliseconds.
fn write_late((path, ms): (String, u64)) {
    std::thread::sleep(Duration::from_millis(ms));
    std::fs::write(path, "done").unwrap();
}

/// Submits 4 jobs writing `dir/0`..`dir/3` after `ms` and drops their futures.
fn fire_and_forget(pool: &Pool, ms: u64) {
    let dir = std::env::var(DIR_ENV).unwrap();
    for i in 0..4 {
        drop(pool.submit(write_late, (format!("{dir}/{i}"), ms)));
    }
}

fn inner() -> bool {
    std::env::var_os(DIR_ENV).is_some()
}

#[test]
fn inner_leaves_jobs_on_the_static_pool_and_passes() {
    if inner() {
        fire_and_forget(&POOL, 300);
    }
}

#[test]
fn inner_leaves_jobs_on_the_static_pool_and_fails() {
    if inner() {
        fire_and_forget(&POOL, 300);
        panic!("the test fails with jobs on the shared pool");
    }
}

#[test]
fn inner_leaves_jobs_on_a_leaked_pool_and_exits() {
    if inner() {
        let pool = Box::leak(Box::new(Pool::builder().workers(1).build().unwrap()));
        fire_and_forget(pool, 300);
        std::process::exit(3);
    }
}

#[test]
fn inner_leaves_long_jobs_on_the_static_pool() {
    if inner() {
        fire_and_forget(&POOL, 3_000); // two rounds on 2 workers: 6 s
    }
}

/// A job: starts a `Process` that writes `path` after `ms` milliseconds, drops its handle
/// (fire and forget) and returns.
fn start_a_child((path, ms): (String, u64)) {
    drop(zeroproc_sched::Process::spawn(write_late, (path, ms)).unwrap());
}

#[test]
fn inner_leaves_a_jobs_child_running_on_the_static_pool() {
    if inner() {
        let dir = std::env::var(DIR_ENV).unwrap();
        for i in 0..4 {
            POOL.submit(start_a_child, (format!("{dir}/{i}"), 600)).result().unwrap();
        }
    }
}

#[test]
fn inner_leaves_a_jobs_child_running_on_its_own_pool() {
    if inner() {
        let dir = std::env::var(DIR_ENV).unwrap();
        let pool = Pool::builder().workers(2).build().unwrap();
        for i in 0..4 {
            pool.submit(start_a_child, (format!("{dir}/{i}"), 600)).result().unwrap();
        }
    }
}

/// What a run of test `name` of this binary left: its exit code, how many of the 4 files
/// its jobs wrote by then, and its standard error.
struct Run {
    code: Option<i32>,
    written: usize,
    stderr: String,
}

/// Runs test `name` of this binary alone.
fn run_inner(name: &str) -> Run {
    let dir = std::env::temp_dir().join(format!("zp-exit-pools-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let err = dir.with_extension("stderr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "-q", "--test-threads=1"])
        .env(DIR_ENV, &dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    // A binary that does not end is a failure, not a hung test run (its workers die with it).
    let status = zeroproc_testkit::wait_or_kill(&mut child, Duration::from_secs(30), name);
    let written = (0..4).filter(|i| dir.join(i.to_string()).exists()).count();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&err);
    Run { code: status.code(), written, stderr }
}

#[test]
fn a_passing_test_binary_finishes_the_static_pools_jobs_at_exit() {
    let r = run_inner("inner_leaves_jobs_on_the_static_pool_and_passes");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.written, 4, "jobs of the static pool were lost at exit");
}

#[test]
fn a_failing_test_binary_finishes_the_static_pools_jobs_at_exit() {
    let r = run_inner("inner_leaves_jobs_on_the_static_pool_and_fails");
    assert_eq!(r.code, Some(101), "libtest's exit code for a failed test: {}", r.stderr);
    assert_eq!(r.written, 4, "jobs of the static pool were lost at exit");
}

/// `std::process::exit` (Python's `sys.exit`) in a test: a leaked pool's jobs finish first,
/// and the exit code is kept.
#[test]
fn exit_finishes_a_leaked_pools_jobs() {
    let r = run_inner("inner_leaves_jobs_on_a_leaked_pool_and_exits");
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(r.written, 4, "jobs of the leaked pool were lost at exit");
}

/// A binary that waits at its exit for long jobs says what it waits for (after 5 s), so a
/// test run that prints its result and does not end can be decoded.
#[test]
fn a_long_wait_at_exit_names_the_pool_and_the_way_out() {
    let r = run_inner("inner_leaves_long_jobs_on_the_static_pool");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.written, 4, "jobs of the static pool were lost at exit");
    assert!(r.stderr.contains("never dropped"), "no note at exit: {:?}", r.stderr);
    assert!(r.stderr.contains("terminate()"), "the note names no way out: {:?}", r.stderr);
}

/// A `Process` a job started and left running (its handle dropped) is joined by its worker
/// when the pool shuts down, as Python's worker joins its non-daemon children at its exit
/// (and `shutdown(wait=True)` joins the worker): nothing of the test outlives the binary.
/// Before (harness32), the worker was SIGKILLed 200 ms after its STOP, in the middle of
/// that join, and the child ran on alone after the binary had exited (ppid 1), holding
/// its output (a nextest leak; `cargo test | tee` waited for it): 0 of 4 files written
/// when the binary exited.
#[test]
fn a_shutdown_joins_the_children_its_jobs_left_running() {
    for name in [
        "inner_leaves_a_jobs_child_running_on_its_own_pool",
        "inner_leaves_a_jobs_child_running_on_the_static_pool",
    ] {
        let r = run_inner(name);
        assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
        assert_eq!(r.written, 4, "{name}: a job's child ran on after the binary exited");
    }
}

/// A job's child that sleeps `ms`.
fn start_a_sleeper(ms: u64) -> u32 {
    let p =
        zeroproc_sched::Process::spawn(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), ms)
            .unwrap();
    p.pid().unwrap_or(0)
}

/// Guard of the join above: a worker stopped (SIGSTOP) while it joins the children its
/// jobs left still gets the exit grace and is killed, so the drop of its pool returns
/// instead of waiting for a worker that cannot run (and for the 30 s child).
#[test]
fn a_worker_stopped_while_it_joins_does_not_hold_the_shutdown() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let child = pool.submit(start_a_sleeper, 30_000).result().unwrap();
    let worker = pool.stats().workers[0].pid;
    let t0 = std::time::Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300)); // the worker is joining by then
                                                        // SAFETY: kill(2) of our pool's worker, alive until the pool's drop reaps it.
        unsafe { libc::kill(worker as i32, libc::SIGSTOP) };
    });
    drop(pool);
    let took = t0.elapsed();
    stopper.join().unwrap();
    // SAFETY: kill(2) of the job's child, which outlived its killed worker; a pid reused
    // meanwhile is not likely within this test's second.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
    assert!(took < Duration::from_secs(10), "the drop took {took:?}");
}

/// The same join when a worker retires (`max_jobs_per_worker`) rather than being asked to
/// stop: Python's worker that reached `max_tasks_per_child` joins its non-daemon children
/// at its exit, and the executor joins that worker, so `shutdown(wait=True)` returns after
/// them. Before (review32b), the retiring worker went straight to `exit`, whose join of the
/// job's child the supervisor cut short with SIGKILL 200 ms later: the child ran on alone
/// (ppid 1) and the pool's drop returned while it still ran (its file not yet written).
#[test]
fn a_retiring_worker_joins_the_children_its_jobs_left_running() {
    let dir = std::env::temp_dir().join(format!("zp-exit-pools-{}-retire", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("0");
    let path = file.to_string_lossy().into_owned();
    let written = zeroproc_testkit::within(Duration::from_secs(60), move || {
        let pool = Pool::builder().workers(1).max_jobs_per_worker(1).build().unwrap();
        pool.submit(start_a_child, (path, 1_000)).result().unwrap();
        // The worker retires after that job; its successor runs this one.
        assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
        drop(pool);
        file.exists()
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(written, "the pool's drop returned while its retired worker's child still ran");
}

/// A job's child that sleeps `ms`, and the worker that started it.
fn start_a_sleeper_here(ms: u64) -> (u32, u32) {
    (std::process::id(), start_a_sleeper(ms))
}

/// A retiring worker killed from outside while it joins its job's child (SIGTERM, not
/// SIGKILL) is a worker that had started: its slot gets a successor however often it
/// happens. Counted as a failed start, three in a row gave the slot up ("3 failed starts
/// in a row") and the next job failed with no worker to run it.
#[test]
fn a_retiring_worker_killed_while_it_joins_is_not_a_failed_start() {
    zeroproc_testkit::within(Duration::from_secs(120), || {
        let pool = Pool::builder().workers(1).max_jobs_per_worker(1).build().unwrap();
        for _ in 0..4 {
            let (worker, child) = pool.submit(start_a_sleeper_here, 30_000).result().unwrap();
            // The worker retires after that job and joins the child (30 s) meanwhile.
            std::thread::sleep(Duration::from_millis(300));
            zeroproc_testkit::signal(worker, libc::SIGTERM);
            zeroproc_testkit::signal(child, libc::SIGKILL);
        }
        assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    });
}
