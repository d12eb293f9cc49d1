//! Spilling: archives too large for a ring record go to a block of the shared heap, and
//! the record carries a small envelope that points at it.
//!
//! ```text
//! ring record:  envelope header (flags | FLAG_SPILLED) | offset u64 | len u64 | nonce u64 | 0 u64
//! heap block:   claim AtomicU64 (= nonce while unread, 0 once claimed) | 8 bytes reserved
//!               | archive (len bytes, 16-byte aligned)
//! ```
//!
//! The value is serialized **directly into the heap block** (no intermediate `Vec`): a
//! block of the estimated size is allocated, the archive is written in place with
//! [`SlotWriter`], and on overflow the block is freed and a
//! larger one tried (at least double, at least what the failed attempt showed it needs).
//!
//! The reader ([`crate::payload`]) claims the block by a CAS of the claim word from the
//! record's nonce to 0, so that one record is read and freed **once**, even if its bytes
//! are decoded twice or a stale copy turns up after the block was reused. Who frees:
//!
//! | state | owner of the block |
//! |---|---|
//! | written, record not yet committed | the sender (freed again if the commit fails) |
//! | record committed, not claimed | the record: leaked if nobody ever decodes or [`discard`](crate::payload::discard)s it |
//! | claimed | the [`SpillGuard`](crate::payload::SpillGuard), which frees on drop |
//! | handed over ([`SpillGuard::into_block`](crate::payload::SpillGuard::into_block)) | whoever holds the [`SpilledBlock`] |

use crate::envelope::{self, Encode, EncodeError, Header, FLAG_SPILLED, HEADER_LEN};
use crate::writer::SlotWriter;
use rkyv::rancor;
use rkyv::ser::Positional;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroproc_ring::spsc::{Producer, ReserveError};
use zeroproc_shm::heap::{AllocError, FreeError, Heap};
use zeroproc_shm::Offset;

/// Bytes of the spilled envelope's body (after the 16-byte header).
pub const SPILL_BODY_LEN: usize = 32;
/// Bytes in front of the archive inside a heap block (claim word + reserved).
pub const BLOCK_PREFIX: usize = 16;
/// The smallest heap block [`spill`] starts with.
pub const MIN_SPILL: usize = 64 << 10;

/// Set in a claim word that names the process holding the block
/// ([`owner_token`]); never set in a nonce.
pub const OWNER_BIT: u64 = 1 << 63;

/// The claim-word value that says "claimed by process `pid`"
/// ([`decode_spilled_as`](crate::payload::decode_spilled_as)): distinct from every nonce
/// (those never have [`OWNER_BIT`]) and from 0.
///
/// ```
/// use zeroproc_codec::spill::{owner_token, OWNER_BIT};
/// assert_eq!(owner_token(42), OWNER_BIT | 42);
/// ```
pub fn owner_token(pid: u32) -> u64 {
    OWNER_BIT | u64::from(pid)
}

/// Whether the claim word of the live block at `offset` holds `token` (false for an
/// offset that is not a live block).
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-owned-by", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::spill::{owned_by, owner_token, spill};
/// let b = spill(&heap, &vec![1u8; 100], 0).unwrap();
/// assert!(owned_by(&heap, b.offset, b.nonce)); // unread: its nonce
/// assert!(!owned_by(&heap, b.offset, owner_token(1)));
/// # b.free(&heap).unwrap();
/// ```
pub fn owned_by(heap: &Heap<'_>, offset: Offset<u8>, token: u64) -> bool {
    claim_word(heap, offset).is_some_and(|w| w.load(Ordering::Acquire) == token)
}

/// The claim word of the live block at `offset` (None if it is not a live block).
pub fn claim_word<'h>(heap: &Heap<'h>, offset: Offset<u8>) -> Option<&'h AtomicU64> {
    if heap.usable_size(offset).ok()? < BLOCK_PREFIX {
        return None;
    }
    let p = heap.ptr_len(offset, 8).ok()?;
    // SAFETY: `p` is the 16-byte aligned start of a live heap block of at least 16 bytes
    // (checked above) in a mapping that lives for 'h; the claim word is only ever
    // accessed atomically.
    Some(unsafe { &*p.as_ptr().cast::<AtomicU64>() })
}

/// What [`spill_recorded`] tells its recorder, in this order for each block it tries:
/// `Allocating`, then either `Released` (the heap had no block) or `Allocated` →
/// `Stamped` → (`Released` if the block was too small and is about to be freed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// About to allocate: from here until `Allocated`, a block may be ours that nobody
    /// but the heap knows of.
    Allocating,
    /// Just allocated (the first thing after the heap returned it): the claim word holds
    /// anything yet. Ours, unpublished.
    Allocated(Offset<u8>),
    /// Its claim word holds the block's nonce now.
    Stamped(&'a SpilledBlock),
    /// Holds no block any more (none was allocated, or the one allocated is about to be
    /// freed).
    Released,
}

/// An archive sitting in the shared heap: where, how long, and the nonce that claims it.
///
/// Whoever holds a `SpilledBlock` is responsible for the heap block: send it (e.g. with
/// [`write_spilled_envelope`]) or [`free`](Self::free) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpilledBlock {
    /// Offset of the heap block (from the heap segment's base).
    pub offset: Offset<u8>,
    /// Bytes of archive after the [`BLOCK_PREFIX`].
    pub len: usize,
    /// The claim word's value while the block waits for its reader (never 0).
    pub nonce: u64,
}

impl SpilledBlock {
    /// Returns the block to the heap.
    pub fn free(self, heap: &Heap<'_>) -> Result<(), FreeError> {
        heap.free(self.offset)
    }
}

/// Why spilling failed.
#[derive(Debug)]
pub enum SpillError {
    /// The heap has no block large enough (or was given a bad request).
    Heap(AllocError),
    /// The value could not be serialized.
    Serialize(rancor::Error),
}

impl fmt::Display for SpillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpillError::Heap(e) => write!(f, "spill: {e}"),
            SpillError::Serialize(e) => write!(f, "spill: serialization failed: {e}"),
        }
    }
}

impl std::error::Error for SpillError {}

/// Serializes `value` directly into a new block of `heap`, starting with a block of
/// `estimate` bytes (at least [`MIN_SPILL`]) and growing it on overflow. The block is
/// ready to be referenced by a spilled envelope.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-spill", 1), 4 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 4 << 20).unwrap();
/// use zeroproc_codec::spill::spill;
/// let b = spill(&heap, &vec![1.5f64; 100_000], 0).unwrap(); // grows from 64 KiB
/// assert!(b.len >= 800_000);
/// b.free(&heap).unwrap();
/// ```
pub fn spill<T: Encode>(
    heap: &Heap<'_>,
    value: &T,
    estimate: usize,
) -> Result<SpilledBlock, SpillError> {
    spill_from(heap, value, estimate.max(MIN_SPILL))
}

/// [`spill`] starting with a block of exactly `first` archive bytes (no [`MIN_SPILL`]
/// floor): for callers whose values are only somewhat larger than a slot (the typed
/// queue), where a 64 KiB first block would waste most of a small heap.
pub fn spill_from<T: Encode>(
    heap: &Heap<'_>,
    value: &T,
    first: usize,
) -> Result<SpilledBlock, SpillError> {
    spill_tracked(heap, value, first, |_| {})
}

/// [`spill_from`], telling `track` which block it holds while it writes: `Some(block)`
/// right after allocating one (its claim word already holds the block's nonce, so a
/// supervisor can take it back with [`payload::reclaim`](crate::payload::reclaim) if
/// this process dies before publishing it), `None` just before freeing one that was too
/// small. On success the last `Some` is the returned block, still held: the caller
/// clears its record once the block's reference is published.
pub fn spill_tracked<T: Encode>(
    heap: &Heap<'_>,
    value: &T,
    first: usize,
    mut track: impl FnMut(Option<&SpilledBlock>),
) -> Result<SpilledBlock, SpillError> {
    spill_recorded(heap, value, first, |r| match r {
        Record::Stamped(b) => track(Some(b)),
        Record::Released => track(None),
        Record::Allocating | Record::Allocated(_) => {}
    })
}

/// [`spill_tracked`] with a finer record: `record` also learns when an allocation is
/// about to start and which block it returned, before the claim word is stamped (see
/// [`Record`]), so that a holds table can name the block from the first instruction
/// after the heap handed it out.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-spill-recorded", 1), 4 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 4 << 20).unwrap();
/// use zeroproc_codec::spill::{spill_recorded, Record};
/// let mut seen = Vec::new();
/// let b = spill_recorded(&heap, &vec![1u8; 1000], 16, |r| {
///     seen.push(matches!(r, Record::Allocating | Record::Allocated(_) | Record::Stamped(_)))
/// })
/// .unwrap();
/// // 16 bytes first: too small, released, then a larger block.
/// assert_eq!(seen, [true, true, true, false, true, true, true]);
/// b.free(&heap).unwrap();
/// ```
pub fn spill_recorded<T: Encode>(
    heap: &Heap<'_>,
    value: &T,
    first: usize,
    track: impl FnMut(Record<'_>),
) -> Result<SpilledBlock, SpillError> {
    spill_noted(heap, value, first, &mut Unnoted(track))
}

/// Who follows a spill's blocks ([`spill_noted`]): told every [`Record`], and possibly
/// owning a word in shared memory (e.g. an entry of a table of holders) in which the heap
/// itself names each block as it hands it out and clears as it takes it back
/// (`Heap::alloc_noted`, `Heap::free_noted`): a holder killed at any instruction between
/// is then left named there, for a survivor to take the block back.
pub trait Recorder {
    /// Told each step, as [`spill_recorded`]'s closure.
    fn record(&mut self, r: Record<'_>);
    /// The word the heap names the block in, read after each [`Record::Allocating`]
    /// (None: no note; the block is named only by [`Record::Allocated`]).
    fn note(&self) -> Option<&AtomicU64>;
}

/// A [`Recorder`] without a note: a closure told every [`Record`].
pub struct Unnoted<F>(pub F);

impl<F: FnMut(Record<'_>)> Recorder for Unnoted<F> {
    fn record(&mut self, r: Record<'_>) {
        (self.0)(r)
    }
    fn note(&self) -> Option<&AtomicU64> {
        None
    }
}

/// [`spill_recorded`] whose blocks the heap names in `track`'s [note](Recorder::note)
/// from the CAS that takes each one to the CAS that gives a too-small one back.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-spill-noted", 1), 4 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 4 << 20).unwrap();
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use zeroproc_codec::spill::{spill_noted, Record, Recorder};
/// struct Note(AtomicU64); // in shared memory, in real use
/// impl Recorder for Note {
///     fn record(&mut self, _: Record<'_>) {}
///     fn note(&self) -> Option<&AtomicU64> { Some(&self.0) }
/// }
/// let mut n = Note(AtomicU64::new(0));
/// let b = spill_noted(&heap, &vec![1u8; 1000], 16, &mut n).unwrap();
/// assert_eq!(n.0.load(Ordering::Relaxed), b.offset.get()); // the first block was freed
/// heap.free_noted(b.offset, &n.0).unwrap();
/// ```
pub fn spill_noted<T: Encode, R: Recorder + ?Sized>(
    heap: &Heap<'_>,
    value: &T,
    first: usize,
    track: &mut R,
) -> Result<SpilledBlock, SpillError> {
    let mut size = first.max(16);
    loop {
        let alloc =
            size.checked_add(BLOCK_PREFIX).ok_or(SpillError::Heap(AllocError::OutOfMemory {
                requested: usize::MAX,
                align: 16,
                block_size: 0,
                carve_remaining: 0,
            }))?;
        track.record(Record::Allocating);
        let got = match track.note() {
            Some(note) => heap.alloc_noted(alloc, 16, note),
            None => heap.alloc(alloc, 16),
        };
        let offset = match got {
            Ok(o) => o,
            Err(e) => {
                track.record(Record::Released);
                return Err(SpillError::Heap(e));
            }
        };
        track.record(Record::Allocated(offset));
        // The whole block is ours: use all of it (size classes round up).
        let usable = heap.usable_size(offset).unwrap_or(alloc);
        let p = heap.ptr_len(offset, usable).expect("a block just allocated lies in the heap");
        // SAFETY: `offset` is a block of `usable` bytes we just allocated, so nobody else
        // reads or writes it until we publish it; shared memory is always initialised, so
        // viewing it as bytes is defined.
        let buf = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), usable) };
        let (prefix, body) = buf.split_at_mut(BLOCK_PREFIX);
        // SAFETY: the prefix is 16 bytes at a 16-byte aligned block start, ours.
        let claim = unsafe { &*prefix.as_mut_ptr().cast::<AtomicU64>() };
        let nonce = next_nonce();
        // Relaxed: no reader can claim the block before a record names it (the Release
        // store below publishes the archive); this only lets a supervisor reclaim it
        // after this process died holding it (`track`).
        claim.store(nonce, Ordering::Relaxed);
        track.record(Record::Stamped(&SpilledBlock { offset, len: 0, nonce }));
        let (overflowed, need) = (std::cell::Cell::new(false), std::cell::Cell::new(0));
        let r = rkyv::api::high::to_bytes_in::<_, rancor::Error>(
            value,
            SlotWriter::measured(body, &overflowed, &need),
        );
        match r {
            Ok(w) => {
                // Release: publishes the archive written above; pairs with the AcqRel claim
                // CAS in `payload::claim`, so a reader that wins the claim sees the bytes
                // even if the record reached it without a Release/Acquire of its own.
                claim.store(nonce, Ordering::Release);
                return Ok(SpilledBlock { offset, len: w.pos(), nonce });
            }
            Err(e) => {
                match track.note() {
                    // The heap clears the note between its CAS and the block's return to
                    // its list; then the record ends.
                    Some(note) => {
                        let _ = heap.free_noted(offset, note);
                        track.record(Record::Released);
                    }
                    None => {
                        // Before the free: never a record of a block not ours.
                        track.record(Record::Released);
                        let _ = heap.free(offset);
                    }
                }
                if !overflowed.get() {
                    return Err(SpillError::Serialize(e));
                }
                let need = need.get();
                size = size.saturating_mul(2).max(need.saturating_add(need / 8));
            }
        }
    }
}

/// Copies raw `bytes` (not an archive) into a new block of `heap`, published like
/// [`spill`]'s: the claim word holds a fresh nonce (Release) once the bytes are in.
pub fn spill_bytes(heap: &Heap<'_>, bytes: &[u8]) -> Result<SpilledBlock, SpillError> {
    let alloc =
        bytes.len().checked_add(BLOCK_PREFIX).ok_or(SpillError::Heap(AllocError::OutOfMemory {
            requested: usize::MAX,
            align: 16,
            block_size: 0,
            carve_remaining: 0,
        }))?;
    let offset = heap.alloc(alloc, 16).map_err(SpillError::Heap)?;
    let p = heap.ptr_len(offset, alloc).expect("a block just allocated lies in the heap");
    // SAFETY: `offset` is a block of at least `alloc` bytes we just allocated: nobody else
    // reads or writes it until we publish the nonce; the source is a separate slice.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(BLOCK_PREFIX), bytes.len())
    };
    // SAFETY: the prefix is 16 bytes at the 16-byte aligned block start, ours.
    let claim = unsafe { &*p.as_ptr().cast::<AtomicU64>() };
    let nonce = next_nonce();
    // Release: publishes the bytes copied above; pairs with the AcqRel claim CAS in
    // `payload::claim`, as in `spill`.
    claim.store(nonce, Ordering::Release);
    Ok(SpilledBlock { offset, len: bytes.len(), nonce })
}

/// Writes the spilled envelope for `block` into `buf` (at least `HEADER_LEN +`
/// [`SPILL_BODY_LEN`] bytes); returns the bytes used.
///
/// ```
/// # use zeroproc_shm::Offset;
/// use zeroproc_codec::{envelope::Header, spill::{write_spilled_envelope, SpilledBlock}};
/// let b = SpilledBlock { offset: Offset::new(4096), len: 10, nonce: 7 };
/// let mut buf = [0u8; 48];
/// assert_eq!(write_spilled_envelope(&mut buf, Header::new(1, 2), &b), 48);
/// ```
pub fn write_spilled_envelope(buf: &mut [u8], header: Header, block: &SpilledBlock) -> usize {
    let h = Header { flags: header.flags | FLAG_SPILLED, ..header };
    h.write(&mut buf[..HEADER_LEN]);
    let body = &mut buf[HEADER_LEN..HEADER_LEN + SPILL_BODY_LEN];
    body[0..8].copy_from_slice(&block.offset.get().to_le_bytes());
    body[8..16].copy_from_slice(&(block.len as u64).to_le_bytes());
    body[16..24].copy_from_slice(&block.nonce.to_le_bytes());
    body[24..32].fill(0);
    HEADER_LEN + SPILL_BODY_LEN
}

/// Parses a spilled envelope's body (the bytes after the header).
pub(crate) fn read_body(body: &[u8]) -> Result<SpilledBlock, &'static str> {
    if body.len() != SPILL_BODY_LEN {
        return Err("body is not 32 bytes");
    }
    let word = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let (offset, len, nonce) = (word(0), word(8), word(16));
    if nonce == 0 {
        return Err("zero nonce");
    }
    let len = usize::try_from(len).map_err(|_| "length overflows")?;
    Ok(SpilledBlock { offset: Offset::new(offset), len, nonce })
}

/// A process-unique, never-zero claim nonce: a per-process random key mixed with a counter.
///
/// The key is made again in a forked child (`zeroproc_shm::fork::ForkLocal`, hashing the
/// child's pid): the child's copy of the parent's key and counter gave it the very nonces
/// its parent went on to give, so blocks of the two spilled to one heap could carry the
/// same nonce.
fn next_nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = nonce_key();
    // Relaxed: only uniqueness matters, not ordering.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 of (key + n): distinct for distinct n, unpredictable across processes.
    let mut z = key.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    // Never 0, never with OWNER_BIT (an owner token is never taken for a nonce).
    ((z ^ (z >> 31)) & !OWNER_BIT).max(1)
}

/// This process's nonce key (see [`next_nonce`]).
fn nonce_key() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use zeroproc_shm::fork::ForkLocal;
    static KEY: ForkLocal<std::sync::OnceLock<u64>> = ForkLocal::new(std::sync::OnceLock::new);
    *KEY.get().get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    })
}

/// Why [`send_any`] failed. Nothing is leaked: a spilled block whose record could not be
/// committed is freed.
#[derive(Debug)]
pub enum SpillSendError {
    /// The value could not be serialized.
    Encode(EncodeError),
    /// The ring refused the reservation (disconnected, corrupt).
    Ring(ReserveError),
    /// The value was too large for the ring and the heap could not take it.
    Spill(SpillError),
}

impl fmt::Display for SpillSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpillSendError::Encode(e) => write!(f, "{e}"),
            SpillSendError::Ring(e) => write!(f, "{e}"),
            SpillSendError::Spill(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SpillSendError {}

/// How [`send_any`] delivered a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The archive is in the ring record.
    Inline,
    /// The archive (`bytes` long) is in the shared heap; the record points at it.
    Spilled {
        /// Archive length.
        bytes: usize,
    },
}

/// Sends `value` through `producer`, inline when its archive fits within a quarter of the
/// ring's largest record, otherwise spilled into `heap` (see [`send_any_with`]). Blocks
/// while the ring is full. The receiver reads either kind with
/// [`decode_any`](crate::payload::decode_any).
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-send-any", 1), 4 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 4 << 20).unwrap();
/// use zeroproc_codec::{envelope::Header, payload::decode_any, spill::{send_any, Sent}};
/// let (mut tx, mut rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// let big: Vec<u64> = (0..100_000).collect();
/// assert!(matches!(send_any(&mut tx, &heap, Header::new(1, 0), &big).unwrap(), Sent::Spilled { .. }));
/// let rec = rx.recv().unwrap();
/// let (_, v) = decode_any::<Vec<u64>>(&rec, &heap).unwrap();
/// assert_eq!(v.len(), 100_000);
/// drop(v); // frees the heap block
/// ```
pub fn send_any<T: Encode>(
    producer: &mut Producer,
    heap: &Heap<'_>,
    header: Header,
    value: &T,
) -> Result<Sent, SpillSendError> {
    let threshold = producer.max_payload() / 4;
    send_any_with(producer, heap, header, value, threshold)
}

/// [`send_any`] with an explicit threshold: envelopes larger than `threshold` bytes (header
/// included; at most the ring's largest record) are spilled.
///
/// ```
/// # use zeroproc_shm::{heap::Heap, Layout, Offset, Segment, HEADER_SIZE};
/// # let seg = Segment::create(Layout::new("doc-send-any-with", 1), 1 << 20).unwrap();
/// # let heap = Heap::init_in(&seg, Offset::new(HEADER_SIZE as u64), 1 << 20).unwrap();
/// use zeroproc_codec::{envelope::Header, spill::{send_any_with, Sent}};
/// let (mut tx, _rx) = zeroproc_ring::spsc::channel(1 << 12).unwrap();
/// let v = vec![0u8; 100];
/// assert_eq!(send_any_with(&mut tx, &heap, Header::new(1, 0), &v, 1024).unwrap(), Sent::Inline);
/// let r = send_any_with(&mut tx, &heap, Header::new(2, 0), &v, 64).unwrap();
/// assert!(matches!(r, Sent::Spilled { .. }));
/// ```
pub fn send_any_with<T: Encode>(
    producer: &mut Producer,
    heap: &Heap<'_>,
    header: Header,
    value: &T,
    threshold: usize,
) -> Result<Sent, SpillSendError> {
    use crate::send::{self, HeapOverflow, Publish, Ring, Sent as Out, Wait};
    let mut ring = Ring::new(producer, Wait::Until(None), Publish::Commit)
        .first_len(envelope::SEND_HINT)
        .spill_above(threshold);
    match send::send(&mut ring, &mut HeapOverflow(heap), header, value) {
        Ok(Out::Inline { .. }) => Ok(Sent::Inline),
        Ok(Out::Spilled(b)) => Ok(Sent::Spilled { bytes: b.len }),
        Err(send::SendError::Records(e)) => Err(SpillSendError::Ring(envelope::untimed(e))),
        Err(send::SendError::Overflow(e)) => Err(SpillSendError::Spill(e)),
        Err(send::SendError::Serialize(e)) => {
            Err(SpillSendError::Encode(EncodeError::Serialize(e)))
        }
    }
}

#[cfg(test)]
mod fork_tests {
    /// A forked child's nonce key differs from its parent's: before, both went on from the
    /// same key and counter, and the child's next nonce was the parent's next one.
    #[test]
    fn a_forked_childs_nonces_are_not_its_parents() {
        let parent = super::nonce_key(); // made before the fork
        let mut fds = [0; 2];
        // SAFETY: a valid out-array of two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let status = zeroproc_testkit::fork_run(|| {
            let n = super::nonce_key().to_le_bytes();
            // SAFETY: writes 8 bytes from a live buffer to our pipe's write end.
            unsafe { libc::write(fds[1], n.as_ptr().cast(), 8) };
        });
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        let mut buf = [0u8; 8];
        // SAFETY: reads 8 bytes into a live buffer from our pipe's read end.
        assert_eq!(unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 8) }, 8);
        // SAFETY: our own descriptors, closed once.
        unsafe { libc::close(fds[0]) };
        // SAFETY: as above.
        unsafe { libc::close(fds[1]) };
        assert_ne!(u64::from_le_bytes(buf), parent, "the child's nonce key is its parent's");
    }
}
