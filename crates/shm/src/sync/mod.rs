//! Robust process-shared synchronisation primitives.
//!
//! Every type here is `#[repr(C)]` and holds only atomics, so it can be placed in a
//! shared-memory [`Segment`](crate::Segment) and used through `&T` from any process that
//! maps it (it works just as well in ordinary memory between threads). All of them sleep on
//! the shared (non-`PRIVATE`) futex of [`crate::futex`]; none uses pthread or `raw_sync`.
//!
//! | type | Python | on the death of a participant |
//! |---|---|---|
//! | [`Lock`] | `Lock` | next acquirer gets it with [`OwnerDied`] |
//! | [`RLock`] | `RLock` | next acquirer gets it with [`OwnerDied`] |
//! | [`Event`] | `Event` | harmless (a setter that dies before `set` never sets) |
//! | [`Condition`] | `Condition` | waiter death harmless; the lock is robust |
//! | [`Semaphore`] | `Semaphore` | a permit held by the dead process is lost |
//! | [`BoundedSemaphore`] | `BoundedSemaphore` | as `Semaphore` |
//! | [`Barrier`] | `Barrier` | others wait until a timeout or `abort` breaks it |
//!
//! Ownership of the locks is **per process** (the owner is recorded as a pid): the threads
//! of one process exclude each other through the guard, but recovery only happens when the
//! whole process is gone. The protocols, memory orderings and robustness rules are written
//! down in `README.md` beside this file.
//!
//! # Placing a primitive in shared memory
//! ```
//! use zeroproc_shm::sync::{Event, Lock};
//! use zeroproc_shm::{Layout, Segment};
//!
//! #[repr(C)]
//! struct Shared { lock: Lock, ready: Event }
//! const L: Layout = Layout::new("doc-sync", 1).with_type::<Shared>();
//!
//! let seg = Segment::create(L, std::mem::size_of::<Shared>()).unwrap();
//! // SAFETY (doc): the data region is 256-byte aligned, large enough, and nobody else
//! // uses it yet. (All-zero bytes are also a valid unlocked Lock / clear Event.)
//! let shared = unsafe {
//!     let p = seg.data().cast::<Shared>();
//!     p.write(Shared { lock: Lock::new(), ready: Event::new() });
//!     &*p
//! };
//! // Another process would `Segment::attach(id, L)` and cast its own `data()` pointer.
//! let g = shared.lock.lock().unwrap();
//! shared.ready.set();
//! drop(g);
//! assert!(shared.ready.is_set());
//! ```

mod barrier;
mod bounded;
mod condition;
mod error;
mod event;
mod lock;
mod owner;
mod rlock;
mod semaphore;
mod time;

pub use barrier::{Barrier, BarrierError, BarrierWaitResult, MAX_PARTIES};
pub use bounded::{BoundedSemaphore, ReleaseError};
pub use condition::Condition;
pub use error::{LockResult, LockTimeoutError, OwnerDied, TryLockError};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::Semaphore;
