//! Reading either kind of envelope: the archive inline in the ring record, or spilled into
//! the shared heap (see [`crate::spill`] for the format and who frees what).
//!
//! Both are validated with bytecheck. A spilled record's offset and length are checked
//! against the heap (a live block, large enough) before anything in the block is read, so a
//! garbage record is a [`DecodeError`], never UB or a panic. The block is claimed by one
//! CAS before it is read and freed exactly once, when the [`SpillGuard`] drops.

use crate::envelope::{DecodeError, Header, FLAG_SPILLED, HEADER_LEN};
use crate::spill::{read_body, SpilledBlock, BLOCK_PREFIX};
use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::{rancor, Archive, Portable};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroproc_shm::heap::Heap;

/// What [`decode_any`] bounds `T` by: an archived form that can be validated.
pub trait Decode:
    Archive<Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
{
}

impl<T> Decode for T where
    T: Archive<Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
{
}

/// A validated archived value in a claimed heap block; frees the block when dropped.
///
/// Derefs to `T::Archived`. Its lifetime is only the heap's: the ring record it came from
/// may be released at once (e.g. to let the producer go on while a large payload is used).
pub struct SpillGuard<'h, T: Archive> {
    value: &'h T::Archived,
    heap: Heap<'h>,
    block: SpilledBlock,
}

impl<'h, T: Archive> SpillGuard<'h, T> {
    /// The heap block holding the archive.
    pub fn block(&self) -> SpilledBlock {
        self.block
    }

    /// The heap the block is in.
    pub fn heap(&self) -> Heap<'h> {
        self.heap
    }

    /// Hands the block over without freeing it: the caller now owns it (and must
    /// [`SpilledBlock::free`] it eventually). The archived view ends here.
    pub fn into_block(self) -> SpilledBlock {
        let me = std::mem::ManuallyDrop::new(self);
        me.block
    }
}

impl<T: Archive> Deref for SpillGuard<'_, T> {
    type Target = T::Archived;
    fn deref(&self) -> &T::Archived {
        self.value
    }
}

impl<T: Archive> Drop for SpillGuard<'_, T> {
    fn drop(&mut self) {
        // We won the claim, so nobody else frees this block; an error here would mean the
        // heap itself was damaged, and there is nothing better to do than leak.
        let _ = self.heap.free(self.block.offset);
    }
}

impl<T: Archive> std::fmt::Debug for SpillGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillGuard").field("block", &self.block).finish_non_exhaustive()
    }
}

/// A decoded value, inline in the ring record or in a claimed heap block. Derefs to
/// `T::Archived`; dropping it frees a spilled block.
pub enum Payload<'a, T: Archive> {
    /// Borrowed from the ring record.
    Inline(&'a T::Archived),
    /// In the shared heap (freed on drop).
    Spilled(SpillGuard<'a, T>),
}

impl<T: Archive> Payload<'_, T> {
    /// Whether the value came through the heap.
    pub fn is_spilled(&self) -> bool {
        matches!(self, Payload::Spilled(_))
    }
}

impl<T: Archive> Deref for Payload<'_, T> {
    type Target = T::Archived;
    fn deref(&self) -> &T::Archived {
        match self {
            Payload::Inline(v) => v,
            Payload::Spilled(g) => g,
        }
    }
}

impl<T: Archive> std::fmt::Debug for Payload<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Inline(_) => f.write_str("Payload::Inline(..)"),
            Payload::Spilled(g) => write!(f, "Payload::Spilled({g:?})"),
        }
    }
}

/// Decodes an envelope of either kind; the returned header's flags never include
/// [`FLAG_SPILLED`]. See [`crate::spill::send_any`] for an example.
///
/// ```
/// use zeroproc_codec::{envelope::{encode_into, Header}, payload::decode_any};
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-decode-any", 1), 1 << 16).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 16).unwrap();
/// let mut buf = rkyv::util::Align([0u8; 64]);
/// let n = encode_into(&mut buf.0, Header::new(1, 0), &7u32).unwrap();
/// let (_, v) = decode_any::<u32>(&buf.0[..n], &heap).unwrap();
/// assert!(!v.is_spilled());
/// assert_eq!(*v, 7);
/// ```
pub fn decode_any<'a, T: Decode>(
    bytes: &'a [u8],
    heap: &Heap<'a>,
) -> Result<(Header, Payload<'a, T>), DecodeError> {
    let h = Header::read(bytes)?;
    if h.flags & FLAG_SPILLED != 0 {
        let (h, g) = decode_spilled::<T>(bytes, heap)?;
        return Ok((h, Payload::Spilled(g)));
    }
    let a = crate::envelope::access::<T>(&bytes[HEADER_LEN..]).map_err(DecodeError::Invalid)?;
    Ok((h, Payload::Inline(a)))
}

/// Decodes a spilled envelope: checks the reference against `heap`, claims the block,
/// validates the archive in it. A block that fails validation is freed (it was claimed, so
/// it is ours) and the error returned. The guard borrows only the heap, so the ring record
/// can be released at once.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-decode-spilled", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::{envelope::Header, payload::decode_spilled, spill::send_any_with};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// send_any_with(&mut tx, &heap, Header::new(1, 0), &vec![3u16; 1000], 0).unwrap();
/// let (_, guard) = decode_spilled::<Vec<u16>>(&rx.recv().unwrap(), &heap).unwrap();
/// // the record is released already; the value lives in the heap until `guard` drops
/// assert_eq!(guard.len(), 1000);
/// let block = guard.into_block(); // or hand it over: now ours to free
/// block.free(&heap).unwrap();
/// ```
pub fn decode_spilled<'h, T: Decode>(
    bytes: &[u8],
    heap: &Heap<'h>,
) -> Result<(Header, SpillGuard<'h, T>), DecodeError> {
    decode_spilled_then(bytes, heap, |_| {})
}

/// [`decode_spilled`], telling `owned` when the block is this caller's: `owned(true)`
/// right after it was claimed, before the archive is validated, and `owned(false)` just
/// before an archive that failed validation has its block freed (a channel consumer
/// records the block as its own in between, so that it is reclaimed if the process dies
/// while validating or using it).
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-decode-spilled-then", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::{envelope::Header, payload::decode_spilled_then, spill::send_any_with};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// send_any_with(&mut tx, &heap, Header::new(1, 0), &vec![3u16; 1000], 0).unwrap();
/// let mut owned = false;
/// let (_, g) =
///     decode_spilled_then::<Vec<u16>>(&rx.recv().unwrap(), &heap, |o| owned = o).unwrap();
/// assert!(owned);
/// assert_eq!(g.len(), 1000);
/// ```
pub fn decode_spilled_then<'h, T: Decode>(
    bytes: &[u8],
    heap: &Heap<'h>,
    owned: impl FnMut(bool),
) -> Result<(Header, SpillGuard<'h, T>), DecodeError> {
    decode_spilled_as(bytes, heap, 0, owned)
}

/// [`decode_spilled_then`], claiming the block by storing `owner` in its claim word
/// instead of 0: an [`owner_token`](crate::spill::owner_token) (or 0, as
/// `decode_spilled_then`). The block then names its holder, so whoever reclaims the blocks
/// of dead processes can tell a block this process claimed (and died holding) from one
/// that was freed and handed to someone else meanwhile — without a second store after
/// the claim, where a kill would lose that information.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-decode-spilled-as", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::{envelope::Header, payload::decode_spilled_as, spill::*};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// send_any_with(&mut tx, &heap, Header::new(1, 0), &vec![3u16; 1000], 0).unwrap();
/// let me = owner_token(std::process::id());
/// let (_, g) = decode_spilled_as::<Vec<u16>>(&rx.recv().unwrap(), &heap, me, |_| {}).unwrap();
/// let b = g.into_block();
/// assert!(owned_by(&heap, b.offset, me));
/// b.free(&heap).unwrap();
/// ```
pub fn decode_spilled_as<'h, T: Decode>(
    bytes: &[u8],
    heap: &Heap<'h>,
    owner: u64,
    mut owned: impl FnMut(bool),
) -> Result<(Header, SpillGuard<'h, T>), DecodeError> {
    let (h, block, archive) = claim_as(bytes, heap, owner)?;
    owned(true);
    match crate::envelope::access::<T>(archive) {
        Ok(value) => Ok((h, SpillGuard { value, heap: *heap, block })),
        Err(e) => {
            owned(false);
            let _ = heap.free(block.offset);
            Err(DecodeError::Invalid(e))
        }
    }
}

/// Releases what an envelope holds without reading it as any type: a spilled block is
/// claimed and freed; an inline envelope holds nothing. For records that will not be
/// decoded (a cancelled job, a receiver shutting down), so their blocks do not leak.
///
/// ```
/// use zeroproc_codec::{envelope::Header, payload::{decode_any, discard}, spill::send_any};
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-discard", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// send_any(&mut tx, &heap, Header::new(1, 0), &vec![0u8; 50_000]).unwrap();
/// let rec = rx.recv().unwrap();
/// discard(&rec, &heap).unwrap();
/// assert!(decode_any::<Vec<u8>>(&rec, &heap).is_err()); // gone: claimed once already
/// ```
pub fn discard(bytes: &[u8], heap: &Heap<'_>) -> Result<Header, DecodeError> {
    let h = Header::read(bytes)?;
    if h.flags & FLAG_SPILLED == 0 {
        return Ok(h);
    }
    let (h, block, _) = claim(bytes, heap)?;
    let _ = heap.free(block.offset);
    Ok(h)
}

/// Validates a spilled envelope's reference and claims its block; returns the header
/// (without [`FLAG_SPILLED`]), the block and the archive bytes. The caller owns the block
/// from here on and must free it.
pub fn claim<'h>(
    bytes: &[u8],
    heap: &Heap<'h>,
) -> Result<(Header, SpilledBlock, &'h [u8]), DecodeError> {
    claim_as(bytes, heap, 0)
}

/// [`claim`], storing `owner` (0 or an [`owner_token`](crate::spill::owner_token)) in the
/// claim word.
fn claim_as<'h>(
    bytes: &[u8],
    heap: &Heap<'h>,
    owner: u64,
) -> Result<(Header, SpilledBlock, &'h [u8]), DecodeError> {
    let h = Header::read(bytes)?;
    if h.flags & FLAG_SPILLED == 0 {
        return Err(DecodeError::NotSpilled);
    }
    let block = read_body(&bytes[HEADER_LEN..]).map_err(DecodeError::BadSpill)?;
    let archive = claim_block(heap, &block, owner)?;
    Ok((Header { flags: h.flags & !FLAG_SPILLED, ..h }, block, archive))
}

/// Takes back a block its sender wrote but never referenced from a published record —
/// the sender died between writing and publishing (a worker killed in its result's
/// `Drop`): claims it by its nonce and frees it. False when the nonce does not match (a
/// reader claimed the block already, or it was freed and reused): nothing is touched.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-reclaim", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::{payload::reclaim, spill::spill};
/// let b = spill(&heap, &vec![1u8; 100], 0).unwrap();
/// assert!(reclaim(&heap, &b));
/// assert!(!reclaim(&heap, &b)); // once
/// assert_eq!(heap.stats().in_use_blocks(), 0);
/// ```
pub fn reclaim(heap: &Heap<'_>, block: &SpilledBlock) -> bool {
    match claim_block(heap, block, 0) {
        Ok(_) => heap.free(block.offset).is_ok(),
        Err(_) => false,
    }
}

/// Checks `block` against the heap and claims it (its claim word: nonce → 0); returns
/// its archive bytes. The caller owns the block from here on and must free it.
fn claim_block<'h>(
    heap: &Heap<'h>,
    block: &SpilledBlock,
    owner: u64,
) -> Result<&'h [u8], DecodeError> {
    let total = block.len.checked_add(BLOCK_PREFIX).ok_or(DecodeError::BadSpill("length"))?;
    // A live block (header check) whose usable size holds prefix + archive.
    let usable =
        heap.usable_size(block.offset).map_err(|_| DecodeError::BadSpill("not a heap block"))?;
    if total > usable {
        return Err(DecodeError::BadSpill("length exceeds the block"));
    }
    let p = heap.ptr_len(block.offset, total).map_err(|_| DecodeError::BadSpill("range"))?;
    // SAFETY: `p` is the 16-byte aligned start of a live block of at least 16 bytes in the
    // mapping, which lives for 'h; the claim word is only ever accessed atomically.
    let word = unsafe { &*p.as_ptr().cast::<AtomicU64>() };
    // AcqRel: exactly one claimant of a nonce wins (a duplicate decode, or a stale record
    // meeting a reused block, fails); Acquire pairs with the Release store of the nonce in
    // `spill::spill`, after which the archive bytes are visible.
    word.compare_exchange(block.nonce, owner, Ordering::AcqRel, Ordering::Relaxed)
        .map_err(|_| DecodeError::Claimed)?;
    // SAFETY: the block is ours (claimed); its archive was written before the nonce was
    // published and nobody writes it again before we free it; `BLOCK_PREFIX + len` bytes
    // are in bounds (checked).
    Ok(unsafe { std::slice::from_raw_parts(p.as_ptr().add(BLOCK_PREFIX), block.len) })
}
