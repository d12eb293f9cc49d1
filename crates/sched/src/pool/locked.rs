//! State guarded by the pool lock without a lock of its own.
//!
//! A `map`'s results are stored by whoever drains a completion ring, and every drain
//! runs under the pool lock (`Core` exists only inside `Shared::core`'s mutex). Giving
//! the map's sink a mutex of its own cost three atomic read-modify-writes per job (lock,
//! unlock, a change counter), ~17 % of the controller's time per tiny job (`perf`, 2026-12-06).
//! Instead the sink's state is a [`LockedCell`]: reachable only with a [`Locked`] token,
//! which only the holder of the pool lock can make (from the lock's [`CoreKey`]), and
//! whose `&mut` borrow makes each access exclusive.
//!
//! **Why this is sound.** A `CoreKey` lives only in `Core` and is never moved out of it
//! (the field is private to this module's users in `core.rs`, which never moves or
//! replaces it): a `&mut CoreKey` is had only by a thread holding the pool lock, for as
//! long as it holds it. [`CoreKey::token`] borrows the key mutably for the token's life,
//! so one token at a time exists per lock; [`LockedCell::get`] borrows that token mutably
//! for the returned reference's life, so one `&mut T` at a time exists per token. A cell
//! remembers the key of the pool it belongs to and refuses (panics on) another pool's
//! token, so the lock that guards it is always the same one.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

/// The pool lock's key: a field of `Core`, so a `&mut` to it proves the lock is held.
pub(crate) struct CoreKey {
    /// Not `Clone`, not constructible outside this module; one byte, so that two keys
    /// never share an address (zero-sized values may).
    _private: u8,
}

impl CoreKey {
    /// The key of a new `Core` (one per pool).
    pub(super) fn new() -> Self {
        CoreKey { _private: 0 }
    }

    /// A token for this lock, valid while the key stays borrowed.
    #[inline]
    pub(crate) fn token(&mut self) -> Locked<'_> {
        Locked { key: self as *const CoreKey, _held: PhantomData }
    }

    /// This key's identity, for [`LockedCell::new`].
    pub(crate) fn id(&self) -> *const CoreKey {
        self
    }
}

/// Proof that the pool lock of `key` is held (see the module docs).
pub(crate) struct Locked<'a> {
    key: *const CoreKey,
    _held: PhantomData<&'a mut CoreKey>,
}

/// A `T` guarded by one pool's lock: [`get`](Self::get) with that lock's token.
pub(crate) struct LockedCell<T> {
    key: *const CoreKey,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `get`, which needs a token of the pool lock
// whose key this cell holds (checked): accesses from different threads are ordered by
// that mutex, as for a `Mutex<T>`, which is `Send + Sync` for `T: Send`. `key` is only
// compared, never dereferenced.
unsafe impl<T: Send> Send for LockedCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for LockedCell<T> {}

impl<T> LockedCell<T> {
    /// A cell guarded by the lock whose key is `key` ([`CoreKey::id`]).
    pub(crate) fn new(key: *const CoreKey, value: T) -> Self {
        LockedCell { key, value: UnsafeCell::new(value) }
    }

    /// The value, while `locked` (of this cell's pool) stays borrowed.
    ///
    /// # Panics
    /// If `locked` is another pool's token.
    #[inline]
    pub(crate) fn get<'t>(&'t self, locked: &'t mut Locked<'_>) -> &'t mut T {
        assert!(
            std::ptr::eq(locked.key, self.key),
            "a pool-locked value reached with another pool's lock"
        );
        // SAFETY: `locked` proves this cell's pool lock is held, and is borrowed mutably
        // for as long as the returned reference lives: no other reference to the value
        // exists meanwhile (module docs).
        unsafe { &mut *self.value.get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_reached_with_its_own_lock() {
        let mut key = CoreKey::new();
        let cell = LockedCell::new(key.id(), 1u32);
        let mut t = key.token();
        *cell.get(&mut t) += 1;
        assert_eq!(*cell.get(&mut t), 2);
    }

    #[test]
    #[should_panic(expected = "another pool's lock")]
    fn another_pools_lock_is_refused() {
        let (mut a, b) = (CoreKey::new(), CoreKey::new());
        let cell = LockedCell::new(b.id(), 1u32);
        let _ = cell.get(&mut a.token());
    }
}
