//! The per-process cache of attached container segments, keyed by segment token, so that
//! a worker running many jobs on one container maps it once. Entries whose creator has
//! dropped the container and that nothing in this process uses are swept on every new
//! attach.

use super::store::{Identity, Store};
use super::ContainerError;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Acquire;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use zeroproc_shm::SegmentId;

type Table = HashMap<u64, Arc<Store>>;

fn table() -> MutexGuard<'static, Table> {
    static T: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave the map half-updated (single calls).
    T.lock().unwrap_or_else(|p| p.into_inner())
}

/// The store of segment `text`, attached (and cached) on first use.
pub(crate) fn attach(text: &str, id: Identity) -> Result<Arc<Store>, ContainerError> {
    let sid: SegmentId = text.parse().map_err(ContainerError::BadId)?;
    let mut t = table();
    if let Some(s) = t.get(&sid.token()) {
        if s.segment_id() == &sid {
            return Ok(s.clone());
        }
    }
    // Acquire: pairs with the creator's Release store of `dropped`.
    t.retain(|_, s| Arc::strong_count(s) > 1 || s.header().dropped.load(Acquire) == 0);
    let s = Arc::new(Store::attach(text, id)?);
    t.insert(sid.token(), s.clone());
    Ok(s)
}
