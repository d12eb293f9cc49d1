//! # zeroproc-ring
//!
//! Lock-free rings over shared memory, the transport under every zeroproc channel.
//!
//! * [`spsc`]: one producer, one consumer; variable-length records written in place
//!   (reserve → write → commit), batched commit and consume, each side caching the other's
//!   index on its own cache line.
//! * [`mpmc`]: any number of producer and consumer processes; fixed-size slots, with
//!   recovery when a process dies holding a slot (it loses at most the record it held).
//! * Blocking: every ring has `op`, `try_op`, `op_timeout`, `op_deadline`, driven by a
//!   [`WaitStrategy`](zeroproc_shm::wait::WaitStrategy) (spin, spin-then-sleep, sleep);
//!   the futex wake syscall is only made when the other side has said it sleeps.
//!
//! The protocols (index orderings, wake-up handshake, crash recovery) are written down in
//! `README.md` files beside the code and model-checked with loom (`tests/loom_*.rs`).

pub mod mpmc;
mod payload_error;
pub mod spsc;
