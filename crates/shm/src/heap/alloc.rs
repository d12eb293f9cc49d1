//! `alloc`, `free` and `usable_size`: the public operations on blocks.

use super::block::{self, ALLOC, FREE, PROXY, RETIRED};
use super::class::{block_bytes, class_for_units, units, UNIT};
use super::failpoint::{self, Failpoint};
use super::{AllocError, FreeError, Heap, MAX_ALIGN};
use crate::atomic::Ordering::Relaxed;
use crate::offset::Offset;
use std::sync::atomic::AtomicU64;

/// A validated live block: where its header is, its class, and the proxy header in front
/// of an over-aligned payload, if any.
struct Located {
    idx: u64,
    class: u32,
    proxy: Option<u64>,
}

impl Heap<'_> {
    /// Allocates a block of at least `size` bytes whose offset (and address, in every
    /// process) is a multiple of `align` (a power of two up to [`MAX_ALIGN`]; 16 is always
    /// provided). The payload's contents are unspecified.
    ///
    /// Lock-free: one CAS on the class's free list, or one on the bump pointer. When both
    /// are exhausted a growable heap grows (a system call, see
    /// [`init_growable`](Self::init_growable)); at its maximum a free block of a larger
    /// class is taken whole before giving up.
    ///
    /// # Example
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-alloc", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let page = heap.alloc(4096, 4096).unwrap();
    /// assert_eq!(page.get() % 4096, 0);
    /// assert!(heap.usable_size(page).unwrap() >= 4096);
    /// heap.free(page).unwrap();
    /// ```
    #[inline]
    pub fn alloc(&self, size: usize, align: usize) -> Result<Offset<u8>, AllocError> {
        self.alloc_in(size, align, None)
    }

    /// [`alloc`](Self::alloc) that names the block in `note` (a word in shared memory, e.g.
    /// an entry of the caller's table of holders) as the first thing after taking it: on
    /// the one-CAS path (a pop of the block's own class) the store right after the CAS,
    /// before the block's header says ALLOC; on the slower paths (carve, split, merge)
    /// once the header is written. The note holds the payload offset (for an over-aligned
    /// request first the block's natural payload offset, then the returned one). If the
    /// process dies after that, the block is the dead process's and
    /// [`reclaim_noted`](Self::reclaim_noted) gives it back, whichever of ALLOC or FREE
    /// its header says. (The README's "Noted blocks": the states, and the few instructions
    /// a kill still leaks in.)
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # let seg = Segment::create(Layout::new("doc-heap-noted", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let note = AtomicU64::new(0); // in shared memory, in real use
    /// let off = heap.alloc_noted(100, 16, &note).unwrap();
    /// assert_eq!(note.load(Ordering::Relaxed), off.get());
    /// heap.free_noted(off, &note).unwrap();
    /// assert_eq!(note.load(Ordering::Relaxed), 0);
    /// ```
    #[inline]
    pub fn alloc_noted(
        &self,
        size: usize,
        align: usize,
        note: &AtomicU64,
    ) -> Result<Offset<u8>, AllocError> {
        self.alloc_in(size, align, Some(note))
    }

    #[inline]
    fn alloc_in(
        &self,
        size: usize,
        align: usize,
        note: Option<&AtomicU64>,
    ) -> Result<Offset<u8>, AllocError> {
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(AllocError::BadAlign { align });
        }
        let align_u = (align as u64).max(UNIT);
        let oom = |units: u64| AllocError::OutOfMemory {
            requested: size,
            align,
            block_size: units.saturating_mul(UNIT),
            carve_remaining: self.carve_remaining(),
        };
        // Payload units, plus worst-case alignment padding, plus the header unit.
        let need = (size as u64).max(1).div_ceil(UNIT) + (align_u - UNIT) / UNIT + 1;
        let class = match class_for_units(need) {
            Some(c) if c < self.num_classes => c,
            _ => return Err(oom(need)),
        };
        let (idx, got) = match self.pop_noted(class, note)? {
            Some(idx) => (idx, class),
            None => self.alloc_slow(class, note, oom)?,
        };
        debug_assert!(units(got) >= need);
        let natural = self.region_off + (idx + 1) * UNIT;
        let aligned = natural.next_multiple_of(align_u);
        if aligned != natural {
            // A proxy header right before the aligned payload leads `free` to the block.
            let p = (aligned - self.region_off) / UNIT - 1;
            let pb = self.block(p);
            // Relaxed (both): inside the block we own; handed to other processes with the
            // offset, through the caller's synchronisation (see `pop`).
            pb.link.store(p - idx, Relaxed);
            pb.word.store(block::word(self.salt, p, PROXY, 0), Relaxed);
            if let Some(n) = note {
                // Relaxed: as in `pop_noted` (the natural offset, noted before, also
                // leads to the block).
                n.store(aligned, Relaxed);
            }
        }
        Ok(Offset::new(aligned))
    }

    /// `alloc` when the class's list is empty: carve, grow, split or merge; the block is
    /// noted once its header is written.
    fn alloc_slow(
        &self,
        class: u32,
        note: Option<&AtomicU64>,
        oom: impl Fn(u64) -> AllocError,
    ) -> Result<(u64, u32), AllocError> {
        let (idx, got) = match self.carve_or_grow(class) {
            Ok(Some(idx)) => (idx, class),
            // At the maximum: a free larger block split, else free neighbours merged.
            Ok(None) => match self.pop_larger(class, note)? {
                Some(got) => got,
                None => self.merge_for(class, note).ok_or_else(|| oom(units(class)))?,
            },
            // The system refused more memory: a free larger block or merged free
            // neighbours still serve.
            Err(e) => match self.pop_larger(class, note)? {
                Some(got) => got,
                None => self.merge_for(class, note).ok_or(e)?,
            },
        };
        if let Some(n) = note {
            // Relaxed: as in `pop_noted`.
            n.store(self.region_off + (idx + 1) * UNIT, Relaxed);
        }
        Ok((idx, got))
    }

    /// Returns the block at `off` (from [`alloc`](Self::alloc), in any process) to its
    /// class's free list.
    ///
    /// A garbage offset, an offset inside a block, or a block already freed is refused with
    /// a [`FreeError`] and the heap is unchanged. Not detectable: freeing an offset whose
    /// block was freed and then handed out again (it frees the new owner's block).
    ///
    /// # Example
    /// ```
    /// # use zeroproc_shm::heap::{FreeError, Heap};
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-free", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let off = heap.alloc(64, 16).unwrap();
    /// assert!(matches!(heap.free(Offset::new(off.get() + 16)), Err(FreeError::NotABlock { .. })));
    /// heap.free(off).unwrap();
    /// assert!(matches!(heap.free(off), Err(FreeError::DoubleFree { .. })));
    /// ```
    #[inline]
    pub fn free(&self, off: Offset<u8>) -> Result<(), FreeError> {
        self.free_in(off, None)
    }

    /// [`free`](Self::free) of a block named in `note` (by
    /// [`alloc_noted`](Self::alloc_noted), or by the caller): clears the note right after
    /// the CAS that ends this process's ownership (ALLOC → FREE) and before the block goes
    /// back to its list. A process that dies between the CAS and the clear leaves the block
    /// named, out of every list, and [`reclaim_noted`](Self::reclaim_noted) pushes it; one
    /// that dies after the clear leaks it (the store and the push's CAS apart). See
    /// [`alloc_noted`](Self::alloc_noted) for an example.
    #[inline]
    pub fn free_noted(&self, off: Offset<u8>, note: &AtomicU64) -> Result<(), FreeError> {
        self.free_in(off, Some(note))
    }

    /// Gives back the block at `off` that a process which has died held: named in its note
    /// by [`alloc_noted`](Self::alloc_noted) or while it held the block (header ALLOC: freed
    /// as by [`free`](Self::free)), or left named by a [`free_noted`](Self::free_noted) that
    /// died before clearing the note (header FREE, in no list: pushed). `note` (the dead
    /// process's note, taken over, or the caller's own naming the same block) is cleared as
    /// `free_noted` clears it: after the state CAS, before the push, so that a reclaimer
    /// killed meanwhile leaves the block named for the next one.
    ///
    /// # Safety
    /// `off` must be the value of a note that a dead process left (it will never store
    /// again), read after its death, and no one else may act on that note (e.g. the caller
    /// took it over with a CAS). A FREE block that is in a list (or another process's) must
    /// never be passed: it would be pushed twice and handed to two owners.
    pub unsafe fn reclaim_noted(&self, off: Offset<u8>, note: &AtomicU64) -> Result<(), FreeError> {
        let at = self.locate_as(off, true)?;
        let b = self.block(at.idx);
        let alloc_w = block::word(self.salt, at.idx, ALLOC, at.class);
        let free_w = block::word(self.salt, at.idx, FREE, at.class);
        // Relaxed: as in `free` (a block whose owner is dead and whose note we hold has no
        // other freer; the CAS still refuses anything but ALLOC or FREE).
        if let Err(now) = b.word.compare_exchange(alloc_w, free_w, Relaxed, Relaxed) {
            if now != free_w {
                return Err(FreeError::NotABlock { offset: off.get() });
            }
        }
        // Relaxed: as in `pop_noted`; before the push, as in `free_noted`.
        note.store(0, Relaxed);
        if let Some(p) = at.proxy {
            // Relaxed: published by the push below.
            self.block(p).word.store(block::word(self.salt, p, RETIRED, 0), Relaxed);
        }
        self.push(at.class, at.idx);
        Ok(())
    }

    #[inline]
    fn free_in(&self, off: Offset<u8>, note: Option<&AtomicU64>) -> Result<(), FreeError> {
        let at = self.locate(off)?;
        let b = self.block(at.idx);
        let alloc_w = block::word(self.salt, at.idx, ALLOC, at.class);
        let free_w = block::word(self.salt, at.idx, FREE, at.class);
        // Relaxed (both outcomes): the CAS only arbitrates between concurrent frees of the
        // same block (exactly one wins); what the block's owner wrote is published by the
        // Release CAS in `push`, which follows in program order.
        if let Err(now) = b.word.compare_exchange(alloc_w, free_w, Relaxed, Relaxed) {
            let offset = off.get();
            return Err(if now == free_w {
                FreeError::DoubleFree { offset }
            } else {
                FreeError::NotABlock { offset }
            });
        }
        failpoint::hit(Failpoint::Freed);
        if let Some(n) = note {
            // Relaxed: as in `pop_noted`. Before the push: once the block is in a list,
            // a note naming it would hand a reclaimer somebody else's block.
            n.store(0, Relaxed);
        }
        if let Some(p) = at.proxy {
            // Relaxed: published by the push below. A second free at this offset then
            // finds a retired proxy (DoubleFree), not a path into a reused block.
            self.block(p).word.store(block::word(self.salt, p, RETIRED, 0), Relaxed);
        }
        self.push(at.class, at.idx);
        Ok(())
    }

    /// The number of bytes usable from `off` (at least the size it was allocated with),
    /// after validating that `off` is a live block as [`free`](Self::free) does.
    pub fn usable_size(&self, off: Offset<u8>) -> Result<usize, FreeError> {
        let at = self.locate(off)?;
        let end = self.region_off + (at.idx + units(at.class)) * UNIT;
        Ok((end - off.get()) as usize)
    }

    /// [`usable_size`](Self::usable_size) of a block named by a dead process's note (see
    /// [`reclaim_noted`](Self::reclaim_noted)): also for a FREE header (the process died
    /// inside `alloc_noted` or `free_noted`, the block in no list), so that the caller can
    /// look at the payload it left before reclaiming it.
    pub fn noted_size(&self, off: Offset<u8>) -> Result<usize, FreeError> {
        let at = self.locate_as(off, true)?;
        let end = self.region_off + (at.idx + units(at.class)) * UNIT;
        Ok((end - off.get()) as usize)
    }

    /// Whether an [`alloc`](Self::alloc) of `size` bytes (16-aligned) can ever succeed
    /// while blocks come back: its block fits the heap's block area (at the maximum, for a
    /// growable heap this handle can grow). Free neighbours are merged when the heap is
    /// full (see the heap's README), so once enough of the blocks next to each other are
    /// freed the allocation succeeds; `false` means waiting for frees is pointless.
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-can-hold", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// assert!(heap.can_hold(40_000));
    /// assert!(!heap.can_hold(1 << 16), "the block area is smaller than the region");
    /// let blocks: Vec<_> = std::iter::from_fn(|| heap.alloc(1000, 16).ok()).collect();
    /// assert!(heap.alloc(40_000, 16).is_err(), "all carved into 1 KiB blocks, all in use");
    /// assert!(heap.can_hold(40_000), "merged from 1 KiB blocks once they are freed");
    /// for b in blocks { heap.free(b).unwrap(); }
    /// let big = heap.alloc(40_000, 16).unwrap();
    /// # heap.free(big).unwrap();
    /// ```
    pub fn can_hold(&self, size: usize) -> bool {
        let need = (size as u64).max(1).div_ceil(UNIT) + 1;
        let Some(class) = class_for_units(need).filter(|&c| c < self.num_classes) else {
            return false;
        };
        // A growable heap counts what it may still grow to.
        let carvable = if self.fd >= 0 { self.max_len } else { self.region_len() };
        carvable.saturating_sub(self.blocks_start) >= block_bytes(class)
    }

    /// Bytes not yet carved into blocks.
    pub(crate) fn carve_remaining(&self) -> u64 {
        // Relaxed: a statistic.
        self.region_len().saturating_sub(self.header().bump.load(Relaxed))
    }

    /// Carves a block of `class`, growing the heap first when there is no room and it can
    /// grow; `None` at the maximum (or for a heap that cannot grow).
    fn carve_or_grow(&self, class: u32) -> Result<Option<u64>, AllocError> {
        loop {
            let seen = self.region_len();
            if let Some(idx) = self.carve(class) {
                return Ok(Some(idx));
            }
            // Each round the length grew (at most log2(max / len) rounds) or we stop.
            if !self.grow_for(block_bytes(class), seen)? {
                return Ok(None);
            }
        }
    }

    /// Pops the first available block of a class larger than `class` and splits it down
    /// to `class` (the rest goes back to the free lists as smaller blocks).
    fn pop_larger(
        &self,
        class: u32,
        note: Option<&AtomicU64>,
    ) -> Result<Option<(u64, u32)>, AllocError> {
        for c in class + 1..self.num_classes {
            if let Some(idx) = self.pop(c)? {
                return Ok(Some((idx, self.split(idx, c, class, note))));
            }
        }
        Ok(None)
    }

    /// Finds and validates the live block whose payload starts at `off`.
    fn locate(&self, off: Offset<u8>) -> Result<Located, FreeError> {
        self.locate_as(off, false)
    }

    /// [`locate`](Self::locate), also accepting a FREE header if `free_too` (a block a
    /// dead process left named in its note: `reclaim_noted`).
    fn locate_as(&self, off: Offset<u8>, free_too: bool) -> Result<Located, FreeError> {
        let offset = off.get();
        // Relaxed: the block reached us through the caller's synchronisation after it was
        // carved, so we see a bump at least past it (coherence).
        let bump = self.header().bump.load(Relaxed);
        let rel = offset.wrapping_sub(self.region_off);
        if rel < self.blocks_start + UNIT || rel >= bump {
            return Err(FreeError::OutOfRange { offset });
        }
        if rel % UNIT != 0 {
            return Err(FreeError::Misaligned { offset });
        }
        let not_a_block = FreeError::NotABlock { offset };
        let mut idx = rel / UNIT - 1;
        // Relaxed (header loads here): written by the allocating thread before it returned
        // the offset; see `bump` above. The CAS in `free` re-validates the block word.
        let mut w = self.block(idx).word.load(Relaxed);
        let mut proxy = None;
        if w == block::word(self.salt, idx, RETIRED, 0) {
            return Err(FreeError::DoubleFree { offset });
        }
        if w == block::word(self.salt, idx, PROXY, 0) {
            // Relaxed: as above.
            let back = self.block(idx).link.load(Relaxed);
            let real = idx.checked_sub(back).filter(|&r| back > 0 && self.idx_in_blocks(r));
            let real = real.ok_or(not_a_block)?;
            proxy = Some(idx);
            idx = real;
            // Relaxed: as above.
            w = self.block(idx).word.load(Relaxed);
        }
        let class = block::class_of(w);
        if class >= self.num_classes {
            return Err(not_a_block);
        }
        let free_w = block::word(self.salt, idx, FREE, class);
        if w != block::word(self.salt, idx, ALLOC, class) && !(free_too && w == free_w) {
            return Err(if w == free_w { FreeError::DoubleFree { offset } } else { not_a_block });
        }
        let end = (idx + units(class)) * UNIT;
        if end > bump || proxy.is_some_and(|p| (p + 1) * UNIT >= end) {
            return Err(not_a_block);
        }
        Ok(Located { idx, class, proxy })
    }
}
