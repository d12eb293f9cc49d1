//! `stats` and `check`: walks of the free lists, bounded by each class's carved count.
//!
//! Both read a moving structure when other processes are allocating: the results are exact
//! only while the heap is quiescent (tests call them after the workers have stopped or
//! died). A concurrent walk can miscount or report a false error, but never loops, reads
//! outside the region or changes anything.

use super::block::{self, FREE};
use super::class::{block_bytes, UNIT};
use super::{CheckError, Heap};
use crate::atomic::Ordering::{Acquire, Relaxed};

/// Occupancy of one size class (see [`Heap::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassStats {
    /// The class number.
    pub class: u32,
    /// Block size in bytes, 16-byte header included.
    pub block_size: u64,
    /// Blocks of this class carved so far.
    pub carved: u64,
    /// Blocks in the free list.
    pub free: u64,
    /// Blocks carved and not in the free list: allocated, or leaked by a process that died
    /// while handling them.
    pub in_use: u64,
}

/// Occupancy of the whole heap (see [`Heap::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapStats {
    /// Region length in bytes now (a growable heap's grows).
    pub region_len: u64,
    /// Bytes of the region before the first block (heap header and class table).
    pub overhead: u64,
    /// Bytes from the region start up to which blocks have been carved.
    pub bump: u64,
    /// Bytes still available for carving.
    pub carve_remaining: u64,
    /// Block bytes (headers included) of blocks in use.
    pub in_use_bytes: u64,
    /// Block bytes (headers included) of blocks in free lists.
    pub free_bytes: u64,
    /// Carved bytes counted in no class: blocks carved by a process killed between the
    /// bump CAS and the class counter update (leaked).
    pub unaccounted: u64,
    /// Per-class figures, for every class that has carved at least one block.
    pub classes: Vec<ClassStats>,
    /// Free blocks in the merge stash (counted in `free` and `free_bytes` too): taken out
    /// of their lists by a merge pass that is running, or that died (the next merge puts
    /// them back). 0 on a quiescent heap whose last merger finished.
    pub stashed: u64,
}

impl HeapStats {
    /// Blocks in use over all classes.
    pub fn in_use_blocks(&self) -> u64 {
        self.classes.iter().map(|c| c.in_use).sum()
    }
}

impl Heap<'_> {
    /// Occupancy per class and overall (exact only while no other thread or process
    /// allocates or frees).
    ///
    /// # Example
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-stats", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let a = heap.alloc(100, 16).unwrap();
    /// let b = heap.alloc(100, 16).unwrap();
    /// heap.free(a).unwrap();
    /// let s = heap.stats();
    /// assert_eq!(s.in_use_blocks(), 1);
    /// assert_eq!(s.classes[0].free, 1);
    /// assert_eq!(s.in_use_bytes + s.free_bytes + s.unaccounted, s.bump - s.overhead);
    /// # heap.free(b).unwrap();
    /// ```
    pub fn stats(&self) -> HeapStats {
        let len = self.region_len();
        // Relaxed: a snapshot of a monotonic value.
        let bump = self.header().bump.load(Relaxed);
        let mut classes = Vec::new();
        let (mut in_use_bytes, mut free_bytes) = (0, 0);
        let stash = self.walk_stash().unwrap_or_else(|e| e.1);
        for c in 0..self.num_classes {
            // Relaxed: a statistic.
            let carved = self.slot(c).carved.load(Relaxed);
            if carved == 0 {
                continue;
            }
            let stashed = stash.get(c as usize).copied().unwrap_or(0);
            let free = self.walk(c, carved).unwrap_or_else(|e| e.1) + stashed;
            let in_use = carved.saturating_sub(free);
            let block_size = block_bytes(c);
            in_use_bytes += in_use * block_size;
            free_bytes += free * block_size;
            classes.push(ClassStats { class: c, block_size, carved, free, in_use });
        }
        let carved_bytes = in_use_bytes + free_bytes;
        HeapStats {
            region_len: len,
            overhead: self.blocks_start,
            bump,
            carve_remaining: len.saturating_sub(bump),
            in_use_bytes,
            free_bytes,
            unaccounted: (bump - self.blocks_start).saturating_sub(carved_bytes),
            classes,
            stashed: stash.iter().sum(),
        }
    }

    /// Validates the heap: the bump pointer, and every free list link by link (in bounds,
    /// aligned, header of the right class marked free, no cycle, no more blocks than were
    /// carved). Meant for tests and diagnostics on a quiescent heap.
    ///
    /// # Example
    /// ```
    /// # use zeroproc_shm::heap::Heap;
    /// # use zeroproc_shm::{Layout, Offset, Segment, HEADER_SIZE};
    /// # let seg = Segment::create(Layout::new("doc-heap-check", 1), 1 << 16).unwrap();
    /// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
    /// let off = heap.alloc(10, 16).unwrap();
    /// heap.free(off).unwrap();
    /// heap.check().unwrap();
    /// ```
    pub fn check(&self) -> Result<(), CheckError> {
        // Relaxed: a snapshot of a monotonic value.
        let bump = self.header().bump.load(Relaxed);
        let err = |problem| CheckError { class: None, offset: None, problem };
        if bump < self.blocks_start || bump > self.region_len() || bump % UNIT != 0 {
            return Err(err("bump pointer outside the block area or misaligned"));
        }
        let mut carved_bytes = 0u64;
        for c in 0..self.num_classes {
            // Relaxed: a statistic; see `stats`.
            let carved = self.slot(c).carved.load(Relaxed);
            carved_bytes = carved_bytes.saturating_add(carved.saturating_mul(block_bytes(c)));
            self.walk(c, carved).map_err(|e| e.0)?;
        }
        self.walk_stash().map_err(|e| e.0)?;
        if carved_bytes > bump - self.blocks_start {
            return Err(err("class counters claim more blocks than were carved"));
        }
        Ok(())
    }

    /// Bytes in the free lists plus the bytes left to carve: a read-only walk, exact on a
    /// quiescent heap, off by the blocks that move meanwhile otherwise (`merge.rs`).
    pub(crate) fn free_bytes_estimate(&self) -> u64 {
        let mut bytes = self.carve_remaining();
        for c in 0..self.num_classes {
            // Relaxed: a bound for the walk.
            let carved = self.slot(c).carved.load(Relaxed);
            if carved > 0 {
                let n = self.walk(c, carved).unwrap_or_else(|e| e.1);
                bytes = bytes.saturating_add(n.saturating_mul(block_bytes(c)));
            }
        }
        bytes
    }

    /// Walks the merge stash (`merge.rs`): blocks per class, or the first problem and the
    /// counts so far. Bounded by the carved blocks of all classes.
    fn walk_stash(&self) -> Result<Vec<u64>, (CheckError, Vec<u64>)> {
        // Relaxed: a snapshot; `check` is for quiescent heaps.
        let bump = self.header().bump.load(Relaxed);
        let bound: u64 =
            (0..self.num_classes).map(|c| self.slot(c).carved.load(Relaxed)).sum::<u64>();
        let mut counts = vec![0u64; self.num_classes as usize];
        let fail = |idx: u64, problem, counts| {
            let offset = Some(self.region_off + idx * UNIT);
            Err((CheckError { class: None, offset, problem }, counts))
        };
        // Acquire: pairs with the Release store in `stash_push`.
        let mut idx = self.header().stash.load(Acquire);
        let mut n = 0u64;
        while idx != 0 {
            if n >= bound {
                return fail(idx, "merge stash longer than the blocks carved", counts);
            }
            if !self.idx_in_blocks(idx) || (idx + 1) * UNIT > bump {
                return fail(idx, "merge stash link outside the carved block area", counts);
            }
            let b = self.block(idx);
            // Relaxed: ordered after the Acquire above (quiescent heap).
            let w = b.word.load(Relaxed);
            let c = block::class_of(w);
            if c >= self.num_classes
                || w != block::word(self.salt, idx, FREE, c)
                || idx * UNIT + block_bytes(c) > bump
            {
                return fail(idx, "merge stash block header is not a free block", counts);
            }
            counts[c as usize] += 1;
            n += 1;
            // Relaxed: as above.
            idx = b.link.load(Relaxed);
        }
        Ok(counts)
    }

    /// Walks the free list of class `c`, which can hold at most `carved` blocks. Returns
    /// its length, or the first problem and the number of blocks walked before it.
    fn walk(&self, c: u32, carved: u64) -> Result<u64, (CheckError, u64)> {
        // Relaxed: a snapshot; `check` is for quiescent heaps.
        let bump = self.header().bump.load(Relaxed);
        let fail = |idx: u64, problem, n| {
            let offset = Some(self.region_off + idx * UNIT);
            Err((CheckError { class: Some(c), offset, problem }, n))
        };
        // Acquire: pairs with the Release CAS in `push`, like `pop`.
        let mut idx = self.slot(c).head.load(Acquire) & ((1u64 << self.idx_bits) - 1);
        let mut n = 0u64;
        while idx != 0 {
            if n >= carved {
                return fail(
                    idx,
                    "free list longer than the blocks carved (cycle or duplicate)",
                    n,
                );
            }
            if !self.idx_in_blocks(idx) || (idx + 1) * UNIT > bump {
                return fail(idx, "link outside the carved block area", n);
            }
            if idx * UNIT + block_bytes(c) > bump {
                return fail(idx, "block runs past the bump pointer", n);
            }
            let b = self.block(idx);
            // Relaxed: ordered after the Acquire of the head (quiescent heap).
            if b.word.load(Relaxed) != block::word(self.salt, idx, FREE, c) {
                return fail(idx, "block header is not a free block of this class", n);
            }
            n += 1;
            // Relaxed: as above.
            idx = b.link.load(Relaxed);
        }
        Ok(n)
    }
}
