//! Growing a heap when it is full: extend the segment's file, then publish the heap's new
//! length (`extent.rs`: Release after the reservation; every reader Acquires it before
//! touching memory below it). No lock: racing growers each reserve, and the largest
//! length stays (`fetch_max`); a grower killed in between leaves reserved pages that the
//! next growth covers again. No process remaps: each mapped the maximum at attach.

use super::{AllocError, Heap};
use crate::atomic::Ordering::Relaxed;
use crate::segment::{grow_file, Header};

/// Granularity of growth (the page size every zeroproc platform has).
const PAGE: u64 = 4096;

impl Heap<'_> {
    /// Makes room to carve `bytes` more: grows the heap to at least twice its length (and
    /// at least to the bump pointer plus `bytes`), capped at the maximum. `Ok(true)`: the
    /// heap is now longer than when the carve failed (by us or by a racing grower): carve
    /// again. `Ok(false)`: it cannot grow (at its maximum, the block does not fit below
    /// it, or this handle has no descriptor).
    pub(crate) fn grow_for(&self, bytes: u64, seen: u64) -> Result<bool, AllocError> {
        let now = self.region_len();
        if now > seen {
            return Ok(true);
        }
        if self.fd < 0 || now >= self.max_len {
            return Ok(false);
        }
        // Relaxed: a hint for the size; the carve re-checks under the extent.
        let want = self.header().bump.load(Relaxed).saturating_add(bytes);
        if want > self.max_len {
            return Ok(false);
        }
        self.grow_to(want.max(now.saturating_mul(2)), bytes)?;
        Ok(true)
    }

    /// Grows the heap to its maximum (for a merge pass: the room past the region is free
    /// too, and may join the free blocks carved last into a run long enough for a block
    /// that `grow_for` refused because it does not fit after the bump pointer). `Ok(true)`
    /// if it grew; `Ok(false)` at the maximum or without a descriptor.
    pub(crate) fn grow_to_limit(&self) -> Result<bool, AllocError> {
        if self.fd < 0 || self.region_len() >= self.max_len {
            return Ok(false);
        }
        self.grow_to(self.max_len, self.max_len)?;
        Ok(true)
    }

    /// Reserves the segment's file up to `target` bytes of region (rounded up to a page,
    /// capped at the maximum) and publishes the new length; `bytes`: the request, for the
    /// error.
    fn grow_to(&self, target: u64, bytes: u64) -> Result<(), AllocError> {
        let end =
            (self.region_off + target).next_multiple_of(PAGE).min(self.region_off + self.max_len);
        let target = end - self.region_off;
        // SAFETY: the region starts `region_off` bytes after the segment base, where the
        // segment header lies (validated when the heap was set up on this segment), and
        // `fd` is the segment's descriptor, open for the handle's lifetime.
        let seg_header =
            unsafe { &*self.region.as_ptr().sub(self.region_off as usize).cast::<Header>() };
        // SAFETY: `fd` is the descriptor of the file mapped under `seg_header` (see above).
        unsafe { grow_file(self.fd, seg_header, end) }
            .map_err(|error| AllocError::GrowFailed { requested: bytes, error })?;
        // After the segment's file is reserved up to `end` (see `extent.rs`).
        self.header().len.publish(target);
        Ok(())
    }
}
