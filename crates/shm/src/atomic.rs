//! The atomics every shared-memory structure uses, switched to `loom`'s under `cfg(loom)`.
//!
//! All lock-free code in zeroproc imports its atomics from here, so that
//! `RUSTFLAGS="--cfg loom" cargo test --release -p zeroproc-ring --test loom_*`
//! model-checks the same source that runs in production.

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A hint to the CPU (or, under loom, to the model's scheduler) that we are spinning.
#[inline]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
