//! Process-global state that a forked child starts afresh: [`ForkLocal`].
//!
//! `fork()` copies the whole address space but only the calling thread. A `static`
//! `Mutex` that another thread held at that moment stays locked in the child for ever (its
//! holder does not exist there), a `OnceLock` another thread was initializing stays
//! "running" for ever, and whatever a holder was in the middle of changing is left half
//! changed. zeroproc's process-global caches and lists are therefore kept in a
//! [`ForkLocal`]: a value made on first use *per fork generation*. A `pthread_atfork`
//! child handler bumps the generation (one atomic add: async-signal-safe); the first use
//! in the child sees a value from an older generation, and makes and publishes a fresh one.
//!
//! ## Protocol
//!
//! * `GENERATION` changes only in the atfork child handler, which runs on the child's one
//!   thread before `fork` returns there, so every later read in the child (program order)
//!   sees the new value: loads are Relaxed.
//! * A slot `{ generation, value }` is published by a CAS of the `ForkLocal`'s pointer
//!   (AcqRel), paired with the Acquire load in [`ForkLocal::get`]: a reader that sees the
//!   pointer sees the slot's contents. The loser of a CAS race frees its own slot.
//! * A slot of an older generation is **leaked**, never dropped: in the child it may be
//!   locked for ever, or half changed by a thread that no longer exists (dropping a
//!   `HashMap` caught mid-insert could free garbage). What it held (mappings, handles) is
//!   never released in the child; the parent's copy is untouched.
//! * The handler is registered (once per process) before the first slot is published, so
//!   any fork that can copy a slot bumps the generation in its child. A slot can only be
//!   replaced in a later generation, so in the process that made it a slot lives as long
//!   as the `ForkLocal` (for a `static`, the process): `get`'s reference stays valid.
//!
//! `fork` through libc (`libc::fork`, `nix::unistd::fork`, `std::process::Command`'s
//! `pre_exec` path, CPython's `os.fork` in an embedding) runs the handler; a raw
//! `clone`/`SYS_fork` system call does not and is not covered (as in `zeroproc-sched`'s
//! `fork.rs`).

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

/// How many `fork`s separate this process from the one that registered the handler.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static HANDLER: Once = Once::new();

extern "C" fn bump_in_child() {
    // Relaxed: see the module's protocol (the child has one thread here). An atomic add is
    // async-signal-safe, as an atfork child handler must be.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the atfork child handler, once per process (inherited by forked children,
/// whose own forks then bump their copy of the counter).
pub fn register_handler() {
    HANDLER.call_once(|| {
        // SAFETY: pthread_atfork only records the pointer; `bump_in_child` is a plain
        // `extern "C" fn()` that only does an atomic add, valid for the process's life.
        unsafe { libc::pthread_atfork(None, None, Some(bump_in_child)) };
    });
}

/// The fork generation of this process (0 until a fork after [`register_handler`]).
///
/// # Example
/// ```
/// zeroproc_shm::fork::register_handler();
/// let g = zeroproc_shm::fork::generation();
/// assert_eq!(zeroproc_shm::fork::generation(), g); // only a fork changes it, in the child
/// ```
#[inline]
pub fn generation() -> u64 {
    // Relaxed: see the module's protocol.
    GENERATION.load(Ordering::Relaxed)
}

struct Slot<T> {
    generation: u64,
    value: T,
}

/// A value made by `init` on first use in each process of a fork lineage: a forked child
/// gets a fresh one instead of its copy of the parent's (see the module docs).
///
/// # Example
/// ```
/// use std::sync::Mutex;
/// use zeroproc_shm::fork::ForkLocal;
/// static NAMES: ForkLocal<Mutex<Vec<String>>> = ForkLocal::new(|| Mutex::new(Vec::new()));
/// NAMES.get().lock().unwrap().push("a".into());
/// assert_eq!(NAMES.get().lock().unwrap().len(), 1);
/// ```
pub struct ForkLocal<T> {
    slot: AtomicPtr<Slot<T>>,
    init: fn() -> T,
}

// SAFETY: `ForkLocal` hands out `&T` to any thread (so `T: Sync`) and moves the `T` made
// by `init` on one thread into a slot that another thread may drop (so `T: Send`).
unsafe impl<T: Send + Sync> Sync for ForkLocal<T> {}
// SAFETY: as above: owning the slot is owning a `T`.
unsafe impl<T: Send> Send for ForkLocal<T> {}

impl<T> ForkLocal<T> {
    /// A `ForkLocal` whose value `init` makes on first use (per fork generation).
    pub const fn new(init: fn() -> T) -> Self {
        Self { slot: AtomicPtr::new(std::ptr::null_mut()), init }
    }

    /// This process's value: made now if this process has none yet, or only the one it
    /// inherited through `fork`.
    #[inline]
    pub fn get(&self) -> &T {
        let g = generation();
        // Acquire: pairs with the AcqRel CAS in `renew` that published the slot.
        let p = self.slot.load(Ordering::Acquire);
        // SAFETY: a non-null pointer is a published slot, never freed while `self` lives in
        // the generation that can see it (module protocol).
        if !p.is_null() && unsafe { (*p).generation } == g {
            // SAFETY: as above.
            return unsafe { &(*p).value };
        }
        self.renew(p, g)
    }

    #[cold]
    fn renew(&self, seen: *mut Slot<T>, g: u64) -> &T {
        register_handler();
        // The handler may have been registered just now, after a fork in a lineage that
        // never registered it: the generation is still right (0 stays 0 until a fork).
        let fresh = Box::into_raw(Box::new(Slot { generation: g, value: (self.init)() }));
        // AcqRel: Release publishes the slot's contents (pairs with `get`'s Acquire);
        // Acquire reads a winner's contents on failure.
        match self.slot.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // `seen` (if any) is an older generation's: leaked (module protocol).
            // SAFETY: just published; lives as long as `self` in this generation.
            Ok(_) => unsafe { &(*fresh).value },
            Err(winner) => {
                // SAFETY: `fresh` was never published: ours alone to free.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: the winner is a slot published in this generation (only this
                // generation's threads exist to publish one).
                unsafe { &(*winner).value }
            }
        }
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        let p = *self.slot.get_mut();
        // SAFETY: a non-null pointer is a published slot, never freed before this drop.
        if !p.is_null() && unsafe { (*p).generation } == generation() {
            // SAFETY: our own slot of this generation, not referenced past `&mut self`. An
            // older generation's is leaked (module protocol).
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A child forked while another thread holds a `ForkLocal` mutex gets a fresh, unlocked
    /// value; the parent's stays as it was.
    #[test]
    fn a_child_forked_while_the_value_is_locked_gets_a_fresh_one() {
        static V: ForkLocal<Mutex<Vec<u32>>> = ForkLocal::new(|| Mutex::new(Vec::new()));
        V.get().lock().unwrap().push(7);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _g = V.get().lock().unwrap();
            locked_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        locked_rx.recv().unwrap();
        let status = zeroproc_testkit::fork_run(|| {
            // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
            unsafe { libc::alarm(10) };
            let ok = match V.get().try_lock() {
                Ok(v) => v.is_empty(),
                Err(_) => false,
            };
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        });
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status:#x}"
        );
        assert_eq!(*V.get().lock().unwrap(), [7]);
    }
}
