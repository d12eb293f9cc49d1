//! Cluster pools still alive when `main` returns: one in a `static`, one leaked, one held
//! by a thread still running. A `Pool` never dropped is shut down at the end of
//! `#[zeroproc::main]` (`zeroproc_sched::shutdown_live_pools`), its queued and running jobs
//! finishing first, as Python's exit hook does for its executors. A `ClusterPool` never
//! dropped lost the jobs waiting on rank 0 for a node with room: its local pool and the
//! node agents finished what they held and were stopped, and the rest was dropped without
//! a word (user28 `c_leak_exit`, no launcher: 8 of 50 jobs of 20 ms ran; 50 with a
//! `Pool`). [`finish_live_cluster_pools`] closes each such pool and waits until none of
//! its jobs is owed, before the local pools are shut down and the agents stopped.

use crate::shared::Shared;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

struct Entry {
    shared: Weak<Shared>,
    /// The pool's stop flag: held strongly by the pool and its progress thread only, so
    /// it fails to upgrade once the pool was dropped (futures keep `shared`, not this).
    stop: Weak<AtomicBool>,
}

static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records a cluster pool just built (and forgets the dropped ones).
pub(crate) fn register(shared: &Arc<Shared>, stop: &Arc<AtomicBool>) {
    let mut l = live();
    l.retain(|e| e.stop.strong_count() > 0);
    l.push(Entry { shared: Arc::downgrade(shared), stop: Arc::downgrade(stop) });
}

/// Closes every cluster pool of this process that was not dropped and waits until its
/// jobs are done (queued on rank 0, on a node or in rank 0's own pool), driving their
/// progress; while the thread panics it only closes them (what they hold is then
/// terminated with the local pools and the agents). Called first at the end of `main`
/// (`MainGuard`, and at `exit`), before the local pools are shut down.
pub(crate) fn finish_live_cluster_pools() {
    let entries: Vec<Entry> = std::mem::take(&mut *live());
    for e in entries {
        let (Some(shared), Some(_stop)) = (e.shared.upgrade(), e.stop.upgrade()) else {
            continue;
        };
        // Release: pairs with the Acquire in `submit` (as `ClusterPool::close`).
        shared.closed.store(true, Ordering::Release);
        if !std::thread::panicking() {
            wait_or_abort(&shared, "still open at exit");
        }
    }
}

/// Closes every cluster pool of this process that was not dropped, without waiting for
/// anything: their later `submit`s, `map`s and `try_submit`s fail with
/// [`JobError::Shutdown`](zeroproc_sched::JobError::Shutdown), as after `shutdown`. Called
/// by [`finish`](crate::finish) before it stops the agents: a pool whose nodes are gone
/// must not take new jobs. Before (clu33), it went on taking them, and where each ran
/// decided its fate: a job placed on rank 0's own pool (`local_workers`, or the whole pool
/// under `mpirun -n 1`) ran, one placed on a stopped node failed with `Shutdown` (a map of
/// 6 jobs after `finish`, `-n 3`, one rank-0 worker: 1 ran, 5 failed). The pools stay
/// registered: the end of `main` still waits for the jobs they hold.
pub(crate) fn close_live_cluster_pools() {
    for e in live().iter() {
        if let Some(shared) = e.shared.upgrade() {
            // Release: pairs with the Acquire in `submit` (as `ClusterPool::close`).
            shared.closed.store(true, Ordering::Release);
        }
    }
}

/// Waits until none of the pool's jobs is owed. Every answer wait (30 s) without that, the
/// nodes owing jobs are asked a question: if one does not answer (frozen, hung,
/// unreachable) its jobs can never finish, and the run is aborted naming it, as Open MPI
/// aborts it when a node agent dies — before (cluster30) the exit and a pool's shutdown
/// waited for ever, as mpi4py.futures' do with a frozen worker. `state` says what the pool
/// is doing, for the message.
pub(crate) fn wait_or_abort(shared: &Shared, state: &str) {
    loop {
        let wait = crate::shared::node_wait(crate::shared::ANSWER_WAIT);
        if shared.wait_until(Some(Instant::now() + wait), || shared.owed() == 0) {
            return;
        }
        let silent = shared.silent_owing_ranks();
        if silent.is_empty() {
            continue; // the nodes answer: their jobs are long, not lost
        }
        if let Some(c) = crate::launch::controller() {
            let why = format!(
                "hold unfinished jobs of a cluster pool {state} and did not answer within \
                 {wait:?} (frozen, hung or unreachable); those jobs cannot finish"
            );
            crate::launch::abort_naming(&c, &silent, &why);
        }
    }
}
