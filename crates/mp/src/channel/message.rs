//! What a channel carries: the [`Message`] bound (the codec's), the wait modes every
//! operation reduces to (the codec's [`Wait`]), and the per-thread scratch buffer of the
//! one send path.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use std::cell::RefCell;
use zeroproc_codec::envelope::Header;
pub use zeroproc_codec::Message;

pub(crate) use zeroproc_codec::send::Wait;

/// The envelope header of channel messages (job and function ids are unused).
pub(crate) const HEADER: Header = Header { job_id: 0, fn_id: 0, flags: 0 };

/// Deserializes a validated archived value.
pub(crate) fn deserialize<T: Message>(a: &T::Archived) -> Result<T, rancor::Error> {
    rkyv::deserialize::<T, rancor::Error>(a)
}

thread_local! {
    static SCRATCH: RefCell<AlignedVec<16>> = RefCell::new(AlignedVec::new());
}

/// Runs `f` with this thread's scratch buffer, where the one send path drafts records
/// that cannot be drafted in place (a queue's slot must only be claimed once the
/// record's length is known; a pipe's ring may be full).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut AlignedVec<16>) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        // Re-entered (a Serialize impl that sends on a channel): use a buffer of its own.
        Err(_) => f(&mut AlignedVec::new()),
    })
}
