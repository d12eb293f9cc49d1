//! One array segment mapped in this process, with its geometry validated once.

use super::header::{
    claim_word, type_hash, ArrayHeader, CLOSED, KIND_ARRAY, LAYOUT, MAGIC, MAX_CHUNKS, VERSION,
};
use super::SharedError;
use bytemuck::Pod;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use zeroproc_shm::{CreateError, Segment, SegmentBuilder, SegmentId, HEADER_SIZE};

/// The header's immutable fields, validated against the mapping and copied here, so that
/// later damage to the shared copy cannot move any access out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub kind: u32,
    pub elem_size: usize,
    pub elem_align: usize,
    pub type_hash: u64,
    pub capacity: usize,
    pub max_chunks: usize,
    pub claims_off: usize,
    pub data_off: usize,
}

impl Geometry {
    /// The layout of a new segment for `capacity` elements of `T` with a claim table of
    /// `max_chunks` (capped at [`MAX_CHUNKS`]).
    pub(crate) fn plan<T: Pod>(
        kind: u32,
        capacity: usize,
        max_chunks: usize,
    ) -> Result<Geometry, SharedError> {
        let (size, align) = (size_of::<T>(), align_of::<T>());
        if size == 0 {
            return Err(SharedError::ZeroSized);
        }
        // At least one: a table of 0 would refuse every split of the array.
        let max_chunks = max_chunks.clamp(1, MAX_CHUNKS);
        let claims_off = HEADER_SIZE + size_of::<ArrayHeader>();
        let data_off = max_chunks
            .checked_mul(8)
            .and_then(|c| c.checked_add(claims_off))
            .and_then(|e| e.checked_next_multiple_of(align.max(64)))
            .ok_or(SharedError::TooLarge)?;
        capacity
            .checked_mul(size)
            .and_then(|b| b.checked_add(data_off))
            .filter(|&e| e <= isize::MAX as usize / 2)
            .ok_or(SharedError::TooLarge)?;
        Ok(Geometry {
            kind,
            elem_size: size,
            elem_align: align,
            type_hash: type_hash::<T>(),
            capacity,
            max_chunks,
            claims_off,
            data_off,
        })
    }

    /// Bytes from the segment base to the end of the elements (checked by `plan`, or
    /// validated against the mapping on attach).
    pub(crate) fn end(&self) -> usize {
        self.data_off + self.capacity * self.elem_size
    }
}

/// A mapped array segment.
#[derive(Debug)]
pub(crate) struct Mapping {
    seg: Segment,
    geo: Geometry,
    /// Every page mapped into this process already (`refill`).
    populated: AtomicBool,
}

impl Mapping {
    /// Creates the segment for `capacity` elements of `T` with a claim table of
    /// `max_chunks`, copies `data` (if any: `capacity` elements) into the elements and
    /// publishes it. The elements are otherwise zero (memfd pages are).
    ///
    /// The pages are reserved (`fallocate`) but not mapped here: the data goes in by
    /// `pwrite`, which fills the file's pages in one kernel pass, and whoever touches the
    /// array later maps 16 pages per fault. Pre-mapping (`MAP_POPULATE`) and copying
    /// through the mapping cost 1.4–1.6× more for 256 MiB (docs/performance.md, W3
    /// copy-in).
    pub(crate) fn create<T: Pod>(
        kind: u32,
        capacity: usize,
        max_chunks: usize,
        data: Option<&[T]>,
    ) -> Result<Mapping, SharedError> {
        let geo = Geometry::plan::<T>(kind, capacity, max_chunks)?;
        let (claims_off, data_off, max_chunks) = (geo.claims_off, geo.data_off, geo.max_chunks);
        let end = geo.end();
        let (size, align) = (geo.elem_size, geo.elem_align);
        let mut copied = Ok(());
        let seg = SegmentBuilder::new(LAYOUT, end - HEADER_SIZE)
            .populate(false)
            .create_with(|seg| {
                let h = ArrayHeader::new(
                    kind,
                    size,
                    align,
                    geo.type_hash,
                    capacity,
                    max_chunks,
                    claims_off,
                    data_off,
                );
                // SAFETY: the segment is fresh (nobody can attach before `create_with`
                // returns) and holds `end` bytes: the header at HEADER_SIZE (256-aligned),
                // the claim table after it, `capacity` elements at `data_off` (aligned).
                unsafe {
                    seg.data().cast::<ArrayHeader>().write(h);
                    let claims = seg.base().add(claims_off).cast::<AtomicU64>();
                    for i in 0..max_chunks {
                        // Before the first split every chunk is closed (terminal, epoch 0).
                        claims.add(i).write(AtomicU64::new(claim_word(0, CLOSED)));
                    }
                }
                if let Some(d) = data {
                    copied = copy_in(seg, data_off, bytemuck::cast_slice(&d[..capacity]));
                }
            })
            .map_err(SharedError::Create)?;
        // A failed copy: nobody has the id yet; dropping `seg` frees it.
        copied.map_err(|e| SharedError::Create(CreateError::Io("pwrite", e)))?;
        Ok(Mapping { seg, geo, populated: AtomicBool::new(false) })
    }

    /// Makes a kept segment (`recycle.rs`: in owner write mode, no reader, no writer, its
    /// generation already bumped) hold a new array: the elements become `data` (all
    /// `capacity` of them) or zero, then readers are let in (the owner-write mode's end
    /// publishes the elements, SeqCst).
    ///
    /// The pages exist already; the first refill maps them all into this process at once
    /// (`MADV_POPULATE_WRITE`: a write fault per 4 KiB page on a shared mapping cost 2×
    /// the copy), so that this and every later refill is a plain `memcpy`/`memset`.
    pub(crate) fn refill(&self, data: Option<&[u8]>) -> std::io::Result<()> {
        let bytes = self.geo.capacity * self.geo.elem_size;
        // Relaxed: this process's own flag; refills of one segment are ordered by the
        // kept-segment table's lock.
        if !self.populated.load(Relaxed) {
            match self.seg.populate() {
                // A kernel before 5.14 has no MADV_POPULATE_WRITE: the copy below faults
                // the pages in one by one instead (slower, still a reuse).
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                r => r?,
            }
            self.populated.store(true, Relaxed);
        }
        match data {
            // SAFETY: `bytes` bytes at `data` lie inside the mapping (validated), now
            // mapped; the owner write mode excludes every reader and chunk writer in any
            // process; `d` cannot overlap this segment (no array of it exists while it is
            // refilled, so nothing borrowed from one can be live).
            Some(d) => unsafe {
                std::ptr::copy_nonoverlapping(d[..bytes].as_ptr(), self.data::<u8>(), bytes)
            },
            // SAFETY: as above, without a source.
            None => unsafe { std::ptr::write_bytes(self.data::<u8>(), 0, bytes) },
        }
        self.end_owner_write(self.state());
        Ok(())
    }

    /// Ends a segment no array will use again, by its owner: frees its elements' memory
    /// when nobody can be reading or writing them, then [`mark_dropped`](Self::mark_dropped).
    ///
    /// Other processes keep their mappings until their caches sweep them (a worker's next
    /// attach), and a memfd's pages live as long as any mapping does: a 4 GiB array read
    /// by the workers stayed in RAM after its drop (hpc29). So its pages are removed from
    /// the file for every process (`MADV_REMOVE`), once the owner holds the segment alone:
    /// the split closed (no live chunk writer) and the owner write mode entered (no reader
    /// lease; `readers.rs`). The generation was bumped first (`recycle::keep`, or before the
    /// segment was kept), so a later reader or chunk writer is refused (`Dropped`) and never
    /// sees the zeroes. With a live reader or writer the pages stay until it is done: the
    /// owner tries again (`deferred.rs`).
    /// True if the pages were freed; false if a reader or writer was live (the caller
    /// tries again later: `deferred.rs`).
    pub(crate) fn discard(&self) -> bool {
        let freed = self.free_elements();
        self.mark_dropped();
        freed
    }

    /// Frees the elements' pages if nobody can be reading or writing them (the owner
    /// holds the segment alone: see [`discard`](Self::discard)); true if it did. Only
    /// for a segment whose generation was bumped (no new reader or writer can start).
    pub(crate) fn free_elements(&self) -> bool {
        if self.abandon().is_ok() && self.begin_owner_write().is_ok() {
            self.remove_elements();
            return true;
        }
        false
    }

    /// Frees the pages wholly inside the elements (the header and claim table stay: other
    /// processes read them to learn the array is gone).
    fn remove_elements(&self) {
        // SAFETY: sysconf takes a plain integer and has no memory effects.
        let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize;
        let lo = self.geo.data_off.next_multiple_of(page);
        let hi = self.geo.end() / page * page;
        if hi <= lo {
            return;
        }
        // SAFETY: `lo < hi <= geo.end()`, inside this process's mapping (validated), from a
        // page-aligned base. The owner holds the segment alone (see `discard`): no process
        // reads or writes these bytes again, and nothing of ours points into them.
        // MADV_REMOVE only drops the file's pages (a later access would see zeroes). A
        // failure leaves the pages until the last mapping goes, as without it.
        unsafe {
            let p = self.seg.base().add(lo);
            libc::madvise(p.cast(), hi - lo, libc::MADV_REMOVE);
        }
    }

    /// Tells other processes that no array will use this segment again (they may unmap
    /// their copies once unused).
    pub(crate) fn mark_dropped(&self) {
        // Release: pairs with the Acquire in the cache sweep of other processes.
        self.header().dropped.store(1, std::sync::atomic::Ordering::Release);
        super::cache::note_drop();
    }

    /// Validates an attached segment's header against the mapping.
    pub(crate) fn from_segment(seg: Segment) -> Result<Mapping, SharedError> {
        if seg.data_len() < size_of::<ArrayHeader>() {
            return Err(SharedError::Foreign("segment too short for the header"));
        }
        // SAFETY: the data region holds a header-sized, 256-aligned block; the plain fields
        // were written before the segment was published (Acquire in `attach`) and are
        // integers, valid for any bits.
        let h = unsafe { &*seg.data().cast::<ArrayHeader>() };
        if h.magic != MAGIC || h.version != VERSION {
            return Err(SharedError::Foreign("magic or version"));
        }
        let as_usize = |v: u64| usize::try_from(v).map_err(|_| SharedError::Foreign("size"));
        let geo = Geometry {
            kind: h.kind,
            elem_size: as_usize(h.elem_size)?,
            elem_align: as_usize(h.elem_align)?,
            type_hash: h.type_hash,
            capacity: as_usize(h.capacity)?,
            max_chunks: as_usize(h.max_chunks)?,
            claims_off: as_usize(h.claims_off)?,
            data_off: as_usize(h.data_off)?,
        };
        let bad = SharedError::Foreign("geometry");
        let claims_end = geo.max_chunks.checked_mul(8).and_then(|c| c.checked_add(geo.claims_off));
        let data_end =
            geo.capacity.checked_mul(geo.elem_size).and_then(|b| b.checked_add(geo.data_off));
        let ok = geo.elem_size > 0
            && geo.elem_align.is_power_of_two()
            && geo.elem_align <= 4096
            && geo.max_chunks <= MAX_CHUNKS
            && geo.claims_off >= HEADER_SIZE + size_of::<ArrayHeader>()
            && geo.claims_off % 8 == 0
            && geo.data_off % geo.elem_align == 0
            && claims_end.is_some_and(|e| e <= geo.data_off)
            && data_end.is_some_and(|e| e <= seg.len());
        if !ok {
            return Err(bad);
        }
        Ok(Mapping { seg, geo, populated: AtomicBool::new(false) })
    }

    /// Checks that this is a `kind` of `T` with `capacity` elements.
    pub(crate) fn check<T: Pod>(&self, kind: u32, capacity: u64) -> Result<(), SharedError> {
        let g = &self.geo;
        if g.kind != kind {
            return Err(SharedError::Foreign(if kind == KIND_ARRAY {
                "a shared vector, not an array"
            } else {
                "a shared array, not a vector"
            }));
        }
        if g.elem_size != size_of::<T>()
            || g.elem_align != align_of::<T>()
            || g.type_hash != type_hash::<T>()
        {
            return Err(SharedError::TypeMismatch);
        }
        if g.capacity as u64 != capacity {
            return Err(SharedError::LenMismatch { handle: capacity, array: g.capacity as u64 });
        }
        Ok(())
    }

    pub(crate) fn geo(&self) -> &Geometry {
        &self.geo
    }

    pub(crate) fn id(&self) -> &SegmentId {
        self.seg.id()
    }

    /// The shared header (only its atomics are used after validation).
    pub(crate) fn header(&self) -> &ArrayHeader {
        // SAFETY: validated at create/attach: the data region starts with a header,
        // 256-aligned, mapped as long as `self`.
        unsafe { &*self.seg.data().cast::<ArrayHeader>() }
    }

    /// Claim word `i` (`i < max_chunks`).
    pub(crate) fn claim(&self, i: usize) -> Option<&AtomicU64> {
        (i < self.geo.max_chunks).then(|| {
            // SAFETY: the table of `max_chunks` 8-aligned words lies inside the mapping
            // (validated); it is only accessed atomically.
            unsafe { &*self.seg.base().add(self.geo.claims_off).cast::<AtomicU64>().add(i) }
        })
    }

    /// Pointer to element 0 (valid for `capacity` elements).
    pub(crate) fn data<T>(&self) -> *mut T {
        // SAFETY: `data_off + capacity * elem_size <= len` (validated).
        unsafe { self.seg.base().add(self.geo.data_off).cast::<T>() }
    }
}

/// Writes `bytes` into the segment's file at `off` (through a duplicate of its descriptor;
/// the file is the mapping's, so the mapping sees them).
///
/// Written through the segment's own descriptor: a duplicate (`try_clone`) needed a spare
/// one, so under a descriptor limit the last array that fit failed here, as "pwrite
/// failed" (hpc29).
fn copy_in(seg: &Segment, off: usize, mut bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = seg.fd().as_raw_fd();
    let mut at = off as u64;
    while !bytes.is_empty() {
        // SAFETY: `fd` is the segment's open descriptor (borrowed for this call); the
        // kernel reads `bytes.len()` bytes from a live slice.
        let n = unsafe { libc::pwrite(fd, bytes.as_ptr().cast(), bytes.len(), at as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n as usize..];
        at += n as u64;
    }
    Ok(())
}
