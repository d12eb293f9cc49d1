//! The envelope: a 16-byte header followed by an rkyv archive, both written in place.
//!
//! ```text
//! offset 0   magic u16 = 0x5a45 ("ZE")   version u8   flags u8   fn_id u32
//! offset 8   job_id u64
//! offset 16  rkyv archive of the value (16-byte aligned when the record is)
//! ```
//!
//! All integers little-endian.

use crate::writer::SlotWriter;
use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::Positional;
use rkyv::{Archive, Portable, Serialize};
use std::fmt;
use zeroproc_ring::spsc::{Producer, ReserveError, ReserveTimeoutError};

/// Values that can be archived in place into a ring record: anything that derives
/// rkyv's `Archive` + `Serialize` (blanket-implemented).
pub trait Encode:
    for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T: ?Sized> Encode for T where
    T: for<'a, 'b> Serialize<HighSerializer<SlotWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

/// Envelope magic, "ZE" little-endian.
pub const MAGIC: u16 = 0x455a;
/// Envelope format version.
pub const VERSION: u8 = 1;
/// Bytes before the archive.
pub const HEADER_LEN: usize = 16;
/// The one [`Header::flags`] bit the codec keeps for itself: the record carries a
/// reference to an archive in the shared heap, not the archive (see [`crate::spill`]).
/// [`encode_into`] clears it; [`decode`] refuses records that have it.
pub const FLAG_SPILLED: u8 = 0x80;

/// What travels in front of every archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The submitter's job id.
    pub job_id: u64,
    /// Which function (index into the pool's function table).
    pub fn_id: u32,
    /// Flag bits for the layer above (all but [`FLAG_SPILLED`], which the codec owns).
    pub flags: u8,
}

impl Header {
    /// A header for `job_id` calling function `fn_id`, no flags.
    ///
    /// ```
    /// let h = zeroproc_codec::envelope::Header::new(1, 2);
    /// assert_eq!((h.job_id, h.fn_id, h.flags), (1, 2, 0));
    /// ```
    pub fn new(job_id: u64, fn_id: u32) -> Self {
        Self { job_id, fn_id, flags: 0 }
    }

    /// Whether the envelope's archive is in a spill block (the record holds a reference).
    #[inline]
    pub fn is_spilled(&self) -> bool {
        self.flags & FLAG_SPILLED != 0
    }

    /// Writes the header into `out[..HEADER_LEN]`: built in a local array (fixed
    /// indices, no bounds checks) and stored with one length check.
    #[inline]
    pub(crate) fn write(&self, out: &mut [u8]) {
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        h[2] = VERSION;
        h[3] = self.flags;
        h[4..8].copy_from_slice(&self.fn_id.to_le_bytes());
        h[8..16].copy_from_slice(&self.job_id.to_le_bytes());
        out[..HEADER_LEN].copy_from_slice(&h);
    }

    /// Reads and checks (magic, version) the header at the start of an envelope: the one
    /// place envelope header bytes are parsed.
    ///
    /// ```
    /// use zeroproc_codec::envelope::{Header, FLAG_SPILLED};
    /// let mut rec = [0u8; 64];
    /// let n = zeroproc_codec::envelope::encode_into(&mut rec, Header::new(9, 4), &7u64).unwrap();
    /// let h = Header::read(&rec[..n]).unwrap();
    /// assert_eq!((h.job_id, h.fn_id, h.is_spilled()), (9, 4, false));
    /// assert!(Header::read(&rec[..3]).is_err());
    /// assert!(!zeroproc_codec::envelope::is_spilled(&rec[..n]));
    /// # let _ = FLAG_SPILLED;
    /// ```
    #[inline]
    pub fn read(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated { len: b.len() });
        }
        let magic = u16::from_le_bytes([b[0], b[1]]);
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        if b[2] != VERSION {
            return Err(DecodeError::Version { found: b[2], expected: VERSION });
        }
        Ok(Header {
            flags: b[3],
            fn_id: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
            job_id: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
        })
    }
}

/// Encoding failed.
#[derive(Debug)]
pub enum EncodeError {
    /// The value's archive does not fit the buffer (the caller may retry with a larger
    /// one or put it in the shared heap).
    TooLarge {
        /// Bytes available for header + archive.
        available: usize,
    },
    /// The value could not be serialized.
    Serialize(rancor::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { available } => {
                write!(f, "archive does not fit the {available}-byte buffer")
            }
            EncodeError::Serialize(e) => write!(f, "serialization failed: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Decoding (validation) failed: the bytes are not a well-formed envelope of this type.
#[derive(Debug)]
pub enum DecodeError {
    /// Shorter than a header.
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Not an envelope.
    BadMagic(u16),
    /// Written by another envelope version.
    Version {
        /// Found.
        found: u8,
        /// Understood by this build.
        expected: u8,
    },
    /// The archive failed bytecheck validation (truncated, out-of-bounds pointers, invalid
    /// values, wrong type).
    Invalid(rancor::Error),
    /// The record refers to an archive in the shared heap ([`FLAG_SPILLED`]): read it with
    /// [`crate::payload::decode_any`].
    Spilled,
    /// [`crate::payload::decode_spilled`] was given a record that is not spilled.
    NotSpilled,
    /// A spilled record whose heap reference is malformed: wrong body length, an offset
    /// that is not a live heap block, or a length that does not fit the block.
    BadSpill(&'static str),
    /// The spilled archive was already claimed (decoded or discarded) by someone else, or
    /// the block has since been reused: it is not ours to read or free.
    Claimed,
    /// The bytes are not aligned for the archived type ([`decode_unchecked`] only).
    Misaligned,
}

/// Equal when the same check failed the same way; two `Invalid`s compare by their
/// messages (rkyv's error type has no equality).
impl PartialEq for DecodeError {
    fn eq(&self, other: &Self) -> bool {
        use DecodeError::*;
        match (self, other) {
            (Truncated { len: a }, Truncated { len: b }) => a == b,
            (BadMagic(a), BadMagic(b)) => a == b,
            (Version { found: a, expected: x }, Version { found: b, expected: y }) => {
                a == b && x == y
            }
            (Invalid(a), Invalid(b)) => a.to_string() == b.to_string(),
            (BadSpill(a), BadSpill(b)) => a == b,
            (Spilled, Spilled) | (NotSpilled, NotSpilled) => true,
            (Claimed, Claimed) | (Misaligned, Misaligned) => true,
            _ => false,
        }
    }
}

impl Eq for DecodeError {}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { len } => write!(f, "envelope truncated: {len} bytes"),
            DecodeError::BadMagic(m) => write!(f, "not an envelope (magic {m:#06x})"),
            DecodeError::Version { found, expected } => {
                write!(f, "envelope version {found}, expected {expected}")
            }
            DecodeError::Invalid(e) => {
                let e = e.to_string();
                // rancor's text without its `alloc` feature and debug assertions is advice to
                // whoever builds rkyv, not to the user: say what failed instead.
                if e.starts_with("failed without error information") {
                    write!(
                        f,
                        "invalid archive: the bytes do not validate as the expected type \
                         (bytecheck: an invalid value, e.g. a bool or enum tag out of range, \
                         or a damaged or mismatched archive)"
                    )
                } else {
                    write!(f, "invalid archive: {e}")
                }
            }
            DecodeError::Spilled => write!(f, "spilled envelope: decode it with its heap"),
            DecodeError::NotSpilled => write!(f, "envelope is not spilled"),
            DecodeError::BadSpill(why) => write!(f, "bad spilled envelope: {why}"),
            DecodeError::Claimed => write!(f, "spilled archive already claimed"),
            DecodeError::Misaligned => write!(f, "archive bytes are misaligned"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Whether the envelope in `bytes` carries its archive in a spill block (its header's
/// [`FLAG_SPILLED`]), without validating the rest: a record that is too short is not.
#[inline]
pub fn is_spilled(bytes: &[u8]) -> bool {
    bytes.len() > 3 && bytes[3] & FLAG_SPILLED != 0
}

/// Writes `header` and the archive of `value` into the start of `buf`; returns the bytes
/// used. `buf` should be 16-byte aligned (ring records are) so the archive is too.
/// [`FLAG_SPILLED`] is cleared from `header.flags`.
///
/// ```
/// use zeroproc_codec::envelope::{encode_into, decode, Header};
/// let mut buf = rkyv::util::Align([0u8; 128]);
/// let n = encode_into(&mut buf.0, Header::new(1, 0), &(3u32, 4u64)).unwrap();
/// let (_, v) = decode::<(u32, u64)>(&buf.0[..n]).unwrap();
/// assert_eq!((v.0.to_native(), v.1.to_native()), (3, 4));
/// ```
pub fn encode_into<T>(buf: &mut [u8], header: Header, value: &T) -> Result<usize, EncodeError>
where
    T: Encode,
{
    encode_measured(buf, header, value).map_err(|(e, _)| e)
}

/// [`encode_into`], also returning with `TooLarge` a lower bound on the bytes (header
/// included) the envelope needs — measured in the same pass, so a caller can size its
/// next buffer, or refuse a value that fits nowhere, without serializing it again.
pub fn encode_measured<T>(
    buf: &mut [u8],
    header: Header,
    value: &T,
) -> Result<usize, (EncodeError, usize)>
where
    T: Encode,
{
    let available = buf.len();
    if available < HEADER_LEN {
        return Err((EncodeError::TooLarge { available }, HEADER_LEN + 1));
    }
    let (head, body) = buf.split_at_mut(HEADER_LEN);
    if let Some(n) = copy_archive(body, value) {
        Header { flags: header.flags & !FLAG_SPILLED, ..header }.write(head);
        return Ok(HEADER_LEN + n);
    }
    let (overflowed, need) = (std::cell::Cell::new(false), std::cell::Cell::new(0));
    let w = SlotWriter::measured(body, &overflowed, &need);
    match rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, w) {
        Ok(w) => {
            Header { flags: header.flags & !FLAG_SPILLED, ..header }.write(head);
            Ok(HEADER_LEN + w.pos())
        }
        Err(_) if overflowed.get() => {
            Err((EncodeError::TooLarge { available }, HEADER_LEN.saturating_add(need.get())))
        }
        Err(e) => Err((EncodeError::Serialize(e), 0)),
    }
}

/// The archive of a value whose archived form is its own bytes, written by one copy:
/// `None` (use the serializer) for any other type, or when `body` is too short.
///
/// A type whose `Archive::COPY_OPTIMIZATION` is enabled (integers and floats, `char`,
/// `bool`, arrays of them, …) attests that it has no uninitialised bytes and that its
/// archived representation is its native one; rkyv itself writes slices of such types as
/// their bytes (`SerializeUnsized for [T]`). As a root with no out-of-line data its
/// archive is exactly those bytes at position 0, which is what `to_bytes_in` would write —
/// without the thread-local arena, serializer and resolver (170 → 20 controller
/// instructions per `u64` job; docs/performance.md).
#[inline(always)]
fn copy_archive<T: Archive>(body: &mut [u8], value: &T) -> Option<usize> {
    let n = size_of::<T>();
    let copyable = T::COPY_OPTIMIZATION.is_enabled()
        && n == size_of::<T::Archived>()
        && n > 0
        && align_of::<T::Archived>() <= 16;
    if !copyable || body.len() < n {
        return None;
    }
    // SAFETY: `value` is a live `T` of `n` bytes, all initialised (`COPY_OPTIMIZATION`
    // is enabled only for types without uninitialised bytes).
    let bytes = unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), n) };
    body[..n].copy_from_slice(bytes);
    Some(n)
}

/// Validates `bytes` as an envelope holding a `T` and returns its header and a zero-copy
/// view of the archived value. Any malformed input is a [`DecodeError`]; a spilled record
/// is [`DecodeError::Spilled`] (read those with [`crate::payload::decode_any`]).
pub fn decode<T>(bytes: &[u8]) -> Result<(Header, &T::Archived), DecodeError>
where
    T: Archive,
    T::Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>,
{
    let h = inline_header(bytes)?;
    let a = access::<T>(&bytes[HEADER_LEN..]).map_err(DecodeError::Invalid)?;
    Ok((h, a))
}

/// rkyv's checked `access` of the archive `body` holding a `T`, with a shortcut for the
/// archive [`copy_archive`] writes — one value archived as its own bytes, exactly filling
/// `body`: its bytes are still checked (`CheckBytes`: a `bool` must be 0 or 1, a `char` a
/// scalar value), but without the subtree-range bookkeeping such a value has no use for
/// (it holds no relative pointers). Anything else goes to rkyv's `access`.
#[inline(always)]
pub(crate) fn access<T>(body: &[u8]) -> Result<&T::Archived, rancor::Error>
where
    T: Archive,
    T::Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>,
{
    let n = size_of::<T::Archived>();
    let ptr = body.as_ptr().cast::<T::Archived>();
    if T::COPY_OPTIMIZATION.is_enabled() && n > 0 && body.len() == n && ptr.is_aligned() {
        use rkyv::validation::{archive::ArchiveValidator, shared::SharedValidator, Validator};
        let mut v = Validator::new(ArchiveValidator::new(body), SharedValidator::new());
        // SAFETY: `ptr` is aligned for `T::Archived` and points to its `n` bytes, all in
        // `body` (both checked just above).
        unsafe { T::Archived::check_bytes(ptr, rancor::Strategy::wrap(&mut v))? };
        // SAFETY: the bytes were validated as a `T::Archived` just above, and `body`
        // outlives the reference.
        return Ok(unsafe { &*ptr });
    }
    rkyv::access::<T::Archived, rancor::Error>(body)
}

/// Like [`decode`] but without validating the archive (the header, the length and the
/// alignment are still checked): for hot paths where the bytes are known to be good.
///
/// # Safety
/// `bytes` must be an envelope produced by [`encode_into`] / [`send`] for this same `T`
/// by this same build of the program (the same binary, so the same archived layout), and
/// not modified since. Anything else (a record from an untrusted or crashed peer, another
/// type, another version) is undefined behaviour: use [`decode`] for those.
///
/// ```
/// use zeroproc_codec::envelope::{decode_unchecked, encode_into, Header};
/// let mut buf = rkyv::util::Align([0u8; 128]);
/// let n = encode_into(&mut buf.0, Header::new(1, 0), &vec![1u32, 2, 3]).unwrap();
/// // SAFETY: just encoded from a Vec<u32> by this program.
/// let (_, v) = unsafe { decode_unchecked::<Vec<u32>>(&buf.0[..n]) }.unwrap();
/// assert_eq!(v.len(), 3);
/// ```
pub unsafe fn decode_unchecked<T>(bytes: &[u8]) -> Result<(Header, &T::Archived), DecodeError>
where
    T: Archive,
    T::Archived: Portable,
{
    let h = inline_header(bytes)?;
    let body = &bytes[HEADER_LEN..];
    if body.len() < size_of::<T::Archived>() {
        return Err(DecodeError::Truncated { len: bytes.len() });
    }
    let root = rkyv::api::root_position::<T::Archived>(body.len());
    if (body.as_ptr() as usize + root) % align_of::<T::Archived>() != 0 {
        return Err(DecodeError::Misaligned);
    }
    // SAFETY: the caller guarantees `body` is the archive of a `T` written by this build;
    // the root lies inside `body` and is aligned (both checked above).
    let a = unsafe { rkyv::access_unchecked::<T::Archived>(body) };
    Ok((h, a))
}

/// The header of an envelope that carries its archive inline.
#[inline]
fn inline_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let h = Header::read(bytes)?;
    if h.flags & FLAG_SPILLED != 0 {
        return Err(DecodeError::Spilled);
    }
    Ok(h)
}

/// Why [`send`] failed.
#[derive(Debug)]
pub enum SendError {
    /// Encoding failed (`TooLarge` even at the ring's largest record).
    Encode(EncodeError),
    /// The ring refused the reservation (disconnected, corrupt, timed out).
    Ring(ReserveError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Encode(e) => write!(f, "{e}"),
            SendError::Ring(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// First reservation size tried by [`send`] before falling back to the ring's maximum.
pub const SEND_HINT: usize = 4096;

/// Serializes `value` directly into a record of `producer`'s ring (no intermediate buffer)
/// and commits it, blocking while the ring is full: [`crate::send::send`] with a blocking
/// [`Ring`](crate::send::Ring) whose first draft is [`SEND_HINT`] bytes, and no heap.
pub fn send<T>(producer: &mut Producer, header: Header, value: &T) -> Result<(), SendError>
where
    T: Encode,
{
    use crate::send::{self, NoOverflow, Publish, Ring, Wait};
    let max = producer.max_payload();
    let mut ring = Ring::new(producer, Wait::Until(None), Publish::Commit).first_len(SEND_HINT);
    match send::send(&mut ring, &mut NoOverflow, header, value) {
        Ok(_) => Ok(()),
        Err(send::SendError::Records(e)) => Err(SendError::Ring(untimed(e))),
        Err(send::SendError::Overflow(_)) => {
            Err(SendError::Encode(EncodeError::TooLarge { available: max }))
        }
        Err(send::SendError::Serialize(e)) => Err(SendError::Encode(EncodeError::Serialize(e))),
    }
}

/// A blocking reservation's error (it has no deadline, so never `Timeout`).
pub(crate) fn untimed(e: ReserveTimeoutError) -> ReserveError {
    match e {
        ReserveTimeoutError::Timeout => unreachable!("no deadline was given"),
        ReserveTimeoutError::Disconnected => ReserveError::Disconnected,
        ReserveTimeoutError::TooLarge { len, max } => ReserveError::TooLarge { len, max },
        ReserveTimeoutError::Corrupt(c) => ReserveError::Corrupt(c),
    }
}
