//! Sleeping and waking across processes: the event count every blocking operation in
//! zeroproc is built on, the spin-then-sleep strategy, and the one blocking loop
//! ([`block_on`]) over them.
//!
//! See `README.md` in this folder for the protocol (states, orderings, and why no wake-up
//! is lost).

mod block;
mod eventcount;
mod fifo;
mod pool;
mod strategy;

pub use block::{
    block_on, deadline_after, in_sleep_phase, set_yield_peer, BlockError, Poll, MAX_SLEEP_SLICE,
};
pub use eventcount::{EventCount, WaitKey};
pub use fifo::{FifoEntry, FifoQueue, FIFO_SLOTS};
pub use strategy::WaitStrategy;
