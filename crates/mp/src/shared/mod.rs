//! Shared arrays of plain-old-data, passed to jobs **by handle**.
//!
//! * [`SharedArray<T>`]: a fixed-length array in its own memfd segment. Its
//!   [`ArrayHandle`] (rkyv-archivable: segment id, length, element type hash) goes into a
//!   job argument; in the worker `handle.read()` derefs to `&[T]` (the segment is attached
//!   on first use and cached per process: [`cache`]).
//! * Results are written in place through disjoint chunks:
//!   [`SharedArray::chunks_mut`] gives one [`ChunkMut`] handle per chunk, and in the worker
//!   `chunk.write()` gives a [`ChunkGuard`] (`&mut [T]`). A claim word per chunk in the
//!   shared header (`epoch | FREE / writer pid / DONE / CLOSED`) makes disjointness a
//!   property of the protocol, not of the caller's care: a duplicated chunk handle is
//!   refused while the first claim lives, a dead writer's chunk can be claimed again, and
//!   reading the array is refused until every chunk of the split is finished.
//! * In one call: `Pool::for_each_chunk_mut(&mut y, chunk_len, kernel)` in
//!   `zeroproc-sched` (and its `_with` zip and row-band forms, the latter with a
//!   [`RowBand`]) splits the array, runs one job per chunk and returns the first failure
//!   after every chunk finished — the chunk handles below, without building them by hand.
//! * [`SharedVec<T>`]: append-only, growable by its owner up to a capacity reserved at
//!   creation; readers anywhere see the published prefix.
//!
//! `T` is [`bytemuck::Pod`] (any bit pattern is a valid `T`, no pointers, no padding). On
//! your own element structs, with only zeroproc as a dependency:
//!
//! ```
//! use zeroproc_mp::shared::bytemuck;
//! #[derive(bytemuck::Pod, bytemuck::Zeroable, Clone, Copy)]
//! #[bytemuck(crate = "zeroproc_mp::shared::bytemuck")] // from the facade: "zeroproc::shared::bytemuck"
//! #[repr(C)]
//! struct Particle { x: f32, y: f32, vx: f32, vy: f32 }
//! let a = zeroproc_mp::SharedArray::from_slice(&[Particle { x: 1.0, y: 2.0, vx: 0.0, vy: 0.0 }]).unwrap();
//! assert_eq!(a.as_slice().unwrap()[0].y, 2.0);
//! ```
//!
//! The states and transitions are written down in `README.md` beside this
//! file.
//!
//! ```
//! use zeroproc_mp::shared::{ArrayHandle, ChunkMut, SharedArray};
//!
//! // Controller: an input array and an output array, split into four chunks.
//! let input = SharedArray::from_slice(&(0..1000).map(|i| i as f64).collect::<Vec<_>>()).unwrap();
//! let mut output = SharedArray::<f64>::zeroed(1000).unwrap();
//! let jobs: Vec<(ArrayHandle<f64>, ChunkMut<f64>)> =
//!     output.chunks_mut(250).unwrap().into_iter().map(|c| (input.handle(), c)).collect();
//!
//! // Worker (another process in real use): read the input, write its chunk.
//! fn kernel((input, chunk): (ArrayHandle<f64>, ChunkMut<f64>)) {
//!     let x = input.read().unwrap();
//!     let mut out = chunk.write().unwrap();
//!     let r = out.range();
//!     for (o, v) in out.iter_mut().zip(&x[r]) {
//!         *o = v * 2.0;
//!     }
//! }
//! for j in jobs {
//!     kernel(j);
//! }
//! assert_eq!(output.as_slice().unwrap()[999], 1998.0);
//! ```

mod array;
mod band;
pub mod cache;
mod cell;
mod chunk;
mod deferred;
mod error;
mod handle;
mod header;
mod mapping;
mod readers;
mod recycle;
pub mod ship;
mod split;
mod vec;

pub use array::{SharedArray, WriteGuard, DEFAULT_MAX_CHUNKS};
pub use band::RowBand;
pub use bytemuck::{self, Pod};
pub use cell::{ArchivedCellHandle, CellHandle, ProcessShared, SharedCell};
pub use chunk::{ArchivedChunkMut, ChunkGuard, ChunkMut};
pub use error::SharedError;
pub use handle::{ArchivedArrayHandle, ArrayHandle, ReadGuard};
pub(crate) use header::type_hash;
pub use vec::{ArchivedVecHandle, SharedVec, VecHandle, VecView};
