//! What a segment holds: a name, a version and a hash, checked on attach.

/// Identifies the layout of the data a segment holds.
///
/// Two processes only share a segment when their `Layout`s are equal: the name and version
/// are chosen by the structure's author, and the hash mixes in the sizes and alignments of
/// the `#[repr(C)]` types involved, so a change to a shared type that forgot to bump the
/// version is still caught.
///
/// # Example
/// ```
/// use zeroproc_shm::Layout;
/// #[repr(C)] struct Counter { n: u64 }
/// const L: Layout = Layout::new("my-counter", 1).with_type::<Counter>();
/// assert_ne!(L, Layout::new("my-counter", 2).with_type::<Counter>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Short name of the structure (at most 32 bytes are stored in the header).
    pub name: &'static str,
    /// Version chosen by the author; bump it on any layout change.
    pub version: u32,
    /// FNV-1a over the name, version and mixed-in type shapes.
    pub hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn fnv_u64(h: u64, v: u64) -> u64 {
    fnv_bytes(h, &v.to_le_bytes())
}

impl Layout {
    /// A layout with this name and version.
    pub const fn new(name: &'static str, version: u32) -> Self {
        let h = fnv_bytes(FNV_OFFSET, name.as_bytes());
        Self { name, version, hash: fnv_u64(h, version as u64) }
    }

    /// Mixes the size and alignment of `T` into the hash.
    pub const fn with_type<T>(self) -> Self {
        let h = fnv_u64(self.hash, std::mem::size_of::<T>() as u64);
        Self { hash: fnv_u64(h, std::mem::align_of::<T>() as u64), ..self }
    }

    /// Mixes an arbitrary value (a capacity, a slot size, a feature flag) into the hash.
    pub const fn with_value(self, v: u64) -> Self {
        Self { hash: fnv_u64(self.hash, v), ..self }
    }

    /// The name as stored in the header: at most 32 bytes, NUL padded.
    pub(crate) fn name_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let n = self.name.len().min(32);
        out[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        out
    }
}
