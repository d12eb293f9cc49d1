//! Pools still alive when `main` returns: one in a `static` (`LazyLock<Pool>`), one
//! leaked, one held by a thread that is still running. Python waits at exit for the pending
//! work of every executor (`concurrent.futures` registers an exit hook that shuts them down
//! and joins them), so jobs submitted to a module-level executor and never waited for still
//! run. Here such a pool is never dropped: when `main` returned, the process exited and its
//! workers with it, and those jobs were lost without a word. `#[zeroproc::main]` calls
//! [`shutdown_live_pools`] when `main` returns, as Python does at exit; and an `atexit`
//! hook calls it too, so that every way a program
//! ends through `exit` does the same: `main` returning without `#[zeroproc::main]`
//! (`init()` alone, a criterion or divan bench, libtest's `main` — a test binary whose
//! tests share a `static POOL`), `std::process::exit`, and libtest's `exit(101)` after a
//! failed test. Before (harness32), those lost the jobs, the `Process` children the jobs
//! had started, and left the pool's registry entry behind
//! (`crates/sched/tests/exit_without_main.rs`).
//!
//! At `exit` the hook runs on the exiting thread while the others still run (the pools'
//! supervisors among them); the `Process` children are joined after it
//! (`process/orphans.rs` calls [`shutdown_live_pools`] first), as Python shuts its
//! executors down before it joins its children. A wait there that lasts 5 s says what it
//! waits for (`waiting.rs`). The hook is registered by `init()` where it is called (see
//! [`shutdown_at_exit`] for why there), else by the first pool built.

use super::core::Shared;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use zeroproc_shm::fork::ForkLocal;

/// A pool's supervisor thread until it is joined.
pub(crate) type Supervisor = Arc<Mutex<Option<JoinHandle<()>>>>;

struct Entry {
    shared: Weak<Shared>,
    /// Only the `Pool` holds it strongly: it fails to upgrade once the pool is dropped
    /// (futures keep `shared` alive, not this).
    supervisor: Weak<Mutex<Option<JoinHandle<()>>>>,
}

/// Per fork generation ([`ForkLocal`]): a forked child's copies of its parent's pools are
/// inert (`fork.rs`), and one forked while another thread built a pool (the list was
/// locked) waited for ever at its own first pool.
static LIVE: ForkLocal<Mutex<Vec<Entry>>> = ForkLocal::new(|| Mutex::new(Vec::new()));

fn live() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    LIVE.get().lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Test hook: holds the list while the returned guard lives.
#[cfg(test)]
pub(crate) fn hold() -> impl Sized {
    live()
}

/// Records a pool just built (and forgets the dropped ones).
pub(crate) fn register(shared: &Arc<Shared>, supervisor: &Supervisor) {
    shutdown_at_exit();
    let mut l = live();
    l.retain(|e| e.supervisor.strong_count() > 0);
    l.push(Entry { shared: Arc::downgrade(shared), supervisor: Arc::downgrade(supervisor) });
}

/// Shuts down every pool of this process that was not dropped, as dropping it would:
/// waits for its queued and running jobs (Python's exit hook does the same for its
/// executors), or, while the thread is panicking, terminates it. `#[zeroproc::main]` calls
/// it when `main` returns or unwinds; a program using `init()` alone may call it at the
/// end of `main`. The pools stay usable as shut-down pools (`submit` gives
/// `JobError::Shutdown`).
///
/// Every process that built a pool also calls it at `exit` (see the module docs), so it is
/// needed only to shut those pools down earlier.
pub fn shutdown_live_pools() {
    let entries: Vec<Entry> = std::mem::take(&mut *live());
    for e in entries {
        let (Some(shared), Some(sup)) = (e.shared.upgrade(), e.supervisor.upgrade()) else {
            continue;
        };
        if std::thread::panicking() {
            shared.close(true);
            shared.kill_all();
        } else {
            shared.shutdown(false, false);
        }
        let long = Some(super::waiting::LongWait::at_exit());
        super::join_supervisor_noting(&shared, &sup, None, long);
    }
}

/// Makes `exit` call [`shutdown_live_pools`]; registered once per process, by
/// [`init`](crate::init) in an ordinary process (so that the hooks registered after it —
/// `#[zeroproc::main]`'s, the cluster's, which shut cluster pools down before the local
/// pools they use — run before it: `atexit` runs the last registered first) or else by
/// the first pool built (libtest's `main` calls no `init`).
pub(crate) fn shutdown_at_exit() {
    extern "C" fn at_exit() {
        // A panic must not unwind into libc's `exit`.
        let _ = std::panic::catch_unwind(shutdown_live_pools);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that catches every panic; libc calls
        // it from `exit` on the exiting thread, while the process's other threads (the
        // pools' supervisors) still run.
        unsafe { libc::atexit(at_exit) };
    });
}
