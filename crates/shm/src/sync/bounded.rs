//! `BoundedSemaphore`: a semaphore that refuses to be released above its initial value.

use super::semaphore::Semaphore;
use crate::atomic::{AtomicU32, Ordering};
use std::fmt;
use std::time::{Duration, Instant};

/// A [`Semaphore`] whose count may never exceed its initial value (Python's
/// `BoundedSemaphore`): releasing more than was acquired is a [`ReleaseError`], which
/// catches a permit released twice.
///
/// Death semantics are those of [`Semaphore`]: a permit held by a process that dies is
/// lost (the count stays lower; the bound is not affected).
///
/// # Example
/// ```
/// use zeroproc_shm::sync::{BoundedSemaphore, ReleaseError};
/// let sem = BoundedSemaphore::new(1);
/// sem.acquire();
/// sem.release(1).unwrap();
/// assert!(matches!(sem.release(1), Err(ReleaseError::AboveBound { .. })));
/// ```
#[repr(C)]
pub struct BoundedSemaphore {
    sem: Semaphore,
    /// The initial value; never written after construction.
    bound: AtomicU32,
}

/// A [`BoundedSemaphore::release`] that would have raised the count above its bound (the
/// count is left unchanged).
///
/// # Example
/// ```
/// use zeroproc_shm::sync::{BoundedSemaphore, ReleaseError};
/// let sem = BoundedSemaphore::new(2);
/// let e = sem.release(1).unwrap_err();
/// assert_eq!(e, ReleaseError::AboveBound { value: 2, released: 1, bound: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// `value + released` would exceed `bound`.
    AboveBound {
        /// The count when the release was refused.
        value: u32,
        /// How many permits the caller tried to release.
        released: u32,
        /// The semaphore's initial value.
        bound: u32,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::AboveBound { value, released, bound } => write!(
                f,
                "BoundedSemaphore released too many times: {value} + {released} > bound {bound}"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

impl BoundedSemaphore {
    /// A semaphore holding `value` permits, which is also its upper bound.
    ///
    /// # Example
    /// ```
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(3);
    /// assert_eq!((s.value(), s.bound()), (3, 3));
    /// ```
    pub fn new(value: u32) -> Self {
        Self { sem: Semaphore::new(value), bound: AtomicU32::new(value) }
    }

    /// Takes a permit, blocking until one is available.
    ///
    /// # Example
    /// ```
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(1);
    /// s.acquire();
    /// assert_eq!(s.value(), 0);
    /// ```
    #[inline]
    pub fn acquire(&self) {
        self.sem.acquire()
    }

    /// Takes a permit if one is available now.
    ///
    /// # Example
    /// ```
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    #[inline]
    #[must_use = "false means no permit was taken"]
    pub fn try_acquire(&self) -> bool {
        self.sem.try_acquire()
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(0);
    /// assert!(!s.acquire_timeout(Duration::from_millis(5)));
    /// ```
    #[must_use = "false means no permit was taken"]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.sem.acquire_timeout(timeout)
    }

    /// Takes a permit, waiting until `deadline`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(1);
    /// assert!(s.acquire_deadline(Instant::now() + Duration::from_millis(5)));
    /// ```
    #[must_use = "false means no permit was taken"]
    pub fn acquire_deadline(&self, deadline: Instant) -> bool {
        self.sem.acquire_deadline(deadline)
    }

    /// Returns `n` permits, or refuses (changing nothing) if the count would exceed the
    /// bound.
    ///
    /// # Example
    /// ```
    /// let s = zeroproc_shm::sync::BoundedSemaphore::new(2);
    /// assert!(s.try_acquire() && s.try_acquire());
    /// s.release(2).unwrap();
    /// assert!(s.release(1).is_err());
    /// ```
    #[inline]
    pub fn release(&self, n: u32) -> Result<(), ReleaseError> {
        let bound = self.bound();
        self.sem.release_up_to(n, bound).map_err(|value| ReleaseError::AboveBound {
            value,
            released: n,
            bound,
        })
    }

    /// The number of permits available now (a racy snapshot).
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::BoundedSemaphore::new(2).value(), 2);
    /// ```
    pub fn value(&self) -> u32 {
        self.sem.value()
    }

    /// The upper bound (the initial value).
    ///
    /// # Example
    /// ```
    /// assert_eq!(zeroproc_shm::sync::BoundedSemaphore::new(2).bound(), 2);
    /// ```
    pub fn bound(&self) -> u32 {
        // Relaxed: written once before the semaphore is shared (publication of the whole
        // structure, e.g. the segment's ready flag, orders it).
        self.bound.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("bound", &self.bound())
            .finish()
    }
}
