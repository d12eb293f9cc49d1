//! The worker process: attach the pool segment, claim its two rings, run jobs until told
//! to stop. Entered from [`crate::init`] in a re-executed copy of the program; never
//! returns.

mod ctx;
pub(crate) mod overflow;
mod serve;
mod start;

use ctx::Sink;
pub(crate) use ctx::{Claims, JobCtx};
pub(crate) use start::STARTING_NAME;

use crate::control::{self, state, PoolHeader, SegmentMap, WorkerControl};
use crate::launch::Spec;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use zeroproc_ring::spsc::ReserveError;
use zeroproc_shm::Segment;

/// The worker's life: [`start::start`], then [`serve::serve`]. Never returns.
pub(crate) fn run(spec: &Spec) -> ! {
    // Jobs and initializers may build pools and start processes, as in CPython's
    // `ProcessPoolExecutor`, whose workers are not daemonic (`launch::allow_children`).
    crate::launch::mark_pool_worker();
    crate::launch::allow_children();
    let attached = start::start(spec);
    serve::serve(spec, attached)
}

/// Exit codes of a worker that could not start (reported by the controller).
pub(crate) mod exit {
    /// The `ZEROPROC_WORKER` spec could not be parsed.
    pub const BAD_SPEC: i32 = 90;
    /// The build fingerprint differs from the controller's.
    pub const FINGERPRINT: i32 = 91;
    /// The pool segment or a ring could not be attached.
    pub const ATTACH: i32 = 92;
    /// The initializer panicked.
    pub const INIT: i32 = 93;
    /// The controller is gone.
    pub const ORPHAN: i32 = 94;
    /// The worker's submission or completion ring is corrupt (its state word says which):
    /// the controller retires the slot instead of respawning onto the same rings.
    pub const RING_CORRUPT: i32 = 95;
    /// A panic escaped the worker's own code (a bug: user code is always caught); the
    /// rings were left open, so the successor attaches.
    pub const ESCAPED: i32 = 96;
    /// This copy of the program ran `main` without `init()` and reached `Pool::build` or
    /// `Process::start`: it stops there instead of re-running the program's work.
    pub const NO_INIT: i32 = 97;

    /// What a worker exiting with `code` most likely means, for error messages (a job's
    /// own `exit(code)` can use the same numbers: hence "zeroproc's code for").
    pub(crate) fn meaning(code: i32) -> Option<&'static str> {
        Some(match code {
            BAD_SPEC => "a worker started with a bad spec",
            FINGERPRINT => "a worker of another build of the program",
            ATTACH => "a worker that could not attach the pool",
            INIT => {
                "a worker whose initializer failed (a replacement worker: the job did not \
                 run; the initializer's panic is on stderr)"
            }
            ORPHAN => "a worker whose controller is gone",
            RING_CORRUPT => "a worker that found its ring corrupt",
            ESCAPED => "a worker whose own code panicked",
            NO_INIT => "a copy of the program whose main did not call zeroproc::init() first",
            _ => return None,
        })
    }
}

/// Set in a copy of a worker made by a job calling `fork()`: only in that copy, by the
/// atfork child handler, before `fork` returns there. A copy that returns from the job
/// must not answer it: it would write into the completion ring the worker owns (a second
/// producer: the controller saw the ring as corrupt and failed another job).
static FORKED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_fork_child() {
    // Relaxed: read by the same (only) thread of the forked copy, `leave_if_forked`.
    FORKED.store(true, Ordering::Relaxed);
}

/// Registers the atfork handler that marks a forked copy of this worker (once, at start).
pub(crate) fn watch_forks() {
    // SAFETY: pthread_atfork only records the handler pointers; `on_fork_child` is an
    // `extern "C"` fn with no arguments that only stores to a static atomic, which is
    // async-signal-safe as a fork child handler must be.
    unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
}

/// In a copy of the worker forked by a job (see [`FORKED`]): exits at once, without
/// answering the job, running destructors or touching the pool's shared state. Only the
/// worker itself answers. A plain load on the job's path: no system call.
#[inline]
pub(crate) fn leave_if_forked() {
    // Relaxed: set by this same thread in `on_fork_child`.
    if FORKED.load(Ordering::Relaxed) {
        leave_forked()
    }
}

#[cold]
fn leave_forked() -> ! {
    crate::note!(
        "zeroproc: process {} (forked by a job in a worker) returned from the job; it exits \
         without answering — only the worker answers a job",
        std::process::id()
    );
    // SAFETY: _exit ends this process at once; no Rust state is used after it.
    unsafe { libc::_exit(0) }
}

/// Last resort for a panic that unwound out of the worker's frames: the payload is leaked
/// (its `Drop` may panic) and the process exits without running any destructor.
#[cold]
pub(crate) fn escaped(p: Box<dyn std::any::Any + Send>) -> ! {
    let msg = payload_str(&*p);
    std::mem::forget(p);
    crate::note!("zeroproc worker {}: a panic escaped the worker: {msg}", std::process::id());
    std::process::exit(exit::ESCAPED)
}

/// This worker's control block, once located (for [`ring_corrupt`]).
static CONTROL: std::sync::OnceLock<&'static WorkerControl> = std::sync::OnceLock::new();

/// Reports one of this worker's rings corrupt (state `CORRUPT_*`, Release) and exits
/// with [`exit::RING_CORRUPT`]. Never returns.
#[cold]
pub(crate) fn ring_corrupt(st: u32, e: &dyn std::fmt::Display) -> ! {
    let which = if st == state::CORRUPT_SUBMISSION { "submission" } else { "completion" };
    crate::note!("zeroproc worker {}: {which} ring corrupt ({e}); exiting", std::process::id());
    if let Some(ctl) = CONTROL.get() {
        // Release: pairs with the supervisor's Acquire load of the state after the exit.
        ctl.state.store(st, Ordering::Release);
    }
    std::process::exit(exit::RING_CORRUPT)
}

/// The completion ring could not take a record: corrupt, or the controller is gone.
#[cold]
fn reserve_failed(e: ReserveError) -> ! {
    match e {
        ReserveError::Corrupt(c) => ring_corrupt(state::CORRUPT_COMPLETION, &c),
        _ => std::process::exit(exit::ORPHAN),
    }
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True on the thread that runs the jobs (the one that called `quiet_panics`).
    static RUNS_JOBS: Cell<bool> = const { Cell::new(false) };
}

/// Replaces the panic hook: a job's panic is reported to its future (message and
/// location), not printed by the worker. Call it on the thread that runs the jobs. A
/// panic on any other thread — one a job started and left behind — goes to the previous
/// hook (Rust's default prints it on stderr): kept here, its message was lost unseen.
pub(crate) fn quiet_panics() {
    RUNS_JOBS.with(|r| r.set(true));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !RUNS_JOBS.with(Cell::get) {
            return previous(info);
        }
        let msg = payload_str(info.payload());
        let text = match info.location() {
            Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
            None => msg,
        };
        if let Some(note) = abort_note(&text, cfg!(panic = "unwind")) {
            crate::note!("{note}");
        }
        PANIC.with(|p| *p.borrow_mut() = Some(text));
    }));
}

/// What the worker says on stderr about a job's panic `text` that will not unwind (the
/// program is built with `panic = "abort"`: `can_unwind` false): the process aborts right
/// after the hook, so the message never reaches the job's future, which fails with
/// `WorkerDied` (SIGABRT) saying "the worker's stderr says which". Before (harness32) the
/// hook kept the message for the future and nothing was written: the cause was lost
/// (`harnesscrate/examples/panic_abort.rs`). A panic that unwinds is reported to its
/// future only (`None`).
fn abort_note(text: &str, can_unwind: bool) -> Option<String> {
    (!can_unwind).then(|| {
        format!(
            "zeroproc worker {}: a job panicked: {text}; the program is built with \
             panic = \"abort\", so the panic cannot be caught: the worker aborts and the job \
             fails with WorkerDied (SIGABRT)",
            std::process::id()
        )
    })
}

fn payload_str(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// The message of a caught panic (with its location when the hook recorded it). The
/// payload is dropped here, under `catch_unwind`: its `Drop` is user code.
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = PANIC.with(|c| c.borrow_mut().take()).unwrap_or_else(|| payload_str(&*p));
    let _ = drop_caught(p);
    msg
}

/// Drops `v` (user code) without letting a panic unwind further: `Err` carries the panic's
/// message. A second payload (the drop's own) is leaked, never dropped: its `Drop` may
/// panic again.
pub(crate) fn drop_caught<T>(v: T) -> Result<(), String> {
    // No thread-local access unless the drop panicked (this runs once per job).
    let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) else { return Ok(()) };
    let m = PANIC.with(|c| c.borrow_mut().take()).unwrap_or_else(|| payload_str(&*p));
    std::mem::forget(p);
    Err(m)
}

/// Resolves the pool header, worker `w`'s control block and the segment map.
pub(crate) fn locate(seg: &Segment, w: usize) -> Option<(&PoolHeader, &WorkerControl, SegmentMap)> {
    let hp = seg.resolve(control::SegmentMap::header_offset(), 1).ok()?;
    // SAFETY: in bounds and aligned (checked by resolve); all-atomic type, valid for any
    // bits; the segment outlives the returned borrow.
    let header: &PoolHeader = unsafe { hp.as_ref() };
    // Relaxed: written once before the segment was published READY (Acquire on attach).
    let workers = header.workers.load(Ordering::Relaxed) as usize;
    let cap = header.ring_capacity.load(Ordering::Relaxed) as usize;
    let map = SegmentMap::new(workers, cap)?;
    if w >= workers || map.data_len() + zeroproc_shm::HEADER_SIZE > seg.len() {
        return None;
    }
    let cp = seg.resolve(map.control(w), 1).ok()?;
    // SAFETY: as above.
    let ctl: &WorkerControl = unsafe { cp.as_ref() };
    Some((header, ctl, map))
}

#[cfg(test)]
mod tests {
    use super::abort_note;

    #[test]
    fn a_panic_that_cannot_unwind_is_written_with_its_cause() {
        let n = abort_note("boom (at src/x.rs:1:2)", false).expect("a note");
        assert!(n.contains("boom (at src/x.rs:1:2)") && n.contains("panic = \"abort\""), "{n}");
        assert_eq!(abort_note("boom", true), None, "an unwinding panic goes to its future only");
    }
}
