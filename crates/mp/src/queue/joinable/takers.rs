//! Which processes took values from a [`JoinableQueue`](super::JoinableQueue) and have not
//! reported them done: a table of [`TAKERS`] words (pid, start time, count:
//! `crate::proc_word`) in the task line of the channel header (0: free). A process holding
//! more values unreported than a word counts uses a second entry. A process is the
//! entry's only if both its pid and its start time match, so a later process that got a
//! dead taker's pid neither continues its count nor hides it from `join`'s note (before,
//! the word `pid << 32 | count` had no room for the start time: the reused pid continued
//! the dead consumer's count, and the note never named it).
//!
//! A successful get adds one to the calling process's entry (claiming a free entry by CAS
//! `0 → pid | start | 1` if it has none); `task_done` takes one from it if it has any (and
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
//! Not tracked: a consumer killed between the ring's hand-over and its increment — a few
//! instructions for a value read in its slot, but for a spilled one the whole decoding of
//! the value from the heap too (the increment follows a successful `get`; `get.rs`) —, and
//! takers beyond the table's [`TAKERS`] entries while all of those are
//! alive. All orderings are Relaxed: the table is a diagnostic; the task count itself is
//! `unfinished`.

use crate::channel::header::Tasks;
use crate::proc_word::{alive, count_of, me, owner_of, pid_of, word, COUNT_MAX};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

/// Untracked takes this process skips after a reclaim scan found every entry alive.
pub(crate) const SKIP_AFTER_FULL: u32 = 1023;

/// Untracked takes left to skip before the next reclaim scan (process-wide).
pub(crate) static SKIP: AtomicU32 = AtomicU32::new(0);

/// Entries in the table (they fill the rest of the task line's 128 bytes).
pub(crate) const TAKERS: usize = 14;

/// This process took one value.
pub(crate) fn took(tasks: &Tasks) {
    let me = me();
    for e in &tasks.taken {
        let w = e.load(Relaxed);
        let mine = |w: u64| w != 0 && owner_of(w) == me && u64::from(count_of(w)) < COUNT_MAX;
        if mine(w) && e.fetch_update(Relaxed, Relaxed, |w| mine(w).then_some(w + 1)).is_ok() {
            return;
        }
    }
    let first = word(me, 1);
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
        if (w == 0 || !alive(w)) && e.compare_exchange(w, first, Relaxed, Relaxed).is_ok() {
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
    let me = me();
    let passes: [&dyn Fn(u64) -> bool; 3] =
        [&|w| owner_of(w) == me, &|w| owner_of(w) != me && alive(w), &|w| owner_of(w) != me];
    for pass in passes {
        for e in &tasks.taken {
            // Cheap filter first (a liveness probe is a system call).
            let w = e.load(Relaxed);
            if w == 0 || count_of(w) == 0 || !pass(w) {
                continue;
            }
            let owner = owner_of(w);
            let dec = e.fetch_update(Relaxed, Relaxed, |w| {
                (w != 0 && owner_of(w) == owner && count_of(w) > 0).then(|| {
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
        .filter(|&w| w != 0 && count_of(w) > 0 && !alive(w))
        .map(|w| (pid_of(w), count_of(w)))
        .collect()
}
