//! [`SegmentCache`]: the per-process cache of attached object segments that queues and
//! pipes, shared arrays and shared containers each keep one of, so that a worker
//! receiving the same handle in many jobs maps the segment once.
//!
//! Keyed by segment token. The creating process may register its own mapping *weakly*
//! (handles attached there reuse it while the object lives). Other processes keep a
//! *strong* entry until the creator has dropped the object (its `dropped` word, a hint)
//! *and* nothing in this process still uses the mapping; such entries are swept on every
//! new attach and by `evict_unused`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use zeroproc_shm::fork::ForkLocal;
use zeroproc_shm::SegmentId;

/// What a cache holds: one process's mapping of an object's segment.
pub(crate) trait Cached: Send + Sync + 'static {
    /// The segment mapped.
    fn segment_id(&self) -> &SegmentId;
    /// Whether the creator has dropped the object (an Acquire load of its `dropped`
    /// word, paired with the creator's Release store; only a hint for sweeping).
    fn creator_dropped(&self) -> bool;
}

enum Entry<M> {
    /// Created in this process: alive as long as some handle here is.
    Own(Weak<M>),
    /// Attached from another process's segment.
    Attached(Arc<M>),
}

type Table<M> = HashMap<u64, (SegmentId, Entry<M>)>;

/// See the module docs. One `static` per kind of object.
///
/// The table is per fork generation ([`ForkLocal`]): a child forked while another thread
/// held it (creating, attaching or dropping any queue, pipe, array or container) waited
/// for ever on its first such operation. The child's fresh table does not know its
/// parent's objects: a handle it attaches is mapped again, and the parent's mappings it
/// inherited stay mapped until it exits.
pub(crate) struct SegmentCache<M> {
    table: ForkLocal<Mutex<Table<M>>>,
}

impl<M: Cached> SegmentCache<M> {
    pub(crate) const fn new() -> Self {
        Self { table: ForkLocal::new(|| Mutex::new(HashMap::new())) }
    }

    fn table(&self) -> MutexGuard<'_, Table<M>> {
        // A panic while holding the lock cannot leave the map half-updated (single calls).
        self.table.get().lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mapping of segment `id`: the cached one, or a new one made by `attach` (and
    /// cached). Sweeps unused entries first when it attaches.
    pub(crate) fn attach<E>(
        &self,
        id: &SegmentId,
        attach: impl FnOnce() -> Result<M, E>,
    ) -> Result<Arc<M>, E> {
        let mut t = self.table();
        if let Some((known, e)) = t.get(&id.token()) {
            if known == id {
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
        let m = Arc::new(attach()?);
        t.insert(id.token(), (id.clone(), Entry::Attached(m.clone())));
        Ok(m)
    }

    /// Caches the creator's own mapping, weakly.
    pub(crate) fn register_owner(&self, m: &Arc<M>) {
        let id = m.segment_id().clone();
        self.table().insert(id.token(), (id, Entry::Own(Arc::downgrade(m))));
    }

    /// Forgets the creator's entry once its mapping is gone (called from its `Drop`).
    pub(crate) fn forget_owner(&self, id: &SegmentId) {
        let mut t = self.table();
        if let Some((_, Entry::Own(w))) = t.get(&id.token()) {
            if w.strong_count() <= 1 {
                t.remove(&id.token());
            }
        }
    }

    /// Unmaps entries whose creator dropped the object and that nothing in this process
    /// uses, and dead weak entries; returns how many.
    pub(crate) fn evict_unused(&self) -> usize {
        sweep(&mut self.table())
    }

    /// Test hook: holds the table's lock while the returned guard lives.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> impl Sized + '_ {
        self.table()
    }

    /// Segments currently known to the cache in this process.
    pub(crate) fn len(&self) -> usize {
        self.table().len()
    }
}

fn sweep<M: Cached>(t: &mut Table<M>) -> usize {
    let before = t.len();
    t.retain(|_, (_, e)| match e {
        Entry::Own(w) => w.strong_count() > 0,
        Entry::Attached(m) => Arc::strong_count(m) > 1 || !m.creator_dropped(),
    });
    before - t.len()
}
