//! [`Ref`]: a received message read in place, as `&Archived<T>`, without deserializing.

use crate::channel::holds::Registered;
use crate::channel::mapping::Mapping;
use crate::channel::message::{self, Message};
use rkyv::util::AlignedVec;
use rkyv::{rancor, Archive};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use zeroproc_codec::envelope::{self, DecodeError};
use zeroproc_codec::payload::SpillGuard;
use zeroproc_ring::mpmc::PopGuard;
use zeroproc_ring::spsc::RecordGuard;

/// A received message, validated (bytecheck) and read in place: derefs to `T::Archived`.
/// Dropping it releases what holds the bytes.
///
/// Where the bytes are:
///
/// * a pipe message: in the pipe's ring record, which stays unreleased while the `Ref`
///   lives (truly zero-copy; the sender may fill the rest of the ring meanwhile);
/// * a message too large for a slot or record (either channel): in its block of the
///   channel's spill heap, claimed by this `Ref` and freed on drop (zero-copy);
/// * a queue message that fit its slot: in the slot, which stays claimed while the `Ref`
///   lives (zero-copy; producers that lap around to that slot wait for it, the other slots
///   keep working — so hold a `Ref` briefly, or deserialize it).
///
/// ```
/// use zeroproc_mp::Queue;
/// let q = Queue::<Vec<u32>>::new(4).unwrap();
/// q.put(vec![1, 2, 3]).unwrap();
/// let r = q.get_ref().unwrap();
/// assert_eq!(r.as_slice(), &[1, 2, 3]); // ArchivedVec<u32_le>
/// assert_eq!(r.deserialize().unwrap(), vec![1, 2, 3]);
/// ```
pub struct Ref<'a, T: Archive> {
    /// Validated at construction; points into `hold`'s bytes.
    value: NonNull<T::Archived>,
    /// Dropped only in the process that took the value (see `Drop`).
    hold: std::mem::ManuallyDrop<Hold<'a, T>>,
    /// The process that took the value.
    made_by: u32,
}

/// What keeps the bytes alive; each variant is held only for its `Drop`.
#[allow(dead_code)]
enum Hold<'a, T: Archive> {
    Owned(AlignedVec<16>),
    Slot(PopGuard<'a>),
    Record(RecordGuard<'a>),
    Spilled(HeapHold<'a, T>),
}

/// A claimed heap block: freed on drop, then producers waiting for heap space are woken.
struct HeapHold<'a, T: Archive> {
    guard: Option<SpillGuard<'a, T>>,
    /// A queue consumer's entry in the holds table (`holds.rs`), cleared before the free.
    reg: Registered<'a>,
    map: &'a Mapping,
}

impl<T: Archive> Drop for HeapHold<'_, T> {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            self.reg.free_claimed(g); // the entry is cleared after the heap's CAS
        }
        self.map.heap_freed();
    }
}

impl<'a, T: Message> Ref<'a, T> {
    /// Validates an inline envelope copied into `buf`.
    pub(crate) fn owned(buf: AlignedVec<16>) -> Result<Self, DecodeError> {
        let (_, a) = envelope::decode::<T>(&buf)?;
        let value = NonNull::from(a);
        Ok(Ref::new(value, Hold::Owned(buf)))
    }

    /// Validates the inline envelope in a ring record, keeping the record unreleased.
    pub(crate) fn record(rec: RecordGuard<'a>) -> Result<Self, DecodeError> {
        let (_, a) = envelope::decode::<T>(&rec)?;
        // The bytes live in the shared mapping, not in the guard: moving the guard into
        // the `Ref` does not move them.
        let value = NonNull::from(a);
        Ok(Ref::new(value, Hold::Record(rec)))
    }

    /// Validates the inline envelope in a claimed queue slot, keeping the slot claimed.
    pub(crate) fn slot(g: PopGuard<'a>) -> Result<Self, DecodeError> {
        let (_, a) = envelope::decode::<T>(&g)?;
        // The bytes live in the shared mapping, not in the guard.
        let value = NonNull::from(a);
        Ok(Ref::new(value, Hold::Slot(g)))
    }

    /// Wraps a claimed heap block of `map`'s heap (`reg`: its holds-table entry, if a
    /// queue consumer registered one).
    pub(crate) fn spilled(g: SpillGuard<'a, T>, reg: Registered<'a>, map: &'a Mapping) -> Self {
        let value = NonNull::from(&*g);
        Ref::new(value, Hold::Spilled(HeapHold { guard: Some(g), reg, map }))
    }

    /// Deserializes the message into an owned `T`.
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<String>::new(2).unwrap();
    /// q.put("hi".to_string()).unwrap();
    /// assert_eq!(q.get_ref().unwrap().deserialize().unwrap(), "hi");
    /// ```
    pub fn deserialize(&self) -> Result<T, rancor::Error> {
        message::deserialize::<T>(self)
    }
}

impl<'a, T: Archive> Ref<'a, T> {
    fn new(value: NonNull<T::Archived>, hold: Hold<'a, T>) -> Self {
        let made_by = zeroproc_shm::process::current_pid();
        Ref { value, hold: std::mem::ManuallyDrop::new(hold), made_by }
    }
}

impl<T: Archive> Drop for Ref<'_, T> {
    fn drop(&mut self) {
        // A forked child's copy of its parent's `Ref` (its inherited locals): the slot,
        // record or heap block is the parent's, who still reads it in place. Releasing
        // or freeing it here would hand it to a producer while the parent reads.
        if self.made_by == zeroproc_shm::process::current_pid() {
            // SAFETY: dropped once, here, and never used again (`self` is being dropped).
            unsafe { std::mem::ManuallyDrop::drop(&mut self.hold) };
        }
    }
}

impl<T: Archive> Ref<'_, T> {
    /// Whether the message came through the spill heap (it was larger than a slot or
    /// record).
    ///
    /// ```
    /// let q = zeroproc_mp::Queue::<Vec<u8>>::with_slot_size(2, 64).unwrap();
    /// q.put(vec![7; 1000]).unwrap();
    /// assert!(q.get_ref().unwrap().is_spilled());
    /// ```
    pub fn is_spilled(&self) -> bool {
        matches!(*self.hold, Hold::Spilled(_))
    }
}

impl<T: Archive> Deref for Ref<'_, T> {
    type Target = T::Archived;
    fn deref(&self) -> &T::Archived {
        // SAFETY: validated at construction; the bytes are kept alive and unchanged by
        // `hold` (an owned buffer whose heap allocation does not move, an unreleased ring
        // record or claimed queue slot no producer writes, or a claimed heap block nobody
        // else frees)
        // for as long as `self` lives.
        unsafe { self.value.as_ref() }
    }
}

impl<T: Archive> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match *self.hold {
            Hold::Owned(_) => "copied from its slot",
            Hold::Slot(_) => "in its queue slot",
            Hold::Record(_) => "in its ring record",
            Hold::Spilled(_) => "in the spill heap",
        };
        f.debug_struct("Ref").field("bytes", &at).finish_non_exhaustive()
    }
}
