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

/// Keeps `child` (still running) and what it may need until it ends, then reaps it.
pub(super) fn adopt(child: Child, kept: Kept) {
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
/// the program exits; `#[zeroproc::main]` calls this when `main` returns).
pub fn join_adopted() {
    loop {
        let next = {
            let mut o = lock();
            sweep(&mut o);
            o.list.pop()
        };
        match next {
            Some((mut c, kept)) => {
                let _ = c.wait();
                drop(kept);
            }
            None => return,
        }
    }
}
