//! Pools still alive when `main` returns: one in a `static` (`LazyLock<Pool>`), one
//! leaked, one held by a thread that is still running. Python waits at exit for the pending
//! work of every executor (`concurrent.futures` registers an exit hook that shuts them down
//! and joins them), so jobs submitted to a module-level executor and never waited for still
//! run. Here such a pool is never dropped: when `main` returned, the process exited and its
//! workers with it, and those jobs were lost without a word. `#[zeroproc::main]` calls
//! [`shutdown_live_pools`] when `main` returns, as Python does at exit.

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
            shared.shutdown(false);
        }
        super::join_supervisor(&shared, &sup, None);
    }
}
