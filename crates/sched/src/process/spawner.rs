//! Starting a daemon child from a thread that lives as long as the process.
//!
//! A daemon child arms `PR_SET_PDEATHSIG` (`child.rs`), whose signal follows the *thread*
//! that spawned the child, not the process: a daemon started from a thread that then ended
//! (a request handler, a `std::thread::scope` worker, libtest's test thread) was SIGKILLed
//! at that thread's exit — or not, if the thread ended before the child reached its
//! `prctl` — where Python's daemon runs until its parent process exits. Spawned here, off
//! the main thread, the signal comes when the process ends, as in Python.

use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::OnceLock;
use zeroproc_shm::fork::ForkLocal;

/// A spawn request: the command and where to send the child back.
type Request = (Command, mpsc::SyncSender<std::io::Result<Child>>);

/// The spawner thread's inbox; `None` if the thread could not be created (then the
/// caller's thread spawns, as before). Per fork generation ([`ForkLocal`]): a forked child
/// has no spawner thread, and its copy of the inbox led to its parent's: a `Process` it
/// started from a thread other than its main one waited for ever for the answer.
static SPAWNER: ForkLocal<OnceLock<Option<mpsc::Sender<Request>>>> = ForkLocal::new(OnceLock::new);

/// Spawns `cmd` on a thread that ends only with the process: on the calling thread if it
/// is the main thread (which lives as long as the process), else on a `zeroproc-spawner`
/// thread started on first use.
pub(super) fn spawn_for_life(mut cmd: Command) -> std::io::Result<Child> {
    // SAFETY: getpid and gettid have no preconditions.
    let on_main = unsafe { libc::gettid() == libc::getpid() };
    if on_main {
        return cmd.spawn();
    }
    let inbox = SPAWNER.get().get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("zeroproc-spawner".into())
            .spawn(move || {
                for (mut cmd, back) in rx {
                    // The requester may have gone (it panicked): nothing to hand back.
                    let _ = back.send(cmd.spawn());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let Some(inbox) = inbox else { return cmd.spawn() };
    let (back, answer) = mpsc::sync_channel(1);
    // The receiver lives in a thread that never returns (its sender is in a static), so
    // these fail only if that thread died, which `spawn` never makes it do.
    if let Err(mpsc::SendError((mut cmd, _))) = inbox.send((cmd, back)) {
        return cmd.spawn();
    }
    answer.recv().unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone")))
}
