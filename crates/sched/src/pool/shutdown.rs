//! [`Shutdown`]: how [`Pool::shutdown_with`](super::Pool::shutdown_with) shuts a pool down
//! (Python's `shutdown(wait, cancel_futures)`, plus a bound on the wait).

use std::time::Duration;

/// Options of [`Pool::shutdown_with`](super::Pool::shutdown_with). The default is Python's
/// `shutdown()`: wait for every queued and running job, cancel nothing, no time limit.
///
/// ```
/// use std::time::Duration;
/// use zeroproc_sched::Shutdown;
/// let python_default = Shutdown::new(); // shutdown(wait=True, cancel_futures=False)
/// let drop_the_queue = Shutdown::new().cancel_futures(true);
/// let fire_and_forget = Shutdown::new().wait(false);
/// let bounded = Shutdown::new().timeout(Duration::from_secs(5));
/// assert_ne!(python_default, drop_the_queue);
/// # let _ = (fire_and_forget, bounded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    pub(crate) wait: bool,
    pub(crate) cancel_futures: bool,
    pub(crate) timeout: Option<Duration>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Python's `shutdown()`: wait, cancel nothing, no time limit.
    pub const fn new() -> Self {
        Self { wait: true, cancel_futures: false, timeout: None }
    }

    /// Python's `wait`: `false` returns at once while the workers finish in the background
    /// (their futures still complete; dropping the pool later waits for them).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{Pool, Shutdown};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let f = pool.submit(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 100);
    /// let all_exited = pool.shutdown_with(Shutdown::new().wait(false)); // returns at once
    /// assert!(!all_exited);
    /// assert_eq!(f.result(), Ok(())); // the job still ran
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub const fn wait(mut self, on: bool) -> Self {
        self.wait = on;
        self
    }

    /// Python's `cancel_futures`: jobs not yet started are cancelled
    /// ([`JobError::Cancelled`](crate::JobError::Cancelled)) instead of run; running ones
    /// finish.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_sched::{JobError, Pool, Shutdown};
    /// let pool = Pool::builder().workers(1).build()?;
    /// let running = pool.submit(|ms: u64| { std::thread::sleep(std::time::Duration::from_millis(ms)); ms }, 200);
    /// while !running.running() {
    ///     std::thread::yield_now();
    /// }
    /// let queued = pool.submit(|x: u64| x, 1);
    /// pool.shutdown_with(Shutdown::new().cancel_futures(true));
    /// assert_eq!(running.result(), Ok(200));
    /// assert_eq!(queued.result(), Err(JobError::Cancelled));
    /// # Ok::<(), zeroproc_sched::BuildError>(())
    /// ```
    pub const fn cancel_futures(mut self, on: bool) -> Self {
        self.cancel_futures = on;
        self
    }

    /// Waits at most `d` (implies `wait(true)`); what still runs then is terminated and its
    /// futures fail with [`JobError::Cancelled`](crate::JobError::Cancelled). See
    /// [`Pool::shutdown_with`](super::Pool::shutdown_with) for an example.
    pub const fn timeout(mut self, d: Duration) -> Self {
        self.wait = true;
        self.timeout = Some(d);
        self
    }
}
