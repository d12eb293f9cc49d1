//! Deciding that a claimant is dead: the slow path behind crash recovery.
//!
//! A slot found in WRITING or READING is normally just busy. Only when the *same* state
//! word has been observed for [`STUCK_CHECK_INTERVAL`] does the observer ask the kernel
//! whether the claimant's pid still exists (`kill(pid, 0)`); the fast path never makes
//! that system call. The watch is per thread (one operation at a time per thread), keyed
//! by the slot's address and the exact word, so any progress restarts it.
//!
//! Under loom there is no time: the check is made at the first sighting, which explores
//! the race between a recovery and the (live or dead) claimant as widely as possible.

use zeroproc_shm::process;

/// How long a claim must look unchanged before the claimant's liveness is checked, and
/// how often it is re-checked while it stays unchanged.
pub const STUCK_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_micros(50);

#[cfg(not(loom))]
mod watch {
    use super::STUCK_CHECK_INTERVAL;
    use std::cell::Cell;
    use std::time::Instant;

    std::thread_local! {
        /// (slot address, word, first seen) of the last stuck-looking claim this thread saw.
        static LAST: Cell<Option<(usize, u64, Instant)>> = const { Cell::new(None) };
    }

    /// Records a sighting of `word` in the slot at `addr`; true when it has been unchanged
    /// for the check interval (the clock then restarts, so checks repeat at that pace).
    #[cold]
    pub(super) fn due(addr: usize, word: u64) -> bool {
        let now = Instant::now();
        LAST.with(|l| match l.get() {
            Some((a, w, since)) if a == addr && w == word => {
                if now.duration_since(since) >= STUCK_CHECK_INTERVAL {
                    l.set(Some((addr, word, now)));
                    true
                } else {
                    false
                }
            }
            _ => {
                l.set(Some((addr, word, now)));
                false
            }
        })
    }
}

#[cfg(loom)]
mod watch {
    /// Under loom: always due (see module docs).
    pub(super) fn due(_addr: usize, _word: u64) -> bool {
        true
    }
}

/// Whether the claim `word` (WRITING or READING, pid in `pid`) on the slot at `addr` has
/// been stuck long enough *and* its claimant is dead. Only then may the caller CAS the
/// exact `word` to its recovered state: a dead process never stores again, so the CAS
/// cannot race with the claimant, only with other recoverers (one of which wins).
/// A claim carrying our own pid belongs to this (living) process: no check needed.
#[cold]
#[inline(never)]
pub(crate) fn claimant_is_dead(addr: usize, word: u64, pid: u32) -> bool {
    pid != my_pid() && watch::due(addr, word) && !process::is_alive(pid)
}

/// [`claimant_is_dead`] without the watch, for a `try_` operation about to report Empty
/// or Full because of this claim: it has no later look at the slot in which the watch
/// could come due, so a dead claimant hid every record behind it from a drain loop of
/// `try_pop` (and a reusable slot from `try_push`) until some operation waited (review37).
/// The one system call is on that failing path only; the waiting operations keep the
/// watch. Safe as the watched check is: only a dead claimant is recovered, by a CAS of
/// its exact word (under loom the watch is always due, so this is what the models check).
#[cold]
#[inline(never)]
pub(crate) fn claimant_is_dead_now(pid: u32) -> bool {
    pid != my_pid() && !process::is_alive(pid)
}

/// The pid this process claims slots with.
#[inline]
pub(crate) fn my_pid() -> u32 {
    let p = process::current_pid();
    if p as u64 > super::word::AUX_MASK || p == 0 {
        bad_pid(p);
    }
    p
}

#[cold]
#[inline(never)]
fn bad_pid(p: u32) -> ! {
    // Linux keeps pids below PID_MAX_LIMIT = 2^22; anything else breaks recovery.
    panic!("pid {p} does not fit the 22-bit claim field of the MPMC ring")
}
