//! Entry blocks and their bytes: the layout of one entry, encoding values into envelopes
//! (validated on the way back out), and the key hash.
//!
//! ```text
//! [hash u64][tag u64][klen u32][vlen u32][reserved u64]  32 bytes
//! [key bytes, padded to 16]                               dict: an envelope; namespace: the name
//! [value envelope]                                        klen = 0 for a list item
//! ```
//!
//! An entry block is written once, before it is committed, and never changed afterwards:
//! an update writes a new block and commits its offset in place of the old one.

use super::store::Locked;
use super::ContainerError;
use crate::channel::message::HEADER;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use zeroproc_codec::envelope::{self, DecodeError};
use zeroproc_codec::send::{send, Buffer, NoOverflow, SendError};
use zeroproc_codec::Message;
use zeroproc_shm::Offset;

/// Bytes before the key.
pub(crate) const BLOB_HEADER: usize = 32;

/// A validated view of a live entry block.
pub(crate) struct Blob<'a> {
    pub tag: u64,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Bytes of an entry with a key of `klen` and a value of `vlen` bytes.
pub(crate) fn blob_size(klen: usize, vlen: usize) -> Option<usize> {
    BLOB_HEADER.checked_add(klen.checked_next_multiple_of(16)?)?.checked_add(vlen)
}

impl Locked<'_> {
    /// The entry block at `off`, validated: a live heap block large enough for the
    /// lengths its header states.
    pub(crate) fn blob(&self, off: u64) -> Result<Blob<'_>, ContainerError> {
        let o = Offset::new(off);
        let bad = || ContainerError::Corrupt("entry offset is not a live heap block");
        let size = self.heap().usable_size(o).map_err(|_| bad())?;
        if size < BLOB_HEADER {
            return Err(bad());
        }
        let p = self.heap().ptr_len(o, size).map_err(|_| bad())?.as_ptr();
        // SAFETY: a live block of `size ≥ 32` bytes, 16-aligned. Entry blocks are written
        // once before their offset is committed and not written again until freed, which
        // only the lock holder (us) does: reading them as plain bytes races with nobody.
        let (tag, klen, vlen) = unsafe {
            (
                p.add(8).cast::<u64>().read(),
                p.add(16).cast::<u32>().read(),
                p.add(20).cast::<u32>().read(),
            )
        };
        let (klen, vlen) = (klen as usize, vlen as usize);
        if blob_size(klen, vlen).is_none_or(|n| n > size) {
            return Err(ContainerError::Corrupt("entry lengths exceed its block"));
        }
        let voff = BLOB_HEADER + klen.next_multiple_of(16);
        // SAFETY: both ranges lie inside the block (checked above); see above for races.
        let (key, value) = unsafe {
            (
                std::slice::from_raw_parts(p.add(BLOB_HEADER), klen),
                std::slice::from_raw_parts(p.add(voff), vlen),
            )
        };
        Ok(Blob { tag, key, value })
    }
}

/// Writes an entry into a fresh block of `blob_size(key.len(), value.len())` bytes.
///
/// # Safety
/// `p` must point to such a block, 16-byte aligned, owned by the caller alone.
pub(crate) unsafe fn write_blob(p: *mut u8, hash: u64, tag: u64, key: &[u8], value: &[u8]) {
    let voff = BLOB_HEADER + key.len().next_multiple_of(16);
    // SAFETY: the block holds the header, the padded key and the value (caller's size);
    // nobody else reads it before its offset is committed.
    unsafe {
        p.cast::<u64>().write(hash);
        p.add(8).cast::<u64>().write(tag);
        p.add(16).cast::<u32>().write(key.len() as u32);
        p.add(20).cast::<u32>().write(value.len() as u32);
        p.add(24).cast::<u64>().write(0);
        std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(BLOB_HEADER), key.len());
        std::ptr::copy_nonoverlapping(value.as_ptr(), p.add(voff), value.len());
    }
}

/// Encodes `value` as an envelope (header + rkyv archive) into an owned buffer (the one
/// send path into a [`Buffer`]).
pub(crate) fn encode<T: Message>(value: &T) -> Result<AlignedVec<16>, rancor::Error> {
    let mut buf = Buffer::new();
    match send(&mut buf, &mut NoOverflow, HEADER, value) {
        Ok(_) => Ok(buf.into_vec()),
        Err(SendError::Serialize(e)) => Err(e),
        Err(SendError::Overflow(_) | SendError::Records(_) | SendError::Finish(_)) => {
            unreachable!("a Buffer has no largest record and no finish step")
        }
    }
}

/// Validates an envelope holding a `T` and returns the archived value.
pub(crate) fn access<T: Message>(bytes: &[u8]) -> Result<&T::Archived, ContainerError> {
    envelope::decode::<T>(bytes).map(|(_, a)| a).map_err(ContainerError::Decode)
}

/// Validates and deserializes an envelope holding a `T`.
pub(crate) fn decode<T: Message>(bytes: &[u8]) -> Result<T, ContainerError> {
    let a = access::<T>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(a)
        .map_err(|e| ContainerError::Decode(DecodeError::Invalid(e)))
}

/// The key hash: the same function in every process (FxHash-style multiply-rotate over
/// 8-byte words, then a final avalanche).
pub(crate) fn hash_key(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // splitmix64's finaliser: every input bit reaches the low bits the table index uses.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
