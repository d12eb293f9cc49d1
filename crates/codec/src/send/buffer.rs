//! [`Records`] into a growable buffer of the process's own memory: one record, for
//! callers that carry the envelope somewhere else (a `Process`'s start block, an MPI
//! message).

use super::{Draft, Records};
use rkyv::util::AlignedVec;
use std::ops::{Deref, DerefMut};

/// A 16-byte aligned buffer holding the last envelope sent into it. Drafts start at 256
/// bytes and grow to what the archive measured (at least doubling); there is no largest
/// record, so nothing is ever spilled.
///
/// ```
/// use zeroproc_codec::envelope::Header;
/// use zeroproc_codec::send::{send, Buffer, NoOverflow};
/// let mut buf = Buffer::new();
/// send(&mut buf, &mut NoOverflow, Header::new(0, 0), &vec![0u64; 10_000]).unwrap();
/// assert!(buf.bytes().len() > 80_000);
/// ```
#[derive(Debug, Default)]
pub struct Buffer {
    buf: AlignedVec<16>,
    len: usize,
    /// The largest envelope it takes (`None`: no limit).
    max: Option<usize>,
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A buffer that takes envelopes of at most `max` bytes: a larger value is refused
    /// (with [`NoOverflow`](super::NoOverflow): `Unspillable`), as by a ring.
    ///
    /// ```
    /// use zeroproc_codec::envelope::Header;
    /// use zeroproc_codec::send::{send, Buffer, NoOverflow, SendError};
    /// let mut buf = Buffer::limited(1024);
    /// let r = send(&mut buf, &mut NoOverflow, Header::new(0, 0), &vec![0u8; 4096]);
    /// assert!(matches!(r, Err(SendError::Overflow(u)) if u.need > 1024));
    /// ```
    pub fn limited(max: usize) -> Self {
        Self { max: Some(max), ..Self::default() }
    }

    /// The envelope last published into it.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The buffer, cut to the envelope last published into it.
    pub fn into_vec(mut self) -> AlignedVec<16> {
        self.buf.resize(self.len, 0);
        self.buf
    }
}

impl Records for Buffer {
    type Error = std::convert::Infallible;
    type Draft<'a> = BufferDraft<'a>;

    fn max_len(&self) -> usize {
        self.max.unwrap_or(isize::MAX as usize)
    }

    fn first_len(&self) -> usize {
        256.min(self.max_len())
    }

    fn next_len(&self, tried: usize, need: usize) -> usize {
        need.max(tried.saturating_mul(2))
    }

    fn draft(&mut self, len: usize) -> Result<BufferDraft<'_>, Self::Error> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        self.len = 0;
        Ok(BufferDraft { b: self, len })
    }
}

/// A record being written into a [`Buffer`].
#[derive(Debug)]
pub struct BufferDraft<'a> {
    b: &'a mut Buffer,
    len: usize,
}

impl Deref for BufferDraft<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.b.buf[..self.len]
    }
}

impl DerefMut for BufferDraft<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.b.buf[..self.len]
    }
}

impl Draft for BufferDraft<'_> {
    type Error = std::convert::Infallible;
    fn publish(self, len: usize) -> Result<(), Self::Error> {
        self.b.len = len.min(self.len);
        Ok(())
    }
}
