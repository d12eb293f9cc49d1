//! `release_free_pages`: hands the memory of large free blocks back to the system, so a
//! heap that grew for a burst of big payloads does not keep that memory resident for the
//! rest of its life (blocks are never unmapped; only their pages are dropped).

use super::block;
use super::class::{block_bytes, units, UNIT};
use super::Heap;
use crate::atomic::Ordering::{Acquire, Relaxed};

/// The page size the pages are released in (every process maps the segment
/// page-aligned, see [`MAX_ALIGN`](super::MAX_ALIGN)).
const PAGE: u64 = 4096;

impl Heap<'_> {
    /// Releases the memory pages inside every free block of at least `min_block` bytes
    /// (`madvise(MADV_REMOVE)`: the backing file's pages are freed for every process that
    /// maps it) and returns how many bytes were released. The blocks stay in their free
    /// lists; a later allocation of one gets zeroed pages, faulted in as it writes them.
    ///
    /// Each free block is taken out of its list while its pages are released (it is owned
    /// for that moment, so no other allocation can be writing into it), then put back: an
    /// `alloc` racing with this call may find the list empty and carve or grow instead (at
    /// the heap's maximum it waits for the call to end, as for a merge pass). The call holds
    /// the merge lock and keeps the blocks on the merge stash meanwhile, so a process killed
    /// inside it loses at most the one block being moved: the next process that takes the
    /// lock over puts the others back. A merge lock held by a halted process: nothing is
    /// released (0). Call it when the heap is quiet. Pages of a memfd-backed heap come back from the
    /// system's memory on the next write (a memfd has no size limit); for a heap in a
    /// size-limited tmpfs file the next write may fail with SIGBUS when that file system is
    /// full, so use it there only when that cannot happen.
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let seg = Segment::create(Layout::new("doc-heap-release", 1), 8 << 20).unwrap();
    /// let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 8 << 20).unwrap();
    /// let big = heap.alloc(4 << 20, 16).unwrap();
    /// heap.free(big).unwrap();
    /// assert!(heap.release_free_pages(1 << 20) >= (4 << 20) - 8192);
    /// assert_eq!(heap.alloc(4 << 20, 16).unwrap(), big); // the same block, still usable
    /// # heap.check().unwrap();
    /// ```
    pub fn release_free_pages(&self, min_block: u64) -> u64 {
        // The blocks are held on the merge pass's stash, under the merge lock, while their
        // pages go: a process killed meanwhile (a trim thread runs in any process that took
        // large values) leaves them to whoever takes the lock over from it, who pushes
        // them back (`merge.rs`), instead of leaking every large free block of the heap.
        // Allocations that find their list empty meanwhile wait for the lock (as for a
        // merge pass) and then find the blocks back. A halted holder: nothing now.
        let Some(_lock) = self.stash_lock() else { return 0 };
        for c in 0..self.num_classes {
            if block_bytes(c) < min_block {
                continue;
            }
            // Take every free block of the class (pushing one back at once would pop it
            // again).
            while let Ok(Some(idx)) = self.pop(c) {
                self.stash_push(idx, c);
            }
        }
        let mut released = 0;
        // Acquire: pairs with `stash_push`'s Release; the stash is ours (we hold the lock).
        let mut idx = self.header().stash.load(Acquire);
        while idx != 0 && self.idx_in_blocks(idx) {
            let b = self.block(idx);
            // Relaxed (both): written by this thread in `stash_push`.
            let c = block::class_of(b.word.load(Relaxed));
            if c < self.num_classes {
                released += self.release_block_pages(idx, c);
            }
            idx = b.link.load(Relaxed);
        }
        // Back to their lists (each stays marked FREE, as `stash_push` left it).
        while let Some((idx, c)) = self.stash_pop() {
            self.push(c, idx);
        }
        released
    }

    /// Releases the memory pages of the room no block was carved from yet — between the
    /// bump pointer and the region's end (`madvise(MADV_REMOVE)`, as
    /// [`release_free_pages`](Self::release_free_pages) does for free blocks) — at most
    /// `max` bytes of it per call, from `end` (a region offset; the region's length for
    /// the first call) down. Returns where the next call continues (`Some(end)`), or
    /// `None` once it reached the bump pointer. In steps, so a caller that must hold off
    /// allocations meanwhile holds them off a bounded time (MADV_REMOVE takes about
    /// 0.2 ms per MiB of pages in memory, 2026-12-07).
    ///
    /// That room is reserved when the heap is made or grows (`fallocate`: a growable
    /// heap's whole first length, then each growth), so without this a heap keeps its
    /// first length (and the untouched part of every growth) in the system's shared memory
    /// (`Shmem` in `/proc/meminfo`, charged to a memory cgroup) for its life, though no
    /// process maps those pages and no RSS shows them. A later carve into released room
    /// gets zeroed pages, faulted in as it writes them (from the system's memory for a
    /// memfd-backed heap; a heap in a size-limited tmpfs file could meet SIGBUS there, as
    /// after `release_free_pages`).
    ///
    /// # Safety
    ///
    /// No process may carve a block from this heap while the call runs (an allocation that
    /// finds its free list empty carves): a block carved meanwhile could lose what its
    /// owner wrote into it before the pages went. The pool's supervisor calls it holding
    /// the pool's lock, under which every argument is placed, with no job in flight (so no
    /// worker writes a result).
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let seg = Segment::create(Layout::new("doc-heap-tail", 1), 8 << 20).unwrap();
    /// let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 8 << 20).unwrap();
    /// let small = heap.alloc(100, 16).unwrap();
    /// let mut end = Some(heap.region_len());
    /// let mut steps = 0;
    /// while let Some(e) = end {
    ///     // SAFETY: no other thread or process uses this heap.
    ///     end = unsafe { heap.release_tail_pages(e, 1 << 20) };
    ///     steps += 1;
    /// }
    /// assert_eq!(steps, 8); // 1 MiB at a time
    /// let big = heap.alloc(4 << 20, 16).unwrap(); // carved from the released room
    /// heap.free(big).unwrap();
    /// heap.free(small).unwrap();
    /// # heap.check().unwrap();
    /// ```
    pub unsafe fn release_tail_pages(&self, end: u64, max: u64) -> Option<u64> {
        // Acquire: the carves before this call reached the caller through its own
        // synchronisation (the pool drained their jobs' completions), so this load sees
        // the bump past every block carved; none moves it during the call (the caller's
        // guarantee). `region_len` reads the length with Acquire, pairing with a grow's
        // Release publish: the range below it is reserved.
        let bump = self.header().bump.load(Acquire);
        // Whole pages, in segment offsets: the region starts `region_off` into a
        // page-aligned mapping. Each step ends where the last began (page-aligned).
        let floor = (self.region_off + bump).next_multiple_of(PAGE);
        let hi = (self.region_off + end.min(self.region_len())) / PAGE * PAGE;
        let lo = hi.saturating_sub(max.next_multiple_of(PAGE).max(PAGE)).max(floor);
        if hi <= lo {
            return None;
        }
        // SAFETY: `region_off + bump <= floor <= lo < hi <= region_off + region_len()`
        // (the length read with Acquire above: backed), so the range lies inside the
        // region of this process's mapping of the segment. No block lies at or past the
        // bump pointer, and the caller guarantees none is carved there during the call, so
        // nothing of anyone's points into the range. MADV_REMOVE only drops the backing
        // pages (later reads see zeroes); pages it could not drop stay as they were.
        unsafe {
            let p = self.region.as_ptr().add((lo - self.region_off) as usize);
            libc::madvise(p.cast(), (hi - lo) as usize, libc::MADV_REMOVE);
        }
        (lo > floor).then_some(lo - self.region_off)
    }

    /// A number that changes whenever a block of at least `min_block` bytes is allocated,
    /// freed or carved (any process), and stays the same while none is: the free-list
    /// heads of those classes (their tags move with every push and pop) and their carve
    /// counts, folded together. For deciding that a heap has been
    /// quiet long enough to [`release_free_pages`](Self::release_free_pages) (a few loads
    /// per class; `release_free_pages` changes it too).
    ///
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// let seg = Segment::create(Layout::new("doc-heap-activity", 1), 8 << 20).unwrap();
    /// let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 8 << 20).unwrap();
    /// let quiet = heap.large_activity(1 << 20);
    /// let small = heap.alloc(100, 16).unwrap();
    /// assert_eq!(heap.large_activity(1 << 20), quiet, "small blocks are not counted");
    /// let big = heap.alloc(2 << 20, 16).unwrap();
    /// heap.free(big).unwrap();
    /// assert_ne!(heap.large_activity(1 << 20), quiet);
    /// # heap.free(small).unwrap();
    /// ```
    pub fn large_activity(&self, min_block: u64) -> u64 {
        // Relaxed (all): a snapshot compared with a later one; a torn view only delays or
        // hastens one release.
        let mut h = 0u64;
        for c in 0..self.num_classes {
            if block_bytes(c) < min_block {
                continue;
            }
            let slot = self.slot(c);
            let (head, carved) = (slot.head.load(Relaxed), slot.carved.load(Relaxed));
            h = (h.rotate_left(13) ^ head).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ carved;
        }
        h
    }

    /// Releases the whole pages of block `idx` of class `c` after its header; the block
    /// is owned by the caller (popped). Returns the bytes released.
    fn release_block_pages(&self, idx: u64, c: u32) -> u64 {
        // Region-relative bounds of the payload; the header unit is kept.
        let start = (idx + 1) * UNIT;
        let end = (idx + units(c)) * UNIT;
        // Page bounds in the segment (the region starts at `region_off` of a page-aligned
        // mapping), so rounding the absolute offsets rounds the addresses.
        let lo = (self.region_off + start).next_multiple_of(PAGE);
        let hi = (self.region_off + end) / PAGE * PAGE;
        if hi <= lo || end > self.region_len() {
            return 0;
        }
        let len = (hi - lo) as usize;
        // SAFETY: `region_off <= lo < hi <= region_off + end` and `end <= region_len()`
        // (checked), so the range lies inside the region, in this process's mapping of the
        // segment, and inside the block's payload, which we own (popped): no other thread
        // or process reads or writes it until it is pushed back. MADV_REMOVE only drops
        // the backing pages (later reads see zeroes); nothing of ours points into it.
        let rc = unsafe {
            let p = self.region.as_ptr().add((lo - self.region_off) as usize);
            libc::madvise(p.cast(), len, libc::MADV_REMOVE)
        };
        if rc == 0 {
            len as u64
        } else {
            0
        }
    }
}
