//! Children whose [`Process`](super::Process) handle was dropped while they ran (Python's
//! fire-and-forget `Process(target=f).start()`, daemon or not): adopted here with their
//! argument segment, which the child may not have attached yet (dropping it with the
//! handle made the child exit before its body ran), and reaped once they end (they stayed
//! zombies until the parent exited). Python keeps such children in `multiprocessing`'s
//! `_children` and reaps them the same way; at exit it terminates the daemonic ones and
//! joins the others ([`finish_children`]).

use crate::share::pin::Pins;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;
use zeroproc_shm::fork::ForkLocal;
use zeroproc_shm::Segment;

/// What an adopted child may still need from its parent: its argument segment (not
/// attached yet) and the shared values its arguments name (`share/pin.rs`).
pub(super) struct Kept {
    pub _seg: Option<Segment>,
    pub _pins: Pins,
}

/// An adopted child: killed at `exit` if a `daemon`, else waited for.
struct Adopted {
    child: Child,
    kept: Kept,
    daemon: bool,
}

struct Orphans {
    /// Each running child and what it may still need.
    list: Vec<Adopted>,
    /// A reaper thread is running (it clears this and ends when the list is empty).
    reaper: bool,
}

///
/// Per fork generation ([`ForkLocal`]): a forked child's are its own (its parent's children
/// are not its to reap, and its copy of the reaper flag named a thread it does not have),
/// and one forked while another thread held the list waited for ever at its first adoption.
static ORPHANS: ForkLocal<Mutex<Orphans>> =
    ForkLocal::new(|| Mutex::new(Orphans { list: Vec::new(), reaper: false }));

/// How often the reaper looks for ended children.
const REAP_EVERY: Duration = Duration::from_millis(20);

fn lock() -> std::sync::MutexGuard<'static, Orphans> {
    ORPHANS.get().lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops the entries whose child has ended (reaping it; its segment goes with it).
fn sweep(o: &mut Orphans) {
    o.list.retain_mut(|a| matches!(a.child.try_wait(), Ok(None)));
}

/// Keeps `child` (still running) and what it may need until it ends, then reaps it; at
/// `exit` the process kills it if it is a `daemon`, else waits for it (see [`join_at_exit`]).
pub(super) fn adopt(child: Child, kept: Kept, daemon: bool) {
    join_at_exit();
    let mut o = lock();
    sweep(&mut o);
    o.list.push(Adopted { child, kept, daemon });
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

/// Waits until every adopted non-daemon child has ended (Python joins its non-daemon
/// children when the program exits; `#[zeroproc::main]` calls this when `main` returns,
/// and every process that adopted a child calls it at `exit`). Adopted daemons are not
/// waited for: `exit` kills them first, as Python terminates its daemonic children.
///
/// A child still running after 5 s gets a note on standard error naming it,
/// so that a program (or a test binary) that does not end says what it waits for.
pub fn join_adopted() {
    loop {
        let next = {
            let mut o = lock();
            sweep(&mut o);
            o.list.iter().position(|a| !a.daemon).map(|i| o.list.swap_remove(i))
        };
        match next {
            Some(Adopted { child: mut c, kept, .. }) => {
                let end = std::time::Instant::now() + NOTE_AFTER;
                while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < end {
                    std::thread::sleep(REAP_EVERY);
                }
                if matches!(c.try_wait(), Ok(None)) {
                    crate::note!(
                        "zeroproc: waiting for Process child {} to end: its handle was \
                         dropped while it ran, and a non-daemon child is joined when the \
                         program exits, as in Python (`.daemon(true)` makes the program's \
                         exit kill it instead; or keep the handle and `terminate()` it)",
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

/// Pids of the children started by this process whose [`Process`](super::Process)
/// handle is still alive and has not reaped them (kept in a static, leaked, held by a
/// thread still running, or in a local of a function that called `std::process::exit`),
/// each with its daemon flag. Python's exit terminates the daemonic children, then joins
/// every other one (`_exit_function` over `active_children()`), whether the program still
/// holds its object or not; before (user27) only the adopted ones were waited for here,
/// the held ones ran on alone after the program had exited, and a held daemon lived until
/// the program itself ended (so a child waiting for its end never ended).
/// A pid leaves the list when its handle reaps the child (join, `is_alive`, …: the pid may
/// be reused from then on) or is dropped (the child is adopted, or killed if a daemon).
///
/// Per fork generation ([`ForkLocal`]): a child forked while another thread started or
/// joined a `Process` (the list was locked) hung for ever in its `exit`, whose handler
/// walks this list, and its copy listed its parent's children, not its own.
static LIVE: ForkLocal<Mutex<Vec<(u32, bool)>>> = ForkLocal::new(|| Mutex::new(Vec::new()));

fn live() -> std::sync::MutexGuard<'static, Vec<(u32, bool)>> {
    LIVE.get().lock().unwrap_or_else(|e| e.into_inner())
}

/// A child `pid` was started: at `exit` the process kills it first if it is a `daemon`,
/// else waits for it, unless its handle reaps it before ([`untrack`]).
pub(super) fn track(pid: u32, daemon: bool) {
    join_at_exit();
    live().push((pid, daemon));
}

/// `pid` was reaped by its handle, or adopted: no longer the exit's concern as a held child.
pub(super) fn untrack(pid: u32) {
    let mut l = live();
    if let Some(i) = l.iter().position(|&(p, _)| p == pid) {
        l.swap_remove(i);
    }
}

fn is_tracked(pid: u32) -> bool {
    live().iter().any(|&(p, _)| p == pid)
}

/// What a process does with its children at `exit` (Python's `_exit_function`): kills the
/// held daemons, then waits for the adopted and the held non-daemon children. Also called
/// by a pool worker asked to stop, before its `exit` (`worker/serve.rs`).
pub(crate) fn finish_children() {
    end_held_daemons();
    end_adopted_daemons();
    join_adopted();
    join_held();
}

/// Kills (at `exit`) the held daemon children still running, as Python terminates its
/// daemonic children at exit before joining the others (SIGKILL: how a daemon dies with
/// its handle here). Under the list's lock, and only a child not yet ended, so the pid is
/// still this process's unreaped child: it cannot belong to another process.
fn end_held_daemons() {
    let l = live();
    for &(pid, daemon) in l.iter() {
        if daemon && !has_ended(pid) {
            // SAFETY: kill(2) of a child of ours found running and unreaped just above, so
            // the pid is still its own. (A handle untracks its child right after reaping
            // it; only a new child started in that gap and given the same pid could be
            // hit, which needs the pid space to wrap meanwhile.)
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// Kills (at `exit`) the adopted daemon children still running, and reaps them: a daemon
/// whose handle was dropped runs until then, as Python's daemon whose object the program
/// did not keep (`Process(target=f, daemon=True).start()`); before (newuser36) it was
/// killed with its handle, so that idiom written as a Rust temporary killed its consumers
/// before they ran and the program's `JoinableQueue::join` waited for ever.
fn end_adopted_daemons() {
    let mut o = lock();
    sweep(&mut o);
    o.list.retain_mut(|a| {
        if !a.daemon {
            return true;
        }
        // `Child::kill` signals the child only while this handle has not reaped it: the
        // pid is still this process's child.
        let _ = a.child.kill();
        let _ = a.child.wait();
        false
    });
}

/// Waits (at `exit`) until every child in [`LIVE`] has ended, without reaping it: its
/// handle may still be used by a thread running meanwhile, and reaps it then. A child
/// still running after 5 s gets a note on standard error, as in [`join_adopted`].
fn join_held() {
    let pids: Vec<u32> = live().iter().filter(|&&(_, daemon)| !daemon).map(|&(p, _)| p).collect();
    for pid in pids {
        let end = std::time::Instant::now() + NOTE_AFTER;
        let mut noted = false;
        while is_tracked(pid) && !has_ended(pid) {
            if !noted && std::time::Instant::now() >= end {
                noted = true;
                crate::note!(
                    "zeroproc: waiting for Process child {pid} to end: a non-daemon child \
                     is joined when the program exits, as in Python, also while its handle \
                     is still held (`.daemon(true)` makes it die with the program; or \
                     `terminate()` it before exiting)"
                );
            }
            std::thread::sleep(REAP_EVERY);
        }
    }
}

/// Whether child `pid` has exited (or is not a child of this process: reaped elsewhere,
/// or this is a forked copy of the process that started it). Leaves it unreaped.
fn has_ended(pid: u32) -> bool {
    loop {
        // SAFETY: an all-zero `siginfo_t` is valid (plain integers and unions of them).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with a valid out-pointer; WNOWAIT leaves the child unreaped and
        // WNOHANG returns at once.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            // SAFETY: `si_pid` is valid to read after a successful waitid (0: none ended).
            return unsafe { info.si_pid() } != 0;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return true;
        }
    }
}

/// How long [`join_adopted`] waits for a child before it says so on standard error.
const NOTE_AFTER: Duration = Duration::from_secs(5);

/// Makes `exit` kill the held daemons ([`end_held_daemons`]), then wait for the adopted
/// children ([`join_adopted`]) and the held ones ([`join_held`]), registered once, by the
/// first adoption or start: Python joins non-daemon children at exit whatever ends the program.
/// Without it, only `#[zeroproc::main]` did: a test binary (libtest returns from its own
/// `main`, or calls `exit(101)` when a test failed), a bench's `main` or a program using
/// `init()` alone exited at once, and the child ran on alone after the run (a leftover
/// process holding the harness's output pipe: nextest reports it as a leak, `cargo test |
/// tee` waits for it) — or, if it had not attached its argument segment yet, exited without
/// running its body, depending on timing (found by the harnessuser round).
fn join_at_exit() {
    extern "C" fn at_exit() {
        // A panic must not unwind into libc's `exit`.
        let _ = std::panic::catch_unwind(|| {
            // Pools never dropped first (their own hook may run after this one: `atexit`
            // runs the last registered first), as Python shuts its executors down before
            // it joins its children (`pool/live.rs`).
            crate::pool::shutdown_live_pools();
            finish_children();
        });
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that catches every panic; libc calls
        // it from `exit` on the exiting thread. `join_adopted` takes the adoption lock
        // only between waits, so a thread still adopting at that moment does not block it.
        unsafe { libc::atexit(at_exit) };
    });
}

#[cfg(test)]
mod fork_tests {
    use super::*;

    /// A child forked while another thread held the list of started children (starting or
    /// joining a `Process`) exits through `exit`, whose handler walks that list. Before the
    /// list was per fork generation, the child hung in its `exit` (ended by its 10 s alarm).
    #[test]
    fn a_child_forked_while_the_children_list_is_held_can_exit() {
        join_at_exit(); // the exit handler, as the first `Process` start registers it
                        // `exit` runs the exit handlers, ours among them, and ends the child.
                        // SAFETY: exit has no preconditions.
        let status = zeroproc_testkit::fork_while_held(live, || unsafe { libc::exit(0) });
        assert!(
            zeroproc_testkit::exited_0(status),
            "child status {status:#x} (14 = SIGALRM: it hung)"
        );
    }
}
