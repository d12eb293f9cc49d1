//! [`JoinableQueue`]: a [`Queue`] plus a shared count of unfinished tasks (Python's
//! `multiprocessing.JoinableQueue`): `put` counts up, `task_done` counts down, `join`
//! sleeps until the count is zero.
//!
//! The count lives in the queue's segment header. Orderings: the increment is Relaxed
//! and sequenced before the slot's Release publish, so a consumer that took the value
//! (Acquire claim) always finds it counted; the decrement is a Release (AcqRel) CAS that
//! never goes below zero; `join` loads the count with Acquire, pairing with the
//! decrements, so everything a worker did before its `task_done` is visible to the
//! joiner. The joiner sleeps on an event count that the decrement to zero notifies
//! (Dekker pair of the event count: see `zeroproc_shm::wait`).

mod get;
mod handle;
pub(crate) mod takers;

pub use handle::{ArchivedJoinableQueueHandle, JoinableQueueHandle};

use crate::channel::header::KIND_JOINABLE;
use crate::channel::message::{Message, Wait};
use crate::channel::ChannelError;
use crate::queue::error::{PutError, PutTimeoutError, TryPutError};
use crate::queue::{Queue, QueueBuilder};
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zeroproc_shm::wait::{block_on, deadline_after, BlockError, Poll};

/// A [`Queue`] whose consumers report each value finished with
/// [`task_done`](Self::task_done), so that [`join`](Self::join) can wait, in any process,
/// until every value put has been processed.
///
/// ```
/// use zeroproc_mp::JoinableQueue;
/// let q = JoinableQueue::<u32>::new(16).unwrap();
/// let worker = {
///     let q = q.clone(); // in another process: q.handle() → handle.attach()
///     std::thread::spawn(move || {
///         while let Ok(x) = q.get() {
///             let _ = x * 2; // the work
///             q.task_done().unwrap();
///         }
///     })
/// };
/// for i in 0..10 {
///     q.put(i).unwrap();
/// }
/// q.join(); // every value put was taken and reported done
/// assert_eq!(q.unfinished_tasks(), 0);
/// q.close();
/// worker.join().unwrap();
/// ```
pub struct JoinableQueue<T> {
    pub(super) q: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.q)
            .field("unfinished", &self.unfinished_tasks())
            .finish()
    }
}

/// [`JoinableQueue::task_done`] was called more times than values were put.
///
/// ```
/// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
/// assert!(q.task_done().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than values were put")
    }
}

impl std::error::Error for TaskDoneError {}

/// [`JoinableQueue::join_timeout`] / `join_deadline` gave up with tasks unfinished.
///
/// ```
/// use std::time::Duration;
/// use zeroproc_mp::queue::JoinTimeoutError;
/// use zeroproc_mp::JoinableQueue;
/// let q = JoinableQueue::<u8>::new(2).unwrap();
/// q.put(1).unwrap();
/// assert_eq!(q.join_timeout(Duration::from_millis(1)), Err(JoinTimeoutError { unfinished: 1 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinTimeoutError {
    /// Tasks still unfinished at the deadline.
    pub unfinished: u64,
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.unfinished;
        write!(
            f,
            "timed out joining the queue: {n} task{} unfinished",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for JoinTimeoutError {}

/// How long a `join` waits before it looks for takers that died without reporting.
pub(crate) const NOTE_AFTER: Duration = Duration::from_secs(5);

/// How often a long `join` looks again (a liveness probe per taker).
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// The note of a `join` that waits for tasks taken by processes that are gone.
#[cold]
fn dead_takers_note(waited: Duration, unfinished: u64, dead: &[(u32, u32)]) -> String {
    let whom: Vec<String> = dead
        .iter()
        .map(|&(pid, n)| format!("process {pid} took {n} value{}", if n == 1 { "" } else { "s" }))
        .collect();
    let one = dead.iter().map(|&(_, n)| u64::from(n)).sum::<u64>() == 1;
    format!(
        "zeroproc: JoinableQueue::join has waited {} s for {unfinished} unfinished task{}: {} \
         and exited without calling task_done for {} (killed mid-task?); unless another \
         process reports {}, join waits for ever, as Python's does (join_timeout bounds \
         the wait)",
        waited.as_secs(),
        if unfinished == 1 { "" } else { "s" },
        whom.join(", "),
        if one { "it" } else { "them" },
        if one { "it" } else { "them" },
    )
}

impl<T: Message> QueueBuilder<T> {
    /// Creates a [`JoinableQueue`] with this configuration.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<u8>::builder(4).slot_size(64).build_joinable();
    /// assert_eq!(q.unwrap().capacity(), 4);
    /// ```
    pub fn build_joinable(self) -> Result<JoinableQueue<T>, ChannelError> {
        Ok(JoinableQueue { q: self.build_kind(KIND_JOINABLE)? })
    }
}

// Bounds on the constructors rather than the `impl`, as for `Queue`: a non-`Message` `T`
// gets `Message`'s error, not "the function `new` exists but its bounds were not met".
impl<T> JoinableQueue<T> {
    /// A joinable queue of at least `capacity` values (see [`Queue::new`]).
    ///
    /// ```
    /// assert_eq!(zeroproc_mp::JoinableQueue::<u8>::new(5).unwrap().capacity(), 8);
    /// ```
    pub fn new(capacity: usize) -> Result<Self, ChannelError>
    where
        T: Message,
    {
        Queue::builder(capacity).build_joinable()
    }

    /// A joinable queue with `slot_size`-byte slots (see [`Queue::with_slot_size`]).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::with_slot_size(2, 64).unwrap();
    /// assert_eq!(q.slot_size(), 64);
    /// ```
    pub fn with_slot_size(capacity: usize, slot_size: usize) -> Result<Self, ChannelError>
    where
        T: Message,
    {
        Queue::builder(capacity).slot_size(slot_size).build_joinable()
    }
}

impl<T: Message> JoinableQueue<T> {
    /// The handle another process attaches with (see [`Queue::handle`]).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// let other = q.handle().attach().unwrap();
    /// other.put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn handle(&self) -> JoinableQueueHandle<T> {
        JoinableQueueHandle::new(&self.q.map)
    }

    /// Puts `value` and counts one more unfinished task, waiting while the queue is full.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.put_wait(value, Wait::Until(None)).map_err(PutError::from)
    }

    /// [`put`](Self::put) without waiting; a refused value is not counted.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(1).unwrap();
    /// q.try_put(1).unwrap();
    /// assert!(q.try_put(2).is_err());
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        self.put_wait(value, Wait::Never).map_err(TryPutError::from)
    }

    /// [`put`](Self::put), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(1).unwrap();
    /// q.put_timeout(1, Duration::from_millis(1)).unwrap();
    /// assert!(q.put_timeout(2, Duration::from_millis(1)).is_err());
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_wait(value, Wait::Until(deadline_after(timeout)))
    }

    /// [`put`](Self::put), giving up at `deadline`.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(1).unwrap();
    /// q.put_deadline(1, std::time::Instant::now()).unwrap(); // room: no wait needed
    /// ```
    pub fn put_deadline(&self, value: T, deadline: Instant) -> Result<(), PutTimeoutError<T>> {
        self.put_wait(value, Wait::Until(Some(deadline)))
    }

    fn put_wait(&self, value: T, wait: Wait) -> Result<(), PutTimeoutError<T>> {
        // Counted in the claimed slot, before its publish (`Queue::put_wait_counted`): a
        // value taken is always counted already, and a put still waiting for room — or
        // killed there, or refused — counts nothing. (Before, the count was taken before
        // the wait: a producer killed while waiting for room left a task `join` waited
        // for ever for; CPython counts after `put` gets room.)
        let tasks = &self.q.map.header().tasks.0;
        self.q.put_wait_counted(value, wait, Some(&tasks.unfinished))
    }
}

impl<T> JoinableQueue<T> {
    /// Reports one value taken from the queue as processed (Python's `task_done`).
    /// [`TaskDoneError`] if every value put has already been reported.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.count_done()?;
        takers::done(&self.q.map.header().tasks.0);
        Ok(())
    }

    fn count_done(&self) -> Result<(), TaskDoneError> {
        let tasks = &self.q.map.header().tasks.0;
        // Relaxed: only a first guess for the CAS below.
        let mut cur = tasks.unfinished.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Err(TaskDoneError);
            }
            // AcqRel on success: Release pairs with `join`'s Acquire load (the work done
            // before task_done is visible to the joiner); Acquire keeps the chain of
            // decrements ordered. Relaxed on failure: we retry with the value found.
            match tasks.unfinished.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur == 1 {
            // After the store that made the count 0 (the notify's own SeqCst fence pairs
            // with `prepare_wait`'s, see `zeroproc_shm::wait`).
            tasks.all_done.notify_all();
        }
        Ok(())
    }

    /// Values put and not yet reported done (a snapshot).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    pub fn unfinished_tasks(&self) -> u64 {
        // Acquire: pairs with the decrements' Release, like `join`.
        self.q.map.header().tasks.0.unfinished.load(Ordering::Acquire)
    }

    /// Waits until every value put (by any process) has been reported done. Sleeps (no
    /// busy loop past the handle's spin budget).
    ///
    /// A producer killed between counting a value and publishing it, or a consumer killed
    /// before reporting a value it took, leaves the count too high for good: prefer
    /// [`join_timeout`](Self::join_timeout) where processes may die. A join that has
    /// waited 5 s while a process that took values has died without reporting
    /// them writes one note on standard error naming it, and goes on waiting (as
    /// Python's, which waits silently: another process may still report them).
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.join(); // nothing put: returns at once
    /// ```
    pub fn join(&self) {
        let _ = self.join_wait(None);
    }

    /// [`join`](Self::join), giving up after `timeout` (Python's `JoinableQueue.join()`
    /// has none: a consumer that died before its `task_done` makes it wait for ever; here
    /// the caller can look at [`unfinished_tasks`](Self::unfinished_tasks) and decide).
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// q.put(1).unwrap();
    /// let _job = q.get().unwrap(); // taken, but task_done not called yet
    /// assert!(q.join_timeout(Duration::from_millis(10)).is_err());
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// q.task_done().unwrap();
    /// assert!(q.join_timeout(Duration::from_millis(10)).is_ok());
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), JoinTimeoutError> {
        self.join_wait(deadline_after(timeout))
    }

    /// [`join`](Self::join), giving up at `deadline`.
    ///
    /// ```
    /// let q = zeroproc_mp::JoinableQueue::<u8>::new(2).unwrap();
    /// assert!(q.join_deadline(std::time::Instant::now()).is_ok());
    /// ```
    pub fn join_deadline(&self, deadline: Instant) -> Result<(), JoinTimeoutError> {
        self.join_wait(Some(deadline))
    }

    fn join_wait(&self, deadline: Option<Instant>) -> Result<(), JoinTimeoutError> {
        self.join_noting(deadline, NOTE_AFTER, |note| eprintln!("{note}"))
    }

    /// `join_wait`, handing `note` the note about dead takers once `note_after` has passed.
    fn join_noting(
        &self,
        deadline: Option<Instant>,
        note_after: Duration,
        mut note: impl FnMut(String),
    ) -> Result<(), JoinTimeoutError> {
        let tasks = &self.q.map.header().tasks.0;
        let strategy = self.q.wait_strategy();
        let start = Instant::now();
        let mut next_look = Some(start + note_after);
        let r = block_on::<(), ()>(&tasks.all_done, strategy, deadline, || {
            // Acquire: pairs with the Release decrements in `count_done`.
            let unfinished = tasks.unfinished.load(Ordering::Acquire);
            if unfinished == 0 {
                return Poll::Ready(());
            }
            if next_look.is_some_and(|at| Instant::now() >= at) {
                // Only values out of the queue (taken, not reported) can be a dead
                // taker's: when every unfinished one is still queued, nobody is to blame.
                let taken_out = unfinished.saturating_sub(self.q.len() as u64);
                let dead = if taken_out == 0 { Vec::new() } else { takers::dead_takers(tasks) };
                if dead.is_empty() {
                    next_look = Some(Instant::now() + LOOK_EVERY);
                } else {
                    next_look = None; // once
                    note(dead_takers_note(start.elapsed(), unfinished, &dead));
                }
            }
            Poll::Pending
        });
        match r {
            Ok(()) => Ok(()),
            Err(BlockError::Timeout | BlockError::Failed(())) => {
                Err(JoinTimeoutError { unfinished: self.unfinished_tasks() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JoinableQueue;
    use std::time::Duration;

    #[test]
    fn a_join_names_a_consumer_that_died_holding_a_task() {
        let q = JoinableQueue::<u64>::new(4).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        // One consumer takes a value and reports it; another takes one and dies.
        zeroproc_testkit::fork_run(|| {
            q.get().unwrap();
            q.task_done().unwrap();
        });
        zeroproc_testkit::fork_run(|| {
            q.get().unwrap();
        });
        assert_eq!(q.unfinished_tasks(), 1);
        let mut notes = Vec::new();
        let r = q.join_noting(
            Some(std::time::Instant::now() + Duration::from_secs(3)),
            Duration::from_millis(50),
            |n| notes.push(n),
        );
        assert!(r.is_err(), "the task is never reported");
        assert_eq!(notes.len(), 1, "{notes:?}");
        let dead = super::takers::dead_takers(&q.q.map.header().tasks.0);
        assert_eq!(dead.len(), 1, "only the consumer that did not report: {dead:?}");
        let victim = dead[0].0;
        assert!(notes[0].contains(&format!("process {victim} took 1 value ")), "{}", notes[0]);
        assert!(notes[0].contains("without calling task_done for it "), "{}", notes[0]);
        // Reported by someone else: join returns.
        q.task_done().unwrap();
        q.join();
    }

    /// Consumers come and go, more of them than the table has entries, each exiting with
    /// its value reported by the parent (as a supervisor would); then one dies holding a
    /// task. Before dead takers' entries were reclaimed the table stayed full of the first
    /// ones, the last was not tracked, and the note named only processes whose values had
    /// long been reported.
    #[test]
    fn consumers_that_come_and_go_never_fill_the_takers_table() {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        let q = JoinableQueue::<u64>::new(4).unwrap();
        let consumer = || {
            // A fresh process: whatever the test binary's other threads did to the
            // process-wide rate limit before the fork does not apply.
            super::takers::SKIP.store(0, Relaxed);
            q.get().unwrap();
        };
        for i in 0..3 * super::takers::TAKERS as u64 {
            q.put(i).unwrap();
            zeroproc_testkit::fork_run(consumer);
            q.task_done().unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 0);
        // SAFETY: a fresh anonymous shared mapping of one page, unmapped below; the forked
        // child writes its pid there.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        // SAFETY: page-aligned, zeroed, mapped until the munmap below.
        let victim_pid = unsafe { &*page.cast::<AtomicU32>() };
        q.put(99).unwrap();
        zeroproc_testkit::fork_run(|| {
            consumer();
            victim_pid.store(std::process::id(), Relaxed);
        });
        let victim = victim_pid.load(Relaxed);
        assert_ne!(victim, 0);
        let dead = super::takers::dead_takers(&q.q.map.header().tasks.0);
        assert!(dead.contains(&(victim, 1)), "victim {victim} not tracked: {dead:?}");
        let mut notes = Vec::new();
        let soon = std::time::Instant::now() + Duration::from_millis(500);
        assert!(q.join_noting(Some(soon), Duration::from_millis(10), |n| notes.push(n)).is_err());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains(&format!("process {victim} took 1 value")), "{}", notes[0]);
        q.task_done().unwrap();
        q.join();
        // SAFETY: the mapping made above; nothing uses it any more.
        assert_eq!(unsafe { libc::munmap(page, 4096) }, 0);
    }

    #[test]
    fn a_join_does_not_blame_a_dead_taker_whose_values_another_process_reported() {
        let q = JoinableQueue::<u64>::new(4).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        // A consumer takes both values and exits without reporting them...
        zeroproc_testkit::fork_run(|| {
            q.get().unwrap();
            q.get().unwrap();
        });
        // ...and this process reports them (Python allows task_done from any process).
        q.task_done().unwrap();
        q.task_done().unwrap();
        // A value nobody has taken yet: join waits for it, and blames nobody.
        q.put(3).unwrap();
        let mut notes = Vec::new();
        let soon = std::time::Instant::now() + Duration::from_millis(400);
        assert!(q.join_noting(Some(soon), Duration::from_millis(20), |n| notes.push(n)).is_err());
        assert!(notes.is_empty(), "{notes:?}");
        q.get().unwrap();
        q.task_done().unwrap();
        q.join();
    }

    #[test]
    fn a_join_on_live_consumers_writes_no_note() {
        let q = JoinableQueue::<u64>::new(4).unwrap();
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1); // taken by this live process, not reported
        let mut notes = Vec::new();
        let soon = std::time::Instant::now() + Duration::from_millis(300);
        assert!(q.join_noting(Some(soon), Duration::from_millis(10), |n| notes.push(n)).is_err());
        assert!(notes.is_empty(), "{notes:?}");
        q.task_done().unwrap();
        assert!(super::takers::dead_takers(&q.q.map.header().tasks.0).is_empty());
        q.join();
    }

    /// A process that got the pid of a dead taker (pid reuse): it is another process.
    /// Before, the entry had no start time: the new process continued the dead one's count
    /// as its own, and `join`'s note never named the dead taker (its pid was alive).
    #[test]
    fn a_reused_pid_does_not_continue_a_dead_takers_count() {
        use std::sync::atomic::Ordering::Relaxed;
        use zeroproc_shm::process::{current_pid, current_start_time};
        let q = JoinableQueue::<u64>::new(4).unwrap();
        let t = &q.q.map.header().tasks.0;
        let me = current_pid();
        // An earlier process with this pid (another start time) took 2 values and died.
        let earlier = crate::proc_word::word_of(me, current_start_time() + 1, 2);
        t.taken[0].store(earlier, Relaxed);
        assert_eq!(super::takers::dead_takers(t), [(me, 2)]);
        q.put(1).unwrap();
        q.get().unwrap();
        assert_eq!(t.taken[0].load(Relaxed), earlier, "the dead taker's count was continued");
        let mine = crate::proc_word::word_of(me, current_start_time(), 1);
        assert!(t.taken.iter().any(|e| e.load(Relaxed) == mine), "this process's get untracked");
        q.task_done().unwrap(); // its own entry first
        assert_eq!(t.taken[0].load(Relaxed), earlier);
        assert_eq!(super::takers::dead_takers(t), [(me, 2)]);
        let mut notes = Vec::new();
        q.put(2).unwrap();
        q.get().unwrap();
        let soon = std::time::Instant::now() + Duration::from_millis(300);
        assert!(q.join_noting(Some(soon), Duration::from_millis(10), |n| notes.push(n)).is_err());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains(&format!("process {me} took 2 values")), "{}", notes[0]);
        q.task_done().unwrap();
        q.join();
    }
}
