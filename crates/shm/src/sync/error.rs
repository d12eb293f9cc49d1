//! The errors of the lock family, shaped like `std::sync`'s poisoning.

use std::fmt;

/// The previous owner of a lock died while holding it; the lock is now held by the caller.
///
/// The protected data may be half-updated: repair or re-validate it, then use the guard
/// from [`into_inner`](Self::into_inner). The indication is delivered once, to the acquirer
/// that recovered the lock; later acquirers get the lock normally.
///
/// # Example
/// ```
/// use zeroproc_shm::sync::Lock;
/// let lock = Lock::new();
/// // `unwrap_or_else(OwnerDied::into_inner)` keeps going after a recovery:
/// let g = lock.lock().unwrap_or_else(|died| died.into_inner());
/// drop(g);
/// ```
pub struct OwnerDied<G> {
    inner: G,
}

/// The result of a blocking acquire: the guard, or the guard with an owner-died indication.
pub type LockResult<G> = Result<G, OwnerDied<G>>;

impl<G> OwnerDied<G> {
    #[cold]
    pub(super) fn new(inner: G) -> Self {
        Self { inner }
    }

    /// The guard (or guard-carrying value) this indication wraps.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::Lock;
    /// let lock = Lock::new();
    /// let g = match lock.lock() {
    ///     Ok(g) => g,
    ///     Err(died) => died.into_inner(), // repair the shared data here
    /// };
    /// assert!(lock.is_locked());
    /// drop(g);
    /// ```
    pub fn into_inner(self) -> G {
        self.inner
    }

    /// A reference to the wrapped value.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::Lock;
    /// let lock = Lock::new();
    /// let r = lock.lock();
    /// if let Err(died) = &r {
    ///     let _guard = died.get_ref();
    /// }
    /// drop(r);
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.inner
    }

    /// A mutable reference to the wrapped value.
    ///
    /// # Example
    /// ```
    /// use zeroproc_shm::sync::Lock;
    /// let lock = Lock::new();
    /// let mut r = lock.lock();
    /// if let Err(died) = &mut r {
    ///     let _guard = died.get_mut();
    /// }
    /// drop(r);
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.inner
    }

    pub(super) fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied { inner: f(self.inner) }
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous owner died while holding the lock; it is now held by the caller")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// Why [`Lock::try_lock`](super::Lock::try_lock) (or the `RLock` one) did not return a
/// plain guard.
///
/// # Example
/// ```
/// use zeroproc_shm::sync::{Lock, TryLockError};
/// let lock = Lock::new();
/// let g = lock.try_lock().unwrap();
/// assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
/// drop(g);
/// ```
pub enum TryLockError<G> {
    /// Another live process (or another thread of this one) holds the lock.
    WouldBlock,
    /// The holder had died; the caller now holds the lock.
    OwnerDied(OwnerDied<G>),
}

/// Why [`Lock::lock_deadline`](super::Lock::lock_deadline) (or `lock_timeout`, or the
/// `RLock` ones) did not return a plain guard.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use zeroproc_shm::sync::{Lock, LockTimeoutError};
/// let lock = Lock::new();
/// let g = lock.lock().unwrap();
/// let r = lock.lock_timeout(Duration::from_millis(5));
/// assert!(matches!(r, Err(LockTimeoutError::Timeout)));
/// drop(g);
/// ```
pub enum LockTimeoutError<G> {
    /// The deadline passed with the lock still held by a live owner.
    Timeout,
    /// The holder had died; the caller now holds the lock.
    OwnerDied(OwnerDied<G>),
}

impl<G> From<OwnerDied<G>> for TryLockError<G> {
    fn from(e: OwnerDied<G>) -> Self {
        TryLockError::OwnerDied(e)
    }
}

impl<G> From<OwnerDied<G>> for LockTimeoutError<G> {
    fn from(e: OwnerDied<G>) -> Self {
        LockTimeoutError::OwnerDied(e)
    }
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::OwnerDied(e) => f.debug_tuple("OwnerDied").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by a live owner"),
            TryLockError::OwnerDied(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl<G> fmt::Debug for LockTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTimeoutError::Timeout => f.write_str("Timeout"),
            LockTimeoutError::OwnerDied(e) => f.debug_tuple("OwnerDied").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTimeoutError::Timeout => f.write_str("timed out waiting for the lock"),
            LockTimeoutError::OwnerDied(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for LockTimeoutError<G> {}
