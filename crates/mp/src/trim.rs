//! Giving a burst's heap memory back: channels (queues, pipes) and shared containers
//! (dicts, lists, namespaces) keep large values in a heap that grows on demand and never
//! shrinks, and whose freed blocks keep their pages. Without this, a pipe that once
//! carried 8 messages of 4 MiB kept 32 MiB of shared memory resident (RssShmem) for as long
//! as it existed, after the receiver had taken and dropped them; so did a dict or a list
//! that once held 8 such values (`tests/burst_memory.rs`).
//!
//! As the pool does for its spill heap (`zeroproc-sched`, `pool/trim.rs`): once a heap has
//! been **quiet** for [`QUIET`] — no block of at least [`MIN_BLOCK`] allocated, freed or
//! carved by any process, judged by [`Heap::large_activity`] — the pages of its free blocks
//! of at least [`MIN_BLOCK`] are released ([`Heap::release_free_pages`]), once per quiet
//! period. A steady stream of large values never pays for it (the heap is never quiet
//! that long); a burst gives its memory back half a second after it ended.
//!
//! Who does it: a thread of this process (`zeroproc-trim`), started when this process
//! frees a block of at least [`MIN_BLOCK`] (so only processes that consume large values
//! ever have it), which looks at every heap this process has mapped every [`TICK`] and
//! ends once none has activity it has not released yet. Containers are released under
//! their lock (taken without waiting: a busy container is looked at again at the next
//! tick), so nothing races with it. Channels have no lock: a send racing with the release
//! may find the large free blocks taken for that moment and grow the heap, or (at the
//! heap's maximum) wait inside the allocation until they are back (the release holds the
//! heap's merge lock, as a merge pass does, and keeps the blocks on its stash, so a process
//! killed while releasing does not leak them: `zeroproc-shm` `heap/README.md`).
//!
//! Only memfd segments (the default, and the only kind channels and containers create)
//! are released: a page of a size-limited tmpfs file faulted in again could be a SIGBUS
//! when that file system is full.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};
use zeroproc_shm::fork::ForkLocal;

/// How long a heap must have been quiet before its large free blocks' pages are released.
pub(crate) const QUIET: Duration = Duration::from_millis(500);

/// Free blocks at least this large have their pages released (smaller ones are kept:
/// cheap, and reused at once).
pub(crate) const MIN_BLOCK: u64 = 1 << 20;

/// How often the thread looks.
const TICK: Duration = Duration::from_millis(100);

/// A heap this process has mapped.
pub(crate) trait Trim: Send + Sync {
    /// [`Heap::large_activity`](zeroproc_shm::heap::Heap::large_activity) of its heap
    /// (`None`: nothing to release here, ever).
    fn activity(&self) -> Option<u64>;
    /// Releases its large free blocks' pages now (`None`: not now, e.g. a container whose
    /// lock is taken).
    fn release(&self) -> Option<u64>;
}

struct Entry {
    target: Weak<dyn Trim>,
    /// The activity last seen, and since when it has not changed.
    seen: u64,
    since: Instant,
    /// Released (or nothing happened) since `seen` was first seen.
    settled: bool,
}

/// The heaps to look at; per fork generation (`zeroproc_shm::fork`): the trim thread holds
/// the list while it looks, and a child forked then waited for ever on its first heap.
static HEAPS: ForkLocal<Mutex<Vec<Entry>>> = ForkLocal::new(|| Mutex::new(Vec::new()));
/// The pid of the process whose trim thread runs (0: none). A pid rather than a flag: a
/// child forked while the thread ran (`fork` in a job) has no thread, and starts its own.
static RUNNING: AtomicU32 = AtomicU32::new(0);
/// Calls of [`wake`]: the thread does not end while one happened since its last look.
static WAKES: AtomicU64 = AtomicU64::new(0);

fn heaps() -> MutexGuard<'static, Vec<Entry>> {
    HEAPS.get().lock().unwrap_or_else(PoisonError::into_inner)
}

/// Test hook: holds the list of heaps while the returned guard lives (as the trim thread
/// does while it looks).
#[cfg(test)]
pub(crate) fn hold() -> impl Sized {
    heaps()
}

/// Adds a heap this process has mapped (once; dropped targets are forgotten).
pub(crate) fn register(target: Weak<dyn Trim>) {
    let Some(seen) = target.upgrade().and_then(|t| t.activity()) else { return };
    let mut h = heaps();
    h.retain(|e| e.target.strong_count() > 0);
    if h.iter().any(|e| Weak::ptr_eq(&e.target, &target)) {
        return;
    }
    h.push(Entry { target, seen, since: Instant::now(), settled: true });
}

/// This process freed a block of at least [`MIN_BLOCK`]: makes sure the thread runs.
pub(crate) fn wake() {
    // SeqCst (here and in `run`): the count before the RUNNING load, against the
    // thread's RUNNING store before its count load — one of the two sees the other.
    WAKES.fetch_add(1, Ordering::SeqCst);
    let me = zeroproc_shm::process::current_pid();
    let running = RUNNING.load(Ordering::SeqCst);
    if running == me {
        return;
    }
    if RUNNING.compare_exchange(running, me, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        let spawned = std::thread::Builder::new().name("zeroproc-trim".into()).spawn(run);
        if spawned.is_err() {
            RUNNING.store(0, Ordering::SeqCst); // no thread: the next free tries again
        }
    }
}

fn run() {
    let me = zeroproc_shm::process::current_pid();
    loop {
        let wakes = WAKES.load(Ordering::SeqCst);
        std::thread::sleep(TICK);
        if look() {
            continue;
        }
        RUNNING.store(0, Ordering::SeqCst);
        // A `wake` after our look saw RUNNING still ours and started nothing: go on, unless
        // another thread has been started meanwhile.
        if WAKES.load(Ordering::SeqCst) == wakes
            || RUNNING.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst).is_err()
        {
            return;
        }
    }
}

/// One look at every heap; true while some heap has activity not released yet.
fn look() -> bool {
    let mut pending = false;
    // Dropped after the lock (declared before it): a last handle dropped here runs its
    // `Drop` outside the registry's lock.
    let mut keep = Vec::new();
    let mut h = heaps();
    h.retain(|e| e.target.strong_count() > 0);
    for e in h.iter_mut() {
        let Some(t) = e.target.upgrade() else { continue };
        keep.push(std::sync::Arc::clone(&t));
        let Some(now) = t.activity() else { continue };
        if now != e.seen {
            (e.seen, e.since, e.settled) = (now, Instant::now(), false);
        }
        if e.settled {
            continue;
        }
        if e.since.elapsed() < QUIET {
            pending = true;
            continue;
        }
        if t.release().is_some() {
            // The release moved the blocks (pop, push): that is not activity.
            e.seen = t.activity().unwrap_or(e.seen);
            e.settled = true;
        } else {
            pending = true;
        }
    }
    drop(h);
    pending
}
