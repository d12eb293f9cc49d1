//! The state word of a `JobFuture` (`future.rs`): one atomic that says whether the outcome
//! is stored, whether the future is done, and whether a done-callback or an async waker was
//! ever registered — so that a completion with neither (the common case: `submit(..)` then
//! `result()`) stores its outcome with **one** read-modify-write and no lock, and taking the
//! outcome needs no lock and no read-modify-write at all.
//!
//! # Bits
//!
//! - `STORED`: the outcome slot (an `UnsafeCell`) holds the outcome. Set once, never cleared.
//! - `DONE`: the outcome is stored **and** every callback has run (what `JobFuture::done`
//!   reports). Set once, never cleared, never before `STORED`.
//! - `CALLBACKS`: a done-callback was pushed on the future's list. Never cleared.
//! - `WAKER`: an async waker was stored in the future's waker slot. Never cleared.
//!
//! Every change is a read-modify-write (`fetch_or` / compare-exchange), so the modification
//! order of the word is one sequence in which bits only accumulate: whichever of two
//! racing updates comes second sees the first one's bit.
//!
//! # Who does what
//!
//! - **The storer** (`publish`): one at a time — `Complete::complete`/`fail` run under the
//!   pool lock, `JobFuture::ready` before the future is shared. It reads `STORED` (a late
//!   second completion, e.g. after a cancel, returns there without touching the slot),
//!   writes the slot, then sets `STORED` — and `DONE` in the same step unless `CALLBACKS`
//!   is set (Release: the slot's contents travel with the bit). If `CALLBACKS` or `WAKER`
//!   was set, the caller runs `after` (outside the pool lock).
//! - **A callback registration** (`add_callback`, under the callback list's lock): sets
//!   `CALLBACKS` unless `DONE` is set (a compare-exchange: a word with `DONE` is left as it
//!   is, so `CALLBACKS` never appears after `DONE` — an `after` still to run for a waker
//!   must not start reading the slot while the owner takes it); the caller pushes the
//!   callback under the same lock hold. On `DONE` it runs the callback itself.
//! - **`after`** (once per storing `publish` that saw `CALLBACKS` or `WAKER`): runs the
//!   list until it is empty; the emptiness check and `finish` (setting `DONE`) happen under
//!   the list's lock. Then, if `WAKER` is set, it takes the waker (under the waker lock)
//!   and wakes it.
//! - **A waker registration** (`add_waker`): stores the waker under the waker lock, then
//!   sets `WAKER`; if the old word had `DONE`, the outcome is ready now.
//!
//! # Why no callback is lost
//!
//! A registration sets `CALLBACKS` either before or after the storer's step in the word's
//! order. Before: the storer sees it, leaves `DONE` unset and hands the future to `after`,
//! which sets `DONE` only under the list lock with the list empty — a registration that
//! holds that lock either sees `DONE` (and runs its callback itself) or pushes before
//! `after`'s final check (which then runs it). After: the storer has set `DONE` too, so the
//! registration sees `DONE` and runs the callback itself.
//!
//! # Why no wake-up is lost
//!
//! `add_waker` stores the waker before its `fetch_or(WAKER)`; the step that sets `DONE`
//! (the storer's, or `finish` in `after`) is another read-modify-write of the word. If the
//! `WAKER` step comes first, `after` runs (the storer saw `WAKER`, or `after` was running
//! for callbacks anyway) and its load of the word after setting `DONE` sees `WAKER`, so it
//! wakes the stored waker. If the `DONE` step comes first, `add_waker`'s `fetch_or` returns
//! a word with `DONE`: the poll completes at once.
//!
//! # Who reads the slot
//!
//! After `STORED` and before `DONE`: only `after`, running the callbacks (they get a
//! shared reference). After `DONE`: the future's owner, taking it (`result`, `poll`: with
//! the `JobFuture` by value or `&mut`, so no one else holds it) or reading it through `&`
//! (`cancelled`, `exception*`, a late `add_done_callback`), those under the future's slow
//! lock so that they never overlap one another. No one writes the slot after `STORED`.
//!
//! Model-checked with loom: `crates/ring/tests/loom_future.rs` includes this file.

use zeroproc_shm::atomic::{AtomicU32, Ordering};

/// The outcome slot holds the outcome.
pub(crate) const STORED: u32 = 1;
/// Stored and every callback has run.
pub(crate) const DONE: u32 = 2;
/// A done-callback was registered.
pub(crate) const CALLBACKS: u32 = 4;
/// An async waker was registered.
pub(crate) const WAKER: u32 = 8;

/// A future's state word (see the module docs).
pub(crate) struct State(AtomicU32);

impl State {
    pub(crate) fn new() -> State {
        State(AtomicU32::new(0))
    }

    /// The word now (Acquire: pairs with the Release steps that set `STORED` / `DONE`, so
    /// the slot's contents and the callbacks' effects are visible once they are seen).
    #[inline]
    pub(crate) fn load(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.load() & DONE != 0
    }

    #[inline]
    pub(crate) fn is_stored(&self) -> bool {
        self.load() & STORED != 0
    }

    /// The storer's step, once the slot is written: sets `STORED`, and `DONE` unless a
    /// callback is registered. Returns the word before the step; `after` must run if it
    /// has `CALLBACKS` or `WAKER`. Must not be called twice (the storer checks
    /// [`is_stored`](Self::is_stored) first; storers are serialized).
    #[inline]
    pub(crate) fn publish(&self) -> u32 {
        // Relaxed: the compare-exchange below re-reads the word.
        let mut old = self.0.load(Ordering::Relaxed);
        loop {
            debug_assert_eq!(old & STORED, 0, "an outcome is stored once");
            let new = if old & CALLBACKS != 0 { old | STORED } else { old | STORED | DONE };
            // AcqRel: Release publishes the slot; Acquire orders a registration's bit (and
            // what it stored before it) before our decision.
            match self.0.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return old,
                Err(now) => old = now,
            }
        }
    }

    /// A callback registration, under the callback list's lock: sets `CALLBACKS` and
    /// returns true unless the future is done (false: run the callback now, and the word
    /// is left as it is — a `CALLBACKS` set after `DONE` would send an `after` still to
    /// run for a waker into the slot while the owner takes the outcome).
    pub(crate) fn add_callback(&self) -> bool {
        // Relaxed: the compare-exchange below re-reads the word.
        let mut old = self.0.load(Ordering::Relaxed);
        loop {
            if old & DONE != 0 {
                // Acquire: the outcome (and the callbacks' effects) are visible.
                zeroproc_shm::atomic::fence(Ordering::Acquire);
                return false;
            }
            // AcqRel: as in `publish`, one order with the storer's step.
            match self.0.compare_exchange_weak(
                old,
                old | CALLBACKS,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// `after`, under the callback list's lock with the list empty: sets `DONE` (Release:
    /// the callbacks' effects travel with it).
    pub(crate) fn finish(&self) {
        self.0.fetch_or(DONE, Ordering::AcqRel);
    }

    /// A waker registration, after storing the waker: sets `WAKER`; returns true if the
    /// future was done already (the poll is ready).
    pub(crate) fn add_waker(&self) -> bool {
        // AcqRel: Release publishes the stored waker to `after`; Acquire makes the outcome
        // visible when `DONE` is seen.
        let old = self.0.fetch_or(WAKER, Ordering::AcqRel);
        old & DONE != 0
    }
}
