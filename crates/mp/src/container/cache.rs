//! The per-process cache of attached container segments, keyed by segment token, so that
//! a worker running many jobs on one container maps it once. Entries whose creator has
//! dropped the container and that nothing in this process uses are swept on every new
//! attach, when a container created in this process is dropped (its creator may have
//! attached its own handle), and by [`evict_unused`] (a pool worker's sweep before its
//! next job after an idle spell). Before mpsem31 only the first: a dropped 200 MiB dict
//! stayed in memory, in its creator and in the workers that read it, until the process
//! attached another container.

use super::store::{Identity, Store};
use super::ContainerError;
use crate::segment_cache::{Cached, SegmentCache};
use std::sync::atomic::Ordering::Acquire;
use std::sync::Arc;
use zeroproc_shm::SegmentId;

static CACHE: SegmentCache<Store> = SegmentCache::new();

/// Test hook: holds this cache's lock while the returned guard lives.
#[cfg(test)]
pub(crate) fn hold() -> impl Sized {
    CACHE.hold()
}

impl Cached for Store {
    fn segment_id(&self) -> &SegmentId {
        Store::segment_id(self)
    }

    fn creator_dropped(&self) -> bool {
        // Acquire: pairs with the creator's Release store of `dropped`.
        self.header().dropped.load(Acquire) != 0
    }
}

/// The store of segment `text`, attached (and cached) on first use.
pub(crate) fn attach(text: &str, id: Identity) -> Result<Arc<Store>, ContainerError> {
    let sid: SegmentId = text.parse().map_err(ContainerError::BadId)?;
    CACHE.attach(&sid, || Store::attach(text, id))
}

/// Unmaps cached container segments whose creator has dropped the container and that no
/// dict, list or namespace in this process still uses; returns how many were unmapped.
pub(crate) fn evict_unused() -> usize {
    CACHE.evict_unused()
}
