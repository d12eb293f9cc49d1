//! A read-only attachment: for observers (`zeroproc top`) that must not be able to
//! change anything in the segment they watch.
//!
//! The file is opened `O_RDONLY` and mapped `PROT_READ`, so a stray write is a SIGSEGV in
//! the observer, never a corruption of the observed structure. The same checks as
//! [`Segment::attach`](super::Segment::attach) run first: owner uid and mode 0600,
//! magic, header version, length, token, layout (name, version, hash), ready state.
//!
//! Only **Relaxed atomic loads** (of at most 8 bytes) may be made through it: Rust
//! implements those as plain loads that work on read-only memory, while read-modify-write
//! operations (and, formally, stronger orderings) are undefined behaviour there — see
//! "Atomic accesses to read-only memory" in `core::sync::atomic`. Order with
//! `fence(Acquire)` after the loads where an Acquire is needed. An observer does not
//! register anywhere: the creator and its peers cannot tell it is there.

use super::{check_file, check_header, id_path, open_with, os, AttachError, Header};
use super::{Layout, SegmentId};
use crate::offset::{Offset, OffsetError};
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

/// A segment mapped read-only (see the module docs for what may be done through it).
///
/// # Example
/// ```
/// use zeroproc_shm::{Layout, SegmentBuilder, SegmentView};
/// const L: Layout = Layout::new("doc-view", 1);
/// let seg = SegmentBuilder::new(L, 4096).create().unwrap();
/// let view = SegmentView::attach(seg.id(), L).unwrap();
/// assert_eq!(view.len(), seg.len());
/// assert!(SegmentView::attach(seg.id(), Layout::new("other", 1)).is_err());
/// ```
#[derive(Debug)]
pub struct SegmentView {
    base: NonNull<u8>,
    len: usize,
    // Kept open for the life of the mapping, like `Segment`'s descriptor.
    _fd: OwnedFd,
    id: SegmentId,
}

// SAFETY: the mapping is process-wide and stays valid until `drop`; the type only hands out
// const pointers, and the memory is read through Relaxed atomic loads.
unsafe impl Send for SegmentView {}
// SAFETY: as above.
unsafe impl Sync for SegmentView {}

impl SegmentView {
    /// Maps the segment `id` read-only, refusing anything that is not a ready zeroproc
    /// segment of exactly `layout`, owned by this user with mode 0600, carrying the id's
    /// token.
    pub fn attach(id: &SegmentId, layout: Layout) -> Result<SegmentView, AttachError> {
        let fd = open_with(&id_path(id), libc::O_RDONLY)?;
        let actual = check_file(&fd).map_err(|e| super::reuse::explain(id, e, false))?;
        let base = os::map_prot(&fd, actual as usize, false, libc::PROT_READ)
            .map_err(|e| super::map_failed(actual, e))?;
        let view = SegmentView {
            base: NonNull::new(base).expect("mmap never returns null on success"),
            len: actual as usize,
            _fd: fd,
            id: id.clone(),
        };
        check_header(view.header(), actual, id, &layout)?;
        Ok(view)
    }

    /// The header at offset 0.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_SIZE bytes (checked) and page aligned;
        // `Header` is repr(C) with only integer/atomic fields, valid for any bit pattern.
        // Its only atomic (`state`) is read with a Relaxed load (see the module docs).
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// The id this view was attached with.
    pub fn id(&self) -> &SegmentId {
        &self.id
    }

    /// Total mapped length, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a segment has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Resolves an offset to a pointer into the read-only mapping, checking bounds and
    /// alignment for `count` elements of `T`. Never dereferences; whoever does may only
    /// read (Relaxed atomic loads for shared, concurrently written fields).
    pub fn resolve<T>(&self, off: Offset<T>, count: usize) -> Result<*const T, OffsetError> {
        off.resolve_in(self.base, self.len, count).map(|p| p.as_ptr().cast_const())
    }
}

impl Drop for SegmentView {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `attach`; references derived
        // from it borrow `self` and so cannot outlive it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentBuilder;
    use std::sync::atomic::{AtomicU64, Ordering};

    const L: Layout = Layout::new("view-test", 1).with_type::<AtomicU64>();

    #[test]
    fn sees_writes_and_refuses_wrong_layout_or_token() {
        let seg = SegmentBuilder::new(L, 4096).create().unwrap();
        // SAFETY: fresh data region, aligned, large enough for one AtomicU64.
        let w = unsafe { &*seg.data().cast::<AtomicU64>() };
        let view = SegmentView::attach(seg.id(), L).unwrap();
        let p = view.resolve(Offset::<AtomicU64>::new(crate::HEADER_SIZE as u64), 1).unwrap();
        // SAFETY: in bounds and aligned (resolve); read with a Relaxed load only.
        let r = unsafe { &*p };
        w.store(42, Ordering::Relaxed);
        assert_eq!(r.load(Ordering::Relaxed), 42);
        assert!(matches!(
            SegmentView::attach(seg.id(), Layout::new("view-test", 2)),
            Err(AttachError::Layout { .. })
        ));
        let forged = match seg.id().clone() {
            SegmentId::Memfd { pid, fd, token } => SegmentId::Memfd { pid, fd, token: !token },
            other => other,
        };
        assert!(matches!(SegmentView::attach(&forged, L), Err(AttachError::Token)));
    }

    #[test]
    fn mapping_is_read_only() {
        let seg = SegmentBuilder::new(L, 4096).create().unwrap();
        let view = SegmentView::attach(seg.id(), L).unwrap();
        let addr = view.header() as *const Header as usize;
        // /proc/self/maps lists the mapping with its protection bits.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| {
                let range = l.split_whitespace().next().unwrap_or("");
                let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
                let a = usize::from_str_radix(a, 16).unwrap_or(0);
                let b = usize::from_str_radix(b, 16).unwrap_or(0);
                a <= addr && addr < b
            })
            .expect("the view's mapping is listed");
        let perms = line.split_whitespace().nth(1).unwrap();
        assert!(perms.starts_with("r-"), "mapping perms {perms}");
    }
}
