//! [`ChunkMut`]: a handle to one chunk of a split, passable to a job; in the worker,
//! [`ChunkMut::write`] claims the chunk and gives a [`ChunkGuard`] (`&mut [T]`).
//!
//! The claim word in the array header (`epoch | FREE / pid / DONE / CLOSED`) makes the
//! chunks' disjointness a property of the protocol: a second claim of a chunk (a
//! duplicated handle, in any process) is refused while the first claimant lives, and the
//! chunk's range is computed from the shared split state, not from the handle.

use super::handle::ArrayHandle;
use super::header::{claim_parts, claim_word, Mode, CLOSED, DONE, FREE};
use super::mapping::Mapping;
use super::SharedError;
use bytemuck::Pod;
use rkyv::{Archive, Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Range};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use zeroproc_shm::process::{current_pid, is_alive};

/// One chunk of a split made by [`SharedArray::chunks_mut`](super::SharedArray::chunks_mut):
/// pass it to a job (it derives rkyv `Archive`/`Serialize`/`Deserialize`), and write it
/// there with [`write`](Self::write).
///
/// ```
/// use zeroproc_mp::shared::{SharedArray, SharedError};
/// let mut a = SharedArray::<u32>::zeroed(10).unwrap();
/// let chunks = a.chunks_mut(4).unwrap(); // [0..4), [4..8), [8..10)
/// let dup = chunks[2].clone();
/// let mut g = chunks[2].write().unwrap();
/// assert_eq!(g.range(), 8..10);
/// g.copy_from_slice(&[7, 7]);
/// assert!(matches!(dup.write(), Err(SharedError::ChunkBusy { .. }))); // never two &mut
/// drop(g); // DONE
/// assert!(matches!(dup.write(), Err(SharedError::ChunkDone)));
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ChunkMut<T> {
    array: ArrayHandle<T>,
    epoch: u32,
    index: u32,
}

impl<T> Clone for ChunkMut<T> {
    fn clone(&self) -> Self {
        Self { array: self.array.clone(), epoch: self.epoch, index: self.index }
    }
}

impl<T> fmt::Debug for ChunkMut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkMut")
            .field("array", &self.array)
            .field("epoch", &self.epoch)
            .field("index", &self.index)
            .finish()
    }
}

impl<T: Pod> ChunkMut<T> {
    pub(crate) fn new(array: ArrayHandle<T>, epoch: u32, index: u32) -> Self {
        Self { array, epoch, index }
    }

    /// The chunk's position in its split (0, 1, ...; the chunk's elements start at
    /// `index × chunk_len`).
    ///
    /// ```
    /// let mut a = zeroproc_mp::SharedArray::<u8>::zeroed(10).unwrap();
    /// let chunks = a.chunks_mut(4).unwrap();
    /// assert_eq!(chunks[2].index(), 2);
    /// assert_eq!(chunks[2].array().len(), 10);
    /// # drop(chunks); a.abandon_chunks().unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// The whole array this chunk belongs to: a kernel that needs neighbours of its chunk
    /// (a stencil) reads them through it — but not while the split is unfinished, so
    /// neighbours come from a *separate* input array.
    pub fn array(&self) -> &ArrayHandle<T> {
        &self.array
    }

    /// Claims the chunk for this process and returns its elements, writable. Refused with
    /// [`SharedError::ChunkBusy`] while another claim of it is live (in any process,
    /// including this one), `ChunkDone` once it was finished, `ChunkStale`/`ChunkAbandoned`
    /// for a split that is over. A chunk whose claimant died is claimed again (its
    /// contents are whatever the dead writer left).
    ///
    /// Dropping the guard marks the chunk DONE — unless the thread is panicking, which
    /// frees it for another attempt (as does [`ChunkGuard::unclaim`]).
    ///
    /// ```
    /// use zeroproc_mp::shared::SharedError;
    /// let mut a = zeroproc_mp::SharedArray::<f32>::zeroed(8).unwrap();
    /// let chunks = a.chunks_mut(4).unwrap(); // one per job: `pool.map(kernel, chunks)`
    /// {
    ///     let mut part = chunks[1].write().unwrap(); // in the job: its 4 elements
    ///     part.fill(1.5);
    ///     assert!(matches!(chunks[1].write(), Err(SharedError::ChunkBusy { .. })));
    /// } // dropped: done
    /// assert!(matches!(chunks[1].write(), Err(SharedError::ChunkDone)));
    /// # drop(chunks); a.abandon_chunks().unwrap();
    /// ```
    pub fn write(&self) -> Result<ChunkGuard<T>, SharedError> {
        let map = self.array.mapping()?;
        let idx = self.index as usize;
        let claim = map.claim(idx).ok_or(SharedError::ChunkStale)?;
        let me = current_pid();
        loop {
            // Acquire: pairs with the Release store that made the word FREE (the owner's
            // in `open_split`, or a previous holder's), publishing `chunk_len`.
            let w = claim.load(Acquire);
            let (epoch, low) = claim_parts(w);
            if epoch != self.epoch {
                return Err(SharedError::ChunkStale);
            }
            match low {
                DONE => return Err(SharedError::ChunkDone),
                CLOSED => return Err(SharedError::ChunkAbandoned),
                FREE => {}
                pid if pid != me && !is_alive(pid) => {} // a dead claimant's: ours to take
                pid => return Err(SharedError::ChunkBusy { pid }),
            }
            // Acquire: as the load above; exactly one claimant of this exact word wins.
            if claim.compare_exchange(w, claim_word(self.epoch, me), Acquire, Relaxed).is_ok() {
                break;
            }
        }
        // The split cannot change while we hold a claim (a new one needs every chunk
        // terminal), so these describe our epoch.
        let s = map.state();
        // Relaxed: published by the Release store of the FREE word we acquired.
        let chunk_len = map.header().chunk_len.load(Relaxed) as usize;
        let cap = map.geo().capacity;
        let start = idx.checked_mul(chunk_len).filter(|&st| st < cap);
        let ok = s.mode == Mode::Split && s.epoch == self.epoch && self.index < s.chunks;
        let Some(start) = start.filter(|_| ok) else {
            // Release: hands the word back as we found it (a forged or inconsistent handle).
            claim.store(claim_word(self.epoch, FREE), Release);
            return Err(SharedError::ChunkStale);
        };
        let len = chunk_len.min(cap - start);
        Ok(ChunkGuard {
            pid: me,
            map,
            index: idx,
            epoch: self.epoch,
            start,
            len,
            abandoned: false,
            _t: PhantomData,
        })
    }
}

/// Exclusive access to one claimed chunk ([`ChunkMut::write`]): derefs to `&mut [T]`.
/// Dropping it marks the chunk DONE (FREE again if the thread is panicking, or after
/// [`unclaim`](Self::unclaim)).
///
/// ```
/// let mut a = zeroproc_mp::SharedArray::<u32>::zeroed(6).unwrap();
/// for c in a.chunks_mut(4).unwrap() {
///     let mut g = c.write().unwrap();
///     let r = g.range(); // 0..4, then 4..6
///     for (x, i) in g.iter_mut().zip(r) {
///         *x = i as u32 * 10;
///     }
/// } // dropped: DONE
/// assert_eq!(a.as_slice().unwrap(), &[0, 10, 20, 30, 40, 50]);
/// ```
pub struct ChunkGuard<T> {
    /// The claimant (the pid in the claim word): a forked child's copy of the guard must
    /// not mark the parent's chunk done or free while the parent writes it.
    pid: u32,
    map: Arc<Mapping>,
    index: usize,
    epoch: u32,
    start: usize,
    len: usize,
    abandoned: bool,
    _t: PhantomData<T>,
}

impl<T> ChunkGuard<T> {
    /// The chunk's element range within the array (`guard[i]` is element
    /// `range().start + i`). See [`ChunkGuard`] for an example.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.len
    }

    /// The chunk's position in its split.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Gives the chunk back unfinished: it is FREE again and another
    /// [`write`](ChunkMut::write) (in any process) may claim it, as after a panic. (Not to
    /// be confused with [`SharedArray::abandon_chunks`](super::SharedArray::abandon_chunks),
    /// which closes the chunks for good.)
    ///
    /// ```
    /// use zeroproc_mp::shared::SharedArray;
    /// let mut a = SharedArray::<u8>::zeroed(4).unwrap();
    /// let chunks = a.chunks_mut(4).unwrap();
    /// let g = chunks[0].write().unwrap();
    /// g.unclaim(); // e.g. an input was not ready: let a later try do it
    /// chunks[0].write().unwrap().fill(9); // claimed again, and DONE this time
    /// assert_eq!(a.as_slice().unwrap(), &[9; 4]);
    /// ```
    pub fn unclaim(mut self) {
        self.abandoned = true;
    }

    fn set(&self, low: u32) {
        if let Some(c) = self.map.claim(self.index) {
            // Release: publishes our writes to the chunk; pairs with the Acquire loads in
            // `try_finish`/`abandon` (split.rs) and of the next claimant.
            c.store(claim_word(self.epoch, low), Release);
        }
    }
}

impl<T: Pod> Deref for ChunkGuard<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `start + len <= capacity` elements of `T` at `data` (checked type and
        // alignment), mapped while the Arc lives; our claim excludes every other writer and
        // every reader (readers are refused while the split has an unfinished chunk).
        unsafe { std::slice::from_raw_parts(self.map.data::<T>().add(self.start), self.len) }
    }
}

impl<T: Pod> DerefMut for ChunkGuard<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes this the only live view of the chunk.
        unsafe { std::slice::from_raw_parts_mut(self.map.data::<T>().add(self.start), self.len) }
    }
}

impl<T> Drop for ChunkGuard<T> {
    fn drop(&mut self) {
        if self.pid != current_pid() {
            return; // a forked child's copy: the claim is its parent's
        }
        let give_back = self.abandoned || std::thread::panicking();
        self.set(if give_back { FREE } else { DONE });
    }
}

impl<T> fmt::Debug for ChunkGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkGuard").field("range", &self.range()).finish_non_exhaustive()
    }
}
