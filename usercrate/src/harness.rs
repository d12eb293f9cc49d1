//! The scenario runner: one scenario at a time, each under a watchdog, one result line each
//! (`ok NAME` / `FAILED NAME: reason`), then `N passed, N failed`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a scenario returns: `Err(reason)` is a failure.
pub type Outcome = Result<(), String>;

/// A named scenario.
pub struct Scenario {
    pub name: &'static str,
    pub run: fn() -> Outcome,
}

// `crate::HANG_LIMIT`: a scenario still running after this long has hung, and the program
// reports it and exits. Each crate using this runner (usercrate, and clustercrate through
// `#[path]`) sets its own.
use crate::HANG_LIMIT;

/// Fails with `reason` unless `cond` holds.
pub fn ensure(cond: bool, reason: impl FnOnce() -> String) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(reason())
    }
}

/// A diagnostic line printed under the scenario's result (never asserted on).
pub fn note(msg: impl AsRef<str>) {
    println!("  # {}", msg.as_ref());
}

/// Polls `cond` every millisecond until it holds (true) or `limit` passes (false).
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct Current {
    name: &'static str,
    started: Instant,
}

struct State {
    current: Mutex<Option<Current>>,
    passed: AtomicUsize,
    failed: AtomicUsize,
}

fn summary(passed: usize, failed: usize) {
    println!("{passed} passed, {failed} failed");
}

/// Runs every scenario whose name contains `filter` (all without one) and returns the
/// process exit code (1 if any failed). A hung scenario ends the program from the watchdog
/// thread with exit code 1.
pub fn run_all(scenarios: &[Scenario], filter: Option<&str>) -> i32 {
    let state = Arc::new(State {
        current: Mutex::new(None),
        passed: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });
    spawn_watchdog(state.clone());
    let selected: Vec<&Scenario> =
        scenarios.iter().filter(|s| filter.is_none_or(|f| s.name.contains(f))).collect();
    if selected.is_empty() {
        println!("no scenario matches {:?}", filter.unwrap_or(""));
        summary(0, 0);
        return 1;
    }
    for s in selected {
        *lock(&state.current) = Some(Current { name: s.name, started: Instant::now() });
        let outcome = catch_unwind(AssertUnwindSafe(s.run)).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            Err(format!("panicked: {msg}"))
        });
        // Taken under the lock the watchdog reads: a scenario reports once, here or there.
        let mut cur = lock(&state.current);
        cur.take();
        match outcome {
            Ok(()) => {
                state.passed.fetch_add(1, Ordering::SeqCst);
                println!("ok {}", s.name);
            }
            Err(reason) => {
                state.failed.fetch_add(1, Ordering::SeqCst);
                println!("FAILED {}: {reason}", s.name);
            }
        }
        drop(cur);
    }
    let (p, f) = (state.passed.load(Ordering::SeqCst), state.failed.load(Ordering::SeqCst));
    summary(p, f);
    i32::from(f > 0)
}

fn spawn_watchdog(state: Arc<State>) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let cur = lock(&state.current);
            if let Some(c) = cur.as_ref() {
                if c.started.elapsed() > HANG_LIMIT {
                    println!("FAILED {}: hang (still running after {:?})", c.name, HANG_LIMIT);
                    summary(
                        state.passed.load(Ordering::SeqCst),
                        state.failed.load(Ordering::SeqCst) + 1,
                    );
                    // Workers die with the controller (PR_SET_PDEATHSIG = SIGKILL), stopped
                    // ones included; under mpirun, rank 0 leaving without finalizing MPI
                    // makes mpirun abort the node agents (their workers die with them).
                    std::process::exit(1);
                }
            }
        })
        .expect("watchdog thread");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
