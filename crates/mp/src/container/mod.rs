//! Shared containers: [`SharedDict`], [`SharedList`] and [`Namespace`] — Python's
//! `Manager().dict() / list() / Namespace()`, living in shared memory instead of behind a
//! manager process, so an access costs a lock and a copy (≈ a microsecond), not a
//! round trip to another process (≈ 20 µs+).
//!
//! Each container is one memfd segment: a header (robust lock, commit words, intent
//! record) and a heap holding a table and one immutable block per entry (rkyv-archived,
//! validated on read). Pass it to a job or a [`Process`](https://docs.rs/zeroproc) by its
//! handle ([`DictHandle`], [`ListHandle`], [`NamespaceHandle`]); `attach()` in the
//! receiving process maps the same memory.
//!
//! **Guarantees**: every operation is atomic (it holds the container's robust lock);
//! `update` closures run under it; a process killed in the middle of any operation leaves
//! the container as before or as after that operation, never in between — the next
//! process to take the lock finishes or undoes it from the intent record (`README.md`
//! beside this file has the protocol and what can leak). The creator's process must stay
//! alive while others attach (memfd segments are reached through it, like a Python
//! manager).
//!
//! ```
//! use zeroproc_mp::container::{Namespace, SharedDict, SharedList};
//!
//! let d = SharedDict::<String, f64>::new().unwrap();
//! let l = SharedList::<u32>::new().unwrap();
//! let ns = Namespace::new().unwrap();
//!
//! // What a worker process does with the handles it received:
//! fn work(d: &SharedDict<String, f64>, l: &SharedList<u32>, ns: &Namespace, id: u32) {
//!     d.insert(format!("worker-{id}"), id as f64 * 0.5).unwrap();
//!     l.push(id).unwrap();
//!     ns.update::<u64, _>("done", |n| *n = Some(n.unwrap_or(0) + 1)).unwrap();
//! }
//! for id in 0..3 {
//!     work(&d.handle().attach().unwrap(), &l.handle().attach().unwrap(),
//!          &ns.handle().attach().unwrap(), id);
//! }
//! assert_eq!(d.len().unwrap(), 3);
//! assert_eq!(l.to_vec().unwrap(), [0, 1, 2]);
//! assert_eq!(ns.get::<u64>("done").unwrap(), Some(3));
//! ```

mod blob;
mod cache;
#[cfg(test)]
pub(crate) use cache::hold as hold_cache;
mod dict;
mod error;
mod handle;
mod header;
mod list;
mod map;
mod namespace;
mod seq;
mod store;
mod table;
mod tx;

pub use dict::SharedDict;
pub use error::{ContainerError, InsertError};
pub use handle::{
    ArchivedDictHandle, ArchivedListHandle, ArchivedNamespaceHandle, DictHandle, ListHandle,
    NamespaceHandle,
};
pub use list::SharedList;
pub use namespace::Namespace;

/// Unmaps the containers (dicts, lists, namespaces) this process attached whose creator
/// has dropped them and that nothing here still uses, freeing their memory once no
/// process maps them; returns how many were unmapped. Done on every attach and when a
/// container created here is dropped; a pool worker does it when its controller drops a
/// shared object (an idle one is woken for it). Call it in a long-lived process that
/// attached containers and attaches no more (one that is not a pool's worker).
///
/// ```
/// use zeroproc_mp::container::{evict_unused, SharedDict};
/// let d = SharedDict::<u8, u8>::new().unwrap();
/// drop(d.handle().attach().unwrap());
/// drop(d); // its attachment here is unmapped with it
/// assert_eq!(evict_unused(), 0);
/// ```
pub fn evict_unused() -> usize {
    cache::evict_unused()
}

/// The least shared memory a container has: a smaller initial size is rounded up to it
/// (and every size up to whole 4 KiB pages); a `max_bytes` below it is refused with
/// [`ContainerError::Capacity`] (it was silently raised to it).
pub const MIN_CAPACITY: usize = 8 << 10;
/// Shared memory a container reserves when created with `new()`: 64 KiB, resident for
/// every container (Python's manager dict costs a few KiB; it was 4 MiB before containers
/// grew). It grows on demand (doubling) up to [`DEFAULT_MAX_CAPACITY`].
pub const DEFAULT_CAPACITY: usize = 64 << 10;
/// The most a container grows to unless created with `with_max_capacity_bytes` (1 GiB: holds
/// 100,000 `u64 → u64` entries in a heap grown to 32 MiB, or a 64 MiB value). Only address space is
/// taken at creation.
pub const DEFAULT_MAX_CAPACITY: usize = 1 << 30;

/// A container's memory use and history (see `stats()` on each container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerStats {
    /// Shared-memory bytes the container has now (it grows).
    pub capacity_bytes: u64,
    /// The most it grows to.
    pub max_capacity_bytes: u64,
    /// Heap blocks in use (one per entry, plus the table).
    pub blocks_in_use: u64,
    /// Heap bytes in use.
    pub bytes_in_use: u64,
    /// Mutations committed since creation (resizes included).
    pub mutations: u64,
    /// Times an operation found a mutation left unfinished by a holder that died (or
    /// panicked) and finished or undid it.
    pub recoveries: u64,
}

#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod testing {
    //! Fault injection for the reliability tests: damage a live container's shared state
    //! the way a stray write from another process would.
    use super::SharedDict;
    use std::sync::atomic::Ordering::SeqCst;

    /// Overwrites the header's table offset.
    pub fn set_table_offset<K, V>(d: &SharedDict<K, V>, off: u64) -> u64 {
        d.store().header().table.swap(off, SeqCst)
    }

    /// Overwrites the lengths of every entry block of the dict's current table with
    /// `klen`/`vlen` (returns how many were damaged).
    pub fn damage_entries<K, V>(d: &SharedDict<K, V>, klen: u32, vlen: u32) -> usize {
        let l = d.store().lock();
        let mut n = 0;
        if let Ok(t) = l.dict_table() {
            for s in t.slots {
                // SeqCst: a test hook under the lock; any ordering would do.
                let b = s.blob.load(SeqCst);
                if b > 1 {
                    if let Ok(p) = l.heap().ptr_len(zeroproc_shm::Offset::new(b), 24) {
                        // SAFETY: an entry block of at least 32 bytes, under the lock;
                        // deliberately overwriting its length fields (a test of damage).
                        unsafe {
                            p.as_ptr().add(16).cast::<u32>().write(klen);
                            p.as_ptr().add(20).cast::<u32>().write(vlen);
                        }
                        n += 1;
                    }
                }
            }
        }
        n
    }
}
