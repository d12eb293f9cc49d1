//! The supervisor thread: starts every worker (it is the thread their
//! `PR_SET_PDEATHSIG` is tied to, and it lives as long as the pool), reaps and respawns
//! dead workers, enforces per-job time-outs, and drains completions while no thread
//! blocks on the pool (so callbacks and `.await` make progress on their own).

use super::core::{Core, Shared};
use super::events;
use super::registry::{self, Registration};
use crate::claim::Claim;
use crate::control::{monotonic_ns, state};
use crate::error::{BuildError, JobError};
use crate::launch::{self, Spec};
use crate::steal::Steal;
use crate::worker::exit;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::wait::{self, Poll};

/// Interval of liveness and time-out checks.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// A worker that dies this many times in a row before its handshake is given up on.
const MAX_FAILED_STARTS: u32 = 3;

/// How long a worker may take from exec to attaching the pool (its pid stored). The
/// pool's initializer, which runs after that, is user code and is waited for however long
/// it takes (Python's executor waits too): a model that loads in 30 s must not fail the
/// build, nor be reported as a `main` without `init()`. A note goes to stderr once an
/// initializer has run for this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// From this age on, a worker that has not attached is probed for running `main` without
/// `init()` (`probe::runs_main`), every [`NO_INIT_PROBE`], and reported after
/// [`NO_INIT_SIGNS`] probes in a row say so.
const NO_INIT_AFTER: Duration = Duration::from_millis(300);
const NO_INIT_PROBE: Duration = Duration::from_millis(50);
const NO_INIT_SIGNS: u8 = 3;

/// Per-worker launch parameters.
pub(crate) struct Launch {
    pub specs: Vec<Spec>,
    /// The pool's name, for its registry entry.
    pub name: String,
    /// The initializer's arguments: mapped by every worker that starts, so kept as long
    /// as workers may (re)start.
    pub _init_args: Option<Arc<crate::share::Stored>>,
    /// The shared values those arguments name, kept as long (`share/pin.rs`).
    pub _init_pins: Option<Arc<crate::share::pin::Pins>>,
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
    let mut trim = super::trim::SpillTrim::default();
    let mut paused = Paused::default();
    let mut sweeps_owed = false;
    loop {
        let slept = Instant::now();
        let busy = wait_tick(&shared);
        paused.after_tick(slept.elapsed().saturating_sub(busy));
        shared.poll_deferred();
        if check(&shared, &launch, paused.total_ns) {
            break;
        }
        trim.tick(&shared);
        // Arrays dropped while a job still wrote or read them: their memory once it is done.
        zeroproc_mp::shared::cache::free_pending();
        sweeps_owed = publish_drops(&shared, sweeps_owed);
    }
    shared.poll_deferred();
    // Every worker is gone: a job still in the backlog (every slot was retired as the
    // pool closed) would never run, and its future must not wait for ever.
    let mut core = shared.lock();
    if !core.backlog.is_empty() {
        core.fail_backlog(crate::JobError::NoWorkers);
        let after = core.take_after();
        drop(core);
        shared.defer_after(after);
    }
}

/// Publishes how many shared objects (arrays, containers, channels) this process has
/// dropped, for the workers' cache sweeps (`PoolHeader::array_drops`), and wakes the idle
/// workers to sweep now. `owed`: an idle worker was left out at the last tick (swept too
/// recently, `Core::place_sweeps`); returns whether one still is.
fn publish_drops(shared: &Shared, owed: bool) -> bool {
    let drops = zeroproc_mp::shared::cache::drops();
    let header = shared.header();
    // Relaxed: only this thread stores it.
    let moved = header.array_drops.load(Ordering::Relaxed) != drops;
    if moved {
        // Release: pairs with the workers' Acquire load (serve.rs); `drops` was read with
        // Acquire after the segments' `dropped` stores. Before the SWEEP records' commits.
        header.array_drops.store(drops, Ordering::Release);
    }
    (moved || owed) && shared.lock().place_sweeps()
}

/// Starts every worker and waits for their handshakes; registers the pool (see
/// `registry.rs`) while the workers start, off the critical path (an entry costs ~0.3 ms
/// of file-system calls here).
fn start_all(shared: &Shared, launch: &Launch) -> Result<Option<Registration>, BuildError> {
    {
        let mut core = shared.lock();
        for (w, spec) in launch.specs.iter().enumerate() {
            let child = launch::spawn(spec, &shared.map).map_err(BuildError::Spawn)?;
            events::started(w, child.id());
            core.slots[w].pid = child.id();
            core.slots[w].child = Some(child);
        }
    }
    let registration = registry::register(shared.seg.id(), &launch.name, launch.specs.len());
    let t0 = Instant::now();
    let mut pending: Vec<usize> = (0..launch.specs.len()).collect();
    let mut signs = vec![0u8; launch.specs.len()];
    let mut noted = vec![false; launch.specs.len()];
    // Starts of each worker ended by a Ctrl-C before it attached (`interrupted_at_start`).
    let mut interrupted = vec![0u32; launch.specs.len()];
    let mut probed = t0;
    while !pending.is_empty() {
        let probe_now = t0.elapsed() > NO_INIT_AFTER && probed.elapsed() > NO_INIT_PROBE;
        if probe_now {
            probed = Instant::now();
        }
        let mut core = shared.lock();
        let mut still = Vec::new();
        for &w in &pending {
            // Acquire: pairs with the worker's Release store of its state.
            match shared.control(w).state.load(Ordering::Acquire) {
                state::READY => continue,
                state::REFUSED => return Err(BuildError::Fingerprint),
                state::INIT_FAILED => {
                    let message = shared.header().init_failure();
                    return Err(BuildError::Initializer { message });
                }
                _ => {}
            }
            // Relaxed: the worker stores its pid once it has attached (then it runs the
            // initializer, if any, and stores READY); read again after an exit below.
            let attached = shared.control(w).pid.load(Ordering::Relaxed) != 0;
            if let Some(st) = core.slots[w].child.as_mut().and_then(try_reap) {
                core.slots[w].child = None;
                // Relaxed: the worker has exited; its stores are all done.
                let attached = shared.control(w).pid.load(Ordering::Relaxed) != 0;
                // Acquire: pairs with the worker's Release store of INIT_FAILED, which it
                // makes before `exit(INIT)`; read again here, as the worker may have
                // stored it and exited after the look at the top of this loop.
                if shared.control(w).state.load(Ordering::Acquire) == state::INIT_FAILED {
                    let message = shared.header().init_failure();
                    return Err(BuildError::Initializer { message });
                }
                if !interrupted_at_start(st.signal(), attached) {
                    return Err(exited(w, st.code(), st.signal(), attached));
                }
                // A Ctrl-C this controller outlived: start the worker again.
                interrupted[w] += 1;
                let child =
                    launch::spawn(&launch.specs[w], &shared.map).map_err(BuildError::Spawn)?;
                events::started(w, child.id());
                core.slots[w].pid = child.id();
                core.slots[w].child = Some(child);
                still.push(w);
                continue;
            }
            if attached {
                // In the initializer: no time limit (see HANDSHAKE_TIMEOUT).
                if t0.elapsed() > HANDSHAKE_TIMEOUT && !std::mem::replace(&mut noted[w], true) {
                    crate::note!(
                        "zeroproc: pool start: the initializer has been running for {} s in \
                         worker {w} (pid {}); Pool::build waits for it to return",
                        HANDSHAKE_TIMEOUT.as_secs(),
                        core.slots[w].pid
                    );
                }
                still.push(w);
                continue;
            }
            if probe_now {
                let pid = core.slots[w].pid;
                signs[w] = if super::probe::runs_main(pid) { signs[w] + 1 } else { 0 };
                if signs[w] >= NO_INIT_SIGNS {
                    return Err(BuildError::NoInit { index: w });
                }
            }
            still.push(w);
        }
        drop(core);
        pending = still;
        // Relaxed: a hint, as above; an attached worker is in its initializer.
        let starting = pending.iter().any(|&w| shared.control(w).pid.load(Ordering::Relaxed) == 0);
        if starting && t0.elapsed() > HANDSHAKE_TIMEOUT {
            // A worker whose every start a stream of Ctrl-Cs ended is not missing `init()`:
            // say what killed it (review25: 80 restarts, then `HandshakeTimeout` "is init()
            // the first thing main does?").
            if let Some(&w) = pending.iter().find(|&&w| interrupted[w] > 0) {
                return Err(exited(w, None, Some(libc::SIGINT), false));
            }
            return Err(BuildError::HandshakeTimeout);
        }
        if !pending.is_empty() {
            wait_for_handshakes(shared, &pending);
        }
    }
    Ok(registration)
}

/// Sleeps until one of the `pending` workers leaves `STARTING` (it wakes the completion
/// waiters after storing READY) or a millisecond has passed (a worker that refused, failed
/// its initializer or died wakes no one). Before: a 50 µs sleep per look, woken 0.05–0.15
/// ms after the last worker's READY.
fn wait_for_handshakes(shared: &Shared, pending: &[usize]) {
    let deadline = Instant::now() + Duration::from_millis(1);
    let _ = wait::block_on::<(), ()>(
        &shared.header().completions,
        WaitStrategy::Sleep,
        Some(deadline),
        || {
            // Acquire: pairs with the worker's Release store of its state, as above.
            let moved = pending
                .iter()
                .any(|&w| shared.control(w).state.load(Ordering::Acquire) != state::STARTING);
            if moved {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        },
    );
}

/// Whether a worker that died of `signal` was killed by a Ctrl-C (SIGINT to the process
/// group) before it could leave SIGINT to the controller — the first thing it does
/// (`worker::start`), but a signal can land between its exec and there. The controller is
/// still alive, so it handles Ctrl-C (with SIGINT's default action it would have died
/// too; with SIG_IGN the worker inherits SIG_IGN and would not have died): the controller
/// decides, as documented, and the worker is started again rather than failing the build
/// or counting as a failed start. `attached`: it had attached the pool (its handler was
/// installed, so only its own initializer could have undone it: a real failure).
fn interrupted_at_start(signal: Option<i32>, attached: bool) -> bool {
    signal == Some(libc::SIGINT) && !attached
}

/// The start-up failure of worker `index`, which exited with `exit_code` or was killed by
/// `signal`; `attached`: it had attached the pool (so it was running the initializer).
fn exited(index: usize, exit_code: Option<i32>, signal: Option<i32>, attached: bool) -> BuildError {
    exited_in(index, exit_code, signal, attached, std::env::args_os().any(|a| a == "--bench"))
}

/// [`exited`]; `bench`: this program was started by `cargo bench` (it has `--bench` among
/// its arguments), where a worker that exits at once with an error is most likely a
/// criterion or divan bench re-run whole (criterion's `criterion_main!`, not zeroproc's, or
/// `divan::main()` without `init()` first): it rejects the worker's arguments and exits
/// with 2. Exit code 2 says the same without `--bench` (`cargo test --benches`).
fn exited_in(
    index: usize,
    exit_code: Option<i32>,
    signal: Option<i32>,
    attached: bool,
    bench: bool,
) -> BuildError {
    let reason = match exit_code {
        // Exit codes of its own (below) are reported as such; any other end after the
        // attach is the initializer's doing (or a kill while it ran). `INIT` is its own
        // only with the state INIT_FAILED, which the caller turned into
        // `BuildError::Initializer`: without it, the initializer called `exit(93)` (it
        // read "initializer panicked": exec38).
        Some(c)
            if attached && (c == exit::INIT || !(exit::BAD_SPEC..=exit::NO_INIT).contains(&c)) =>
        {
            "the initializer ended the worker process (it called exit)"
        }
        None if attached => match signal {
            Some(libc::SIGKILL) => {
                "the worker was killed (SIGKILL: the OOM killer, or another process) while \
                 its initializer ran"
            }
            // The variant keeps no signal field: the common ones are named here.
            Some(libc::SIGABRT) => {
                "the worker died of SIGABRT while its initializer ran (an abort: a failed \
                 allocation, a panic that could not unwind, std::process::abort, a stack \
                 overflow; the worker's stderr says which)"
            }
            Some(libc::SIGSEGV) => {
                "the worker died of SIGSEGV while its initializer ran (invalid memory access \
                 in it: unsafe code or FFI)"
            }
            Some(libc::SIGBUS) => {
                "the worker died of SIGBUS while its initializer ran (bad memory access in \
                 it, e.g. a truncated mapped file)"
            }
            Some(libc::SIGFPE) => {
                "the worker died of SIGFPE while its initializer ran (an arithmetic fault in it)"
            }
            Some(libc::SIGILL) => {
                "the worker died of SIGILL while its initializer ran (an illegal instruction \
                 in it)"
            }
            Some(libc::SIGTERM) => {
                "the worker was stopped by SIGTERM while its initializer ran (a `kill`, a \
                 service manager, or the initializer itself)"
            }
            _ => {
                "the worker died of a signal while its initializer ran (not SIGABRT, \
                 SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM nor SIGKILL: one it raised or \
                 was sent, unhandled)"
            }
        },
        None => match signal {
            Some(libc::SIGKILL) => {
                "the worker was killed (SIGKILL: the OOM killer, or another process) before \
                 it attached the pool"
            }
            Some(libc::SIGTERM) => {
                "the worker was stopped by SIGTERM (sent from outside: a service manager, or \
                 `kill` of the process group) before it attached the pool"
            }
            Some(libc::SIGINT) => {
                "the worker was killed by SIGINT (Ctrl-C, or `kill -INT` of the process \
                 group) at every start for 10 s, before it could attach the pool"
            }
            _ => "the worker died of a signal before it attached the pool",
        },
        Some(exit::NO_INIT) => return BuildError::NoInit { index },
        Some(exit::BAD_SPEC) => "malformed worker spec",
        Some(exit::FINGERPRINT) => "different build",
        Some(exit::ATTACH) => "could not attach the pool segment",
        Some(exit::INIT) => "initializer panicked",
        Some(exit::ORPHAN) => "controller gone",
        Some(exit::RING_CORRUPT) => "a ring of the pool segment is corrupt",
        Some(exit::ESCAPED) => "a panic escaped the worker's own code",
        // The shell convention, also what the dynamic loader exits with when it cannot
        // load the worker (a program started as `ld.so ./bin` re-executes ld.so).
        Some(126) | Some(127) if std::env::var_os(crate::launch::WORKER_EXE_ENV).is_some() => {
            "the worker could not be executed (the program ZEROPROC_WORKER_EXE names could \
             not run)"
        }
        Some(126) | Some(127) => {
            "the worker could not be executed (/proc/self/exe is not this program, e.g. it \
             was started through the dynamic loader)"
        }
        // libtest found no test named `__zeroproc_worker` and exited successfully.
        Some(0) => {
            "the worker exited at once without serving: in a test binary, add \
             zeroproc::test_worker!() (at the top level or in `mod tests`; every file in \
             tests/ is a test binary of its own, the crate's unit tests another); elsewhere, \
             zeroproc::init() must be the first line of main"
        }
        Some(_) if bench => {
            "it exited before attaching the pool: in a criterion bench, end it with \
             zeroproc::criterion_main!(benches) in place of criterion's criterion_main!; in a \
             divan bench or one with a main of its own (harness = false), make \
             `zeroproc::init();` the first line of main (before divan::main())"
        }
        // clap's exit code for arguments it rejects (criterion's and divan's parser, and
        // many programs'): main parsed the worker's arguments before `init` could run.
        // Also how a bench run by `cargo test --benches` (no `--bench`) ends.
        Some(2) => {
            "it exited with code 2 before attaching the pool, as an argument parser does \
             when it rejects the worker's arguments (`__zeroproc_worker --nocapture -q \
             --test-threads=1`): main parsed them before zeroproc::init() ran. Make \
             `zeroproc::init();` the first line of main (or use #[zeroproc::main]); in a \
             criterion bench, end it with zeroproc::criterion_main!(benches) in place of \
             criterion's criterion_main!; in a divan bench, `zeroproc::init();` before \
             divan::main()"
        }
        Some(_) => {
            "it exited before attaching the pool: the program failed to start as a worker \
             (its own error is on stderr above), or main did not call zeroproc::init() first"
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

/// Sleeps one tick. While nobody blocks on the pool and some job in flight has a
/// callback or an async waker — or the pool is shutting down — sleeps on the completion
/// event instead, so those completions are delivered as they arrive (other completions are
/// drained at the tick, or by the thread that asks for them). Returns the time spent
/// draining in the sleep (decoding results, waking wakers): worked, not paused
/// ([`Paused`]).
fn wait_tick(shared: &Shared) -> Duration {
    let tick = Instant::now() + TICK;
    let again = shared.core.try_lock().ok().and_then(|c| c.look_again);
    let deadline = again.map_or(tick, |a| a.min(tick));
    // Relaxed: a hint; a stale value costs at most one tick of latency or one wake-up.
    let idle = shared.waiters.load(Ordering::Relaxed) == 0
        // Relaxed: hints, as above.
        && (shared.interest.load(Ordering::Relaxed) != 0 || shared.closed.load(Ordering::Relaxed));
    let owed = shared.core.try_lock().map(|c| c.owed() > 0).unwrap_or(false);
    let mut busy = Duration::ZERO;
    if idle && owed {
        let _ = wait::block_on::<(), ()>(
            &shared.header().completions,
            WaitStrategy::Sleep,
            Some(deadline),
            || {
                let t = Instant::now();
                let drained = shared.poll_deferred();
                busy += t.elapsed();
                // Relaxed: as above.
                if drained || shared.waiters.load(Ordering::Relaxed) != 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            },
        );
    } else {
        std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
    }
    busy
}

/// A tick that took this much longer than [`TICK`] (less the time the supervisor worked in
/// it: `wait_tick` drains completions while it sleeps, and decoding a large result or
/// waking a slow waker there is work while the workers run) was not slept: the supervisor
/// did not run (the program was stopped — Ctrl-Z, SIGSTOP to its process group — or
/// starved).
const PAUSE_MIN: Duration = Duration::from_millis(50);

/// Time the supervisor did not run between its ticks. A job's time limit bounds how long
/// the job runs: when the whole program was stopped (Ctrl-Z, then `fg`), its workers were
/// too, and the stop is not the job's (before: every job running at a Ctrl-Z failed with
/// `TimeLimit` at the `fg`, `tests/stopped_time_limit.rs`). The supervisor cannot tell a
/// stop of the controller alone, while workers ran on, from a group stop: such a job gets
/// the stop's length on top of its limit — a late kill rather than a wrong one.
#[derive(Default)]
struct Paused {
    /// Sum of the pauses so far, in ns.
    total_ns: u64,
}

impl Paused {
    /// The tick sleep took `slept`, less the time worked in it (at most [`TICK`] when the
    /// thread runs).
    fn after_tick(&mut self, slept: Duration) {
        if slept > TICK + PAUSE_MIN {
            self.total_ns += (slept - TICK).as_nanos() as u64;
        }
    }
}

/// A worker asked to exit (STOP queued, or killed) that has not after this long is
/// SIGKILLed: it has nothing left to do, and a frozen (SIGSTOP) one would never exit.
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// A killed worker not reaped after this long (uninterruptible sleep: SIGKILL waits for
/// the kernel call to end) is abandoned, so that `shutdown`/`terminate`/`Drop` return.
const REAP_LIMIT: Duration = Duration::from_secs(1);

/// A worker past [`REAP_LIMIT`] that is in its exit ([`probe::exiting`](super::probe::exiting))
/// is waited for up to this long (from when it was asked to exit): the kernel is freeing
/// its memory — 1.2–1.5 s for a worker that mapped a 4 GiB array, on 2 loaded vCPUs —
/// and will finish. Past it, it is abandoned as a stuck one.
const EXITING_LIMIT: Duration = Duration::from_secs(60);

/// Reaps dead workers, enforces time-outs, keeps slots served, moves queued jobs to idle
/// workers, stops workers once a closed pool has nothing left; true when the supervisor's
/// work is over.
fn check(shared: &Shared, launch: &Launch, paused_ns: u64) -> bool {
    if shared.spill.requested(shared.header()) {
        // A worker must spill a result: create the heap it waits for (see `spill.rs`).
        let _ = shared.spill.get(shared.header());
    }
    // Acquire: pairs with the Release store in `Shared::close`.
    let closed = shared.closed.load(Ordering::Acquire);
    let mut core = shared.lock();
    // Jobs a map left staged while it reads its input (`Batch::keep_staged`).
    core.publish_staged();
    let (mut died, mut stole) = (false, false);
    for w in 0..core.slots.len() {
        if let Some(st) = reap(&mut core, w) {
            died = true;
            on_death(shared, &mut core, w, st);
        }
        keep_served(shared, &mut core, &launch.specs[w], w, closed);
        note_retiring(shared, &mut core, w);
        enforce_timeout(shared, &mut core, w, paused_ns);
        stole |= nudge_long_job(shared, &mut core, w);
    }
    // Jobs left on retired slots, then backlogged jobs go first (room made since the
    // last drain), and a closed pool with a backlog is not done: `shutdown(wait)` runs
    // them.
    if core.stranded() {
        core.rehome_stranded(shared);
    }
    if !core.backlog.is_empty() {
        core.place_backlog(shared);
    }
    if closed && core.owed() == 0 && core.backlog.is_empty() {
        core.place_stops();
    }
    died |= stop_lingering(shared, &mut core);
    core.balance(shared, true);
    let all_gone = core.slots.iter().all(|s| s.child.is_none() && (s.broken || s.load == 0));
    super::observe::publish(shared, &core);
    let after = core.take_after();
    drop(core);
    shared.defer_after(after);
    if died || stole {
        // Jobs were failed (or completed by the final drain), or a map has items to place
        // again (`nudge_long_job`): wake waiting threads and submitters waiting for room.
        // Relaxed: a change counter (see `Shared::completed`).
        shared.completed.fetch_add(1, Ordering::Relaxed);
        shared.notify_waiters();
    }
    closed && all_gone
}

/// The exit status of worker `w` if it has exited (it is reaped).
fn reap(core: &mut Core, w: usize) -> Option<std::process::ExitStatus> {
    let st = try_reap(core.slots[w].child.as_mut()?)?;
    core.slots[w].child = None;
    Some(st)
}

/// `child`'s exit status if it has exited (a status lost to the kernel's own reaping is
/// [`reap::lost`](crate::reap::lost): `WorkerDied { signal: None, exit_code: None }`).
fn try_reap(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    crate::reap::try_wait(child).ok().flatten()
}

/// Worker `w` exited with `st`: what it completed is delivered, the job it was running
/// fails, its unstarted jobs stay queued (for its successor, or an idle worker).
fn on_death(shared: &Shared, core: &mut Core, w: usize, st: std::process::ExitStatus) {
    let ctl = shared.control(w);
    // Acquire: pairs with the worker's Release store of its state.
    let word = ctl.state.load(Ordering::Acquire);
    // A retiring worker was given an exit grace (`note_retiring`), not asked to stop.
    let asked = core.slots[w].asked_exit.take().is_some() && word != state::RETIRING;
    let pid = core.slots[w].pid;
    if st.success() {
        // Acquire: pairs with the Release in `Shared::close`.
        events::exited(w, pid, asked || shared.closed.load(Ordering::Acquire));
    } else {
        events::crashed(w, pid, st.signal(), st.code(), ctl.current());
    }
    // Everything it completed first.
    core.drain(w, shared);
    // Then a result block it wrote and never referenced (killed in the result's `Drop`):
    // a block whose record was published was claimed and freed by the drain just above.
    if crate::spill::reclaim_held(ctl, shared.spill.existing()) {
        events::reclaimed(w, pid);
    }
    if let Some(which) = corrupt_ring(word, st.code()) {
        // Respawning onto the same rings would find the same garbage at once: the slot is
        // retired and its jobs fail (README: accounting).
        core.slots[w].kill = None;
        let why = format!("{which} ring corrupt: worker slot {w} retired");
        events::retired(w, &why);
        core.retire(shared, w, &why);
        return;
    }
    let cur = ctl.current();
    let died = death_of(ctl, cur, st.signal(), st.code());
    let claims = shared.claims();
    // The kill was for the job it died on (a claimed, unfinished job is always `current`:
    // `serve.rs`), or for every job (`kill_all`, id 0). A kill for a job it finished (it
    // then waited for the kill: `WorkerControl::finish_job`) fails nothing: that job was
    // drained above, and no other was claimed.
    let e = match core.slots[w].kill.take() {
        Some((id, e)) if id == cur || id == 0 => e,
        _ => died.clone(),
    };
    if matches!(e, JobError::WorkerDied { .. } | JobError::StackOverflow) {
        died_in_batch(core, ctl, cur);
    }
    // Claimed by the dead worker and not answered: the job that died with it (claim.rs).
    core.fail_held(w, |id| claims.state(id) == Claim::Running, &|| e.clone());
    let slot = &mut core.slots[w];
    // A start failure is a worker that could not get going (wrong program, no init(), a
    // crash in start-up); SIGKILL comes from outside (an operator, the OOM killer, a
    // test) and says nothing about the next attempt.
    // SIGINT likewise, before the worker attached: a Ctrl-C this controller outlived
    // (`interrupted_at_start`). Once attached it had left SIGINT to the controller (its
    // handler ignores it), so a SIGINT death is its initializer's doing (it restored the
    // default action): a failed start like any other signal. Before, it was never counted,
    // and an initializer that raised SIGINT in every replacement respawned it for ever.
    // Relaxed: the worker has exited and is reaped; its stores are all done. Its pid there
    // is this incarnation's once it attached (a successor stores its own).
    let attached = ctl.pid.load(Ordering::Relaxed) == pid;
    let killed = match st.signal() {
        Some(libc::SIGKILL) => true,
        Some(libc::SIGINT) => !attached,
        _ => false,
    };
    // A retiring worker had started (and served its quota), whether it exited or was
    // killed lingering in `exit`; so had one joining what its jobs left (JOINING, at a
    // STOP or a retirement: only a worker that ran jobs gets there).
    let started = matches!(word, state::READY | state::RETIRING | state::JOINING);
    if word == state::RETIRING && slot.retiring_since.is_none_or(|(p, _)| p != pid) {
        // Its queue waits a moment for the replacement (`balance.rs`, RESTART_GRACE).
        slot.retiring_since = Some((pid, Instant::now()));
    }
    slot.failed_starts = match (started, killed) {
        (true, _) => 0,
        (false, true) => slot.failed_starts,
        (false, false) => slot.failed_starts + 1,
    };
    if slot.failed_starts >= MAX_FAILED_STARTS {
        give_up(shared, core, w, died);
    }
}

/// The dead worker's job `cur`, if it was an automatic batch, claimed the items its claim
/// word counts (the last one is the one it died in) and finished those its partial-results
/// area holds (`partial.rs`): its destination is told before the job fails (a map
/// delivers the finished items' results and places the items after the claimed ones
/// again).
fn died_in_batch(core: &mut Core, ctl: &crate::control::WorkerControl, cur: u64) {
    // Relaxed: the worker is dead and reaped, its stores all done (see
    // `WorkerControl::batch_claim`).
    let word = ctl.batch_claim.load(Ordering::Relaxed);
    let Some(claimed) = crate::steal::claimed_of(word, cur) else { return };
    let Some((dest, seq)) = core.jobs.get(cur).map(|o| (o.dest.clone(), o.seq)) else { return };
    let kept = ctl.partial.read(cur);
    dest.died_after(&mut core.key.token(), seq, claimed, kept);
}

/// Slot `w` will not be respawned: its unstarted jobs move to the other workers (those
/// that fit now; the rest stay on it, unstarted, and move as the others make room:
/// [`Core::rehome_stranded`]). With no other slot left, they fail with `e` (the failed
/// start, which names the cause) and jobs stranded on other retired slots with
/// `NoWorkers`.
///
/// Before, the jobs that did not fit at once failed with `e` although a healthy worker
/// would have run them: 128 of 812 jobs on 2 workers whose one slot's initializer failed
/// (user28 `init_fails_one_slot`).
fn give_up(shared: &Shared, core: &mut Core, w: usize, e: JobError<crate::Never>) {
    let why = format!("{} failed starts in a row", core.slots[w].failed_starts);
    events::retired(w, &why);
    core.slots[w].broken = true;
    core.rehome(shared, w);
    if core.slots.iter().all(|s| s.broken) {
        core.fail_unstarted(shared, w, &|| e.clone());
        core.rehome_stranded(shared);
    }
}

/// Respawns slot `w` if it needs a process: always while the pool is open, and after a
/// shutdown while it still holds jobs.
fn keep_served(shared: &Shared, core: &mut Core, spec: &Spec, w: usize, closed: bool) {
    // A closed pool's backlogged jobs still run (`shutdown(wait)`): they need workers, as
    // do jobs left on a retired slot.
    let backlog = !core.backlog.is_empty() || core.stranded();
    let slot = &mut core.slots[w];
    if slot.broken && !closed {
        retry_spawn(shared, slot, spec, w);
    }
    if slot.child.is_some() || slot.broken {
        return;
    }
    if closed && slot.load == 0 && !backlog {
        slot.stopping = true; // nothing to stop: no process, nothing owed
        return;
    }
    respawn(shared, slot, spec, w);
    if slot.failed_starts >= MAX_FAILED_STARTS {
        // No process could be made: the jobs left with nowhere to go never had a worker to
        // die (they said `WorkerDied` with neither signal nor exit code before: user29).
        let e = match slot.spawn_error {
            Some(_) => JobError::NoWorkers,
            None => JobError::WorkerDied { signal: None, exit_code: None },
        };
        give_up(shared, core, w, e);
    }
}

/// Starts the exit grace of worker `w` once it says it is retiring (`max_jobs_per_worker`
/// reached: `state::RETIRING`, stored just before its `exit`), as for a worker asked to
/// stop: [`stop_lingering`] SIGKILLs it if it has not exited [`EXIT_GRACE`] later. `exit`
/// runs what jobs registered — an `atexit` handler or a static destructor that never
/// returns (waiting for a thread or a lock a job left) kept the worker in `exit` for
/// ever, and with it the slot: no successor was started, its queued jobs never ran
/// (user29). The supervisor looks every tick, so the grace starts within 5 ms.
fn note_retiring(shared: &Shared, core: &mut Core, w: usize) {
    let slot = &mut core.slots[w];
    if slot.child.is_none() || slot.asked_exit.is_some() {
        return;
    }
    // Acquire: pairs with the worker's Release store of RETIRING (serve.rs).
    if shared.control(w).state.load(Ordering::Acquire) == state::RETIRING {
        slot.asked_exit = Some(Instant::now());
    }
}

/// Asks the job worker `w` runs to hand back its unstarted items
/// (`WorkerControl::hand_back`) once it was running at the last tick too: it has run at
/// least a tick (5 ms), hundreds of times what an automatic batch of `Pool::map` is sized
/// to run (~16 µs; `pool/map.rs`, "Automatic batches"). Only such batches heed it. If
/// the job is such a batch, the items after the one it runs are taken from it now
/// (`steal.rs`, one membarrier) and its map told to place them again; true then (the
/// map's thread may be waiting: wake it).
fn nudge_long_job(shared: &Shared, core: &mut Core, w: usize) -> bool {
    let ctl = shared.control(w);
    let cur = ctl.current();
    let slot = &mut core.slots[w];
    let long = cur != 0 && cur == slot.long_seen;
    slot.long_seen = cur;
    if !long || slot.stole_tried == cur {
        return false;
    }
    // Acquire: pairs with the worker's Release store of 1 after its registration (a
    // stale 0 or 2 only forgoes the steal; see `WorkerControl::fenced`).
    let fenced = ctl.fenced.load(Ordering::Acquire) == 1;
    let barrier = || fenced && crate::steal::global();
    let at = match crate::steal::steal_words(&ctl.batch_claim, &ctl.hand_back, cur, barrier) {
        Steal::NotYet => return false,
        Steal::Asked => {
            slot.stole_tried = cur;
            return false;
        }
        Steal::Took(at) => at,
    };
    slot.stole_tried = cur;
    let Some((dest, seq)) = core.jobs.get(cur).map(|o| (o.dest.clone(), o.seq)) else {
        return false;
    };
    dest.stolen(&mut core.key.token(), seq, at);
    true
}

/// Kills worker `w` if its job ran past its time-out; `paused_ns`: the supervisor's
/// paused time so far (`Paused`), of which what came after the job was first seen running
/// does not count.
fn enforce_timeout(shared: &Shared, core: &mut Core, w: usize, paused_ns: u64) {
    let ctl = shared.control(w);
    let cur = ctl.current();
    let Some(o) = core.jobs.get(cur) else { return };
    if o.worker != w || o.timeout_ns == 0 {
        return;
    }
    let timeout_ns = o.timeout_ns;
    let slot = &mut core.slots[w];
    if slot.limit_seen.0 != cur {
        slot.limit_seen = (cur, paused_ns);
    }
    let paused_since = paused_ns - slot.limit_seen.1;
    // Relaxed: written by the worker before its Release store of `current`, which the
    // Acquire in `current()` synchronizes with.
    let started = ctl.started_ns.load(Ordering::Relaxed);
    let ran = monotonic_ns().saturating_sub(started).saturating_sub(paused_since);
    let late = ran > timeout_ns;
    // Aimed (`WorkerControl::aim_kill`): a worker that finished the job since we read
    // `current` is not killed on the next one.
    if late && slot.kill.is_none() && slot.child.is_some() && ctl.aim_kill(cur) {
        slot.kill = Some((cur, JobError::TimeLimit));
        events::timed_out(w, slot.pid, cur, timeout_ns);
        if let Some(c) = slot.child.as_mut() {
            let _ = c.kill();
        }
    }
}

/// Kills workers that were asked to exit and have not (see [`EXIT_GRACE`]); abandons
/// killed ones the kernel does not let go of (see [`REAP_LIMIT`]), accounting for each
/// as a death ([`abandon`]). True if one was abandoned (jobs may have failed).
fn stop_lingering(shared: &Shared, core: &mut Core) -> bool {
    let mut abandoned = false;
    for w in 0..core.slots.len() {
        let slot = &mut core.slots[w];
        let (Some(t), Some(c)) = (slot.asked_exit, slot.child.as_mut()) else { continue };
        if slot.stopping && slot.kill.is_none() && joining(shared, w, c.id()) {
            // Its grace starts once it has joined what its jobs left (`state::JOINING`).
            slot.asked_exit = Some(Instant::now());
            continue;
        }
        let waited = t.elapsed();
        // In its exit (freeing a big array's pages takes seconds): it will be reaped. It
        // was abandoned at REAP_LIMIT, with a message blaming an uninterruptible sleep, at
        // the end of correct programs (hpc29).
        let in_exit = waited > EXIT_GRACE + REAP_LIMIT && super::probe::exiting(c.id());
        if in_exit && waited <= EXITING_LIMIT {
            let _ = c.kill();
        } else if waited > EXIT_GRACE + REAP_LIMIT {
            let why = if in_exit {
                "still in its exit: the kernel has not finished freeing its memory"
            } else {
                "uninterruptible sleep?"
            };
            crate::note!(
                "zeroproc: worker {} did not exit {:?} after SIGKILL ({why}); \
                 no longer waiting for it",
                c.id(),
                waited
            );
            // Sent at EXIT_GRACE already, unless this thread did not look since: once
            // killed, the process runs no more of its code when it leaves the kernel.
            let _ = c.kill();
            slot.child = None;
            // Its successor, a new process, was asked nothing (it was abandoned at its
            // first look, unkilled, and replaced: a new process per tick on the same rings).
            slot.asked_exit = None;
            abandon(shared, core, w);
            abandoned = true;
        } else if waited > EXIT_GRACE {
            let _ = c.kill();
        }
    }
    abandoned
}

/// Whether worker `w` (process `pid`), asked to stop, is joining the children and pools
/// its jobs left (`state::JOINING`) and not stopped (SIGSTOP, a debugger): a stopped one
/// gets the grace as before, so a shutdown never hangs on a frozen worker.
fn joining(shared: &Shared, w: usize, pid: u32) -> bool {
    // Acquire: pairs with the worker's Release stores (`serve::finish_before_exit`).
    shared.control(w).state.load(Ordering::Acquire) == state::JOINING
        && !super::probe::sample(pid).is_some_and(|s| matches!(s.state, b'T' | b't'))
}

/// Worker `w` was killed and abandoned unreaped: as in [`on_death`], what it completed is
/// delivered and the job it had claimed fails — its word says RUNNING, so no successor
/// runs it, and a killed process answers nothing (the job's future waited for ever, and a
/// closed pool's supervisor with it: `terminate` hung).
fn abandon(shared: &Shared, core: &mut Core, w: usize) {
    core.drain(w, shared);
    let cur = shared.control(w).current();
    let e = match core.slots[w].kill.take() {
        Some((id, e)) if id == cur || id == 0 => e,
        // Its exit status is unknown, as for a status lost to the kernel (`reap::lost`).
        _ => JobError::WorkerDied { signal: None, exit_code: None },
    };
    let claims = shared.claims();
    core.fail_held(w, |id| claims.state(id) == Claim::Running, &|| e.clone());
}

/// Which ring a worker that exited with `code` reported corrupt (its state word), if any.
fn corrupt_ring(word: u32, code: Option<i32>) -> Option<&'static str> {
    match (word, code) {
        (state::CORRUPT_SUBMISSION, Some(exit::RING_CORRUPT)) => Some("submission"),
        (state::CORRUPT_COMPLETION, Some(exit::RING_CORRUPT)) => Some("completion"),
        _ => None,
    }
}

/// How long a slot retired because its worker process could not be created waits
/// between attempts to create one again.
const SPAWN_RETRY: Duration = Duration::from_secs(1);

/// Tries again, every [`SPAWN_RETRY`], to start the worker of slot `w`, retired because
/// its process could not be created three times in a row (`fork`/`exec` refused: a pids
/// limit filled by processes a job left, memory, an environment too large for `exec`);
/// once one starts the slot serves again. A slot retired for any other reason (a
/// corrupt ring, a worker that died before its handshake: an initializer failing) stays
/// retired. Before (user29): such a slot was lost for good, so a failure of a fraction of
/// a second left every later job of the pool failing with `NoWorkers` for ever.
fn retry_spawn(shared: &Shared, slot: &mut super::core::Slot, spec: &Spec, w: usize) {
    let Some(at) = slot.spawn_error else { return };
    if slot.retired.is_some() || slot.child.is_some() || at.elapsed() < SPAWN_RETRY {
        return;
    }
    respawn(shared, slot, spec, w);
    if slot.child.is_some() {
        crate::note!(
            "zeroproc: worker slot {w} has a process again (pid {}): it serves again",
            slot.pid
        );
        slot.broken = false;
        slot.failed_starts = 0;
    }
}

fn respawn(shared: &Shared, slot: &mut super::core::Slot, spec: &Spec, w: usize) {
    // A kill aimed at the dead incarnation is over (`WorkerControl::aim_kill`). SeqCst:
    // ordered before the spawn below, like every store the new process reads.
    shared.control(w).kill_for.store(0, Ordering::SeqCst);
    // Release: pairs with the Acquire loads of the state (start-failure accounting).
    shared.control(w).state.store(state::STARTING, Ordering::Release);
    let mut spec = spec.clone();
    spec.parent = std::process::id();
    match launch::spawn(&spec, &shared.map) {
        Ok(c) => {
            slot.pid = c.id();
            slot.child = Some(c);
            slot.respawns += 1;
            events::respawned(w, slot.pid, slot.respawns);
            // A new process: what was judged of the old one no longer holds.
            slot.stuck = false;
            slot.probe = None;
            slot.spawn_error = None;
        }
        Err(e) => {
            // The process was never made: say why once per streak (the jobs that fail
            // meanwhile say `NoWorkers` or move to other workers; nothing else would).
            if slot.spawn_error.is_none() {
                crate::note!(
                    "zeroproc: could not start a process for worker slot {w}: {e} (tried \
                     again; after {MAX_FAILED_STARTS} failures in a row the slot is retired \
                     and tried again every {SPAWN_RETRY:?})"
                );
            }
            slot.spawn_error = Some(Instant::now());
            slot.failed_starts += 1;
        }
    }
}

/// What killed a worker that died on job `cur`: a stack overflow its fault handler
/// recorded (`worker/overflow.rs`; the runtime then aborts, or the default action ends it
/// with the fault's own signal), or the signal / exit code as such.
fn death_of(
    ctl: &crate::control::WorkerControl,
    cur: u64,
    signal: Option<i32>,
    exit_code: Option<i32>,
) -> JobError {
    // Acquire: pairs with the fault handler's Release store (the process is reaped).
    let overflowed = cur != 0 && ctl.overflowed.load(Ordering::Acquire) == cur;
    let fault = matches!(signal, Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS));
    if overflowed && fault {
        JobError::StackOverflow
    } else {
        JobError::WorkerDied { signal, exit_code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A criterion bench that kept criterion's `criterion_main!` (found by the user4
    /// review): its worker, the bench re-run, rejects the worker's arguments (exit 2) and
    /// the error named only `init()`, not the macro that fixes it.
    #[test]
    fn a_bench_whose_workers_exit_names_criterion_main() {
        let msg = exited_in(0, Some(2), None, false, true).to_string();
        assert!(msg.contains("zeroproc::criterion_main!(benches)"), "{msg}");
        let msg = exited_in(0, Some(1), None, false, false).to_string();
        assert!(!msg.contains("criterion"), "{msg}");
    }

    /// A divan bench whose `main` is `divan::main()` without `init()` first (harnessuser
    /// round): its worker, the bench re-run, rejects the worker's arguments (exit 2) as
    /// criterion's does, and the error told the user to use zeroproc's `criterion_main!`,
    /// which a divan bench has no use for. Run by `cargo test --benches` (no `--bench`
    /// argument), a criterion bench's error named neither macro nor bench.
    #[test]
    fn a_bench_whose_workers_reject_their_arguments_names_every_fix() {
        for bench in [true, false] {
            let msg = exited_in(0, Some(2), None, false, bench).to_string();
            assert!(msg.contains("divan"), "{msg}");
            assert!(
                msg.contains("`zeroproc::init();` before divan::main()")
                    || msg.contains(
                        "`zeroproc::init();` the first line of main (before divan::main())"
                    ),
                "{msg}"
            );
            assert!(msg.contains("zeroproc::criterion_main!(benches)"), "{msg}");
        }
    }

    /// A start ended by a Ctrl-C at every try (SIGINT sent to the group faster than a
    /// worker starts) ends the build after the handshake's 10 s with this error, which
    /// names the signal; it was `HandshakeTimeout`, "is `init()` the first thing `main`
    /// does?" (review25 measured 80 restarts in 88 ms with SIGINT to every new child).
    /// An initializer that crashes fails the build naming the signal and what it usually
    /// means (api31: "died of a signal while its initializer ran (a crash in it)" named
    /// none, so an abort from a failed allocation read as a segfault would).
    #[test]
    fn an_initializer_killed_by_a_signal_names_it() {
        for (sig, name) in [
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGFPE, "SIGFPE"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGTERM, "SIGTERM"),
        ] {
            let msg = exited_in(0, None, Some(sig), true, false).to_string();
            assert!(msg.contains(name) && msg.contains("initializer"), "{msg}");
        }
        let msg = exited_in(0, None, Some(libc::SIGUSR1), true, false).to_string();
        assert!(msg.contains("signal") && msg.contains("initializer"), "{msg}");
    }

    /// An initializer that calls `exit(93)` (zeroproc's code for a panicking one) was
    /// reported as "initializer panicked" (exec38): a panic is `BuildError::Initializer`,
    /// told by the worker's state word, so an attached worker's exit 93 is an `exit`.
    #[test]
    fn an_initializer_exiting_with_zeroprocs_code_is_not_called_a_panic() {
        let msg = exited_in(0, Some(exit::INIT), None, true, false).to_string();
        assert!(msg.contains("called exit") && !msg.contains("panicked"), "{msg}");
    }

    #[test]
    fn a_worker_killed_by_ctrl_c_at_every_start_is_named() {
        let msg = exited_in(1, None, Some(libc::SIGINT), false, false).to_string();
        assert!(msg.contains("SIGINT (Ctrl-C"), "{msg}");
        assert!(!msg.contains("init()"), "{msg}");
    }
}
