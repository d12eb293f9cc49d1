//! Test-only kill points inside `alloc` and `free` (feature `fault-injection`, off in
//! normal builds: then `hit` is an empty inline function). A test sets a point with
//! `arm` in a forked child; the child SIGKILLs itself when it reaches it, so that a
//! crash at exactly that instruction of the heap protocol can be replayed (`tests.rs`,
//! `zeroproc-mp`'s `queue/kill_tests.rs`).

/// Where a process can be made to die.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Failpoint {
    /// `alloc`: the pop CAS has taken the block (and the note names it), the header
    /// still says FREE.
    Popped = 1,
    /// `free`: the ALLOC → FREE CAS is done (the note still names the block), the block
    /// is in no list yet.
    Freed = 2,
}

#[cfg(feature = "fault-injection")]
static ARMED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Makes this process SIGKILL itself when it next reaches `at` (for a forked child).
#[doc(hidden)]
#[cfg(feature = "fault-injection")]
pub fn arm(at: Failpoint) {
    // Relaxed: read by this process's own later `hit`.
    ARMED.store(at as u32, std::sync::atomic::Ordering::Relaxed);
}

/// Dies here if this point is armed.
#[inline(always)]
pub(crate) fn hit(at: Failpoint) {
    #[cfg(feature = "fault-injection")]
    // Relaxed: see `arm`.
    if ARMED.load(std::sync::atomic::Ordering::Relaxed) == at as u32 {
        // SAFETY: raise is async-signal-safe and takes no pointers.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = at;
}
