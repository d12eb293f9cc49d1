//! The segment a [`SharedValue`](super::SharedValue) value lives in: a small header and one
//! envelope (16-byte header + rkyv archive), written once by its creator and never again;
//! and the per-process cache of those segments, so that every job reading the same value
//! in a worker maps it once.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use zeroproc_shm::fork::ForkLocal;
use zeroproc_shm::{CreateError, Layout, Segment, SegmentBuilder, SegmentId};

/// At the start of the data region.
#[repr(C)]
struct StoredHeader {
    /// [`type_hash`] of the stored type (written before the segment is published).
    type_hash: AtomicU64,
    /// Envelope length in bytes (likewise).
    len: AtomicU64,
    /// Set by the owner when its last handle drops: attachers may unmap once unused.
    released: AtomicU32,
}

/// Where the envelope starts in the data region (16-aligned, after the header).
const DATA_AT: usize = 64;
const _: () = assert!(std::mem::size_of::<StoredHeader>() <= DATA_AT);

const LAYOUT: Layout = Layout::new("zeroproc-shared", 1).with_type::<StoredHeader>();

/// A stable hash of `T`'s name and archived size/alignment: a handle of one type cannot
/// read a value of another.
pub(crate) fn type_hash<T: rkyv::Archive + 'static>() -> u64 {
    Layout::new(std::any::type_name::<T>(), 1).with_type::<T::Archived>().hash
}

/// One mapping of a stored value in this process.
pub(crate) struct Stored {
    seg: Segment,
    type_hash: u64,
    len: usize,
    /// The outcome of validating the archive (bytecheck), done once per mapping.
    pub validated: OnceLock<Result<(), String>>,
}

impl Stored {
    /// Creates the segment holding `envelope` (already encoded for type hash `hash`).
    pub fn create(envelope: &[u8], hash: u64) -> Result<Stored, CreateError> {
        let seg = SegmentBuilder::new(LAYOUT, DATA_AT + envelope.len()).create_with(|s| {
            let p = s.data();
            // SAFETY: the fresh data region holds DATA_AT + envelope.len() bytes, is
            // 256-aligned, zeroed (a valid StoredHeader: atomics) and seen by nobody yet.
            unsafe {
                let h = &*p.cast::<StoredHeader>();
                // Relaxed: published by the segment's READY state (Release).
                h.type_hash.store(hash, Ordering::Relaxed);
                h.len.store(envelope.len() as u64, Ordering::Relaxed);
                std::ptr::copy_nonoverlapping(envelope.as_ptr(), p.add(DATA_AT), envelope.len());
            }
        })?;
        Ok(Stored { seg, type_hash: hash, len: envelope.len(), validated: OnceLock::new() })
    }

    /// Maps the segment `id` and checks its header (not cached: see [`attach`] for that).
    pub fn attach(id: &SegmentId) -> Result<Stored, String> {
        let seg = Segment::attach(id, LAYOUT).map_err(|e| e.to_string())?;
        // SAFETY: the layout (hash) was checked on attach: the data region starts with a
        // StoredHeader, all atomics, valid for any bits.
        let h = unsafe { &*seg.data().cast::<StoredHeader>() };
        // Relaxed: written before the segment was published (Acquire in attach).
        let (hash, len) = (h.type_hash.load(Ordering::Relaxed), h.len.load(Ordering::Relaxed));
        if DATA_AT as u64 + len > seg.data_len() as u64 {
            return Err(format!("stored length {len} exceeds the segment"));
        }
        Ok(Stored { seg, type_hash: hash, len: len as usize, validated: OnceLock::new() })
    }

    fn header(&self) -> &StoredHeader {
        // SAFETY: checked on create/attach; mapped while `self` lives.
        unsafe { &*self.seg.data().cast::<StoredHeader>() }
    }

    /// The segment's id (what a handle carries).
    pub fn id(&self) -> &SegmentId {
        self.seg.id()
    }

    /// The stored type's hash.
    pub fn type_hash(&self) -> u64 {
        self.type_hash
    }

    /// The envelope.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: DATA_AT + len is inside the data region (checked on create/attach); the
        // bytes are written once before publication and never again by the creator.
        unsafe { std::slice::from_raw_parts(self.seg.data().add(DATA_AT), self.len) }
    }

    /// The owner's last handle is gone.
    pub fn release(&self) {
        // Release: pairs with the Acquire in `released`.
        self.header().released.store(1, Ordering::Release);
    }

    fn released(&self) -> bool {
        // Acquire: pairs with `release`.
        self.header().released.load(Ordering::Acquire) != 0
    }
}

/// The mappings of this process, by segment id text. An entry lives until its owner has
/// released it and no handle of this process holds it (swept when another is attached).
/// Per fork generation ([`ForkLocal`]): a child forked while another thread attached a
/// value waited for ever on its first one.
#[allow(clippy::type_complexity)]
static CACHE: ForkLocal<Mutex<Vec<(String, Arc<Stored>)>>> =
    ForkLocal::new(|| Mutex::new(Vec::new()));

/// This process's mapping of the stored value `id`, attached on first use.
pub(crate) fn attach(id: &str) -> Result<Arc<Stored>, String> {
    let mut cache = CACHE.get().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = cache.iter().find(|(k, _)| k == id) {
        return Ok(s.clone());
    }
    cache.retain(|(_, s)| !(s.released() && Arc::strong_count(s) == 1));
    let parsed: SegmentId = id.parse().map_err(|e| format!("bad segment id {id:?}: {e}"))?;
    let s = Arc::new(Stored::attach(&parsed)?);
    cache.push((id.to_owned(), s.clone()));
    Ok(s)
}

/// How many stored values this process has mapped (for tests).
#[cfg(test)]
pub(crate) fn cached() -> usize {
    CACHE.get().lock().unwrap_or_else(|e| e.into_inner()).len()
}

#[cfg(test)]
mod fork_tests {
    use super::*;

    /// A child forked while another thread attached a stored value (the cache was locked)
    /// attaches one, as a job forked by a worker that receives a shared value does. Before
    /// the cache was per fork generation it waited for ever (ended by its 10 s alarm).
    #[test]
    fn a_child_forked_while_the_stored_cache_is_held_attaches_values() {
        let s = Stored::create(&[0u8; 16], 7).unwrap();
        let id = s.seg.id().to_string();
        let hold = || CACHE.get().lock().unwrap();
        let status =
            zeroproc_testkit::fork_while_held(hold, || attach(&id).is_ok_and(|a| a.type_hash == 7));
        assert!(
            zeroproc_testkit::exited_0(status),
            "child status {status:#x} (14 = SIGALRM: it hung)"
        );
    }
}
