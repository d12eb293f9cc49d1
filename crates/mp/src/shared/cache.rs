//! The per-process cache of attached array segments, keyed by segment token, so that a
//! worker running many jobs on one array maps it once.
//!
//! The owner registers its own mapping (handles used in the owner's process reuse it) and
//! removes it when the array drops. Other processes keep a mapping until its owner has
//! dropped the array and no guard of theirs still uses it; such entries are swept on every
//! new attach and by [`evict_unused`].

use super::header::LAYOUT;
use super::mapping::Mapping;
use super::SharedError;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use zeroproc_shm::{Segment, SegmentId};

type Table = HashMap<u64, Arc<Mapping>>;

fn table() -> MutexGuard<'static, Table> {
    static T: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave the map half-updated (single calls).
    T.lock().unwrap_or_else(|p| p.into_inner())
}

/// The mapping of the segment `id` (text form), attached and cached on first use.
pub(crate) fn attach(id: &str) -> Result<Arc<Mapping>, SharedError> {
    let id: SegmentId = id.parse().map_err(SharedError::BadId)?;
    let mut t = table();
    if let Some(m) = t.get(&id.token()) {
        if *m.id() == id {
            return Ok(m.clone());
        }
    }
    sweep(&mut t);
    let seg = Segment::attach(&id, LAYOUT).map_err(SharedError::Attach)?;
    let m = Arc::new(Mapping::from_segment(seg)?);
    t.insert(id.token(), m.clone());
    Ok(m)
}

/// Caches the owner's own mapping.
pub(crate) fn register(m: &Arc<Mapping>) {
    table().insert(m.id().token(), m.clone());
}

/// Forgets the owner's mapping (guards still holding it keep it mapped).
pub(crate) fn unregister(id: &SegmentId) {
    table().remove(&id.token());
}

/// Drops entries whose owner dropped the array and that nothing in this process uses.
fn sweep(t: &mut Table) -> usize {
    let before = t.len();
    // Acquire: pairs with the owner's Release store of `dropped` (only a hint here).
    t.retain(|_, m| Arc::strong_count(m) > 1 || m.header().dropped.load(Ordering::Acquire) == 0);
    before - t.len()
}

/// Unmaps cached arrays whose owner has dropped them and that no guard in this process
/// still uses; returns how many were unmapped. Also done on every new attach.
///
/// ```
/// assert_eq!(zeroproc_mp::shared::cache::evict_unused(), 0);
/// ```
pub fn evict_unused() -> usize {
    sweep(&mut table())
}

/// Array segments currently mapped through the cache in this process (owned ones
/// included).
///
/// ```
/// use zeroproc_mp::shared::{cache, SharedArray};
/// let a = SharedArray::<u32>::zeroed(10).unwrap();
/// assert!(cache::cached() >= 1);
/// # drop(a);
/// ```
pub fn cached() -> usize {
    table().len()
}
