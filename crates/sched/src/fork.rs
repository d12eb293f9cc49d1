//! Pools inherited through `fork()`.
//!
//! A program that forks while it holds a pool gives the child a copy of the pool's
//! controller state (job table, ring cursors, worker handles) over the *same* shared
//! memory, but none of its threads (supervisor, callbacks). Used there, the copy corrupts
//! the parent's pool: a job submitted in the child got another job's answer, a future
//! waited for in the child took the parent's completion from the ring (the parent never
//! got it), and dropping the copy (or panicking with it) SIGKILLed the parent's workers.
//! So every pool records the fork generation it was built in; a pthread_atfork child
//! hook bumps the generation, and in a later generation the pool's operations leave the
//! shared state alone: submissions fail with [`message`], an unfinished inherited future
//! fails with it when waited for, cancel/terminate/shutdown/drop do nothing to the
//! workers. Python's executors are unusable in a forked child too (their management
//! thread does not exist there: `result()` hangs); here the child gets an error naming
//! the cause. A pool built in the child afterwards is the child's own and works.
//!
//! `fork` through libc (`libc::fork`, `nix::unistd::fork`) runs the hook; a raw
//! `clone`/`SYS_fork` system call does not and is not covered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// How many `fork`s this process's lineage went through since the hook was installed.
static FORKS: AtomicU64 = AtomicU64::new(0);
static HOOK: Once = Once::new();

extern "C" fn in_child() {
    // Relaxed: the child has one thread at this point; an atomic add is
    // async-signal-safe, as an atfork child handler must be.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Installs the hook (once) and returns the current generation, for a pool being built.
pub(crate) fn generation_for_new_pool() -> u64 {
    HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that only does an atomic add; it
        // stays valid for the life of the process (a static function).
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    generation()
}

/// The current generation.
#[inline]
pub(crate) fn generation() -> u64 {
    // Relaxed: changes only in a freshly forked child, on its single thread.
    FORKS.load(Ordering::Relaxed)
}

/// How the error for a use of an inherited pool starts (`JobError::Decode`'s `Display`
/// prints it alone: no data was wrong).
const START: &str = "this pool was inherited through fork()";

/// The error for a use of an inherited pool built by process `owner`.
pub(crate) fn message(owner: u32) -> String {
    format!(
        "{START} from process {owner}, which owns its workers and jobs: a forked child cannot \
         submit to it, wait for its jobs or stop them; build a new pool in the child \
         (Python's executors are unusable after fork too)"
    )
}

/// True if `m` is [`message`]'s.
pub(crate) fn is_fork_message(m: &str) -> bool {
    m.starts_with(START)
}
