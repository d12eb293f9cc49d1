//! Helpers shared by the heap test binaries: deterministic randomness and byte patterns
//! written into and checked in heap blocks.

#![allow(dead_code)]

use zeroproc_shm::heap::Heap;
use zeroproc_shm::Offset;

/// xorshift64*: deterministic test randomness.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Byte `i` of the pattern for `key`.
pub fn pattern(key: u64, i: usize) -> u8 {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8).wrapping_mul(31)
}

/// Writes the pattern for `key` into the first `len` bytes of block `off`.
pub fn fill(h: &Heap<'_>, off: Offset<u8>, len: usize, key: u64) {
    let p = h.ptr_len(off, len).unwrap().as_ptr();
    for i in 0..len {
        // SAFETY: `off` is a live block of at least `len` bytes owned by the caller.
        unsafe { p.add(i).write(pattern(key, i)) };
    }
}

/// Asserts the first `len` bytes of block `off` hold the pattern for `key`.
pub fn verify(h: &Heap<'_>, off: Offset<u8>, len: usize, key: u64) {
    let p = h.ptr_len(off, len).unwrap().as_ptr();
    for i in 0..len {
        // SAFETY: as in `fill`.
        let b = unsafe { p.add(i).read() };
        assert_eq!(b, pattern(key, i), "block {off:?} byte {i} of {len} (key {key:#x})");
    }
}
