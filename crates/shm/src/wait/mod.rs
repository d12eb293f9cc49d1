//! Sleeping and waking across processes: the event count every blocking operation in
//! zeroproc is built on, and the spin-then-sleep strategy.
//!
//! See `README.md` in this folder for the protocol (states, orderings, and why no wake-up
//! is lost).

mod eventcount;
mod strategy;

pub use eventcount::{EventCount, WaitKey};
pub use strategy::WaitStrategy;
