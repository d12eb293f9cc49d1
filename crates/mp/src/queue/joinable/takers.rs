//! Which processes took values from a [`JoinableQueue`](super::JoinableQueue) and have not
//! reported them done: a table of [`TAKERS`] words `pid << 32 | count` in the task line of
//! the channel header (0: free).
//!
//! A successful get adds one to the calling process's entry (claiming a free entry by CAS
//! `0 → pid << 32 | 1` if it has none); `task_done` takes one from it if it has any (and
//! frees the entry at 0). So an entry whose pid is dead with a count above 0 names values a
//! process took and never reported done (killed mid-task, or exited without `task_done`):
//! `join` can never return for them. `join` uses that only to say so, on standard error,
//! after [`NOTE_AFTER`](super::NOTE_AFTER) — it goes on waiting, as Python's does, since
//! another process may still call `task_done` for them. `task_done` counts globally: a
//! process reporting values it did not take takes one off another taker's entry (a live
//! one first, see [`done`]), and `join` names dead takers only while some unfinished
//! value is out of the queue (taken, not reported). A note can still name the wrong
//! process when one process reports for others, but it no longer blames queued values.
//!
//! **Dead takers' entries are reclaimed.** An entry is only freed by its own process's
//! `task_done`s, so a consumer that exits with a count above 0 (killed, or its values
//! reported by another process) kept its entry for good, and once [`TAKERS`] such
//! processes had come and gone no new taker was tracked: a long-running program whose
//! consumers come and go lost the note for the very consumer that later died holding a
//! task (the note named only old, long-reported processes). Now a taker that finds no
//! entry of its own and none free takes over the entry of a process that is gone (CAS
//! from the exact word seen, so one taker wins each entry; a process that is gone never
//! writes its word again). The dead process's unreported count is dropped with it: the
//! table names the most recent dead takers, not the oldest. A scan that finds every
//! entry's process alive makes this process skip the next [`SKIP_AFTER_FULL`] untracked
//! takes (across its queues) before scanning again, so more live consumers than entries do
//! not pay a liveness probe per entry on every get.
//!
//! Not tracked: a consumer killed between the ring's hand-over and its increment (a few
//! instructions), and takers beyond the table's [`TAKERS`] entries while all of those are
//! alive. A pid reused by a later taker continues the dead one's entry (the word has no
//! room for a start time); that only keeps an old count in the note. All orderings are
//! Relaxed: the table is a diagnostic; the task count itself is `unfinished`.

use crate::channel::header::Tasks;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use zeroproc_shm::process::{current_pid, is_alive};

/// Untracked takes this process skips after a reclaim scan found every entry alive.
pub(crate) const SKIP_AFTER_FULL: u32 = 1023;

/// Untracked takes left to skip before the next reclaim scan (process-wide).
pub(crate) static SKIP: AtomicU32 = AtomicU32::new(0);

/// Entries in the table (they fill the rest of the task line's 128 bytes).
pub(crate) const TAKERS: usize = 14;

fn pid_of(w: u64) -> u32 {
    (w >> 32) as u32
}

fn count_of(w: u64) -> u32 {
    w as u32
}

/// This process took one value.
pub(crate) fn took(tasks: &Tasks) {
    let me = current_pid();
    for e in &tasks.taken {
        let w = e.load(Relaxed);
        let mine = |w: u64| w != 0 && pid_of(w) == me && count_of(w) < u32::MAX;
        if mine(w) && e.fetch_update(Relaxed, Relaxed, |w| mine(w).then_some(w + 1)).is_ok() {
            return;
        }
    }
    let first = (u64::from(me) << 32) | 1;
    for e in &tasks.taken {
        if e.compare_exchange(0, first, Relaxed, Relaxed).is_ok() {
            return;
        }
    }
    // Table full: take over a dead taker's entry, unless a recent scan found none.
    // Relaxed: a process-local rate limit; a race only skips or scans once more.
    if SKIP.load(Relaxed) > 0 {
        SKIP.fetch_sub(1, Relaxed);
        return;
    }
    for e in &tasks.taken {
        let w = e.load(Relaxed);
        if (w == 0 || !is_alive(pid_of(w)))
            && e.compare_exchange(w, first, Relaxed, Relaxed).is_ok()
        {
            return;
        }
    }
    // Every entry's process is alive: not tracked.
    SKIP.store(SKIP_AFTER_FULL, Relaxed);
}

/// This process reported one value done: one less on its own entry if it has one;
/// otherwise it reports a value another process took (Python allows `task_done` from any
/// process), so one less on a live taker's entry, or failing that on a dead one's — the
/// entries then still add up to the values taken and not reported, and a dead consumer
/// whose values another process reported is not named by `join`'s note (before, user27:
/// a child took 2 values and exited, the parent reported both, and a join waiting for a
/// third value still in the queue said the child "took 2 values and exited without
/// calling task_done for them").
pub(crate) fn done(tasks: &Tasks) {
    let me = current_pid();
    let passes: [&dyn Fn(u32) -> bool; 3] =
        [&|pid| pid == me, &|pid| pid != me && is_alive(pid), &|pid| pid != me];
    for pass in passes {
        for e in &tasks.taken {
            // Cheap filter first (a liveness probe is a system call).
            let w = e.load(Relaxed);
            if w == 0 || count_of(w) == 0 || !pass(pid_of(w)) {
                continue;
            }
            let owner = pid_of(w);
            let dec = e.fetch_update(Relaxed, Relaxed, |w| {
                (w != 0 && pid_of(w) == owner && count_of(w) > 0).then(|| {
                    if count_of(w) == 1 {
                        0
                    } else {
                        w - 1
                    }
                })
            });
            if dec.is_ok() {
                return;
            }
        }
    }
}

/// The processes that are dead and took values they never reported done: `(pid, values)`.
pub(crate) fn dead_takers(tasks: &Tasks) -> Vec<(u32, u32)> {
    tasks
        .taken
        .iter()
        .map(|e| e.load(Relaxed))
        .filter(|&w| w != 0 && count_of(w) > 0 && !is_alive(pid_of(w)))
        .map(|w| (pid_of(w), count_of(w)))
        .collect()
}
