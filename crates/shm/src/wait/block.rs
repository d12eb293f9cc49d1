//! The one blocking loop every ring, queue, pipe and pool operation uses: poll, spin,
//! then sleep on an [`EventCount`], with a deadline and periodic peer-liveness checks.
//!
//! `op`, `op_timeout` and `op_deadline` all end up in [`block_on`]; only the deadline
//! form is implemented.

use super::{EventCount, WaitStrategy};
use std::time::{Duration, Instant};

/// What one poll of the condition found.
#[derive(Debug)]
pub enum Poll<T, E> {
    /// The operation completed.
    Ready(T),
    /// Not yet: wait for the event count to be notified and poll again.
    Pending,
    /// The operation can never complete (closed, peer dead, ...).
    Failed(E),
}

/// Why [`block_on`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockError<E> {
    /// The deadline passed.
    Timeout,
    /// `poll` reported a permanent failure.
    Failed(E),
}

/// Longest single futex sleep. Sleepers wake at least this often to run `poll` again, so a
/// peer that died without notifying (SIGKILL) is noticed by `poll`'s liveness check.
pub const MAX_SLEEP_SLICE: Duration = Duration::from_millis(100);

/// Converts a relative timeout into the deadline form (saturating far in the future).
#[inline]
pub fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Runs `poll` until it is ready or failed, or `deadline` passes, waiting according to
/// `strategy` on `ev` (which the other side notifies after changing the condition).
///
/// `poll` is called again after every wake-up, every spin step, and at least every
/// [`MAX_SLEEP_SLICE`]. A final poll is made when the deadline passes, so an operation
/// whose condition became true exactly at the deadline still succeeds.
pub fn block_on<T, E>(
    ev: &EventCount,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Poll<T, E>,
) -> Result<T, BlockError<E>> {
    match poll() {
        Poll::Ready(t) => return Ok(t),
        Poll::Failed(e) => return Err(BlockError::Failed(e)),
        Poll::Pending => {}
    }
    block_on_slow(ev, strategy, deadline, &mut poll)
}

thread_local! {
    /// Whether this thread's innermost `block_on` is in its sleep phase.
    static SLEEPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is inside the sleep phase of [`block_on`] (i.e. `poll` is
/// being called about once per wake-up or sleep slice, not once per spin step): lets a
/// poll closure do per-poll work — such as a peer liveness check — only when polls are
/// rare.
#[inline]
pub fn in_sleep_phase() -> bool {
    SLEEPING.with(|s| s.get())
}

/// Marks the sleep phase for [`in_sleep_phase`]; restores the outer value on drop
/// (nested `block_on`s, unwinding).
struct SleepPhase(bool);

impl SleepPhase {
    fn enter() -> Self {
        Self(SLEEPING.with(|s| s.replace(true)))
    }
}

impl Drop for SleepPhase {
    fn drop(&mut self) {
        SLEEPING.with(|s| s.set(self.0));
    }
}

#[cold]
fn block_on_slow<T, E>(
    ev: &EventCount,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    poll: &mut impl FnMut() -> Poll<T, E>,
) -> Result<T, BlockError<E>> {
    // Phase 1: spin (bounded by the strategy's budget and the deadline). Under loom there
    // is no time: the model goes straight to the sleep handshake, which is what it checks.
    #[cfg(not(loom))]
    if let Some(r) = spin_phase(strategy, deadline, poll) {
        return r;
    }
    #[cfg(loom)]
    let _ = strategy;
    // Phase 2: sleep on the event count, in slices.
    let _phase = SleepPhase::enter();
    loop {
        let key = ev.prepare_wait();
        match poll() {
            Poll::Ready(t) => {
                ev.cancel_wait();
                return Ok(t);
            }
            Poll::Failed(e) => {
                ev.cancel_wait();
                return Err(BlockError::Failed(e));
            }
            Poll::Pending => {}
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            ev.cancel_wait();
            return final_poll(poll);
        }
        let slice = now + MAX_SLEEP_SLICE;
        let until = match deadline {
            Some(d) if d < slice => Some(d),
            // Under loom the futex model treats any deadline as an immediate time-out, so
            // the slice would turn the sleep into a spin: sleep until notified instead.
            _ if cfg!(loom) => deadline,
            _ => Some(slice),
        };
        let _woken = ev.wait(key, until);
        // The loom futex model has no clock: its timed wait is an immediate time-out.
        #[cfg(loom)]
        if !_woken {
            return final_poll(poll);
        }
        match poll() {
            Poll::Ready(t) => return Ok(t),
            Poll::Failed(e) => return Err(BlockError::Failed(e)),
            Poll::Pending => {}
        }
    }
}

/// Polls with one PAUSE between checks until the strategy's spin budget is spent (`None`:
/// go to sleep) or the operation completes, fails, or reaches its deadline (`Some`).
#[cfg(not(loom))]
fn spin_phase<T, E>(
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    poll: &mut impl FnMut() -> Poll<T, E>,
) -> Option<Result<T, BlockError<E>>> {
    let start = Instant::now();
    let spin_until = strategy.spin_budget().map(|b| start + b);
    let mut n: u32 = 0;
    loop {
        match poll() {
            Poll::Ready(t) => return Some(Ok(t)),
            Poll::Failed(e) => return Some(Err(BlockError::Failed(e))),
            Poll::Pending => {}
        }
        n = n.wrapping_add(1);
        // Reading the clock costs ~20 ns: only every 64 polls.
        if n % 64 == 0 {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Some(final_poll(poll));
            }
            if spin_until.is_some_and(|s| now >= s) {
                return None;
            }
            // Past the first few µs, give the CPU away now and then: when more processes
            // spin than there are cores (a controller and its workers on 2 vCPUs), the
            // peer we wait for may be runnable on this very CPU. Uncontended, sched_yield
            // returns at once (~0.5 µs, every 64 polls). Measured on W2 unbatched:
            // docs/performance.md. Unless yielding was seen to hand the CPU to others for
            // long (`yield_cpu`).
            if now.duration_since(start) > YIELD_AFTER {
                yield_cpu(now);
            }
        } else if spin_until.is_some_and(|s| s <= start) {
            return None; // WaitStrategy::Sleep: no spinning at all
        }
        // One PAUSE per poll. An exponential backoff (crossbeam's `Backoff::snooze`) is for
        // CAS contention, not for waiting on a peer: its 1+2+…+64 PAUSEs (~140 cycles each
        // on recent x86) and `sched_yield`s added ~6 µs to a 0.2 µs round trip (measured,
        // docs/performance.md).
        crate::atomic::spin_hint();
    }
}

/// Spinning time after which the spin phase yields the CPU every 64 polls.
#[cfg(not(loom))]
const YIELD_AFTER: Duration = Duration::from_micros(5);

/// A yield that kept this thread off its CPU this long handed the CPU to a program that
/// does not give it back soon: one time slice of a CPU-bound task (0.75 ms and more).
#[cfg(not(loom))]
const LONG_YIELD: Duration = Duration::from_millis(1);

/// How long a thread spins without yielding after a [`LONG_YIELD`].
#[cfg(not(loom))]
const NO_YIELD_FOR: Duration = Duration::from_millis(20);

#[cfg(not(loom))]
thread_local! {
    /// Until when this thread spins without yielding (after a [`LONG_YIELD`]).
    static NO_YIELD_UNTIL: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

#[cfg(not(loom))]
thread_local! {
    /// The process this thread's waits are for, when it is one process (a pool worker's
    /// controller): `0` if none. See [`set_yield_peer`].
    static YIELD_PEER: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Names process `pid` as the one this thread's waits are for (a pool worker waits for
/// its controller); `0` clears it. After a yield that kept the thread off its CPU for
/// long, the thread keeps yielding if that process is the one that ran: see
/// the spin phase of [`block_on`]. A no-op under loom.
///
/// ```
/// zeroproc_shm::wait::set_yield_peer(std::os::unix::process::parent_id());
/// zeroproc_shm::wait::set_yield_peer(0);
/// ```
pub fn set_yield_peer(pid: u32) {
    #[cfg(not(loom))]
    YIELD_PEER.with(|p| p.set(pid));
    #[cfg(loom)]
    let _ = pid;
}

/// `sched_yield`, unless a recent yield of this thread was long and went to another
/// program.
///
/// A yield hands the CPU to our peer when the pool oversubscribes the machine itself (a
/// controller and 2 workers on 2 vCPUs: tiny-job `map` 2× and `submit` 3× faster than
/// without it). But Linux's EEVDF scheduler (6.6 and later) moves a yielding task's
/// virtual deadline back by a slice whenever another task is runnable on its CPU: next to
/// a CPU-bound program (one busy loop on this 2-vCPU machine) every yield let that
/// program run a whole slice, and the pool ran 3–4× (`map`) and 4–6× (`submit`) slower
/// than with no yield at all. A yield that kept us off the CPU for [`LONG_YIELD`] shows the
/// latter: this thread then spins without yielding (and sleeps once the spin budget is
/// spent) for [`NO_YIELD_FOR`], and tries again. Measured, idle and next to busy loops:
/// docs/performance.md, "Spinning next to a CPU-bound program".
///
/// Unless the one that ran is the peer this thread waits for ([`set_yield_peer`]): a
/// controller busy placing a chunked `map`'s items runs a whole slice too, and a worker
/// on its CPU that stopped yielding then spun against it, taking the CPU the map's
/// producer needed (a chunked `map` on an idle host: 110–113 → 175–205 M items/s;
/// docs/performance.md, "The spin phase and a busy controller"). After a long yield the
/// peer is taken to have had the CPU when it is runnable and last ran on this CPU
/// ([`peer_ran_here`]: one read of `/proc/PID/stat`, ~10 µs, only after a yield of a
/// millisecond or more).
#[cfg(not(loom))]
#[inline]
fn yield_cpu(now: Instant) {
    if NO_YIELD_UNTIL.with(|u| u.get().is_some_and(|until| now < until)) {
        return;
    }
    std::thread::yield_now();
    let back = Instant::now();
    if back.duration_since(now) >= LONG_YIELD && !peer_ran_here() {
        NO_YIELD_UNTIL.with(|u| u.set(Some(back + NO_YIELD_FOR)));
    }
}

/// Whether this thread's yield peer ([`set_yield_peer`]) is runnable (`R`) and last ran on
/// the CPU this thread runs on: then a long yield gave it the CPU, not another program
/// (a peer that ran on the other CPU meanwhile, or sleeps, did not take this one).
#[cfg(not(loom))]
#[cold]
fn peer_ran_here() -> bool {
    let pid = YIELD_PEER.with(|p| p.get());
    if pid == 0 {
        return false;
    }
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else { return false };
    runnable(&stat) && u32::try_from(cpu).is_ok_and(|cpu| last_cpu(&stat) == Some(cpu))
}

/// Whether a `/proc/PID/stat` names a runnable process: its state (after the last `)`) is `R`.
#[cfg(not(loom))]
fn runnable(stat: &[u8]) -> bool {
    stat.iter().rposition(|&b| b == b')').and_then(|c| stat.get(c + 2)) == Some(&b'R')
}

/// The CPU a process last ran on (`processor`, field 39 of proc(5)), from its
/// `/proc/PID/stat`: `pid (comm) state …`, where `comm` may hold anything; the state follows
/// the last `)` and the CPU is the 37th field after it.
#[cfg(not(loom))]
fn last_cpu(stat: &[u8]) -> Option<u32> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    rest.split_ascii_whitespace().nth(36)?.parse().ok()
}

#[cfg(all(test, not(loom)))]
mod peer_tests {
    use super::{last_cpu, runnable};

    /// A `/proc/PID/stat` line: `comm` with spaces and a `)`, then fields 3–52 (field 39,
    /// the CPU, is 7).
    fn stat() -> Vec<u8> {
        let mut f: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        f[0] = "S".into();
        f[39 - 3] = "7".into();
        format!("4242 (a b) c) {}\n", f.join(" ")).into_bytes()
    }

    #[test]
    fn the_cpu_a_process_last_ran_on() {
        assert_eq!(last_cpu(&stat()), Some(7));
        assert_eq!(last_cpu(b"4242 (x) R 1 2"), None);
        assert_eq!(last_cpu(b"garbage"), None);
    }

    #[test]
    fn this_thread_s_own_stat_names_a_cpu() {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let stat = std::fs::read(format!("/proc/self/task/{tid}/stat")).unwrap();
        assert!(last_cpu(&stat).is_some());
    }

    #[test]
    fn runnable_reads_the_state_after_the_last_paren() {
        let mut line = stat();
        assert!(!runnable(&line));
        let at = line.iter().rposition(|&b| b == b')').unwrap() + 2;
        line[at] = b'R';
        assert!(runnable(&line));
        assert!(!runnable(b"1 (R) S 1"));
        assert!(!runnable(b"garbage"));
    }
}

fn final_poll<T, E>(poll: &mut impl FnMut() -> Poll<T, E>) -> Result<T, BlockError<E>> {
    match poll() {
        Poll::Ready(t) => Ok(t),
        Poll::Failed(e) => Err(BlockError::Failed(e)),
        Poll::Pending => Err(BlockError::Timeout),
    }
}
