//! The per-process cache of attached channel segments, keyed by segment token, so that a
//! worker receiving the same queue or pipe handle in many jobs maps the segment once.
//!
//! The creating process registers its own mapping weakly (handles attached there reuse it
//! while the channel lives). Other processes keep a strong entry until the creator has
//! dropped the channel *and* nothing in this process still uses it; such entries are
//! swept on every new attach and by [`evict_unused`].

use crate::channel::mapping::Mapping;
use crate::channel::ChannelError;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use zeroproc_shm::{Segment, SegmentId};

enum Entry {
    /// Created in this process: alive as long as some handle here is.
    Own(Weak<Mapping>),
    /// Attached from another process's segment.
    Attached(Arc<Mapping>),
}

type Table = HashMap<u64, (SegmentId, Entry)>;

fn table() -> MutexGuard<'static, Table> {
    static T: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave the map half-updated (single calls).
    T.lock().unwrap_or_else(|p| p.into_inner())
}

/// The mapping of the segment `id` (text form), attached and cached on first use.
pub(crate) fn attach(id: &str) -> Result<Arc<Mapping>, ChannelError> {
    let id: SegmentId = id.parse().map_err(ChannelError::BadId)?;
    let mut t = table();
    if let Some((known, e)) = t.get(&id.token()) {
        if *known == id {
            match e {
                Entry::Attached(m) => return Ok(m.clone()),
                Entry::Own(w) => {
                    if let Some(m) = w.upgrade() {
                        return Ok(m);
                    }
                }
            }
        }
    }
    sweep(&mut t);
    let seg = Segment::attach(&id, crate::channel::header::LAYOUT).map_err(ChannelError::Attach)?;
    let m = Arc::new(Mapping::from_segment(seg)?);
    t.insert(id.token(), (id, Entry::Attached(m.clone())));
    Ok(m)
}

/// Caches the creator's own mapping (weakly).
pub(crate) fn register_owner(m: &Arc<Mapping>) {
    table().insert(m.id().token(), (m.id().clone(), Entry::Own(Arc::downgrade(m))));
}

/// Forgets the creator's entry once its mapping is gone (called from its `Drop`).
pub(crate) fn forget_owner(id: &SegmentId) {
    let mut t = table();
    if let Some((_, Entry::Own(w))) = t.get(&id.token()) {
        if w.strong_count() == 0 {
            t.remove(&id.token());
        }
    }
}

/// Drops attached entries whose creator dropped the channel and that nothing in this
/// process uses, and dead weak entries.
fn sweep(t: &mut Table) -> usize {
    let before = t.len();
    t.retain(|_, (_, e)| match e {
        Entry::Own(w) => w.strong_count() > 0,
        // Acquire: pairs with the creator's Release store of `owner_dropped` (a hint only).
        Entry::Attached(m) => {
            Arc::strong_count(m) > 1 || m.header().owner_dropped.0.load(Ordering::Acquire) == 0
        }
    });
    before - t.len()
}

/// Unmaps cached channel segments whose creator has dropped the channel and that no queue,
/// connection or guard in this process still uses; returns how many were unmapped. Also
/// done on every new attach.
///
/// ```
/// assert_eq!(zeroproc_mp::channel::cache::evict_unused(), 0);
/// ```
pub fn evict_unused() -> usize {
    sweep(&mut table())
}

/// Channel segments currently known to the cache in this process (created here or
/// attached).
///
/// ```
/// use zeroproc_mp::channel::cache;
/// use zeroproc_mp::Queue;
/// let q = Queue::<u32>::new(4).unwrap();
/// assert!(cache::cached() >= 1);
/// # drop(q);
/// ```
pub fn cached() -> usize {
    table().len()
}
