//! A first-in first-out queue of sleepers for a condition variable: `notify(n)` wakes the
//! `n` oldest of the sleepers that queued before it (Python's `Condition` order), and a
//! sleeper that died in the queue neither keeps a wake-up nor stays queued once a notify
//! reaches it. The protocol is written out in `README.md` in this folder ("FIFO queue").
//!
//! ```text
//! slot (AtomicU64, one per queued sleeper; 0 = free)
//!   bits  0..2   state: WAITING 1, GRANTED 2
//!   bits  2..24  the sleeper's pid (Linux pids are < 2^22)
//!   bits 24..48  ticket: the queue's registration counter when it queued (wrapping)
//!   bits 48..64  low 16 bits of the sleeper's start time (0: unknown), so that a dead
//!                sleeper whose pid was given to another process is still seen as dead
//! ```
//!
//! A sleeper sleeps on its own slot's low half (state, pid, ticket's low byte): a grant
//! changes the state bits there, so the kernel's comparison or the waker's `FUTEX_WAKE`
//! catches it, and a wake-up reaches exactly the sleeper it was granted to.

use super::pool::GrantPool;
use crate::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::futex::{self, WaitOutcome};
use crate::process;
use std::time::Instant;

/// Slots of a queue: at most this many sleepers queue in order at once; more wait in the
/// overflow pool (see [`FifoQueue::enqueue`]).
pub const FIFO_SLOTS: usize = 64;

const WAITING: u64 = 1;
const GRANTED: u64 = 2;
const STATE_MASK: u64 = 3;
const PID_SHIFT: u32 = 2;
const PID_MASK: u64 = (1 << 22) - 1;
const TICKET_SHIFT: u32 = 24;
const TICKET_MASK: u32 = (1 << 24) - 1;
const STAMP_SHIFT: u32 = 48;

/// Spins a notifier waits for a woken-but-not-asleep sleeper to take its grant before it
/// probes the sleeper's liveness.
const TAKE_SPINS: u32 = 100;

/// A first-in first-out queue of sleepers (one per wait), living in shared memory: all
/// atomics, all-zero bytes an empty queue (536 bytes). Used by `sync::Condition`.
#[repr(C)]
pub struct FifoQueue {
    /// The queued sleepers (see the module docs); 0 = free.
    slots: [AtomicU64; FIFO_SLOTS],
    /// The next ticket (only its low 24 bits are kept in a slot).
    tail: AtomicU32,
    /// An upper bound of the slots in use: raised before a slot is claimed, lowered after
    /// it is freed, so 0 means that no sleeper is queued (a notify's fast path).
    used: AtomicU32,
    /// Overflow: the waiters that found every slot taken, unordered (`pool.rs`).
    spill: GrantPool,
}

/// A sleeper's place: its slot and the word it wrote there, or an overflow sleep.
#[derive(Debug, Clone, Copy)]
pub enum FifoEntry {
    /// Queued in order in slot `0` with word `1`.
    Queued(usize, u64),
    /// Every slot was taken: an overflow waiter (its key in the grant pool).
    Spilled(u32),
}

impl Default for FifoQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl FifoQueue {
    /// An empty queue (all-zero bytes).
    ///
    /// # Example
    /// ```
    /// let q = zeroproc_shm::wait::FifoQueue::new();
    /// assert_eq!(q.notify(1), 0); // nobody queued
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            slots: [const { AtomicU64::new(0) }; FIFO_SLOTS],
            tail: AtomicU32::new(0),
            used: AtomicU32::new(0),
            spill: GrantPool::new(),
        }
    }

    /// An empty queue (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            tail: AtomicU32::new(0),
            used: AtomicU32::new(0),
            spill: GrantPool::new(),
        }
    }

    /// Queues the caller, under the lock that orders waits (so tickets follow the order of
    /// the `wait` calls). With every slot held by a live sleeper, the caller waits in the
    /// overflow pool instead (unordered, after the queued ones; `pool.rs`).
    pub fn enqueue(&self) -> FifoEntry {
        // SeqCst: the queue's one total order (README, "FIFO queue": orderings).
        let ticket = self.tail.fetch_add(1, Ordering::SeqCst) & TICKET_MASK;
        let mine = WAITING
            | u64::from(process::current_pid()) << PID_SHIFT
            | u64::from(ticket) << TICKET_SHIFT
            | u64::from(my_stamp()) << STAMP_SHIFT;
        // SeqCst: as above; raised before the claim so that `used == 0` means empty.
        self.used.fetch_add(1, Ordering::SeqCst);
        // Free slots first; only with none free, the liveness of their holders (syscalls).
        for probe in [false, true] {
            for i in 0..FIFO_SLOTS {
                if self.claim(i, mine, probe) {
                    return FifoEntry::Queued(i, mine);
                }
            }
        }
        // SeqCst: as above (the claim failed: no slot of ours to count).
        self.used.fetch_sub(1, Ordering::SeqCst);
        FifoEntry::Spilled(self.spill.register())
    }

    /// Claims slot `i` if it is free, or (with `probe`) held by a dead sleeper (freed
    /// first).
    fn claim(&self, i: usize, mine: u64, probe: bool) -> bool {
        // SeqCst: as in `enqueue`.
        let w = self.slots[i].load(Ordering::SeqCst);
        if w != 0 && !(probe && is_gone(w) && self.free(i, w)) {
            return false;
        }
        // SeqCst: as in `enqueue`; a failed CAS (another claimer won) moves on.
        self.slots[i].compare_exchange(0, mine, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Frees slot `i` if it still holds `w`; true if this call freed it.
    fn free(&self, i: usize, w: u64) -> bool {
        // SeqCst: as in `enqueue`; exactly one CAS from `w` wins, so `used` is lowered
        // once per claim.
        let won = self.slots[i].compare_exchange(w, 0, Ordering::SeqCst, Ordering::SeqCst);
        if won.is_ok() {
            // SeqCst: as in `enqueue`; lowered after the slot is free.
            self.used.fetch_sub(1, Ordering::SeqCst);
        }
        won.is_ok()
    }

    /// Sleeps until the entry is granted a wake-up (true; its slot is freed) or
    /// `deadline` passes (false; it leaves the queue, unless a grant came just in time:
    /// true). Wakes every `recheck` slice to pass on wake-ups granted to dead sleepers
    /// ([`rescue`](Self::rescue)); `recheck(deadline)` gives the slice's end.
    pub fn sleep(
        &self,
        entry: FifoEntry,
        deadline: Option<Instant>,
        recheck: impl Fn(Option<Instant>) -> Option<Instant>,
    ) -> bool {
        match entry {
            FifoEntry::Queued(i, mine) => self.sleep_queued(i, mine, deadline, recheck),
            FifoEntry::Spilled(key) => self.spill.sleep(key, deadline, recheck),
        }
    }

    fn sleep_queued(
        &self,
        i: usize,
        mine: u64,
        deadline: Option<Instant>,
        recheck: impl Fn(Option<Instant>) -> Option<Instant>,
    ) -> bool {
        let slot = &self.slots[i];
        loop {
            // SeqCst: as in `enqueue`.
            let w = slot.load(Ordering::SeqCst);
            if w != mine {
                // Granted: taken once its slot is freed from that word (a notifier may take
                // a grant back from a stopped sleeper, CAS G→W: then look again). A free
                // slot (should a liveness probe ever misjudge us) is a spurious wake-up.
                if w == 0 || self.free(i, w) {
                    return true;
                }
                continue;
            }
            let r = futex::wait_low(slot, mine as u32, recheck(deadline));
            if r != WaitOutcome::Timeout {
                continue;
            }
            if expired(deadline) {
                // Leave, unless a grant came first (then the next look takes it: notified
                // just in time).
                if self.free(i, mine) {
                    return false;
                }
                continue;
            }
            self.rescue();
        }
    }

    /// Grants wake-ups to the `n` oldest sleepers queued before this call (all of them
    /// for `u32::MAX`), waking each; returns how many were granted to live sleepers. A
    /// sleeper found dead when its grant woke nobody is dequeued and the grant goes to the
    /// next; one whose process is stopped is passed over while a running one can take it.
    /// What the slots did not take of `n` goes to the overflow pool.
    pub fn notify(&self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let granted = self.grant_oldest(n);
        if granted == n {
            return granted;
        }
        granted + self.spill.notify(n - granted)
    }

    /// The queued part of [`notify`](Self::notify).
    fn grant_oldest(&self, n: u32) -> u32 {
        // SeqCst: as in `enqueue`; a registration under the caller's lock is seen here.
        if self.used.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        // SeqCst: the ages of the queued tickets are counted from here.
        let tail = self.tail.load(Ordering::SeqCst) & TICKET_MASK;
        self.grant_before(n, tail, false)
    }

    /// Grants up to `n` of the waiting sleepers, oldest first (ages counted from `tail`;
    /// with `only_older`, only those queued before `tail`). A stopped sleeper (SIGSTOP, a
    /// debugger) whose grant woke nobody is passed over while a running one can take the
    /// wake-up, and granted last if there are fewer than `n` of those.
    fn grant_before(&self, n: u32, tail: u32, only_older: bool) -> u32 {
        let mut seen = self.snapshot(tail);
        let mut stopped = [(0, 0); FIFO_SLOTS];
        let (mut granted, mut passed) = (0, 0);
        while granted < n {
            let Some((age, i, w)) = take_oldest(&mut seen) else { break };
            if only_older && age <= 0 {
                break;
            }
            match self.grant(i, w, tail, true) {
                Grant::Taken => granted += 1,
                Grant::Missed => {}
                Grant::Stopped => {
                    stopped[passed] = (i, w);
                    passed += 1;
                }
            }
        }
        for &(i, w) in &stopped[..passed] {
            if granted < n && self.grant(i, w, tail, false) == Grant::Taken {
                granted += 1;
            }
        }
        granted
    }

    /// The waiting sleepers: `(age, slot, word)` with age `None` for no entry. The age is
    /// `tail` minus the ticket as a signed 24-bit number: one queued after `tail` was read
    /// (a `wait` racing a notify made without the lock) is negative, the youngest.
    fn snapshot(&self, tail: u32) -> [(Option<i32>, usize, u64); FIFO_SLOTS] {
        let mut seen = [(None, 0, 0); FIFO_SLOTS];
        for (i, slot) in self.slots.iter().enumerate() {
            // SeqCst: as in `enqueue`.
            let w = slot.load(Ordering::SeqCst);
            if w & STATE_MASK == WAITING {
                let age = tail.wrapping_sub(ticket(w)) & TICKET_MASK;
                seen[i] = (Some(((age << 8) as i32) >> 8), i, w);
            }
        }
        seen
    }

    /// Grants slot `i`'s sleeper (word `w`) its wake-up, stamped with the notify's `tail`,
    /// and wakes it. `Missed` if it left meanwhile, another notify granted it, or it was
    /// found dead (then dequeued); `Stopped` (with `pass_stopped`) if its wake woke nobody
    /// because its process is stopped: the grant is taken back (CAS G→W), unless it took
    /// it meanwhile (`Taken`).
    fn grant(&self, i: usize, w: u64, tail: u32, pass_stopped: bool) -> Grant {
        let g = granted_at(w, tail);
        // SeqCst: as in `enqueue`. The sleeper's futex word changes here.
        if self.slots[i].compare_exchange(w, g, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return Grant::Missed;
        }
        if futex::wake_low(&self.slots[i], 1) != 0 || self.taken_soon(i, g) {
            return Grant::Taken;
        }
        if is_gone(w) {
            // Nobody was asleep there and its process is gone: the grant goes to the next.
            self.free(i, g);
            return Grant::Missed;
        }
        // SeqCst: as in `enqueue`; fails if the sleeper took the grant meanwhile.
        let back = pass_stopped
            && is_stopped(w)
            && self.slots[i].compare_exchange(g, w, Ordering::SeqCst, Ordering::SeqCst).is_ok();
        if back {
            Grant::Stopped
        } else {
            Grant::Taken
        }
    }

    /// Whether the sleeper of slot `i` takes its grant (`w` granted) within a short spin:
    /// a live one that was between its look and its futex call when woken does at once,
    /// and then no liveness probe (syscalls) is needed.
    fn taken_soon(&self, i: usize, g: u64) -> bool {
        if cfg!(loom) {
            return false;
        }
        let me =
            u64::from(process::current_pid()) << PID_SHIFT | u64::from(my_stamp()) << STAMP_SHIFT;
        if g & (PID_MASK << PID_SHIFT | 0xFFFF << STAMP_SHIFT) == me {
            return true; // a thread of this process: alive
        }
        for _ in 0..TAKE_SPINS {
            // Relaxed: only whether the word moved on; nothing is read through it.
            if self.slots[i].load(Ordering::Relaxed) != g {
                return true;
            }
            crate::atomic::spin_hint();
        }
        false
    }

    /// Passes on wake-ups granted to sleepers that died before taking them (killed just
    /// after the grant woke them): frees each such slot and grants one wake-up in its place
    /// to the oldest sleeper queued before that grant, if any (a sleeper queued after it
    /// could not have been woken by it). Run by sleepers every recheck slice.
    pub fn rescue(&self) {
        for (i, slot) in self.slots.iter().enumerate() {
            // SeqCst: as in `enqueue`.
            let g = slot.load(Ordering::SeqCst);
            if g & STATE_MASK == GRANTED && is_gone(g) && self.free(i, g) {
                self.grant_before(1, ticket(g), true);
            }
        }
    }

    /// Sleepers queued (slots in use, dead ones not yet found included) and overflow
    /// sleepers: a snapshot, for `Debug`.
    pub fn queued(&self) -> u32 {
        let spilled = self.spill.waiting();
        // Relaxed: a snapshot for printing.
        let used = self.slots.iter().filter(|s| s.load(Ordering::Relaxed) != 0).count();
        used as u32 + spilled
    }
}

/// Whether `deadline` has passed. The loom model has no clock: its timed futex wait is an
/// immediate time-out, so there every time-out ends the wait.
pub(super) fn expired(deadline: Option<Instant>) -> bool {
    cfg!(loom) || deadline.is_some_and(|d| Instant::now() >= d)
}

/// What [`FifoQueue::grant`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// Granted to a live sleeper.
    Taken,
    /// Nobody to grant there (left, granted by another notify, or dead and dequeued).
    Missed,
    /// Its sleeper is stopped: the grant was taken back.
    Stopped,
}

/// Removes and returns the oldest entry of a snapshot (the largest age): `(age, slot,
/// word)`.
fn take_oldest(seen: &mut [(Option<i32>, usize, u64); FIFO_SLOTS]) -> Option<(i32, usize, u64)> {
    let best = seen.iter_mut().filter(|e| e.0.is_some()).max_by_key(|e| e.0)?;
    let age = best.0.take()?;
    Some((age, best.1, best.2))
}

/// The waiting word `w` granted by a notify that read `tail`: the ticket field then holds
/// that `tail` (a dead sleeper's grant is passed on only to sleepers queued before it).
#[inline]
fn granted_at(w: u64, tail: u32) -> u64 {
    let keep = !(STATE_MASK | u64::from(TICKET_MASK) << TICKET_SHIFT);
    (w & keep) | GRANTED | u64::from(tail & TICKET_MASK) << TICKET_SHIFT
}

/// Whether the sleeper of `w` is stopped (SIGSTOP, job control, a debugger): alive, but
/// not running until someone resumes it.
#[cold]
fn is_stopped(w: u64) -> bool {
    process::is_halted(((w >> PID_SHIFT) & PID_MASK) as u32)
}

#[inline]
fn ticket(w: u64) -> u32 {
    (w >> TICKET_SHIFT) as u32 & TICKET_MASK
}

/// The low 16 bits of this process's start time (0: unknown).
fn my_stamp() -> u16 {
    process::current_start_time() as u16
}

/// Whether the sleeper of slot word `w` has exited (its pid free or a zombie, or now
/// another process's: a different start time where both are known).
#[cold]
fn is_gone(w: u64) -> bool {
    let pid = ((w >> PID_SHIFT) & PID_MASK) as u32;
    let stamp = (w >> STAMP_SHIFT) as u16;
    if !process::is_running(pid, 0, true) {
        return true;
    }
    #[cfg(not(loom))]
    if stamp != 0 {
        let now = if pid == process::current_pid() {
            Some(process::current_start_time())
        } else {
            process::start_time(pid)
        };
        return now.is_some_and(|s| s as u16 != stamp);
    }
    let _ = stamp;
    false
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at_once(_: Option<Instant>) -> Option<Instant> {
        Some(Instant::now())
    }

    #[test]
    fn the_queue_is_536_bytes() {
        assert_eq!(std::mem::size_of::<FifoQueue>(), 536);
    }

    #[test]
    fn notify_grants_the_oldest_first() {
        let q = FifoQueue::new();
        let e: Vec<_> = (0..4).map(|_| q.enqueue()).collect();
        assert_eq!(q.notify(2), 2);
        let now = Some(Instant::now());
        let woke: Vec<bool> = e.iter().map(|&e| q.sleep(e, now, at_once)).collect();
        assert_eq!(woke, [true, true, false, false]);
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn a_dead_sleepers_slot_is_skipped_and_freed() {
        let q = FifoQueue::new();
        // An earlier process with our pid (another start time): gone.
        let pid = u64::from(crate::process::current_pid()) << PID_SHIFT;
        let dead = WAITING | pid | u64::from(my_stamp() ^ 1) << STAMP_SHIFT;
        q.used.fetch_add(1, Ordering::SeqCst);
        q.slots[5].store(dead, Ordering::SeqCst);
        q.tail.store(1, Ordering::SeqCst);
        let live = q.enqueue();
        assert_eq!(q.notify(1), 1);
        assert_eq!(q.slots[5].load(Ordering::SeqCst), 0, "the dead entry was dequeued");
        assert!(q.sleep(live, Some(Instant::now() + Duration::from_secs(5)), at_once));
        assert_eq!(q.queued(), 0);
    }

    /// A sleeper that waited while 2^23 other waits were queued: its age wraps to
    /// negative (taken for a racing newcomer). It is still granted, last in order. (A first
    /// version left such entries out of every notify: a waiter with no deadline on a busy
    /// condition would have slept for ever.)
    #[test]
    fn an_ancient_sleeper_is_still_notified() {
        let q = FifoQueue::new();
        let old = q.enqueue();
        q.tail.fetch_add((1 << 23) + 5, Ordering::SeqCst);
        let young = q.enqueue();
        assert_eq!(q.notify(1), 1);
        let now = Some(Instant::now());
        assert!(q.sleep(young, now, at_once), "the wrapped one looks younger");
        assert_eq!(q.notify(1), 1, "the ancient sleeper is granted");
        assert!(q.sleep(old, now, at_once));
    }

    #[test]
    fn sleepers_past_the_slots_spill_and_are_granted_after_them() {
        let q = FifoQueue::new();
        let e: Vec<_> = (0..FIFO_SLOTS + 2).map(|_| q.enqueue()).collect();
        assert!(matches!(e[FIFO_SLOTS], FifoEntry::Spilled(_)));
        assert_eq!(q.notify(FIFO_SLOTS as u32 + 1), FIFO_SLOTS as u32 + 1);
        let now = Some(Instant::now());
        let woke = e.iter().filter(|&&e| q.sleep(e, now, at_once)).count();
        assert_eq!(woke, FIFO_SLOTS + 1, "one of the two overflow waiters, not both");
        assert_eq!(q.queued(), 0);
    }
}
