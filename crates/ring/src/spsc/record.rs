//! The record format: a 16-byte header, then the payload, padded to 16 bytes.
//!
//! ```text
//! offset 0        4                8                16               16+len   16+round16(len)
//!        +--------+----------------+----------------+----------------+--------+
//!        | len    | mark|kind      | tag            | payload ...    | pad    |
//!        | u32 LE | u8  | u24      | u64            |                |        |
//!        +--------+----------------+----------------+----------------+--------+
//!        \_____ word (u64 LE) _____/
//! ```
//!
//! * `mark` (top byte of the second word) is [`DATA_MARK`] for a record and [`PAD_MARK`]
//!   for a pad; any other value is corruption. `kind` is the user's 24-bit record kind.
//! * The first 8 bytes, `len | mark|kind << 32` read as one little-endian `u64`, are the
//!   record's **commit word**: never 0 for a record or pad (the mark), written last with
//!   one atomic store, and 0 at the position after the last record the producer wrote
//!   (it stores that 0 before the record's own word). A consumer that finds a non-zero
//!   word at its read position has a whole record there (README.md, "Commit words").
//! * A pad fills the buffer from its position to the end exactly (`16 + len == capacity -
//!   offset`); the next record starts at offset 0.
//! * Every record starts at a multiple of 16, so a header never straddles the end of the
//!   buffer and payloads are 16-byte aligned (rkyv writes archives in place).

/// Bytes of a record header; also the alignment of records and payloads.
pub const RECORD_HEADER: usize = 16;
/// Largest user record kind (24 bits; the top byte of the word is the record mark).
pub const MAX_KIND: u32 = 0x00FF_FFFF;
/// Top byte of a data record's kind word.
pub(crate) const DATA_MARK: u32 = 0xA5 << 24;
/// Top byte of a pad record's kind word.
pub(crate) const PAD_MARK: u32 = 0x5A << 24;
const MARK_MASK: u32 = 0xFF << 24;

/// A record header as read once from shared memory (never re-read after validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    pub(crate) len: u32,
    pub(crate) word: u32,
    pub(crate) tag: u64,
}

/// A validated record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A pad: skip `total` bytes (to the end of the buffer).
    Pad { total: u64 },
    /// A data record of `len` payload bytes occupying `total` bytes.
    Data { len: u32, kind: u32, tag: u64, total: u64 },
}

/// Bytes a record with a `len`-byte payload occupies (header + payload rounded up to 16).
#[inline]
pub(crate) const fn record_size(len: u64) -> u64 {
    RECORD_HEADER as u64 + ((len + 15) & !15)
}

impl RawHeader {
    /// A data record header.
    #[inline]
    pub(crate) fn data(len: u32, kind: u32, tag: u64) -> Self {
        debug_assert!(kind <= MAX_KIND);
        Self { len, word: DATA_MARK | kind, tag }
    }

    /// A pad header for a pad of `total` bytes (header included).
    #[inline]
    pub(crate) fn pad(total: u64) -> Self {
        Self { len: (total - RECORD_HEADER as u64) as u32, word: PAD_MARK, tag: 0 }
    }

    /// The commit word: `len` and the mark/kind word as one little-endian `u64` (never 0
    /// for a valid header: the mark byte is not 0).
    #[inline]
    pub(crate) fn word(self) -> u64 {
        self.len as u64 | (self.word as u64) << 32
    }

    /// The header whose commit word is `word` and tag `tag`.
    #[inline]
    pub(crate) fn from_word(word: u64, tag: u64) -> Self {
        Self { len: word as u32, word: (word >> 32) as u32, tag }
    }

    /// Writes the tag at `p` (the header's second 8 bytes); the commit word is stored
    /// separately, atomically and last (`RingView::word`).
    ///
    /// # Safety
    /// `p` is valid for 16 bytes of writes and 8-byte aligned, and no other thread or
    /// process accesses bytes 8..16 concurrently (the producer owns unpublished space).
    #[inline]
    pub(crate) unsafe fn write_tag(self, p: *mut u8) {
        // SAFETY: the caller guarantees 16 writable, 8-aligned bytes at `p`; the tag sits
        // at offset 8, naturally aligned.
        unsafe { p.add(8).cast::<u64>().write(self.tag.to_le()) };
    }

    /// Reads the tag at `p` exactly once (volatile: the compiler may not re-read shared
    /// memory after the value was validated) and joins it to the commit word read before.
    ///
    /// # Safety
    /// `p` is valid for 16 bytes of reads and 8-byte aligned.
    #[inline]
    pub(crate) unsafe fn read_tag(word: u64, p: *const u8) -> Self {
        // SAFETY: the caller guarantees 16 readable, 8-aligned bytes at `p`; any bit
        // pattern is a valid integer.
        let tag = unsafe { u64::from_le(p.add(8).cast::<u64>().read_volatile()) };
        Self::from_word(word, tag)
    }

    /// Validates the header found at a position with `contiguous` bytes before the end of
    /// the buffer and `available` bytes the producer may have written from there (up to
    /// one capacity past the consumer's released position), for a ring whose payloads are
    /// at most `max_payload` bytes.
    ///
    /// The returned record lies entirely within `[pos, pos + min(contiguous, available))`,
    /// which is what makes every later access in bounds.
    #[inline]
    pub(crate) fn parse(
        self,
        contiguous: u64,
        available: u64,
        max_payload: u64,
    ) -> Result<Parsed, &'static str> {
        match self.word & MARK_MASK {
            DATA_MARK => {
                let len = self.len as u64;
                if len > max_payload {
                    return Err("record length exceeds the ring's maximum");
                }
                let total = record_size(len);
                if total > contiguous {
                    return Err("record runs past the end of the buffer");
                }
                if total > available {
                    return Err("record runs past the space the producer may have written");
                }
                Ok(Parsed::Data { len: self.len, kind: self.word & MAX_KIND, tag: self.tag, total })
            }
            PAD_MARK => {
                let total = self.len as u64 + RECORD_HEADER as u64;
                if self.word != PAD_MARK || total != contiguous {
                    return Err("pad record does not end exactly at the end of the buffer");
                }
                if total > available {
                    return Err("pad record runs past the space the producer may have written");
                }
                Ok(Parsed::Pad { total })
            }
            _ => Err("bad record mark (not a data or pad record header)"),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_to_16() {
        assert_eq!(record_size(0), 16);
        assert_eq!(record_size(1), 32);
        assert_eq!(record_size(16), 32);
        assert_eq!(record_size(17), 48);
    }

    #[test]
    fn roundtrip_and_validation() {
        let mut buf = [0u64; 2];
        let p = buf.as_mut_ptr().cast::<u8>();
        let d = RawHeader::data(5, 7, 99);
        // SAFETY: `buf` is 16 bytes, 8-aligned, local.
        unsafe { d.write_tag(p) };
        // SAFETY: as above.
        let h = unsafe { RawHeader::read_tag(d.word(), p) };
        assert_eq!(h, d);
        assert_ne!(d.word(), 0, "a data record's commit word is never 0");
        assert_ne!(RawHeader::pad(16).word(), 0, "nor a pad's");
        assert_eq!(h.parse(64, 64, 32), Ok(Parsed::Data { len: 5, kind: 7, tag: 99, total: 32 }));
        assert!(h.parse(16, 64, 32).is_err(), "does not fit before the end");
        assert!(h.parse(64, 16, 32).is_err(), "beyond the space the producer may write");
        assert!(RawHeader::data(40, 0, 0).parse(128, 128, 32).is_err(), "too long");
        assert_eq!(RawHeader::pad(48).parse(48, 64, 32), Ok(Parsed::Pad { total: 48 }));
        assert!(RawHeader::pad(32).parse(48, 64, 32).is_err(), "pad must reach the end");
        assert!(RawHeader { len: 0, word: 0, tag: 0 }.parse(64, 64, 32).is_err(), "zeroes");
        let pad_with_kind = RawHeader { len: 32, word: PAD_MARK | 1, tag: 0 };
        assert!(pad_with_kind.parse(48, 64, 32).is_err());
    }
}
