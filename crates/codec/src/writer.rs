//! An rkyv writer over a ring record that records *why* it failed: running out of room is
//! a property of the buffer (the caller retries larger or goes to the shared heap), not of
//! the value, and must be told apart without parsing error text.

use rkyv::rancor::{fail, Source};
use rkyv::ser::{Positional, Writer};
use std::cell::Cell;
use std::fmt;

/// Writes into a fixed slice; on overflow raises the caller's flag and fails.
///
/// The flag lives outside the writer because rkyv's `to_bytes_in` consumes the writer and
/// returns only the error.
#[derive(Debug)]
pub struct SlotWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflowed: &'b Cell<bool>,
}

#[derive(Debug)]
struct Overflow {
    need: usize,
    cap: usize,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record overflow: {} bytes needed, {} available", self.need, self.cap)
    }
}

impl std::error::Error for Overflow {}

impl<'b> SlotWriter<'b> {
    /// A writer at the start of `buf`; `overflowed` is set if a write runs past its end.
    pub fn new(buf: &'b mut [u8], overflowed: &'b Cell<bool>) -> Self {
        Self { buf, pos: 0, overflowed }
    }
}

impl Positional for SlotWriter<'_> {
    #[inline]
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<E: Source> Writer<E> for SlotWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        let end = self.pos.checked_add(bytes.len()).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                self.buf[self.pos..end].copy_from_slice(bytes);
                self.pos = end;
                Ok(())
            }
            None => {
                self.overflowed.set(true);
                fail!(Overflow { need: self.pos.saturating_add(bytes.len()), cap: self.buf.len() })
            }
        }
    }
}
