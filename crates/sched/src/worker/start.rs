//! A worker's start: everything between exec and its first job (the handshake the
//! controller waits for in `supervisor::start_all`).

use super::JobCtx;
use super::{exit, locate, quiet_panics, CONTROL};
use crate::claim::ClaimTable;
use crate::control::{self, state, PoolHeader, WorkerControl};
use crate::fntable::Validated;
use crate::job::status;
use crate::launch::Spec;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_ring::spsc::{Consumer, Producer, Ring};
use zeroproc_shm::Segment;

/// What a started worker serves with; everything lives until the process exits.
pub(super) struct Attached {
    pub header: &'static PoolHeader,
    pub ctl: &'static WorkerControl,
    pub claims: &'static ClaimTable,
    /// Never dropped: the rings' destructors would mark them closed, and a successor
    /// could not attach. The worker always leaves with `process::exit`.
    pub rx: ManuallyDrop<Consumer>,
    pub tx: ManuallyDrop<Producer>,
}

/// Everything before the first job: die with the controller, attach the pool segment,
/// check the build, pin, claim the two rings, run the initializer, report READY.
pub(super) fn start(spec: &Spec) -> Attached {
    // First of all: a Ctrl-C that reaches this worker from here on is the controller's to
    // decide (a SIGINT that came before, between the exec and here, killed it, and the
    // starting controller starts it again: `supervisor::interrupted_at_start`).
    leave_sigint_to_the_controller();
    // Tell the starting controller we are in `init` (not the program's `main`) before
    // anything slow: under valgrind or a profiler the start below takes far more CPU than
    // the `probe::runs_main` heuristic allows. The name goes back once the pid is out.
    let name = StartingName::set();
    // Die with the controller's supervisor thread (the thread that started us).
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) takes plain integers and has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    // And with the controller process whatever a job does to its credentials.
    if !crate::launch::watch_parent(spec.parent, exit::ORPHAN) {
        // The controller died before PR_SET_PDEATHSIG took effect.
        std::process::exit(exit::ORPHAN);
    }
    let Ok(seg) = Segment::attach(&spec.segment, control::POOL_LAYOUT) else {
        std::process::exit(exit::ATTACH)
    };
    // The worker never returns: its mapping of the pool segment lives until it exits.
    let seg: &'static Arc<Segment> = Box::leak(Box::new(Arc::new(seg)));
    let Some((header, ctl, map)) = locate(seg, spec.index) else {
        std::process::exit(exit::ATTACH)
    };
    let Ok(claims) = seg.resolve(map.claims(), 1) else { std::process::exit(exit::ATTACH) };
    // SAFETY: in bounds and aligned (checked by resolve); all-atomic type, valid for any
    // bits; the segment stays mapped until this process exits (leaked above).
    let claims: &ClaimTable = unsafe { claims.as_ref() };
    if crate::fnid::fingerprint() != spec.fingerprint {
        // Only a slot waiting for a worker is marked: a process started for a slot that is
        // served (a forged or stale spec) must not touch the live worker's state.
        // AcqRel: Release pairs with the Acquire poll of the starting controller; Acquire
        // orders the check against the controller's Release store of STARTING.
        let _ = ctl.state.compare_exchange(
            state::STARTING,
            state::REFUSED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        std::process::exit(exit::FINGERPRINT);
    }
    let _ = CONTROL.set(ctl);
    if let Some(core) = spec.core {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let rings = Ring::attach(seg.clone(), map.submission(spec.index))
        .and_then(|r| r.consumer())
        .and_then(|rx| {
            let tx = Ring::attach(seg.clone(), map.completion(spec.index))?.producer()?;
            Ok((rx, tx))
        });
    let Ok((rx, tx)) = rings else { std::process::exit(exit::ATTACH) };
    // Never dropped: their destructors mark the rings closed, and a successor could not
    // attach. The worker always leaves with `process::exit`, even after an unwind.
    let rx = ManuallyDrop::new(rx.with_wait_strategy(spec.strategy));
    // A worker waits for its controller: a long yield that went to the controller (busy
    // placing a map's items on this CPU) is not a sign of another CPU-bound program.
    zeroproc_shm::wait::set_yield_peer(spec.parent);
    let mut tx = ManuallyDrop::new(tx);
    tx.set_wait_strategy(spec.strategy);
    // Relaxed: published by the Release store of `state` below.
    ctl.pid.store(std::process::id(), Ordering::Relaxed);
    drop(name);
    quiet_panics();
    super::watch_forks();
    // Relaxed: published by the Release store of `state` below.
    ctl.overflowed.store(0, Ordering::Relaxed);
    // Relaxed: published by the Release store of `state` below; not registered yet (its
    // first batch registers: `steal::ensure_registered`).
    ctl.fenced.store(0, Ordering::Relaxed);
    super::overflow::watch(ctl);
    // A worker does not keep the segments of arrays its jobs drop (a pool of N workers
    // would hold up to N × 1 GiB of memory no one sees); an initializer may turn it on.
    zeroproc_mp::shared::cache::set_reuse_limit(0);
    if let Some(init) = spec.initializer {
        run_initializer(spec, header, ctl, init);
    }
    ctl.busy_since.set(0);
    // Release: a predecessor may have died running a job (pairs with the Acquire in
    // `WorkerControl::current`; the job itself was failed by the controller).
    ctl.current.store(0, Ordering::Release);
    // Release: pairs with the Acquire poll of the starting controller (pid, claims).
    ctl.state.store(state::READY, Ordering::Release);
    header.completions.notify_all();
    Attached { header, ctl, claims, rx, tx }
}

/// Runs the pool's initializer (`initializer` / `initializer_with`) once in this worker; a
/// panic there is reported (state INIT_FAILED) and ends the worker.
fn run_initializer(spec: &Spec, header: &PoolHeader, ctl: &WorkerControl, init: u32) {
    if !Validated::new().contains(&header.fns, init) {
        // Registered by `PoolBuilder::build` before any worker starts.
        crate::note!(
            "zeroproc worker {}: initializer id {init:#x} not in the pool's table",
            spec.index
        );
        std::process::exit(exit::BAD_SPEC);
    }
    // `initializer_with`: its arguments, mapped for this call only.
    let args = match &spec.init_args {
        None => None,
        Some(id) => match crate::share::Stored::attach(id) {
            Ok(s) => Some(s),
            Err(e) => {
                crate::note!("zeroproc worker {}: initializer arguments: {e}", spec.index);
                std::process::exit(exit::ATTACH);
            }
        },
    };
    let mut ctx = JobCtx::local(args.as_ref().map_or(&[][..], |s| s.bytes()));
    // SAFETY: the id is in the pool's function table, which only the controller
    // writes, with ids made by `fnid::id_of`; same fingerprint (checked above).
    let t = unsafe { crate::fnid::resolve(init) };
    t(&mut ctx);
    if let Some((st, msg)) = ctx.local_status() {
        if st != status::OK {
            crate::note!("zeroproc worker {}: initializer panicked: {msg}", spec.index);
            header.record_init_failure(&msg);
            // Release: pairs with the Acquire poll of the starting controller.
            ctl.state.store(state::INIT_FAILED, Ordering::Release);
            std::process::exit(exit::INIT);
        }
    }
}

/// The name (`comm`) a worker's main thread has between exec and publishing its pid:
/// `probe::runs_main` never takes a process so named for one running `main`.
pub(crate) const STARTING_NAME: &str = "zeroproc-start";

/// The main thread named [`STARTING_NAME`] while alive; its own name back on drop.
struct StartingName([u8; 16]);

impl StartingName {
    fn set() -> Self {
        let mut old = [0u8; 16];
        let mut new = [0u8; 16];
        new[..STARTING_NAME.len()].copy_from_slice(STARTING_NAME.as_bytes());
        // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) to `old`; PR_SET_NAME
        // reads a NUL-terminated string of at most 16 bytes from `new`.
        unsafe {
            libc::prctl(libc::PR_GET_NAME, old.as_mut_ptr() as libc::c_ulong, 0, 0, 0);
            libc::prctl(libc::PR_SET_NAME, new.as_ptr() as libc::c_ulong, 0, 0, 0);
        }
        StartingName(old)
    }
}

impl Drop for StartingName {
    fn drop(&mut self) {
        // SAFETY: as in `set`; `self.0` holds the NUL-terminated name PR_GET_NAME wrote.
        unsafe { libc::prctl(libc::PR_SET_NAME, self.0.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
}

/// Ctrl-C in a terminal sends SIGINT to the whole foreground process group, workers
/// included. Their default action (death) failed the running jobs of a controller that
/// handles Ctrl-C to let them finish. So a worker catches SIGINT and does nothing: the
/// controller decides (by default it dies, and its workers with it, `launch::watch_parent`).
/// A handler rather than `SIG_IGN`: programs a job executes get the default action back
/// (an ignored signal stays ignored across `exec`). `SA_RESTART`; calls that a signal
/// always interrupts (`nanosleep`, `poll`) see `EINTR` (`std::thread::sleep` goes on
/// sleeping). An initializer or a job may install its own handler.
fn leave_sigint_to_the_controller() {
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler has
    // the plain signature and does nothing (async-signal-safe).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = ignore as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGINT, &act, std::ptr::null_mut());
    }
}
