//! `Barrier`: a reusable rendezvous of a fixed number of parties (Python's
//! `threading.Barrier`, including its broken state).

use super::time::{self, SPIN_LIMIT};
use crate::atomic::{spin_hint, AtomicU32, AtomicU64, Ordering};
use crate::wait::EventCount;
use std::fmt;
use std::time::{Duration, Instant};

/// The largest number of parties a [`Barrier`] supports (the arrival count has 16 bits).
pub const MAX_PARTIES: u32 = 0xFFFF;

// State word layout (64 bits):
//   bits  0..16  arrivals in the current generation
//   bit  16      BROKEN (sticky until `reset`)
//   bits 17..32  generation (15 bits, wrapping)
//   bits 32..64  history: bit i = 1 if generation `gen - 1 - i` ended broken
const COUNT_MASK: u64 = 0xFFFF;
const BROKEN: u64 = 1 << 16;
const GEN_SHIFT: u32 = 17;
const GEN_MASK: u64 = 0x7FFF;
const HIST_SHIFT: u32 = 32;
/// How many past generations' outcomes the history remembers.
const HISTORY: u64 = 32;

#[inline]
fn count(s: u64) -> u32 {
    (s & COUNT_MASK) as u32
}

#[inline]
fn gen(s: u64) -> u64 {
    (s >> GEN_SHIFT) & GEN_MASK
}

/// The word that ends the current generation: next generation, no arrivals, the outcome
/// shifted into the history. The BROKEN flag is the caller's to add.
#[inline]
fn end(s: u64, broken: bool) -> u64 {
    let hist = ((s >> HIST_SHIFT) << 1 | broken as u64) & 0xFFFF_FFFF;
    let next = (gen(s) + 1) & GEN_MASK;
    hist << HIST_SHIFT | next << GEN_SHIFT
}

/// How generation `mine` ended, as seen in word `s`: `None` while it is still open.
#[inline]
fn outcome(s: u64, mine: u64) -> Option<bool> {
    let d = (gen(s).wrapping_sub(mine)) & GEN_MASK;
    if d == 0 {
        return None;
    }
    if d > HISTORY {
        // More generations passed than the history holds: the outcome is unknown, and
        // never claiming a rendezvous we cannot vouch for is the safe answer.
        return Some(true);
    }
    Some((s >> HIST_SHIFT >> (d - 1)) & 1 == 1)
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
/// The state is one 64-bit word (arrival count, broken flag, generation, and the outcome of
/// the last 32 generations) plus an [`EventCount`] to sleep on. The last party to arrive
/// ends the generation with one compare-and-swap and wakes the others; the barrier is then
/// ready for the next round.
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
        Self { state: AtomicU64::new(0), parties: AtomicU32::new(parties), ec: EventCount::new() }
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
            if s & BROKEN != 0 {
                return;
            }
            let new = end(s, true) | BROKEN;
            // AcqRel: Release pairs with the waiters' Acquire/SeqCst loads (they see the
            // end of their generation); Acquire keeps the arrivals' release sequence.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
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
            let (new, ended) = if s & BROKEN != 0 {
                (s & !BROKEN, false) // its generation already ended when it broke
            } else if count(s) > 0 {
                (end(s, true), true)
            } else {
                return; // already fresh
            };
            // AcqRel: as in `abort`.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if ended => break,
                Ok(_) => return,
                Err(seen) => s = seen,
            }
        }
        self.ec.notify_all();
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
        self.state.load(Ordering::Relaxed) & BROKEN != 0
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult, BarrierError> {
        let parties = self.parties();
        // Acquire: the arrival CAS below re-validates.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            let index = count(s);
            let last = index + 1 == parties;
            let new = if last { end(s, false) } else { s + 1 };
            // AcqRel: Release makes this party's earlier writes part of the word's release
            // sequence (every arrival is an RMW), which the waiters' Acquire loads of the
            // ending word synchronise with; Acquire lets the last party see all of them.
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if last => {
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
            outcome(s, mine).map(|broken| {
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
            if !self.ec.wait(key, deadline) {
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
            match outcome(s, mine) {
                Some(false) => return Ok(BarrierWaitResult { index, leader: false }),
                Some(true) => return Err(BarrierError::Broken),
                None => {}
            }
            let new = end(s, true) | BROKEN;
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
mod tests {
    use super::*;

    #[test]
    fn history_records_outcomes_of_recent_generations() {
        let mut s = 0u64;
        s = end(s, false); // gen 0 released
        s = end(s, true); // gen 1 broken
        s = end(s, false); // gen 2 released
        assert_eq!(gen(s), 3);
        assert_eq!(outcome(s, 3), None);
        assert_eq!(outcome(s, 2), Some(false));
        assert_eq!(outcome(s, 1), Some(true));
        assert_eq!(outcome(s, 0), Some(false));
        // Further back than the history reaches: reported broken.
        for _ in 0..HISTORY {
            s = end(s, false);
        }
        assert_eq!(outcome(s, 0), Some(true));
    }

    #[test]
    fn generation_wraps() {
        let mut s = (GEN_MASK) << GEN_SHIFT;
        s = end(s, false);
        assert_eq!(gen(s), 0);
        assert_eq!(outcome(s, GEN_MASK), Some(false));
    }

    #[test]
    fn broken_names_its_causes_and_the_fix() {
        let text = BarrierError::Broken.to_string();
        for w in ["broken", "abort", "reset", "timed out", "reset() makes it usable"] {
            assert!(text.contains(w), "{text} lacks {w}");
        }
    }
}
