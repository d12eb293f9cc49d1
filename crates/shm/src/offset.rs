//! Relative offsets: the only kind of "pointer" stored in shared memory.
//!
//! Each process maps a segment at its own address, so shared structures store a byte
//! offset from the segment base and every process resolves it against its own mapping,
//! with bounds and alignment checked.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A byte offset from a segment's base to a `T` (`#[repr(transparent)]` over `u64`).
///
/// # Example
/// ```
/// use zeroproc_shm::{Layout, Offset, Segment};
/// let seg = Segment::create(Layout::new("doc-off", 1), 4096).unwrap();
/// let p = seg.data().cast::<u64>();
/// let off: Offset<u64> = seg.offset_of(p).unwrap();
/// assert_eq!(seg.resolve(off, 1).unwrap().as_ptr(), p);
/// assert!(seg.resolve(Offset::<u64>::new(1 << 40), 1).is_err());
/// ```
#[repr(transparent)]
pub struct Offset<T> {
    raw: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Offset<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Offset<T> {}
impl<T> PartialEq for Offset<T> {
    fn eq(&self, o: &Self) -> bool {
        self.raw == o.raw
    }
}
impl<T> Eq for Offset<T> {}
impl<T> fmt::Debug for Offset<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Offset({:#x})", self.raw)
    }
}

/// An offset that does not describe valid memory in this segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetError {
    /// The range runs past the end of the mapping (or overflows).
    OutOfBounds {
        /// The offending offset.
        offset: u64,
        /// Bytes the access needs.
        len: u64,
        /// Mapping length.
        segment_len: u64,
    },
    /// Not aligned for the target type.
    Misaligned {
        /// The offending offset.
        offset: u64,
        /// Required alignment.
        align: usize,
    },
}

impl fmt::Display for OffsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetError::OutOfBounds { offset, len, segment_len } => {
                write!(f, "offset {offset:#x}+{len} is outside the {segment_len}-byte segment")
            }
            OffsetError::Misaligned { offset, align } => {
                write!(f, "offset {offset:#x} is not {align}-byte aligned")
            }
        }
    }
}

impl std::error::Error for OffsetError {}

impl<T> Offset<T> {
    /// Wraps a raw byte offset (validated only when resolved).
    pub const fn new(raw: u64) -> Self {
        Self { raw, _t: PhantomData }
    }

    /// The raw byte offset.
    pub const fn get(self) -> u64 {
        self.raw
    }

    /// Reinterprets the target type.
    pub const fn cast<U>(self) -> Offset<U> {
        Offset::new(self.raw)
    }

    /// Resolves against a mapping at `base` of `len` bytes, for `count` consecutive `T`s.
    pub fn resolve_in(
        self,
        base: NonNull<u8>,
        len: usize,
        count: usize,
    ) -> Result<NonNull<T>, OffsetError> {
        let bytes = (std::mem::size_of::<T>() as u64).checked_mul(count as u64);
        let end = bytes.and_then(|b| self.raw.checked_add(b));
        match end {
            Some(e) if e <= len as u64 => {}
            _ => {
                return Err(OffsetError::OutOfBounds {
                    offset: self.raw,
                    len: bytes.unwrap_or(u64::MAX),
                    segment_len: len as u64,
                })
            }
        }
        let align = std::mem::align_of::<T>();
        let addr = base.as_ptr() as usize + self.raw as usize;
        if addr % align != 0 {
            return Err(OffsetError::Misaligned { offset: self.raw, align });
        }
        // SAFETY: `raw + size*count <= len`, so the pointer stays inside the mapping
        // (one-past-the-end at most) and is therefore non-null.
        Ok(unsafe { NonNull::new_unchecked(base.as_ptr().add(self.raw as usize).cast()) })
    }
}
