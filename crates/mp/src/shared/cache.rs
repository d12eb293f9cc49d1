//! The per-process cache of attached array segments, keyed by segment token, so that a
//! worker running many jobs on one array maps it once.
//!
//! The owner registers its own mapping weakly (handles used in the owner's process reuse
//! it) and forgets it when the array drops. Other processes keep a mapping until its owner has
//! dropped the array and no guard of theirs still uses it; such entries are swept on every
//! new attach, by [`evict_unused`], and by a pool worker before its first job after an
//! idle spell (so that it does not hold the descriptors of dropped arrays).

use super::header::LAYOUT;
use super::mapping::Mapping;
use super::SharedError;
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
        // Acquire: pairs with the owner's Release store of `dropped` (only a hint here).
        self.header().dropped.load(Ordering::Acquire) != 0
    }
}

/// The mapping of the segment `id` (text form), attached and cached on first use. On a
/// cluster node whose agent holds a copy of the array (`ship.rs`), the copy's.
pub(crate) fn attach(id: &str) -> Result<Arc<Mapping>, SharedError> {
    let id: SegmentId = id.parse().map_err(SharedError::BadId)?;
    match super::ship::alias(&id)? {
        None => attach_id(&id),
        Some(copy) => super::ship::attach_alias(&id, copy, attach_id),
    }
}

fn attach_id(id: &SegmentId) -> Result<Arc<Mapping>, SharedError> {
    CACHE.attach(id, || {
        let seg = Segment::attach(id, LAYOUT).map_err(SharedError::Attach)?;
        Mapping::from_segment(seg)
    })
}

/// Caches the owner's own mapping (weakly).
pub(crate) fn register(m: &Arc<Mapping>) {
    CACHE.register_owner(m);
}

/// Forgets the owner's mapping (guards still holding it keep it mapped).
pub(crate) fn unregister(id: &SegmentId) {
    CACHE.forget_owner(id);
}

/// Unmaps cached arrays whose owner has dropped them and that no guard in this process
/// still uses; returns how many were unmapped. Also done on every new attach.
///
/// ```
/// assert_eq!(zeroproc_mp::shared::cache::evict_unused(), 0);
/// ```
pub fn evict_unused() -> usize {
    CACHE.evict_unused()
}

/// Frees the elements' memory of arrays this process dropped while another process (or a
/// thread of this one) still wrote a chunk or read them, if that is done now; returns how
/// many still wait. A pool's supervisor calls it every tick, a pool worker before a job
/// after an idle spell, and array creation does; without it such an array's memory stayed allocated until every process that had
/// mapped it dropped its mapping (a pool worker: before its next job).
///
/// ```
/// assert_eq!(zeroproc_mp::shared::cache::free_pending(), 0);
/// ```
pub fn free_pending() -> usize {
    super::deferred::retry()
}

/// Segments this process marked dropped (arrays, containers and channels it created),
/// ever: see [`drops`].
static DROPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts a segment this process just marked dropped.
pub(crate) fn note_drop() {
    // Release: after the segment's `dropped` store; pairs with the Acquire in `drops`, so
    // whoever reads the new count (and hands it on with Release/Acquire) sees that store.
    DROPS.fetch_add(1, std::sync::atomic::Ordering::Release);
}

/// How many shared objects — arrays, containers (dict, list, namespace) and channels
/// (queues, pipes) — this process has dropped as their creator, ever: a pool's
/// supervisor publishes it, and its workers sweep their caches when it changes, so that
/// the descriptors and mappings of objects the controller dropped go before a worker's
/// next job even when it never idles (review30: a job queued behind a long one, after its
/// 700 arrays were dropped, could open 317 files under `ulimit -n` 1024), and at once in
/// an idle worker, which the supervisor wakes for it (mpsem31: an idle pool kept a
/// dropped 200 MiB dict's memory until its next job).
///
/// ```
/// use zeroproc_mp::shared::{cache, SharedArray};
/// cache::set_reuse_limit(0);
/// let before = cache::drops();
/// drop(SharedArray::<u8>::zeroed(10).unwrap());
/// assert_eq!(cache::drops(), before + 1);
/// ```
pub fn drops() -> u64 {
    // Acquire: pairs with the Release in `note_drop`.
    DROPS.load(std::sync::atomic::Ordering::Acquire)
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
    CACHE.len()
}

/// Frees the segments of dropped arrays kept for reuse in this process; returns how many.
///
/// A dropped [`SharedArray`](super::SharedArray) keeps its segment (up to
/// [`set_reuse_limit`] bytes in all, at most 8 segments) so that the next array of the same
/// element type, length and claim table reuses its memory instead of taking fresh pages
/// from the kernel: creating and filling a 256 MiB array then costs about a `memcpy`.
///
/// ```
/// use zeroproc_mp::shared::{cache, SharedArray};
/// drop(SharedArray::<f64>::zeroed(1 << 16).unwrap());
/// assert_eq!(cache::release_dropped(), 1);
/// assert_eq!(cache::release_dropped(), 0);
/// ```
pub fn release_dropped() -> usize {
    super::recycle::release_all()
}

/// Sets how many bytes of dropped arrays' segments this process keeps for reuse (default
/// 1 GiB; 0 keeps none) and frees kept segments beyond it. An array larger than the limit
/// is freed when dropped. Pool workers start with 0 (call this in the pool's initializer
/// for jobs that create arrays of one shape again and again).
///
/// ```
/// use zeroproc_mp::shared::{cache, SharedArray};
/// cache::set_reuse_limit(0);
/// drop(SharedArray::<u8>::zeroed(100).unwrap());
/// assert_eq!(cache::release_dropped(), 0);
/// ```
pub fn set_reuse_limit(bytes: usize) {
    super::recycle::set_limit(bytes)
}
