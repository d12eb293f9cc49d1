//! Enforcing one producer and one consumer across processes, and noticing a dead peer.
//!
//! Each side has a claim word in the ring header holding its holder's pid. Claiming
//! succeeds when the word is 0 (never claimed) or holds the pid of a process that no longer
//! exists (it was killed without closing: the new holder takes over where it stopped).
//! A side that was closed (its handle dropped) can not be claimed again.
//!
//! A side handed to a child process before anyone claimed it may be *reserved* for that
//! child ([`reserve`]): the word then holds the child's pid with [`RESERVED`] set. A
//! reservation only names whom the other side waits for: anyone may claim over it (the
//! child, or whoever it passed the handle on to), and the peer watch judges the reserved
//! pid as it judges a holder's, so a child that dies before it attached the side is seen
//! gone instead of "not attached yet" for ever (Python: the child's end of a pipe closes
//! with the child, and the parent's `recv` raises `EOFError`).

use super::error::RingError;
use zeroproc_shm::atomic::{AtomicU32, Ordering};
use zeroproc_shm::process;

/// Set in a claim word beside the pid of the process a side is reserved for ([`reserve`]);
/// pids stay below 2^22 on Linux (`pid_max`), so the bit never belongs to one.
pub(crate) const RESERVED: u32 = 1 << 31;

/// The pid a claim word names: its holder's, or the one it is reserved for (0: none).
#[inline]
#[cfg_attr(loom, allow(dead_code))] // read by the peer watch, which loom models leave out
pub(crate) fn named_pid(word: u32) -> u32 {
    word & !RESERVED
}

/// Claims `word` for the calling process, unless `closed` is set or a live process holds it
/// (a reservation does not hold it: it is claimed over).
pub(crate) fn claim(word: &AtomicU32, closed: &AtomicU32) -> Result<(), RingError> {
    let me = process::current_pid();
    loop {
        // Acquire: pairs with the Release store of the flag in the previous holder's drop.
        if closed.load(Ordering::Acquire) != 0 {
            return Err(RingError::Closed);
        }
        // Acquire: pairs with the AcqRel CAS of a previous claimant, so what it published
        // (its final index stores are Release anyway) is visible to a taker-over.
        let cur = word.load(Ordering::Acquire);
        let held = cur != 0 && cur & RESERVED == 0;
        if held && (cur == me || process::is_alive(cur)) {
            return Err(RingError::Claimed { pid: cur });
        }
        // AcqRel: Acquire as above; Release so a later taker-over sees our claim ordered
        // after everything we did before it. A lost race re-examines the new holder.
        if word.compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return Ok(());
        }
    }
}

/// Reserves the side of `word` for process `pid` (see the module docs): only a side never
/// claimed nor closed is; true if this call reserved it.
pub(crate) fn reserve(word: &AtomicU32, closed: &AtomicU32, pid: u32) -> bool {
    if pid == 0 || pid & RESERVED != 0 {
        return false;
    }
    // Acquire: pairs with the Release store of the flag in a holder's drop.
    if closed.load(Ordering::Acquire) != 0 {
        return false;
    }
    // Release: the reservation is a hint read Relaxed by the peer watch and claimed over
    // by `claim`'s AcqRel CAS; it publishes nothing else. Only 0 (never claimed) is
    // replaced, so a holder that claimed first (the child, quick to attach) keeps it.
    word.compare_exchange(0, pid | RESERVED, Ordering::Release, Ordering::Relaxed).is_ok()
}

/// Rate-limits the liveness check of the peer in a blocking poll: `kill(pid, 0)` is a
/// syscall, so it runs at most every [`CHECK_EVERY`] and only every 4th pending poll reads
/// the clock. Sleepers re-poll at least every 100 ms (`zeroproc_shm::wait::MAX_SLEEP_SLICE`), so a
/// SIGKILLed peer is noticed within a few hundred milliseconds.
#[derive(Debug)]
pub(crate) struct PeerWatch {
    polls: u32,
    #[cfg(not(loom))]
    last: Option<std::time::Instant>,
}

/// Minimum interval between two liveness syscalls of one blocking call.
#[cfg(not(loom))]
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

impl PeerWatch {
    pub(crate) fn new() -> Self {
        Self {
            polls: 0,
            #[cfg(not(loom))]
            last: None,
        }
    }

    /// Called on every pending poll; true when the peer (pid in `word`) is known dead.
    /// A word of 0 means the peer has not attached yet: not dead. A reserved word names
    /// the process expected to attach (`reserve`): judged as a holder.
    ///
    /// While spinning, polls are tens of ns apart: only every 64th looks (and the look
    /// reads the clock; a syscall at most every `CHECK_EVERY`). In `block_on`'s sleep
    /// phase polls come once per wake-up or 100 ms slice: every poll looks, so a sleeping
    /// waiter notices a dead peer within a slice or two instead of 32 slices (64 polls).
    #[inline]
    pub(crate) fn peer_dead(&mut self, word: &AtomicU32) -> bool {
        self.polls = self.polls.wrapping_add(1);
        if self.polls % 64 != 0 && !zeroproc_shm::wait::in_sleep_phase() {
            return false;
        }
        self.check(word)
    }

    #[cold]
    fn check(&mut self, word: &AtomicU32) -> bool {
        #[cfg(not(loom))]
        {
            let now = std::time::Instant::now();
            // The first check of a wait only starts the clock: a peer that answers within
            // CHECK_EVERY never costs a syscall (checking at once added ~5 µs — kill,
            // pidfd_open, poll, close — to every blocking round trip; docs/performance.md).
            match self.last {
                None => {
                    self.last = Some(now);
                    return false;
                }
                Some(l) if now.duration_since(l) < CHECK_EVERY => return false,
                Some(_) => self.last = Some(now),
            }
            // Relaxed: only the pid's value matters; a takeover racing with this check is
            // judged by the next check.
            let pid = named_pid(word.load(Ordering::Relaxed));
            pid != 0 && !process::is_alive(pid)
        }
        #[cfg(loom)]
        {
            // Loom needs deterministic replays: no clocks or liveness checks in the models.
            let _ = word;
            false
        }
    }
}
