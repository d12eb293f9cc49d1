//! Children whose [`Process`](super::Process) handle was dropped while they ran (Python's
//! fire-and-forget `Process(target=f).start()`): adopted here with their argument segment,
//! which the child may not have attached yet (dropping it with the handle made the child
//! exit before its body ran), and reaped once they end (they stayed zombies until the
//! parent exited). Python keeps such children in `multiprocessing`'s `_children` and reaps
//! them the same way.

use crate::share::pin::Pins;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;
use zeroproc_shm::Segment;

/// What an adopted child may still need from its parent: its argument segment (not
/// attached yet) and the shared values its arguments name (`share/pin.rs`).
pub(super) struct Kept {
    pub _seg: Option<Segment>,
    pub _pins: Pins,
}

struct Orphans {
    /// Each running child and what it may still need.
    list: Vec<(Child, Kept)>,
    /// A reaper thread is running (it clears this and ends when the list is empty).
    reaper: bool,
}

static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans { list: Vec::new(), reaper: false });

/// How often the reaper looks for ended children.
const REAP_EVERY: Duration = Duration::from_millis(20);

fn lock() -> std::sync::MutexGuard<'static, Orphans> {
    ORPHANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops the entries whose child has ended (reaping it; its segment goes with it).
fn sweep(o: &mut Orphans) {
    o.list.retain_mut(|(c, _)| matches!(c.try_wait(), Ok(None)));
}

/// Keeps `child` (still running) and what it may need until it ends, then reaps it; the
/// process waits for it at `exit` (see [`join_at_exit`]).
pub(super) fn adopt(child: Child, kept: Kept) {
    join_at_exit();
    let mut o = lock();
    sweep(&mut o);
    o.list.push((child, kept));
    if o.reaper {
        return;
    }
    let spawned = std::thread::Builder::new().name("zeroproc-reaper".into()).spawn(|| loop {
        std::thread::sleep(REAP_EVERY);
        let mut o = lock();
        sweep(&mut o);
        if o.list.is_empty() {
            o.reaper = false;
            return;
        }
    });
    // Without a thread the next adoption sweeps instead.
    o.reaper = spawned.is_ok();
}

/// Waits until every adopted child has ended (Python joins its non-daemon children when
/// the program exits; `#[zeroproc::main]` calls this when `main` returns, and every
/// process that adopted a child calls it at `exit`).
///
/// A child still running after 5 s gets a note on standard error naming it,
/// so that a program (or a test binary) that does not end says what it waits for.
pub fn join_adopted() {
    loop {
        let next = {
            let mut o = lock();
            sweep(&mut o);
            o.list.pop()
        };
        match next {
            Some((mut c, kept)) => {
                let end = std::time::Instant::now() + NOTE_AFTER;
                while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < end {
                    std::thread::sleep(REAP_EVERY);
                }
                if matches!(c.try_wait(), Ok(None)) {
                    eprintln!(
                        "zeroproc: waiting for Process child {} to end: its handle was \
                         dropped while it ran, and a non-daemon child is joined when the \
                         program exits, as in Python (`.daemon(true)` makes it die with its \
                         handle; or keep the handle and `terminate()` it)",
                        c.id()
                    );
                }
                let _ = c.wait();
                drop(kept);
            }
            None => return,
        }
    }
}

/// How long [`join_adopted`] waits for a child before it says so on standard error.
const NOTE_AFTER: Duration = Duration::from_secs(5);

/// Makes `exit` wait for the adopted children ([`join_adopted`]), registered once, by the
/// first adoption: Python joins non-daemon children at exit whatever ends the program.
/// Without it, only `#[zeroproc::main]` did: a test binary (libtest returns from its own
/// `main`, or calls `exit(101)` when a test failed), a bench's `main` or a program using
/// `init()` alone exited at once, and the child ran on alone after the run (a leftover
/// process holding the harness's output pipe: nextest reports it as a leak, `cargo test |
/// tee` waits for it) — or, if it had not attached its argument segment yet, exited without
/// running its body, depending on timing (found by the harnessuser round).
fn join_at_exit() {
    extern "C" fn at_exit() {
        // A panic must not unwind into libc's `exit`.
        let _ = std::panic::catch_unwind(join_adopted);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that catches every panic; libc calls
        // it from `exit` on the exiting thread. `join_adopted` takes the adoption lock
        // only between waits, so a thread still adopting at that moment does not block it.
        unsafe { libc::atexit(at_exit) };
    });
}
