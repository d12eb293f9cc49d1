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

/// A 64-bit fingerprint of this build: the executable's GNU build-id (a hash of its linked
/// contents, the same on every node that runs a copy of the file), the crate version, and
/// the anchor's offset from another function (different code layout → different value).
/// Without a build-id note it hashes the executable's bytes instead (once per process).
/// It never depends on the file's inode or modification time, which differ between the
/// nodes of a cluster running copies of one build (zeroproc-cluster all-gathers it).
pub fn fingerprint() -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    let layout = (anchor as Trampoline as usize).wrapping_sub(fingerprint as fn() -> u64 as usize);
    layout.hash(&mut h);
    build_identity().hash(&mut h);
    h.finish()
}

/// The GNU build-id of the main executable, else a hash of `/proc/self/exe`'s bytes.
fn build_identity() -> &'static [u8] {
    // Per fork generation: a child forked while another thread computed it (hashing the
    // executable can take a while) waited for ever at its first pool.
    static ID: zeroproc_shm::fork::ForkLocal<std::sync::OnceLock<Vec<u8>>> =
        zeroproc_shm::fork::ForkLocal::new(std::sync::OnceLock::new);
    ID.get().get_or_init(|| {
        build_id::of_main_program().unwrap_or_else(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::fs::read("/proc/self/exe").unwrap_or_default().hash(&mut h);
            h.finish().to_le_bytes().to_vec()
        })
    })
}

/// Reading the `NT_GNU_BUILD_ID` note from the main program's loaded `PT_NOTE` segments.
mod build_id {
    use std::ffi::c_int;

    const NT_GNU_BUILD_ID: u32 = 3;

    /// The main program's build-id bytes, if it has one.
    pub(super) fn of_main_program() -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        // SAFETY: `visit` matches the callback type, and `out` outlives the call (the
        // callback only runs during `dl_iterate_phdr`).
        unsafe { libc::dl_iterate_phdr(Some(visit), (&mut out as *mut Option<Vec<u8>>).cast()) };
        out
    }

    /// Called for each loaded object; the first is the main program. Returns non-zero to
    /// stop the iteration.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut std::ffi::c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the call;
        // `data` is the `Option<Vec<u8>>` of `of_main_program`.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Option<Vec<u8>>>()) };
        // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers of a loaded object.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
            let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
            // SAFETY: a PT_NOTE segment of a loaded object is mapped readable, `p_memsz`
            // bytes from its load address.
            let notes =
                unsafe { std::slice::from_raw_parts(start as *const u8, ph.p_memsz as usize) };
            if let Some(id) = find(notes) {
                *out = Some(id.to_vec());
                break;
            }
        }
        1 // the main program only
    }

    /// The build-id in a run of ELF notes (4-byte aligned name and descriptor).
    fn find(mut notes: &[u8]) -> Option<&[u8]> {
        let word = |b: &[u8]| u32::from_ne_bytes(b.try_into().expect("4 bytes")) as usize;
        let pad = |n: usize| (n + 3) & !3;
        while notes.len() >= 12 {
            let (namesz, descsz, kind) =
                (word(&notes[0..4]), word(&notes[4..8]), word(&notes[8..12]));
            let desc_at = 12 + pad(namesz);
            let end = desc_at.checked_add(pad(descsz))?;
            if end > notes.len() {
                return None;
            }
            if kind as u32 == NT_GNU_BUILD_ID && &notes[12..12 + namesz] == b"GNU\0" {
                return Some(&notes[desc_at..desc_at + descsz]);
            }
            notes = &notes[end..];
        }
        None
    }
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

    #[test]
    fn the_build_id_is_found_and_matches_the_file() {
        // rustc links through `cc`, which passes --build-id on Linux distributions.
        let id = build_id::of_main_program().expect("a GNU build-id note");
        assert!(id.len() >= 8, "{id:?}");
        // The same bytes are in the executable file (what `readelf -n` shows).
        let file = std::fs::read("/proc/self/exe").unwrap();
        assert!(file.windows(id.len()).any(|w| w == &id[..]));
    }
}
