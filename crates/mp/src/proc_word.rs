//! A process and a count in one 64-bit word, for tables in shared memory that say which
//! processes hold something (`JoinableQueue`'s takers, `SharedArray`'s reader leases):
//! `pid << 42 | start << 20 | count` — the pid (22 bits: Linux pids are below
//! `PID_MAX_LIMIT`, 2^22), the low 22 bits of the process's start time (clock ticks since
//! boot; they repeat every 2^22 ticks, 11.6 hours at 100 Hz) and a count (20 bits). A word
//! is a process's only if both its pid and its start time match, so a later process that
//! got a dead holder's pid neither continues the dead one's entry nor makes it look alive
//! (the `Lock` word keeps the pid and 32 bits of the start time for the same reason).
//! Before, both tables kept `pid << 32 | count`.

use zeroproc_shm::process::{current_pid, current_start_time, is_alive, start_time};

/// Where the count ends and the start time begins.
const START_SHIFT: u32 = 20;
/// Where the start time ends and the pid begins.
const PID_SHIFT: u32 = 42;
/// The start time's bits kept.
const START_MASK: u64 = (1 << (PID_SHIFT - START_SHIFT)) - 1;
/// The largest count of one word.
pub(crate) const COUNT_MAX: u64 = (1 << START_SHIFT) - 1;

/// The pid of a word.
pub(crate) fn pid_of(w: u64) -> u32 {
    (w >> PID_SHIFT) as u32
}

/// The count of a word.
pub(crate) fn count_of(w: u64) -> u32 {
    (w & COUNT_MAX) as u32
}

/// Who a word belongs to: its pid and start time (`w >> 20`; compare with [`me`]).
pub(crate) fn owner_of(w: u64) -> u64 {
    w >> START_SHIFT
}

/// This process as [`owner_of`] gives it.
pub(crate) fn me() -> u64 {
    owner(current_pid(), current_start_time())
}

/// The owner part of process `pid` started at `start`.
fn owner(pid: u32, start: u64) -> u64 {
    debug_assert!(u64::from(pid) < 1 << (64 - PID_SHIFT), "a pid above PID_MAX_LIMIT");
    u64::from(pid) << (PID_SHIFT - START_SHIFT) | (start & START_MASK)
}

/// The word of `owner` (from [`me`]) holding `count`.
pub(crate) fn word(owner: u64, count: u64) -> u64 {
    debug_assert!(count <= COUNT_MAX);
    owner << START_SHIFT | count
}

/// The word of process `pid`, started at `start` (its full start time), holding `count`.
#[cfg(test)]
pub(crate) fn word_of(pid: u32, start: u64, count: u64) -> u64 {
    word(owner(pid, start), count)
}

/// Whether the process a word names still runs: its pid is alive and, where `/proc` says,
/// it started at the recorded time (another process that got the pid did not). This
/// process is recognised without a system call.
pub(crate) fn alive(w: u64) -> bool {
    let (pid, start) = (pid_of(w), owner_of(w) & START_MASK);
    if pid == current_pid() {
        return owner_of(w) == me();
    }
    is_alive(pid) && start_time(pid).is_none_or(|s| s & START_MASK == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_names_its_process_and_count() {
        let w = word(me(), 5);
        assert_eq!((pid_of(w), count_of(w), owner_of(w)), (current_pid(), 5, me()));
        assert!(alive(w));
        // Same pid, another start time: another (dead) process.
        let other = word_of(current_pid(), current_start_time() + 1, 5);
        assert_ne!(owner_of(other), me());
        assert!(!alive(other));
        assert_eq!(count_of(word(me(), COUNT_MAX)), COUNT_MAX as u32);
    }
}
