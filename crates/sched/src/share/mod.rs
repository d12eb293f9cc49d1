//! Read-only state shared by every job: a value archived **once** into shared memory and
//! read in place, as `&Archived<T>`, by every job in every worker (Ray's `put`, mpire's
//! `shared_objects`). No per-job and no per-worker copy: a job argument carries only the
//! handle (a segment id); each process maps the segment once and validates the archive
//! once (bytecheck), then each [`SharedValue::get`] is a cache lookup.

pub(crate) mod pin;
mod stored;

pub(crate) use stored::{attach, type_hash, Stored};

use crate::job::Message;
use rkyv::{Archive, Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use zeroproc_codec::envelope;

/// A value archived once into shared memory, read in place by any process it is passed
/// to. Create it with [`Pool::share`](crate::Pool::share) (or [`SharedValue::new`]); pass a
/// clone as (part of) a job's or a `Process`'s argument — it travels as a segment id —
/// and read it there with [`get`](Self::get), which gives `&Archived<T>` without copying.
///
/// The value lives while a `SharedValue` made by its creator (or a clone of one) lives in the
/// creator's process, and while a job, `Process` or pool initializer whose arguments held
/// one may still read it: `pool.submit(f, (pool.share(&t)?, i))` works, the job's entry
/// keeps the value until the job is done. Passed any other way (through a queue, a
/// dict), keep a handle until the readers are done (a worker that has mapped it keeps its
/// mapping until the owner released it and it is no longer used).
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{Pool, SharedValue};
///
/// fn lookup((table, i): (SharedValue<Vec<u64>>, usize)) -> u64 {
///     let t = table.get().expect("the shared table"); // &ArchivedVec<u64_le>, no copy
///     t[i].to_native()
/// }
///
/// let pool = Pool::builder().workers(2).build()?;
/// let table = pool.share(&(0..1_000_000u64).map(|x| x * 3).collect::<Vec<_>>())?;
/// let r: Vec<u64> = pool
///     .map(lookup, (0..4).map(|i| (table.clone(), i * 1000)))
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(r, [0, 3000, 6000, 9000]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct SharedValue<T> {
    /// The segment's id (`zeroproc_mp::segment_refs`: a layer forwarding the archive
    /// elsewhere learns it holds this id).
    #[rkyv(with = zeroproc_mp::segment_refs::SegmentRef)]
    segment: String,
    type_hash: u64,
    /// This process's mapping, once attached (the creator's from the start).
    #[rkyv(with = rkyv::with::Skip)]
    local: OnceLock<Arc<Stored>>,
    /// In the creator's process: releases the value when its last handle drops (and no
    /// job or process it was archived for still needs it: `pin.rs`).
    #[rkyv(with = pin::PinOwner)]
    owner: Option<Arc<Owner>>,
    _t: PhantomData<fn() -> T>,
}

/// The creator's side: marks the value released when the last of its handles, and the
/// last pin of a job or process it was archived for, drops.
pub(crate) struct Owner(Arc<Stored>);

impl Owner {
    fn new(stored: Arc<Stored>) -> Owner {
        pin::born();
        Owner(stored)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.release();
        pin::died();
    }
}

impl<T> Clone for SharedValue<T> {
    fn clone(&self) -> Self {
        let local = OnceLock::new();
        if let Some(s) = self.local.get() {
            let _ = local.set(s.clone());
        }
        SharedValue {
            segment: self.segment.clone(),
            type_hash: self.type_hash,
            local,
            owner: self.owner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SharedValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedValue").field("segment", &self.segment).finish()
    }
}

impl<T: Message> SharedValue<T> {
    /// Archives `value` once into a new shared-memory segment (what
    /// [`Pool::share`](crate::Pool::share) does).
    ///
    /// ```
    /// let s = zeroproc_sched::SharedValue::new(&vec![1u32, 2, 3])?;
    /// assert_eq!(s.get()?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(value: &T) -> Result<SharedValue<T>, ShareError> {
        let bytes = crate::job::encode_owned(value).map_err(ShareError::Encode)?;
        let stored =
            Arc::new(Stored::create(&bytes, type_hash::<T>()).map_err(ShareError::Segment)?);
        // Our own bytes, just written from a `T`: valid without checking.
        let _ = stored.validated.set(Ok(()));
        let local = OnceLock::new();
        let _ = local.set(stored.clone());
        Ok(SharedValue {
            segment: stored.id().to_string(),
            type_hash: type_hash::<T>(),
            local,
            owner: Some(Arc::new(Owner::new(stored))),
            _t: PhantomData,
        })
    }

    /// The archived value, in place in shared memory: no copy. The first call in a
    /// process maps the segment and validates the archive (once per process, not per
    /// call or per handle); later calls cost a lookup.
    ///
    /// ```
    /// let s = zeroproc_sched::SharedValue::new(&(7u64, String::from("seven")))?;
    /// let a = s.get()?;
    /// assert_eq!((a.0.to_native(), a.1.as_str()), (7, "seven"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<&T::Archived, AccessError> {
        if self.type_hash != type_hash::<T>() {
            return Err(AccessError::TypeMismatch);
        }
        let s = match self.local.get() {
            Some(s) => s,
            None => {
                let s = attach(&self.segment).map_err(AccessError::Attach)?;
                self.local.get_or_init(|| s)
            }
        };
        if s.type_hash() != self.type_hash {
            return Err(AccessError::TypeMismatch);
        }
        let check = || envelope::decode::<T>(s.bytes()).map(|_| ()).map_err(|e| e.to_string());
        s.validated.get_or_init(check).clone().map_err(AccessError::Invalid)?;
        // SAFETY: the bytes were validated as an envelope of `T` (above, once per
        // mapping; the type hash matches), and nobody writes them after creation (the
        // creator writes them once before publishing the segment). A process of the same
        // user could, as it could ptrace us: outside the threat model (reliability.md).
        let (_, a) = unsafe { envelope::decode_unchecked::<T>(s.bytes()) }
            .map_err(|e| AccessError::Invalid(e.to_string()))?;
        Ok(a)
    }

    /// The id of the segment holding the value.
    pub fn segment_id(&self) -> &str {
        &self.segment
    }
}

/// Why [`SharedValue::new`] / [`Pool::share`](crate::Pool::share) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShareError {
    /// The value could not be archived.
    Encode(String),
    /// The segment could not be created (e.g. not enough memory).
    Segment(zeroproc_shm::CreateError),
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareError::Encode(e) => write!(f, "the shared value could not be archived: {e}"),
            ShareError::Segment(e) => write!(f, "shared value segment: {e}"),
        }
    }
}

impl std::error::Error for ShareError {}

/// Why [`SharedValue::get`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessError {
    /// The segment could not be mapped: its creator dropped every handle (or exited)
    /// before this process first read it.
    Attach(String),
    /// The handle names a value of another type.
    TypeMismatch,
    /// The stored archive failed validation.
    Invalid(String),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::Attach(e) => write!(
                f,
                "shared value not reachable ({e}): keep its SharedValue alive in the creator \
                 until the jobs that read it are done"
            ),
            AccessError::TypeMismatch => write!(f, "shared value of another type"),
            AccessError::Invalid(e) => write!(f, "shared value invalid: {e}"),
        }
    }
}

impl std::error::Error for AccessError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle as a job receives it: archived, then deserialized (no mapping yet).
    fn travelled<T: Message>(s: &SharedValue<T>) -> SharedValue<T> {
        let bytes = crate::job::encode_owned(s).unwrap();
        crate::spill::decode_owned::<SharedValue<T>>(&bytes, None).unwrap()
    }

    #[test]
    fn handles_that_travelled_map_the_value_once_per_process() {
        let s = SharedValue::new(&vec![5u64; 1000]).unwrap();
        let before = stored::cached();
        let (a, b) = (travelled(&s), travelled(&s));
        assert_eq!(a.get().unwrap()[999].to_native(), 5);
        assert_eq!(b.get().unwrap().len(), 1000);
        assert_eq!(stored::cached(), before + 1);
    }

    #[test]
    fn a_handle_of_another_type_is_refused() {
        let s = SharedValue::new(&1u32).unwrap();
        let bytes = crate::job::encode_owned(&s).unwrap();
        // The same archived fields, read as a handle of another type.
        let other = crate::spill::decode_owned::<SharedValue<u64>>(&bytes, None).unwrap();
        assert_eq!(other.get().unwrap_err(), AccessError::TypeMismatch);
    }

    #[test]
    fn a_released_value_is_unreachable_for_new_readers() {
        let s = SharedValue::new(&String::from("x")).unwrap();
        let t = travelled(&s);
        drop(s);
        assert!(matches!(t.get(), Err(AccessError::Attach(_))));
    }
}
