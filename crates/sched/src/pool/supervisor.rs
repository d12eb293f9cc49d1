//! The supervisor thread: starts every worker (it is the thread their
//! `PR_SET_PDEATHSIG` is tied to, and it lives as long as the pool), reaps and respawns
//! dead workers, enforces per-job time-outs, and drains completions while no thread
//! blocks on the pool (so callbacks and `.await` make progress on their own).

use super::core::Shared;
use super::registry::{self, Registration};
use crate::control::{monotonic_ns, state};
use crate::error::{BuildError, JobError};
use crate::launch::{self, Spec};
use crate::worker::exit;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_ring::blocking::{self, Poll};
use zeroproc_shm::wait::WaitStrategy;

/// Interval of liveness and time-out checks.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// A worker that dies this many times in a row before its handshake is given up on.
const MAX_FAILED_STARTS: u32 = 3;

/// How long a worker may take from exec to handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-worker launch parameters.
pub(crate) struct Launch {
    pub specs: Vec<Spec>,
    /// The pool's name, for its registry entry.
    pub name: String,
}

/// Thread body. Reports the start-up outcome on `started`, then supervises until the pool
/// is closed and every worker has exited.
pub(crate) fn run(shared: Arc<Shared>, launch: Launch, started: Sender<Result<(), BuildError>>) {
    // The registry entry lives exactly as long as this thread: until the pool is shut
    // down and every worker has exited.
    let (r, _registration) = match start_all(&shared, &launch) {
        Ok(reg) => (Ok(()), reg),
        Err(e) => (Err(e), None),
    };
    let ok = r.is_ok();
    let _ = started.send(r);
    if !ok {
        kill_all(&shared);
        return;
    }
    loop {
        wait_tick(&shared);
        shared.poll();
        if check(&shared, &launch) {
            break;
        }
    }
    shared.poll();
}

/// Starts every worker and waits for their handshakes; registers the pool (see
/// `registry.rs`) while the workers start, off the critical path (an entry costs ~0.3 ms
/// of file-system calls here).
fn start_all(shared: &Shared, launch: &Launch) -> Result<Option<Registration>, BuildError> {
    {
        let mut core = shared.lock();
        for (w, spec) in launch.specs.iter().enumerate() {
            let child = launch::spawn(spec, &shared.map).map_err(BuildError::Spawn)?;
            core.slots[w].pid = child.id();
            core.slots[w].child = Some(child);
        }
    }
    let registration = registry::register(shared.seg.id(), &launch.name, launch.specs.len());
    let t0 = Instant::now();
    let mut pending: Vec<usize> = (0..launch.specs.len()).collect();
    while !pending.is_empty() {
        let mut core = shared.lock();
        let mut still = Vec::new();
        for &w in &pending {
            // Acquire: pairs with the worker's Release store of its state.
            match shared.control(w).state.load(Ordering::Acquire) {
                state::READY => continue,
                state::REFUSED => return Err(BuildError::Fingerprint),
                state::INIT_FAILED => return Err(BuildError::Initializer),
                _ => {}
            }
            if let Some(c) = core.slots[w].child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    core.slots[w].child = None;
                    return Err(exited(w, st.code()));
                }
            }
            still.push(w);
        }
        drop(core);
        pending = still;
        if t0.elapsed() > HANDSHAKE_TIMEOUT {
            return Err(BuildError::HandshakeTimeout);
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    Ok(registration)
}

fn exited(index: usize, exit_code: Option<i32>) -> BuildError {
    let reason = match exit_code {
        Some(exit::BAD_SPEC) => "malformed worker spec",
        Some(exit::FINGERPRINT) => "different build",
        Some(exit::ATTACH) => "could not attach the pool segment",
        Some(exit::INIT) => "initializer panicked",
        Some(exit::ORPHAN) => "controller gone",
        Some(exit::RING_CORRUPT) => "a ring of the pool segment is corrupt",
        Some(_) | None => {
            "the program did not call zeroproc::init() first in main (or, under libtest, \
             has no zeroproc::test_worker!())"
        }
    };
    BuildError::WorkerExited { index, exit_code, reason }
}

fn kill_all(shared: &Shared) {
    let mut core = shared.lock();
    for s in core.slots.iter_mut() {
        if let Some(mut c) = s.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sleeps one tick. While nobody blocks on the pool and some owed job has a callback or
/// an async waker, sleeps on the completion event instead, so those completions are
/// delivered as they arrive (other completions are drained at the tick, or by the
/// thread that asks for them).
fn wait_tick(shared: &Shared) {
    let deadline = Instant::now() + TICK;
    // Relaxed: a hint; a stale value costs at most one tick of latency or one wake-up.
    let idle = shared.waiters.load(Ordering::Relaxed) == 0
        // Relaxed: a hint, as above.
        && shared.interest.load(Ordering::Relaxed) != 0;
    let owed = shared.core.try_lock().map(|c| c.owed() > 0).unwrap_or(false);
    if idle && owed {
        let _ = blocking::block_on::<(), ()>(
            &shared.header().completions,
            WaitStrategy::Sleep,
            Some(deadline),
            || {
                // Relaxed: as above.
                if shared.poll() || shared.waiters.load(Ordering::Relaxed) != 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            },
        );
    } else {
        std::thread::park_timeout(TICK);
    }
}

/// Reaps dead workers, enforces time-outs; true when the supervisor's work is over.
fn check(shared: &Shared, launch: &Launch) -> bool {
    if shared.spill.requested(shared.header()) {
        // A worker must spill a result: create the heap it waits for (see `spill.rs`).
        let _ = shared.spill.get(shared.header());
    }
    // Acquire: pairs with the Release store in `Shared::shutdown`.
    let closed = shared.closed.load(Ordering::Acquire);
    let mut core = shared.lock();
    let now = monotonic_ns();
    let mut all_gone = true;
    let mut died = false;
    for w in 0..core.slots.len() {
        let ctl = shared.control(w);
        let status = match core.slots[w].child.as_mut() {
            None => None,
            Some(c) => match c.try_wait() {
                Ok(Some(st)) => Some(st),
                _ => None,
            },
        };
        if let Some(st) = status {
            died = true;
            core.slots[w].child = None;
            // Everything it completed first.
            core.drain(w, shared);
            // Acquire: pairs with the worker's Release store of its state.
            let word = ctl.state.load(Ordering::Acquire);
            if let Some(which) = corrupt_ring(word, st.code()) {
                // Respawning onto the same rings would find the same garbage at once: the
                // slot is retired and its jobs fail (README: accounting).
                core.slots[w].kill = None;
                core.retire(w, &format!("{which} ring corrupt: worker slot {w} retired"));
                continue;
            }
            let cur = ctl.current();
            let front = core.slots[w].owed.front().map(|o| o.id);
            if cur != 0 && front == Some(cur) {
                let e = match core.slots[w].kill.take() {
                    Some((id, e)) if id == cur => e,
                    _ => JobError::WorkerDied { signal: st.signal(), exit_code: st.code() },
                };
                core.fail_front(w, e);
            }
            core.slots[w].kill = None;
            let was_ready = word == state::READY;
            let slot = &mut core.slots[w];
            slot.failed_starts = if was_ready { 0 } else { slot.failed_starts + 1 };
            if slot.failed_starts >= MAX_FAILED_STARTS {
                slot.broken = true;
                core.fail_all(
                    w,
                    JobError::WorkerDied { signal: st.signal(), exit_code: st.code() },
                );
            }
        }
        let slot = &mut core.slots[w];
        // A slot needs a process while it owes results or has not received its STOP yet
        // (after a shutdown, someone must drain its ring so that STOP fits).
        if slot.child.is_none() && !slot.broken && (!slot.owed.is_empty() || !slot.stopping) {
            respawn(shared, slot, &launch.specs[w], w);
            if slot.failed_starts >= MAX_FAILED_STARTS {
                slot.broken = true;
                core.fail_all(w, JobError::WorkerDied { signal: None, exit_code: None });
            }
        }
        let slot = &mut core.slots[w];
        if slot.child.is_some() || (!slot.broken && !slot.owed.is_empty()) {
            all_gone = false;
        }
        if slot.child.is_some() {
            if let Some(front) = slot.owed.front() {
                let cur = ctl.current();
                // Relaxed: written by the worker before its Release store of `current`,
                // which the Acquire in `current()` synchronizes with.
                let started = ctl.started_ns.load(Ordering::Relaxed);
                if front.timeout_ns != 0
                    && cur == front.id
                    && slot.kill.is_none()
                    && now.saturating_sub(started) > front.timeout_ns
                {
                    slot.kill = Some((cur, JobError::TimedOut));
                    if let Some(c) = slot.child.as_mut() {
                        let _ = c.kill();
                    }
                }
            }
        }
    }
    super::observe::publish(shared, &core);
    let after = core.take_after();
    drop(core);
    shared.run_after(after);
    if died {
        // Jobs were failed (or completed by the final drain): wake waiting threads and
        // submitters waiting for room.
        // Relaxed: a change counter (see `Shared::completed`).
        shared.completed.fetch_add(1, Ordering::Relaxed);
        shared.notify_waiters();
    }
    closed && all_gone
}

/// Which ring a worker that exited with `code` reported corrupt (its state word), if any.
fn corrupt_ring(word: u32, code: Option<i32>) -> Option<&'static str> {
    match (word, code) {
        (state::CORRUPT_SUBMISSION, Some(exit::RING_CORRUPT)) => Some("submission"),
        (state::CORRUPT_COMPLETION, Some(exit::RING_CORRUPT)) => Some("completion"),
        _ => None,
    }
}

fn respawn(shared: &Shared, slot: &mut super::core::Slot, spec: &Spec, w: usize) {
    // Release: pairs with the Acquire loads of the state (start-failure accounting).
    shared.control(w).state.store(state::STARTING, Ordering::Release);
    let mut spec = spec.clone();
    spec.parent = std::process::id();
    match launch::spawn(&spec, &shared.map) {
        Ok(c) => {
            slot.pid = c.id();
            slot.child = Some(c);
            slot.respawns += 1;
        }
        Err(_) => slot.failed_starts += 1,
    }
}
