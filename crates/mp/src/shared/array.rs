//! [`SharedArray`]: the owner's side of a fixed-length array of plain-old-data in its own
//! shared-memory segment.

use super::chunk::ChunkMut;
use super::handle::ArrayHandle;
use super::header::{State, KIND_ARRAY, MAX_CHUNKS};
use super::mapping::{Geometry, Mapping};
use super::{cache, recycle, SharedError};
use bytemuck::Pod;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use zeroproc_shm::SegmentId;

/// The default size of an array's claim table: the most chunks one split may have.
pub const DEFAULT_MAX_CHUNKS: usize = 4096;

/// A fixed-length array of `T: Pod` in a shared-memory segment of its own (memfd: nothing
/// is left behind), owned by the process that created it.
///
/// * Other processes get at it through an [`ArrayHandle`] ([`handle`](Self::handle)),
///   passed as (part of) a job argument: `handle.read()` derefs to `&[T]` anywhere.
/// * Results are written in place through disjoint chunks:
///   [`chunks_mut`](Self::chunks_mut) splits the array into [`ChunkMut`] handles, each
///   claimable by exactly one live writer (see `src/shared/README.md` for the protocol).
///
/// ```
/// use zeroproc_mp::shared::SharedArray;
/// let mut a = SharedArray::<f64>::zeroed(1000).unwrap();
/// for c in a.chunks_mut(250).unwrap() {
///     // normally: pool.submit(kernel, c) — in a worker process
///     let mut g = c.write().unwrap();
///     let r = g.range();
///     for (x, i) in g.iter_mut().zip(r) {
///         *x = i as f64;
///     }
/// }
/// a.wait_chunks(std::time::Duration::from_secs(1)).unwrap();
/// assert_eq!(a.as_slice().unwrap()[999], 999.0);
/// ```
///
/// `T` is plain old data ([`Pod`](bytemuck::Pod): numbers, arrays of them, `#[repr(C)]`
/// structs of them — see [the module](super) for your own structs), as every process
/// reads the same bytes in place. A `String` or `Vec` element is refused ("the trait `Pod`
/// is not implemented for `String`"): such values go through a
/// [`Queue`](crate::Queue), a [`SharedList`](crate::SharedList), or a pool's `share`.
pub struct SharedArray<T: Pod> {
    map: Arc<Mapping>,
    /// This array's generation in its segment (`recycle.rs`). Fixed for the array's life
    /// in its own process; a forked child's copy finds it changed once the parent dropped
    /// the array (and perhaps reused the segment): its operations are then `Dropped`.
    generation: u64,
    _t: PhantomData<T>,
}

impl<T: Pod> SharedArray<T> {
    /// A zero-filled array of `len` elements. Its memory is a fresh segment (or one kept
    /// from a dropped array of the same shape); `Create` when the system has no room.
    ///
    /// ```
    /// let a = zeroproc_mp::SharedArray::<u64>::zeroed(1 << 20).unwrap(); // 8 MiB
    /// assert_eq!(a.len(), 1 << 20);
    /// assert!(a.as_slice().unwrap().iter().all(|&x| x == 0));
    /// ```
    pub fn zeroed(len: usize) -> Result<Self, SharedError> {
        Self::zeroed_with_max_chunks(len, len.min(DEFAULT_MAX_CHUNKS))
    }

    /// A zero-filled array whose splits may have up to `max_chunks` chunks (8 bytes of
    /// shared memory each; [`zeroed`](Self::zeroed) allows
    /// [`DEFAULT_MAX_CHUNKS`] or one per element, whichever is fewer). A split into more
    /// chunks is [`SharedError::TooManyChunks`]. `max_chunks` is capped at 2^30 − 1 (the
    /// most a split can count): a larger one allows that many; 0 allows 1 (the whole
    /// array as one chunk).
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::<u8>::zeroed_with_max_chunks(100, 4).unwrap();
    /// assert!(matches!(a.chunks_mut(10), Err(SharedError::TooManyChunks { chunks: 10, max: 4 })));
    /// assert_eq!(a.chunks_mut(25).unwrap().len(), 4);
    /// ```
    pub fn zeroed_with_max_chunks(len: usize, max_chunks: usize) -> Result<Self, SharedError> {
        Self::create(len, max_chunks, None)
    }

    /// An array holding a copy of `data`. From a `Vec` (numpy's `np.array(v)` into shared
    /// memory): `from_slice(&v)`; back to a `Vec`: `as_slice()?.to_vec()` (a copy; the
    /// array itself lives in its segment, so there is no `into_vec`).
    ///
    /// ```
    /// let a = zeroproc_mp::shared::SharedArray::from_slice(&[1u16, 2, 3]).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[1, 2, 3]);
    ///
    /// let v: Vec<f64> = (0..5).map(f64::from).collect();
    /// let b = zeroproc_mp::SharedArray::from_slice(&v).unwrap();
    /// let back: Vec<f64> = b.as_slice().unwrap().to_vec();
    /// assert_eq!(back, v);
    /// ```
    pub fn from_slice(data: &[T]) -> Result<Self, SharedError> {
        Self::create(data.len(), data.len().min(DEFAULT_MAX_CHUNKS), Some(data))
    }

    fn create(len: usize, max_chunks: usize, data: Option<&[T]>) -> Result<Self, SharedError> {
        // The memory of arrays dropped while in use, before this one takes more.
        super::deferred::retry();
        let geo = Geometry::plan::<T>(KIND_ARRAY, len, max_chunks)?;
        let reused = recycle::take(&geo).and_then(|map| {
            // A failed populate (out of memory): that segment is dropped, a fresh one tried.
            if map.refill(data.map(|d| bytemuck::cast_slice(&d[..len]))).is_err() {
                map.mark_dropped();
                return None;
            }
            Some(map)
        });
        let map = match reused {
            Some(map) => map,
            None => match Mapping::create::<T>(KIND_ARRAY, len, max_chunks, data) {
                Ok(m) => Arc::new(m),
                // Kept segments hold memory (`/dev/shm` space): give it back and retry.
                Err(SharedError::Create(_)) if recycle::release_all() > 0 => {
                    Arc::new(Mapping::create::<T>(KIND_ARRAY, len, max_chunks, data)?)
                }
                Err(e) => return Err(e),
            },
        };
        cache::register(&map);
        // Relaxed: changes only while no array owns the segment, in this process, ordered
        // before this by the kept table's lock (or the segment is fresh).
        let generation = map.header().generation.load(Ordering::Relaxed);
        Ok(Self { map, generation, _t: PhantomData })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.map.geo().capacity
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of the array's segment.
    pub fn segment_id(&self) -> &SegmentId {
        self.map.id()
    }

    /// A handle for other processes (cheap; any number of them): put it in a job's or a
    /// `Process`'s argument, and [`read`](ArrayHandle::read) the array there. It holds no
    /// memory: the array lives as long as this `SharedArray` (a handle used after that
    /// gets [`SharedError::Dropped`]).
    ///
    /// ```
    /// use zeroproc_mp::shared::SharedArray;
    /// let a = SharedArray::from_slice(&[3u32, 4]).unwrap();
    /// let h = a.handle();
    /// assert_eq!(h.len(), 2);
    /// assert_eq!(&*h.read().unwrap(), &[3, 4]);
    /// ```
    pub fn handle(&self) -> ArrayHandle<T> {
        ArrayHandle::new(&self.map, self.generation)
    }

    /// `Dropped` if the segment no longer holds this array: only possible in a forked
    /// child's copy, whose parent dropped the array.
    fn check_generation(&self) -> Result<(), SharedError> {
        // SeqCst: as `ArrayHandle::check_generation` (after any state load of the caller).
        if self.map.header().generation.load(Ordering::SeqCst) != self.generation {
            return Err(SharedError::Dropped);
        }
        Ok(())
    }

    /// The elements, once no chunk of the current split is unfinished
    /// ([`SharedError::SplitInProgress`] otherwise; see [`wait_chunks`](Self::wait_chunks)).
    /// The owner's read: borrows the array, so no split can start while the slice lives.
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::from_slice(&[1i64, 2, 3]).unwrap();
    /// assert_eq!(a.as_slice().unwrap().iter().sum::<i64>(), 6);
    /// let chunks = a.chunks_mut(3).unwrap();
    /// assert!(matches!(a.as_slice(), Err(SharedError::SplitInProgress { pending: 1 })));
    /// drop(chunks[0].write().unwrap()); // the chunk is done (unchanged here)
    /// assert_eq!(a.as_slice().unwrap(), &[1, 2, 3]);
    /// ```
    pub fn as_slice(&self) -> Result<&[T], SharedError> {
        let readable = self.map.readable();
        self.check_generation().and(readable)?;
        // SAFETY: `len` checked elements at `data`, mapped while `self` lives. No chunk
        // writer is live (readable) and none can start before `&mut self` allows a new
        // split; other processes only read.
        Ok(unsafe { std::slice::from_raw_parts(self.map.data::<T>(), self.len()) })
    }

    /// Writes the whole array in place. Refused while a split is unfinished or another
    /// process holds a read guard ([`SharedError::ReadersActive`]); while the guard lives,
    /// readers are refused.
    ///
    /// ```
    /// let mut a = zeroproc_mp::shared::SharedArray::<i32>::zeroed(3).unwrap();
    /// a.write().unwrap().copy_from_slice(&[1, 2, 3]);
    /// assert_eq!(&*a.handle().read().unwrap(), &[1, 2, 3]);
    /// ```
    pub fn write(&mut self) -> Result<WriteGuard<'_, T>, SharedError> {
        self.check_generation()?;
        let state = self.map.begin_owner_write()?;
        Ok(WriteGuard { array: self, state, pid: zeroproc_shm::process::current_pid() })
    }

    /// Splits the array into chunks of `chunk_len` elements (the last may be shorter) for
    /// writers in any process. Refused while the previous split is unfinished (wait for it,
    /// or [`abandon_chunks`](Self::abandon_chunks)) or a process holds a read guard.
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::<u8>::zeroed(10).unwrap();
    /// let first = a.chunks_mut(5).unwrap();
    /// assert_eq!(first.len(), 2);
    /// assert!(matches!(a.chunks_mut(2), Err(SharedError::SplitInProgress { pending: 2 })));
    /// ```
    pub fn chunks_mut(&mut self, chunk_len: usize) -> Result<Vec<ChunkMut<T>>, SharedError> {
        if chunk_len == 0 {
            return Err(SharedError::BadChunkLen);
        }
        let chunks = self.len().div_ceil(chunk_len);
        let max = self.map.geo().max_chunks.min(MAX_CHUNKS);
        if chunks > max {
            return Err(SharedError::TooManyChunks { chunks, max });
        }
        if chunks == 0 {
            return Ok(Vec::new());
        }
        self.check_generation()?;
        let epoch = self.map.open_split(chunk_len, chunks)?;
        let h = self.handle();
        Ok((0..chunks as u32).map(|i| ChunkMut::new(h.clone(), epoch, i)).collect())
    }

    /// Chunks of the current split not yet finished (DONE or closed): a progress count
    /// while jobs write them. Never waits.
    ///
    /// ```
    /// let mut a = zeroproc_mp::SharedArray::<u8>::zeroed(8).unwrap();
    /// let chunks = a.chunks_mut(2).unwrap();
    /// assert_eq!(a.pending_chunks(), 4);
    /// chunks[1].write().unwrap().fill(1);
    /// assert_eq!(a.pending_chunks(), 3);
    /// ```
    pub fn pending_chunks(&self) -> usize {
        self.map.try_finish(self.map.state())
    }

    /// Waits until every chunk of the current split is finished; `Timeout` says how many
    /// are not (a chunk whose writer died stays unfinished until claimed again or
    /// abandoned). Not needed after a pool has returned every chunk job's result — those
    /// chunks are finished — but when chunks went to `Process`es or were submitted without
    /// waiting for the futures.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::<u8>::zeroed(4).unwrap();
    /// let chunks = a.chunks_mut(2).unwrap();
    /// chunks[0].write().unwrap().fill(1);
    /// let e = a.wait_chunks(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(e, SharedError::Timeout { pending: 1 }));
    /// chunks[1].write().unwrap().fill(2);
    /// a.wait_chunks(Duration::from_secs(1)).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[1, 1, 2, 2]);
    /// ```
    pub fn wait_chunks(&self, timeout: Duration) -> Result<(), SharedError> {
        self.check_generation()?;
        self.map.wait_split(timeout)
    }

    /// Ends the current split early: every chunk not claimed, or claimed by a dead process,
    /// is closed (its handles get `ChunkAbandoned`). Fails with `ChunkBusy` while a live
    /// process writes a chunk; call again once it is done.
    ///
    /// ```
    /// use zeroproc_mp::shared::{SharedArray, SharedError};
    /// let mut a = SharedArray::<u8>::zeroed(10).unwrap();
    /// let chunks = a.chunks_mut(5).unwrap();
    /// chunks[0].write().unwrap().fill(1);
    /// a.abandon_chunks().unwrap(); // chunk 1 is never written
    /// assert!(matches!(chunks[1].write(), Err(SharedError::ChunkAbandoned)));
    /// assert_eq!(a.as_slice().unwrap(), &[1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    /// ```
    pub fn abandon_chunks(&mut self) -> Result<(), SharedError> {
        self.check_generation()?;
        self.map.abandon()
    }
}

impl<T: Pod> Drop for SharedArray<T> {
    fn drop(&mut self) {
        cache::unregister(self.map.id());
        // A forked child's copy: the array (or a later one in its segment) is its parent's;
        // only this process's mapping goes.
        if self.map.header().owner_pid != u64::from(zeroproc_shm::process::current_pid()) {
            return;
        }
        // Kept for the next array of this shape (`recycle.rs`), or dropped for good.
        // With a reader or writer still at work its memory is freed once it is done.
        if !recycle::keep(&self.map) && !self.map.discard() {
            super::deferred::defer(self.map.clone());
        }
    }
}

impl<T: Pod> fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedArray")
            .field("segment", self.map.id())
            .field("len", &self.len())
            .finish()
    }
}

/// The owner's exclusive write access ([`SharedArray::write`]): derefs to `&mut [T]`;
/// readers in other processes are refused ([`SharedError::OwnerWriting`]) until it is
/// dropped. See [`SharedArray::write`] for an example.
pub struct WriteGuard<'a, T: Pod> {
    array: &'a mut SharedArray<T>,
    state: State,
    /// The process that entered the write mode: a forked child's copy of the guard must
    /// not end it (the parent would go on writing with readers let in).
    pid: u32,
}

impl<T: Pod> Deref for WriteGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: as in `SharedArray::as_slice`; the Owner state keeps readers out.
        unsafe { std::slice::from_raw_parts(self.array.map.data::<T>(), self.array.len()) }
    }
}

impl<T: Pod> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; no split is open and no reader holds a lease (checked on
        // entry, and new readers are refused while the state is Owner).
        unsafe { std::slice::from_raw_parts_mut(self.array.map.data::<T>(), self.array.len()) }
    }
}

impl<T: Pod> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        if self.pid == zeroproc_shm::process::current_pid() {
            self.array.map.end_owner_write(self.state);
        }
    }
}
