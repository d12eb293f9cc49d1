//! [`PopGuard`]: a popped record read in place, its slot held until the guard drops.

use super::error::{PopTimeoutError, TryPopError};
use super::protocol::{Core, PopClaim};
use super::ring::Ring;
use super::storage::{ShmStorage, Storage};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::time::Instant;

/// A record popped from a [`Ring`] and read **in its slot** (no copy): derefs to the
/// record's bytes. The slot stays claimed (READING) until the guard drops, then it is
/// released to the producers.
///
/// Hold it briefly: producers that lap around to this slot wait for it (other slots keep
/// working). A guard that is leaked keeps its slot until this process exits (a dead
/// reader's slot is released by the next producer that finds it).
///
/// ```
/// use zeroproc_ring::mpmc::Ring;
/// let ring = Ring::new(4, 64).unwrap();
/// ring.try_push(b"hello").unwrap();
/// let g = ring.try_pop_guard().unwrap();
/// assert_eq!(&*g, b"hello");
/// assert_eq!(ring.len(), 0); // popped: another consumer will not see it
/// drop(g);                   // the slot goes back to the producers
/// ```
pub struct PopGuard<'a> {
    core: &'a Core<ShmStorage>,
    claim: PopClaim,
    bytes: NonNull<[u8]>,
}

// SAFETY: the guard is a claim on a slot of a process-wide mapping; the bytes it points
// to are written by nobody while the claim is held, and releasing the claim from another
// thread is what any consumer thread does.
unsafe impl Send for PopGuard<'_> {}
// SAFETY: `&PopGuard` only reads the (unchanging while claimed) bytes.
unsafe impl Sync for PopGuard<'_> {}

impl<'a> PopGuard<'a> {
    /// Wraps a fresh claim of `core`.
    ///
    /// # Safety
    /// `claim` was returned by `core.claim_pop()` and is not completed elsewhere.
    unsafe fn new(core: &'a Core<ShmStorage>, claim: PopClaim) -> Self {
        // SAFETY: we hold the READING claim (contract) and `claim_pop` checked
        // len <= slot_size; the pointer stays valid while `core`'s mapping lives ('a) and
        // the bytes unchanged until the claim is released (in `drop`).
        let bytes =
            unsafe { core.s.with_payload(claim.pos, claim.len, |b: &[u8]| NonNull::from(b)) };
        Self { core, claim, bytes }
    }
}

impl Deref for PopGuard<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: see `new`: valid and unchanged while the claim (self) lives.
        unsafe { self.bytes.as_ref() }
    }
}

impl Drop for PopGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.core.release_pop(self.claim.pos);
    }
}

impl fmt::Debug for PopGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PopGuard").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl Ring {
    /// Pops the oldest record and lends it in place until the guard drops.
    #[inline]
    pub fn try_pop_guard(&self) -> Result<PopGuard<'_>, TryPopError> {
        let core = self.core();
        let c = core.try_claim_pop()?;
        // SAFETY: a fresh claim of this ring.
        Ok(unsafe { PopGuard::new(core, c) })
    }

    /// [`try_pop_guard`](Self::try_pop_guard), waiting while the ring is empty until
    /// `deadline` (`None`: no limit).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zeroproc_ring::mpmc::{PopTimeoutError, Ring};
    /// let ring = Ring::new(4, 16).unwrap();
    /// let soon = Instant::now() + Duration::from_millis(5);
    /// assert!(matches!(ring.pop_guard_deadline(Some(soon)), Err(PopTimeoutError::Timeout)));
    /// ring.try_push([1u8, 2]).unwrap();
    /// assert_eq!(&*ring.pop_guard_deadline(None).unwrap(), &[1, 2]);
    /// ```
    pub fn pop_guard_deadline(
        &self,
        deadline: Option<Instant>,
    ) -> Result<PopGuard<'_>, PopTimeoutError> {
        let c = self.claim_pop_blocking(deadline)?;
        // SAFETY: a fresh claim of this ring.
        Ok(unsafe { PopGuard::new(self.core(), c) })
    }
}
