//! The per-process cache of attached channel segments, keyed by segment token, so that a
//! worker receiving the same queue or pipe handle in many jobs maps the segment once.
//!
//! The creating process registers its own mapping weakly (handles attached there reuse it
//! while the channel lives). Other processes keep a strong entry until the creator has
//! dropped the channel *and* nothing in this process still uses it; such entries are
//! swept on every new attach and by [`evict_unused`].

use crate::channel::mapping::Mapping;
use crate::channel::ChannelError;
use crate::segment_cache::{Cached, SegmentCache};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zeroproc_shm::{Segment, SegmentId};

static CACHE: SegmentCache<Mapping> = SegmentCache::new();

/// Test hook: holds this cache's lock while the returned guard lives.
#[cfg(test)]
pub(crate) fn hold() -> impl Sized {
    CACHE.hold()
}

impl Cached for Mapping {
    fn segment_id(&self) -> &SegmentId {
        self.id()
    }

    fn creator_dropped(&self) -> bool {
        // Acquire: pairs with the creator's Release store of `owner_dropped` (a hint only).
        self.header().owner_dropped.0.load(Ordering::Acquire) != 0
    }
}

/// The mapping of the segment `id` (text form), attached and cached on first use.
pub(crate) fn attach(id: &str) -> Result<Arc<Mapping>, ChannelError> {
    let id: SegmentId = id.parse().map_err(ChannelError::BadId)?;
    let m = CACHE.attach(&id, || {
        let seg =
            Segment::attach(&id, crate::channel::header::LAYOUT).map_err(ChannelError::Attach)?;
        Mapping::from_segment(seg)
    })?;
    m.register_trim();
    Ok(m)
}

/// Caches the creator's own mapping (weakly).
pub(crate) fn register_owner(m: &Arc<Mapping>) {
    CACHE.register_owner(m);
}

/// Forgets the creator's entry once its mapping is gone (called from its `Drop`).
pub(crate) fn forget_owner(id: &SegmentId) {
    CACHE.forget_owner(id);
}

/// Unmaps cached channel segments whose creator has dropped the channel and that no queue,
/// connection or guard in this process still uses; returns how many were unmapped. Also
/// done on every new attach.
///
/// ```
/// assert_eq!(zeroproc_mp::channel::cache::evict_unused(), 0);
/// ```
pub fn evict_unused() -> usize {
    CACHE.evict_unused()
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
    CACHE.len()
}
