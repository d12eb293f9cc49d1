//! The header at offset 0 of every zeroproc segment.

use super::Layout;
use crate::atomic::AtomicU32;
use crate::extent::Extent;

/// `b"ZPROCSHM"`: the first 8 bytes of every zeroproc segment.
pub const MAGIC: [u8; 8] = *b"ZPROCSHM";
/// Version of this header's own format.
pub const HEADER_VERSION: u32 = 2;
/// Size reserved for the header; user data starts here (cache-line and 16-byte aligned).
pub const HEADER_SIZE: usize = 256;

/// `state` while the creator is still initialising the data region.
pub const STATE_INIT: u32 = 0;
/// `state` once the creator has published the data region.
pub const STATE_READY: u32 = 1;

/// The segment header (`#[repr(C)]`, lives at offset 0 of the mapping).
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`HEADER_VERSION`].
    pub header_version: u32,
    /// [`HEADER_SIZE`] (so a future header can grow and still be recognised).
    pub header_size: u32,
    /// Total mapped length in bytes, header included: the most the backing file may grow
    /// to ([`SegmentBuilder::max_data_len`](super::SegmentBuilder::max_data_len)); equal to
    /// `reserved_len` for a segment that cannot grow.
    pub total_len: u64,
    /// Random 64-bit token; part of the segment id, so a stale or guessed id is refused.
    pub token: u64,
    /// `Layout::name`, NUL padded.
    pub layout_name: [u8; 32],
    /// `Layout::version`.
    pub layout_version: u32,
    /// Pid of the creating process.
    pub creator_pid: u32,
    /// `Layout::hash`.
    pub layout_hash: u64,
    /// Effective uid of the creator.
    pub creator_uid: u32,
    /// `STATE_INIT` (0) → `STATE_READY` (1); Release-stored by the creator once the data
    /// region is initialised, Acquire-loaded on attach.
    pub state: AtomicU32,
    /// Bytes of the file reserved at creation (header included): an attacher refuses a
    /// file shorter than this.
    pub reserved_len: u64,
    /// Bytes of the file reserved so far (header included): `reserved_len` at creation,
    /// raised by [`Segment::grow_to`](super::Segment::grow_to) once the new range is
    /// reserved (see [`extent`](crate::extent)); never above `total_len`.
    pub committed_len: Extent,
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_SIZE);

impl Header {
    /// The layout recorded in this header.
    pub fn layout_matches(&self, l: &Layout) -> bool {
        self.layout_name == l.name_bytes()
            && self.layout_version == l.version
            && self.layout_hash == l.hash
    }

    /// The recorded layout name, for error messages.
    pub fn layout_name_lossy(&self) -> String {
        let end = self.layout_name.iter().position(|&b| b == 0).unwrap_or(32);
        String::from_utf8_lossy(&self.layout_name[..end]).into_owned()
    }
}
