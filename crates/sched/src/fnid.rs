//! Function identity: which function a job calls, as a number both processes agree on.
//!
//! A job names its function by the **offset of a monomorphized trampoline from one anchor
//! function**. Controller and workers run the same executable (the worker is
//! `/proc/self/exe` re-executed, which is the very inode the controller runs even if the
//! file was replaced on disk since), so code offsets are identical while absolute
//! addresses differ (ASLR). Function *addresses* are never compared for identity: only an
//! offset is sent, and the worker turns it back into a pointer relative to its own anchor.
//!
//! The [`fingerprint`] of the build is checked at the worker handshake, so a worker that
//! is not the same build refuses to start instead of jumping to a wrong offset; and a
//! worker resolves only ids that are in its pool's function table (`fntable.rs`), which
//! the controller fills with the ids it submits, so a damaged id is refused, not called.
//! A `Process` child resolves only the one id its own segment names.
//!
//! # Trust boundary
//! The offset is read from the pool's shared segment, which is created `0600` (memfd) and
//! reachable only by processes of the same user. A process of that user can already
//! `ptrace` the workers; an offset written by it is not defended against.

use std::hash::{Hash, Hasher};

/// The signature every job trampoline has: decode the job record, run the function, write
/// the completion into the worker's completion ring.
pub(crate) type Trampoline = fn(&mut crate::worker::JobCtx<'_>);

/// The anchor all offsets are measured from. Never inlined, never merged: it has a body of
/// its own that no other function shares.
#[inline(never)]
fn anchor(ctx: &mut crate::worker::JobCtx<'_>) {
    // A distinct body so identical-code folding cannot merge it with a trampoline.
    std::hint::black_box(ctx);
    std::hint::black_box(0x5a45_7a65_726f_7072u64);
}

/// The id of trampoline `t`: its offset from the anchor, as a wrapping `u32` (executables
/// are far below 2 GiB of code, checked).
pub(crate) fn id_of(t: Trampoline) -> u32 {
    let off = (t as usize).wrapping_sub(anchor as Trampoline as usize) as isize;
    assert!(
        i32::try_from(off).is_ok(),
        "trampoline {off:#x} bytes from the anchor: code larger than ±2 GiB is not supported"
    );
    off as i32 as u32
}

/// The trampoline an id names, in this process.
///
/// # Safety
/// `id` must have been produced by [`id_of`] in a process running the same executable
/// (same [`fingerprint`]): then `anchor + offset` is the entry of the same monomorphized
/// function in this process's mapping of the same code.
pub(crate) unsafe fn resolve(id: u32) -> Trampoline {
    let addr = (anchor as Trampoline as usize).wrapping_add(id as i32 as isize as usize);
    // SAFETY: per the contract, `addr` is the entry point of a function of type
    // `Trampoline` in this process (same code, same offset from the anchor).
    unsafe { std::mem::transmute::<usize, Trampoline>(addr) }
}

/// A 64-bit fingerprint of this build: the executable's identity (device, inode, size,
/// modification time of `/proc/self/exe`), the crate version, and the anchor's offset from
/// another function (different code layout → different value).
pub fn fingerprint() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    let layout = (anchor as Trampoline as usize).wrapping_sub(fingerprint as fn() -> u64 as usize);
    layout.hash(&mut h);
    if let Ok(m) = std::fs::metadata("/proc/self/exe") {
        (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other(ctx: &mut crate::worker::JobCtx<'_>) {
        std::hint::black_box(ctx);
    }

    #[test]
    fn ids_round_trip_in_process() {
        let id = id_of(other);
        // SAFETY: produced by id_of in this very process.
        let t = unsafe { resolve(id) };
        assert_eq!(t as usize, other as Trampoline as usize);
        assert_ne!(id, id_of(anchor));
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint(), fingerprint());
    }
}
