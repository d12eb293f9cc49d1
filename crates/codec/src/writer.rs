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
    /// Where to record the bytes the failing write needed (a lower bound on the total).
    need: Option<&'b Cell<usize>>,
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
        Self { buf, pos: 0, overflowed, need: None }
    }

    /// Like [`new`](Self::new), and on overflow also records in `need` how many bytes the
    /// archive needed at least (the position the failing write would have reached): the
    /// size to try next.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use zeroproc_codec::writer::SlotWriter;
    /// let (over, need) = (Cell::new(false), Cell::new(0));
    /// let mut buf = rkyv::util::Align([0u8; 16]);
    /// let w = SlotWriter::measured(&mut buf.0, &over, &need);
    /// let r = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(&vec![0u64; 100], w);
    /// assert!(r.is_err() && over.get() && need.get() >= 800);
    /// ```
    pub fn measured(buf: &'b mut [u8], overflowed: &'b Cell<bool>, need: &'b Cell<usize>) -> Self {
        Self { buf, pos: 0, overflowed, need: Some(need) }
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
                let need = self.pos.saturating_add(bytes.len());
                self.overflowed.set(true);
                if let Some(n) = self.need {
                    n.set(need);
                }
                fail!(Overflow { need, cap: self.buf.len() })
            }
        }
    }
}
