//! `Barrier`: a reusable rendezvous of a fixed number of parties (Python's
//! `threading.Barrier`, including its broken state).

use super::time::{self, SPIN_LIMIT};
use crate::atomic::{spin_hint, AtomicU32, AtomicU64, Ordering};
use crate::wait::EventCount;
use std::fmt;
use std::time::{Duration, Instant};

/// The largest number of parties a [`Barrier`] supports (the arrival count has 16 bits).
pub const MAX_PARTIES: u32 = 0xFFFF;

// State word layout (64 bits; `README.md` gives the protocol):
//   bits  0..16  arrivals in the current generation
//   bit  16      BROKEN: the previous generation ended broken and no party may arrive
//                (sticky until `reset`)
//   bit  17      RESETTING (with BROKEN): a `reset` ended a generation that had waiters;
//                whoever sees it finishes the reset (`clear_break`) before arriving
//   bits 18..64  generation (46 bits, wrapping)
// A generation that ended broken is recorded in `breaks` before its BROKEN is cleared; one
// not recorded there ended released.
const COUNT_MASK: u64 = 0xFFFF;
const BROKEN: u64 = 1 << 16;
const RESETTING: u64 = 1 << 17;
const GEN_SHIFT: u32 = 18;
const GEN_MASK: u64 = (1 << 46) - 1;
/// Half the generation space: a generation less than this after another is the later one.
const GEN_HALF: u64 = 1 << 45;
/// Slots of the break record: generation `g` is recorded in slot `g % BREAK_SLOTS`.
const BREAK_SLOTS: u64 = 8;
/// A record this many generations old is dropped by the leader of a later generation of
/// its slot, so that no record lives long enough (2^45 generations) to look newer than
/// the generations after it. A waiter stalled across more generations than this may be
/// told `Ok` for a generation that broke.
const RECORD_LIFE: u64 = 1 << 44;

#[inline]
fn count(s: u64) -> u32 {
    (s & COUNT_MASK) as u32
}

#[inline]
fn gen(s: u64) -> u64 {
    (s >> GEN_SHIFT) & GEN_MASK
}

/// The word that ends the current generation: next generation, no arrivals, no flags (a
/// break adds BROKEN).
#[inline]
fn end(s: u64) -> u64 {
    ((gen(s) + 1) & GEN_MASK) << GEN_SHIFT
}

/// How many generations `b` comes after `a` (in the wrapping 46-bit space).
#[inline]
fn after(b: u64, a: u64) -> u64 {
    b.wrapping_sub(a) & GEN_MASK
}

/// Why [`Barrier::wait`] (or its timed forms) failed.
///
/// # Example
/// ```
/// use zeroproc_shm::sync::{Barrier, BarrierError};
/// let b = Barrier::new(2);
/// b.abort();
/// assert_eq!(b.wait().unwrap_err(), BarrierError::Broken);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is (or became, while waiting) broken: aborted, reset, or timed out by
    /// another party. Python's `BrokenBarrierError`.
    Broken,
    /// This caller's deadline passed; it broke the barrier for the others.
    Timeout,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarrierError::Broken => {
                "the barrier is broken (aborted, reset while waiting, or a party's wait timed \
                 out); reset() makes it usable again"
            }
            BarrierError::Timeout => "timed out waiting at the barrier (it is now broken)",
        })
    }
}

impl std::error::Error for BarrierError {}

/// What a successful [`Barrier::wait`] returns.
///
/// # Example
/// ```
/// let b = zeroproc_shm::sync::Barrier::new(1);
/// let r = b.wait().unwrap();
/// assert_eq!(r.index(), 0);
/// assert!(r.is_leader());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: u32,
    leader: bool,
}

impl BarrierWaitResult {
    /// The caller's arrival order in this generation, `0..parties` (unique per
    /// generation; Python's return value).
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Barrier::new(1).wait().unwrap().index(), 0);
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether the caller was the last to arrive (exactly one per generation).
    ///
    /// # Example
    /// ```
    /// assert!(zeroproc_shm::sync::Barrier::new(1).wait().unwrap().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// A reusable barrier for a fixed number of parties, between processes or threads.
///
/// The state is one 64-bit word (arrival count, broken flag, 46-bit generation) plus an
/// [`EventCount`] to sleep on and a record of recent generations that ended broken. The
/// last party to arrive ends the generation with one compare-and-swap and wakes the
/// others; the barrier is then ready for the next round. A waiter learns how its
/// generation ended however many generations complete while it is descheduled (with more
/// processes than parties): released, unless it broke — or unless a later generation a
/// multiple of 8 after it broke too before the waiter looked, which it cannot tell apart
/// and reports as [`BarrierError::Broken`]. (The generation had 15 bits: a waiter
/// stalled across 2^15 generations waited for ever, and one stalled across more than 32
/// was told `Broken` though nothing broke.)
///
/// Python semantics for breaking: [`abort`](Self::abort), or a party's timed wait running
/// out, breaks the barrier; every waiter of that generation and every later `wait` gets
/// [`BarrierError::Broken`] until [`reset`](Self::reset). `reset` with waiters present
/// breaks their generation (they get `Broken`) and leaves the barrier fresh.
///
/// **Death:** a party that dies *after* arriving has been counted; its generation still
/// completes. A party that dies *before* arriving is waited for until some party's timed
/// wait runs out (breaking the barrier) or a supervisor calls `abort`; use the timed forms
/// when a peer may die. A dead sleeper only costs later generations a futile wake syscall.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use zeroproc_shm::sync::Barrier;
/// let b = Arc::new(Barrier::new(3));
/// let ts: Vec<_> = (0..3).map(|_| {
///     let b = b.clone();
///     std::thread::spawn(move || b.wait().unwrap().is_leader())
/// }).collect();
/// let leaders = ts.into_iter().map(|t| t.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// ```
#[repr(C)]
pub struct Barrier {
    state: AtomicU64,
    /// Never written after construction.
    parties: AtomicU32,
    ec: EventCount,
    /// `g + 1` for the latest generation `g` of its slot (`g % BREAK_SLOTS`) that ended
    /// broken; 0: none. Written before the BROKEN flag of `g`'s end is cleared.
    breaks: [AtomicU64; BREAK_SLOTS as usize],
}

impl Barrier {
    /// A barrier for `parties` participants.
    ///
    /// # Panics
    /// If `parties` is 0 or above [`MAX_PARTIES`].
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn new(parties: u32) -> Self {
        assert!(
            (1..=MAX_PARTIES).contains(&parties),
            "a Barrier needs 1..={MAX_PARTIES} parties, got {parties}"
        );
        Self::starting_at(parties, 0)
    }

    /// A fresh barrier whose first generation is `gen` (tests start it near the wrap).
    fn starting_at(parties: u32, gen: u64) -> Self {
        Self {
            state: AtomicU64::new((gen & GEN_MASK) << GEN_SHIFT),
            parties: AtomicU32::new(parties),
            ec: EventCount::new(),
            breaks: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Waits until all parties have called `wait` (or the barrier breaks).
    ///
    /// Writes made by every party before its `wait` are visible to every party after.
    ///
    /// # Example
    /// ```
    /// let b = zeroproc_shm::sync::Barrier::new(2);
    /// std::thread::scope(|s| {
    ///     let t = s.spawn(|| b.wait().unwrap());
    ///     let me = b.wait().unwrap();
    ///     let other = t.join().unwrap();
    ///     assert_ne!(me.index(), other.index());
    ///     assert!(me.is_leader() != other.is_leader());
    /// });
    /// ```
    pub fn wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(None)
    }

    /// Like [`wait`](Self::wait), for at most `timeout`; running out breaks the barrier.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_shm::sync::{Barrier, BarrierError};
    /// let b = Barrier::new(2);
    /// assert_eq!(b.wait_timeout(Duration::from_millis(5)), Err(BarrierError::Timeout));
    /// assert!(b.is_broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(time::deadline_after(timeout))
    }

    /// Like [`wait`](Self::wait), until `deadline`; running out breaks the barrier.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let b = zeroproc_shm::sync::Barrier::new(1);
    /// assert!(b.wait_deadline(Instant::now() + Duration::from_millis(5)).is_ok());
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(Some(deadline))
    }

    /// Breaks the barrier: current waiters and later calls get [`BarrierError::Broken`]
    /// until [`reset`](Self::reset).
    ///
    /// # Example
    /// ```
    /// let b = zeroproc_shm::sync::Barrier::new(3);
    /// b.abort();
    /// assert!(b.is_broken());
    /// ```
    pub fn abort(&self) {
        // Acquire: the CAS below re-validates; nothing is read on the strength of this.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let new = if s & RESETTING != 0 {
                // A reset in progress (its generation ended already): abort wins, as in
                // Python, and the barrier stays broken.
                s & !RESETTING
            } else if s & BROKEN != 0 {
                return;
            } else {
                end(s) | BROKEN
            };
            // AcqRel: Release pairs with the waiters' Acquire/SeqCst loads (they see the
            // end of their generation); Acquire keeps the arrivals' release sequence.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if s & BROKEN != 0 => return,
                Ok(_) => break,
                Err(seen) => s = seen,
            }
        }
        self.ec.notify_all();
    }

    /// Returns the barrier to its fresh state. Parties waiting right now get
    /// [`BarrierError::Broken`]; a broken barrier becomes usable again.
    ///
    /// # Example
    /// ```
    /// let b = zeroproc_shm::sync::Barrier::new(1);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// assert!(b.wait().is_ok());
    /// ```
    pub fn reset(&self) {
        // Acquire: the CAS below re-validates.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & BROKEN != 0 {
                // Its generation already ended when it broke.
                return self.clear_break(s, false);
            }
            if count(s) == 0 {
                return; // already fresh
            }
            // Parties wait: end their generation broken, then clear the flag (here, or a
            // party arriving meanwhile does), so that no `wait` sees a broken barrier.
            let new = end(s) | BROKEN | RESETTING;
            // AcqRel: as in `abort`.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.ec.notify_all();
                    return self.clear_break(new, true);
                }
                Err(seen) => s = seen,
            }
        }
    }

    /// Records the generation whose break `s` shows (the one before `gen(s)`), then clears
    /// BROKEN and RESETTING — unless they are clear already, or, with `resetting_only`,
    /// an `abort` made the break sticky (RESETTING clear).
    fn clear_break(&self, mut s: u64, resetting_only: bool) {
        loop {
            if s & BROKEN == 0 || (resetting_only && s & RESETTING == 0) {
                return;
            }
            // The generation cannot move on while BROKEN is set, so this is the broken one.
            self.record_break(gen(s).wrapping_sub(1) & GEN_MASK);
            let new = s & !(BROKEN | RESETTING);
            // AcqRel: Release publishes the record (above) to every waiter whose Acquire
            // load sees this word or a later one (all changes are RMWs: one release
            // sequence); Acquire as in `abort`.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(seen) => s = seen,
            }
        }
    }

    /// Records that generation `g` ended broken, unless its slot holds a later one (a
    /// late helper of an old break must not overwrite a newer record).
    fn record_break(&self, g: u64) {
        let slot = &self.breaks[(g % BREAK_SLOTS) as usize];
        // Relaxed (load and CAS failure): the CAS re-validates; the record is published
        // by the Release CAS on `state` in `clear_break`, which follows it.
        let mut v = slot.load(Ordering::Relaxed);
        loop {
            if v != 0 && after(g, v - 1) >= GEN_HALF {
                return; // `g` itself, or a later generation, is recorded
            }
            match slot.compare_exchange_weak(v, g + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => v = seen,
            }
        }
    }

    /// Drops the record of `g`'s slot if it is [`RECORD_LIFE`] generations older than `g`
    /// (which just ended released, so the record is not `g`'s).
    #[inline]
    fn expire_record(&self, g: u64) {
        let slot = &self.breaks[(g % BREAK_SLOTS) as usize];
        // Relaxed (all): a newer record written meanwhile makes the CAS fail and stays;
        // a waiter that would have needed the dropped one is beyond the documented horizon.
        let v = slot.load(Ordering::Relaxed);
        if v != 0 && after(g, v - 1) >= RECORD_LIFE {
            let _ = slot.compare_exchange(v, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// How generation `mine` ended, as seen in word `s` (loaded with Acquire or SeqCst):
    /// `None` while it is open, `Some(true)` if broken.
    fn outcome(&self, s: u64, mine: u64) -> Option<bool> {
        let d = after(gen(s), mine);
        if d == 0 {
            return None;
        }
        if d == 1 && s & BROKEN != 0 {
            return Some(true); // broken, the break not cleared yet
        }
        // `mine` ended, and if it broke, the record was written before its BROKEN was
        // cleared (the generation moved on only after that): the Acquire load of `s`
        // synchronises with that clearing CAS. Relaxed: ordered by that load.
        let v = self.breaks[(mine % BREAK_SLOTS) as usize].load(Ordering::Relaxed);
        // Broken if `mine` is recorded, or (unknown: reported broken, never claiming a
        // rendezvous it cannot vouch for) a later generation of its slot.
        Some(v != 0 && after(v - 1, mine) < GEN_HALF)
    }

    /// How many parties are waiting in the current generation (a racy snapshot).
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> u32 {
        // Relaxed: a snapshot; it orders nothing.
        count(self.state.load(Ordering::Relaxed))
    }

    /// The number of parties.
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> u32 {
        // Relaxed: written once before the barrier is shared.
        self.parties.load(Ordering::Relaxed)
    }

    /// Whether the barrier is broken.
    ///
    /// # Example
    /// ```
    /// assert!(!zeroproc_shm::sync::Barrier::new(2).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        // Relaxed: a snapshot; it orders nothing.
        self.state.load(Ordering::Relaxed) & (BROKEN | RESETTING) == BROKEN
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult, BarrierError> {
        let parties = self.parties();
        // Acquire: the arrival CAS below re-validates.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & RESETTING != 0 {
                // A reset's generation ended: finish the reset, then arrive.
                self.clear_break(s, true);
                // Acquire: as above.
                s = self.state.load(Ordering::Acquire);
                continue;
            }
            if s & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            let index = count(s);
            let last = index + 1 == parties;
            let new = if last { end(s) } else { s + 1 };
            // AcqRel: Release makes this party's earlier writes part of the word's release
            // sequence (every arrival is an RMW), which the waiters' Acquire loads of the
            // ending word synchronise with; Acquire lets the last party see all of them.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if last => {
                    self.expire_record(gen(s));
                    self.ec.notify_all();
                    return Ok(BarrierWaitResult { index, leader: true });
                }
                Ok(_) => return self.wait_for_end(gen(s), index, deadline),
                Err(seen) => s = seen,
            }
        }
    }

    #[cold]
    fn wait_for_end(
        &self,
        mine: u64,
        index: u32,
        deadline: Option<Instant>,
    ) -> Result<BarrierWaitResult, BarrierError> {
        let done = |s: u64| {
            self.outcome(s, mine).map(|broken| {
                if broken {
                    Err(BarrierError::Broken)
                } else {
                    Ok(BarrierWaitResult { index, leader: false })
                }
            })
        };
        for _ in 0..SPIN_LIMIT {
            // Acquire: pairs with the ending CAS (Release) of the last party / abort / reset.
            if let Some(r) = done(self.state.load(Ordering::Acquire)) {
                return r;
            }
            spin_hint();
        }
        loop {
            let key = self.ec.prepare_wait();
            // SeqCst: the re-check after `prepare_wait`; pairs with the SeqCst fence in
            // `EventCount::notify_all` (Dekker), and acquires like the loads above.
            if let Some(r) = done(self.state.load(Ordering::SeqCst)) {
                self.ec.cancel_wait();
                return r;
            }
            // At most `RECHECK`: the event count's epoch has 32 bits, so a waiter stalled
            // between `prepare_wait` and its futex call across a multiple of 2^32 wake-ups
            // would sleep through them; it looks at the 46-bit generation again.
            if !self.ec.wait(key, Some(time::recheck_end(deadline))) && time::expired(deadline) {
                return self.time_out(mine, index);
            }
        }
    }

    /// Our deadline passed: break our generation unless it ended meanwhile.
    #[cold]
    fn time_out(&self, mine: u64, index: u32) -> Result<BarrierWaitResult, BarrierError> {
        // Acquire: pairs with the ending CAS of whoever ended our generation.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            match self.outcome(s, mine) {
                Some(false) => return Ok(BarrierWaitResult { index, leader: false }),
                Some(true) => return Err(BarrierError::Broken),
                None => {}
            }
            let new = end(s) | BROKEN;
            // AcqRel: as in `abort`.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(seen) => s = seen,
            }
        }
        self.ec.notify_all();
        Err(BarrierError::Timeout)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

#[cfg(test)]
impl Barrier {
    /// Test hook: what `n` released generations from now leave (no arrivals, no flags),
    /// without making them.
    fn released(&self, n: u64) {
        // Relaxed: single-threaded test setup.
        let s = self.state.load(Ordering::Relaxed);
        self.state.store(((gen(s) + n) & GEN_MASK) << GEN_SHIFT, Ordering::Relaxed);
    }

    /// Test hook: arrives as the first of several parties without waiting; its generation.
    fn arrive_first(&self) -> u64 {
        // Relaxed: single-threaded test setup.
        gen(self.state.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAITER: Result<BarrierWaitResult, BarrierError> =
        Ok(BarrierWaitResult { index: 0, leader: false });

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(20))
    }

    #[test]
    fn the_hook_leaves_what_real_generations_leave() {
        let (a, b) = (Barrier::new(1), Barrier::new(1));
        for _ in 0..5 {
            a.wait().unwrap();
        }
        b.released(5);
        assert_eq!(a.state.load(Ordering::Relaxed), b.state.load(Ordering::Relaxed));
    }

    /// A waiter descheduled (after it arrived) while its generation and 2^15 − 1 more were
    /// released: with the 15-bit generation the word showed its own generation again, and
    /// it waited to its deadline (for ever without one), then broke the barrier.
    #[test]
    fn a_waiter_stalled_across_2_pow_15_generations_is_released() {
        let b = Barrier::new(2);
        let mine = b.arrive_first();
        b.released(1 << 15);
        assert_eq!(b.wait_for_end(mine, 0, soon()), WAITER);
        assert!(!b.is_broken());
    }

    /// Stalled across more than 32 released generations (beyond the old history): it was
    /// told `Broken` though nothing broke.
    #[test]
    fn a_waiter_stalled_across_40_released_generations_is_released() {
        let b = Barrier::new(2);
        let mine = b.arrive_first();
        b.released(40);
        assert_eq!(b.wait_for_end(mine, 0, soon()), WAITER);
    }

    /// Its generation broke and was reset, and 40 more passed: still `Broken`.
    #[test]
    fn a_waiter_stalled_across_its_break_and_reset_is_told_broken() {
        let b = Barrier::new(2);
        let mine = b.arrive_first();
        b.abort();
        b.reset();
        b.released(40);
        assert_eq!(b.wait_for_end(mine, 0, soon()), Err(BarrierError::Broken));
        // A reset with a party waiting records the break the same way.
        let b = Barrier::new(2);
        let mine = b.arrive_first();
        b.reset();
        assert!(!b.is_broken());
        b.released(3);
        assert_eq!(b.wait_for_end(mine, 0, soon()), Err(BarrierError::Broken));
        // A later break in another slot says nothing about ours.
        let b = Barrier::new(2);
        let mine = b.arrive_first();
        b.released(1);
        b.arrive_first();
        b.abort();
        b.reset();
        assert_eq!(b.wait_for_end(mine, 0, soon()), WAITER);
    }

    /// Across the 46-bit wrap, with a break recorded just before it: generations after
    /// the wrap are not taken for broken, and a stale helper's record does not overwrite a
    /// newer one.
    #[test]
    fn the_generation_wraps_with_its_break_record() {
        let b = Barrier::starting_at(2, GEN_MASK - 1);
        let broken = b.arrive_first();
        b.abort();
        b.reset(); // records GEN_MASK - 1
        assert_eq!(gen(b.state.load(Ordering::Relaxed)), GEN_MASK);
        let mut mine = Vec::new();
        for _ in 0..3 * BREAK_SLOTS {
            mine.push(b.arrive_first());
            b.released(1);
        }
        assert!(mine.contains(&0), "wrapped");
        for g in mine {
            assert_eq!(b.wait_for_end(g, 0, soon()), WAITER, "generation {g}");
        }
        assert_eq!(b.wait_for_end(broken, 0, soon()), Err(BarrierError::Broken));
        b.record_break(broken.wrapping_sub(BREAK_SLOTS) & GEN_MASK); // stale: ignored
        assert_eq!(b.wait_for_end(broken, 0, soon()), Err(BarrierError::Broken));
    }

    /// A sleeper whose generation ended with no wake-up reaching it (as when the event
    /// count's 32-bit epoch wrapped while it was stalled before its futex call): it looks
    /// again after `RECHECK` instead of sleeping for ever.
    #[test]
    fn a_sleeper_missing_its_wake_up_looks_again() {
        let b = Barrier::new(2);
        std::thread::scope(|s| {
            // Bounded only so that a failure ends the test: without `RECHECK` it slept to
            // this deadline (for ever with `wait()`).
            let t = s.spawn(|| b.wait_timeout(Duration::from_secs(60)));
            while b.ec.waiters() == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            b.released(1); // its generation ends; no notify
            let start = Instant::now();
            while !t.is_finished() {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the sleeper never looked again"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(t.join().unwrap(), WAITER);
        });
    }

    /// A break recorded long ago is dropped before it could look newer than the
    /// generations of its slot 2^45 later (which would then all be told `Broken`).
    #[test]
    fn an_old_break_record_expires() {
        let b = Barrier::new(2);
        b.arrive_first();
        b.abort();
        b.reset(); // records generation 0
        b.released((1 << 45) - 1); // now at 2^45: slot 0, as old as records get
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..2 * BREAK_SLOTS {
                        assert!(b.wait_timeout(Duration::from_secs(30)).is_ok());
                    }
                });
            }
        });
        assert_eq!(b.breaks[0].load(Ordering::Relaxed), 0);
    }

    /// Parties through the wrap: nobody hangs, nothing breaks, one leader per round.
    #[test]
    fn parties_cross_the_wrap() {
        let b = Barrier::starting_at(3, GEN_MASK - 100);
        let leaders = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let r = b.wait_timeout(Duration::from_secs(30)).unwrap();
                        // Relaxed: a count read after the threads are joined.
                        leaders.fetch_add(r.is_leader() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(gen(b.state.load(Ordering::Relaxed)), 1000 - 101);
        assert_eq!(leaders.load(Ordering::Relaxed), 1000);
        assert!(!b.is_broken());
    }

    #[test]
    fn broken_names_its_causes_and_the_fix() {
        let text = BarrierError::Broken.to_string();
        for w in ["broken", "abort", "reset", "timed out", "reset() makes it usable"] {
            assert!(text.contains(w), "{text} lacks {w}");
        }
    }
}
