//! The 16-byte header in front of every block (and of every over-aligned payload).
//!
//! ```text
//! word: bits 16..64  check: 48 bits of a hash of (heap salt, header position)
//!       bits  8..16  state: FREE | ALLOC | PROXY | RETIRED (a freed block's proxy)
//!       bits  0..8   class (0 for PROXY and RETIRED)
//! link: FREE  -> index of the next free block of the class (0 = end of list)
//!       ALLOC -> 0 (unused)
//!       PROXY -> distance in units back to the real block's header (RETIRED: kept)
//! ```
//!
//! The check bits make a header valid only at the position it was written for and only in
//! this heap instance, so a garbage offset, an offset into the middle of a block, or a
//! header copied elsewhere (or left over from an earlier heap in the same memory) is
//! recognised as "not a block" with probability 1 - 2^-48.

use crate::atomic::AtomicU64;

/// The header word of a block that sits in its class's free list (or is on its way there).
pub(crate) const FREE: u64 = 1;
/// The header word of a block handed out by `alloc`.
pub(crate) const ALLOC: u64 = 2;
/// A header inside a payload, in front of an over-aligned pointer, leading to the block.
pub(crate) const PROXY: u64 = 3;
/// A proxy whose block was freed: a second free at its offset is reported as a double free.
pub(crate) const RETIRED: u64 = 4;

/// A block header (`#[repr(C)]`, 16 bytes, 16-byte aligned; lives in shared memory).
#[repr(C, align(16))]
pub(crate) struct BlockHeader {
    /// Check bits, state and class; changed only by whole-word stores and CAS.
    pub(crate) word: AtomicU64,
    /// Free-list link or proxy distance (see the module docs).
    pub(crate) link: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<BlockHeader>() == 16);

/// The 48 check bits for a header at unit index `idx` of the heap with this `salt`,
/// already shifted into place (a splitmix64-style finaliser; two multiplies).
#[inline]
fn check_bits(salt: u64, idx: u64) -> u64 {
    let mut x = salt ^ idx.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 29;
    x & !0xFFFF
}

/// The exact word a header at `idx` holds in `state` for class `class`.
#[inline]
pub(crate) fn word(salt: u64, idx: u64, state: u64, class: u32) -> u64 {
    check_bits(salt, idx) | (state << 8) | class as u64
}

/// The class recorded in a header word (meaningful only once the word is validated).
#[inline]
pub(crate) fn class_of(w: u64) -> u32 {
    (w & 0xFF) as u32
}

/// The state recorded in a header word (meaningful only once the word is validated).
#[cfg(test)]
pub(crate) fn state_of(w: u64) -> u64 {
    (w >> 8) & 0xFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_differ_by_position_state_and_salt() {
        let w = word(7, 100, ALLOC, 5);
        assert_eq!(class_of(w), 5);
        assert_eq!(state_of(w), ALLOC);
        assert_ne!(w, word(7, 101, ALLOC, 5));
        assert_ne!(w, word(8, 100, ALLOC, 5));
        assert_ne!(w, word(7, 100, FREE, 5));
        assert_ne!(word(0, 0, FREE, 0), 0);
    }
}
