//! The blocking loop of the SPSC handles: [`crate::blocking::block_on`], or under loom a
//! model-checkable mirror of its sleep phase.
//!
//! `block_on` sleeps in slices of at most 100 ms (so a SIGKILLed peer is noticed), and the
//! loom futex model turns any time limit into an immediate time-out, which would make the
//! model spin forever. Under `cfg(loom)` the same handshake (poll, `prepare_wait`, re-poll,
//! `wait`, poll) runs without a time limit, so a lost wake-up is a model deadlock.

use crate::blocking::{BlockError, Poll};
use std::time::Instant;
use zeroproc_shm::wait::{EventCount, WaitStrategy};

/// Runs `poll` until ready or failed, sleeping on `ev` between polls (see module docs).
#[inline]
pub(crate) fn block<T, E>(
    ev: &EventCount,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    poll: impl FnMut() -> Poll<T, E>,
) -> Result<T, BlockError<E>> {
    #[cfg(not(loom))]
    {
        crate::blocking::block_on(ev, strategy, deadline, poll)
    }
    #[cfg(loom)]
    {
        let _ = strategy;
        model_block(ev, deadline, poll)
    }
}

#[cfg(loom)]
fn model_block<T, E>(
    ev: &EventCount,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Poll<T, E>,
) -> Result<T, BlockError<E>> {
    loop {
        match poll() {
            Poll::Ready(t) => return Ok(t),
            Poll::Failed(e) => return Err(BlockError::Failed(e)),
            Poll::Pending => {}
        }
        let key = ev.prepare_wait();
        match poll() {
            Poll::Ready(t) => {
                ev.cancel_wait();
                return Ok(t);
            }
            Poll::Failed(e) => {
                ev.cancel_wait();
                return Err(BlockError::Failed(e));
            }
            Poll::Pending => {}
        }
        if deadline.is_some() {
            // The loom futex model has no clock: a timed wait is an immediate time-out.
            ev.cancel_wait();
            return Err(BlockError::TimedOut);
        }
        ev.wait(key, None);
    }
}
