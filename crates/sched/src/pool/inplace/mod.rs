//! In-place kernels over a [`SharedArray`] in one call (rayon's `par_chunks_mut` shape):
//! the pool splits the array, runs one job per chunk on the workers, and returns once
//! every chunk finished or failed.
//!
//! | call | the kernel gets |
//! |---|---|
//! | [`Pool::for_each_chunk_mut`] | `(&mut [T], Range<usize>)`: the chunk and where it lies |
//! | [`Pool::for_each_chunk_mut_with`] | `(&mut [T], &[U])`: the chunk and the same range of a read-only input |
//! | [`Pool::for_each_row_band_mut`] | `(&mut [T], RowBand)`: whole rows of a `rows × cols` grid |
//! | [`Pool::for_each_row_band_mut_with`] | `(&mut [T], &[U], RowBand)`: whole rows, and the whole read-only input (stencils) |
//! | [`Pool::in_place`]`(&mut y)` [`.args(p)`](crate::InPlace::args) [`.time_limit(d)`](crate::InPlace::time_limit) then one of the same four, e.g. [`.for_each_chunk_mut(len, k)`](crate::InPlace::for_each_chunk_mut) | the same, and `&P` last: `(&mut [T], Range<usize>, &P)` … (`args.rs`) |
//!
//! Kernels are fn items or non-capturing closures, like every job (a capturing one is a
//! compile error, whose message says so: [`ChunkKernel`](crate::ChunkKernel),
//! [`ZipKernel`](crate::ZipKernel), [`BandKernel`](crate::BandKernel),
//! [`BandWithKernel`](crate::BandWithKernel), and for kernels with a parameter
//! [`ChunkArgsKernel`](crate::ChunkArgsKernel) & co.): a worker is another process, it
//! gets the kernel by its type. A run-time parameter (rayon's captured `alpha`) is passed
//! with [`InPlace::args`](crate::InPlace::args) and reaches every kernel call as `&P`; a
//! time limit for the whole call ([`InPlace::time_limit`](crate::InPlace::time_limit))
//! stops the chunks still running when it passes (their workers are killed and replaced)
//! and returns [`ForEachChunkError::TimeLimit`].

mod args;
mod error;
mod jobs;

pub use args::InPlace;
pub use error::ForEachChunkError;

use super::Pool;
use crate::error::JobError;
use crate::job::Message;
use std::time::Duration;
use zeroproc_mp::shared::{ChunkMut, Pod, SharedError};
use zeroproc_mp::SharedArray;

/// Refuses, when the call is instantiated, a kernel that carries data: a `move` closure
/// capturing only `Copy` values (`move |c, _| c.iter_mut().for_each(|v| *v *= alpha)`)
/// meets every bound of the kernel traits (`jobfn.rs`: "zero-sized" is no bound on stable
/// Rust). Without this, the job's own assertion (`job::conjure`) said "pass the data as
/// the job's argument or as shared state (Pool::share)", neither of which an in-place
/// call has (num31): this names the way a run-time parameter reaches a kernel
/// (`Pool::in_place(..).args(..)`, `args.rs`). The in-place jobs make their kernel with
/// `jobs::kernel`, not `conjure`, so this is the only error a build prints (kparam32).
pub(crate) const fn kernel_carries_nothing<K>() {
    if std::mem::size_of::<K>() != 0 {
        panic!("{}", CAPTURING_KERNEL);
    }
}

/// The compile-time message for an in-place kernel that captures variables.
pub(crate) const CAPTURING_KERNEL: &str = "this in-place kernel captures variables (a \
    run-time parameter such as `alpha` or `dt`?): a worker calls the kernel by its type and \
    gets none of its bytes, so it must be a fn item or a closure that captures nothing. Pass \
    a run-time parameter with `args`, and each kernel call gets it by reference: \
    `pool.in_place(&mut y).args(alpha).for_each_chunk_mut(len, |c, r, alpha: &f64| ..)` \
    (several: a tuple or a struct; the `_with` and row-band forms too: see Pool::in_place). \
    A parameter known at compile time can be a `const`";

impl Pool {
    /// Runs `kernel` on every chunk of `chunk_len` elements of `y` (the last may be
    /// shorter), one job per chunk on the workers, writing `y` in place. Returns once every
    /// chunk finished or failed; the first failure (lowest chunk) is the error.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    /// use std::ops::Range;
    ///
    /// fn fill(y: &mut [f64], r: Range<usize>) {
    ///     for (v, i) in y.iter_mut().zip(r) {
    ///         *v = i as f64 * 2.0;
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::<f64>::zeroed(1000)?;
    /// pool.for_each_chunk_mut(&mut y, 100, fill)?;
    /// assert_eq!(y.as_slice()?[999], 1998.0);
    /// // A closure works too, if it captures nothing:
    /// pool.for_each_chunk_mut(&mut y, 100, |c, _| c.iter_mut().for_each(|v| *v += 1.0))?;
    /// assert_eq!(y.as_slice()?[999], 1999.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// **A kernel with run-time parameters.** A kernel captures nothing (a worker gets it
    /// by its type, not its bytes), so `move |c, _| c.iter_mut().for_each(|v| *v *= alpha)`
    /// does not compile. A parameter known at run time (rayon's captured `alpha`, Python's
    /// `functools.partial(f, alpha)`) is passed with [`Pool::in_place`]`(&mut y).args(alpha)`,
    /// and every kernel call gets it by reference:
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::from_slice(&[2.0; 1000])?;
    /// let alpha = 0.25 * std::env::args().count() as f64; // known only at run time
    /// pool.in_place(&mut y)
    ///     .args(alpha)
    ///     .for_each_chunk_mut(128, |c, _, alpha| c.iter_mut().for_each(|v| *v *= alpha))?;
    /// assert!(y.as_slice()?.iter().all(|&v| v == 2.0 * alpha));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// **Reductions** (numpy's `x.sum()`, `x.max()`, `x @ y`; rayon's
    /// `par_chunks(n).map(..).sum()`): an in-place call writes an array and returns
    /// nothing, so a reduction maps a job over ranges of the array instead. Each job reads
    /// the arrays through their handles (`&[T]` in place, no copy) and returns its partial
    /// result; the controller merges the partials in the order of the ranges (`map` keeps
    /// it), so a float sum is the same from run to run — equal to a sequential sum done
    /// range by range, not always bit-equal to one over the whole array, whose additions
    /// are grouped otherwise:
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::{shared::ArrayHandle, SharedArray};
    ///
    /// /// (sum, max, dot product) over elements lo..hi of x (and y).
    /// fn partial((x, y, lo, hi): (ArrayHandle<f64>, ArrayHandle<f64>, u64, u64)) -> (f64, f64, f64) {
    ///     let (x, y) = (x.read().unwrap(), y.read().unwrap());
    ///     let (x, y) = (&x[lo as usize..hi as usize], &y[lo as usize..hi as usize]);
    ///     let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    ///     (x.iter().sum(), max, x.iter().zip(y).map(|(a, b)| a * b).sum())
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let n = 100_003; // not a multiple of the range length
    /// let x = SharedArray::from_slice(&(0..n).map(|i| (i % 10) as f64 * 0.1).collect::<Vec<_>>())?;
    /// let y = SharedArray::from_slice(&vec![2.0; n])?;
    /// let len = 10_000;
    /// let ranges = (0..n).step_by(len).map(|lo| (lo as u64, (lo + len).min(n) as u64));
    /// let jobs = ranges.clone().map(|(lo, hi)| (x.handle(), y.handle(), lo, hi));
    /// let (mut sum, mut max, mut dot) = (0.0, f64::NEG_INFINITY, 0.0);
    /// for r in pool.map(partial, jobs) {
    ///     let (s, m, d) = r?;
    ///     (sum, max, dot) = (sum + s, max.max(m), dot + d);
    /// }
    /// // The same reduction, sequentially, range by range: bit for bit.
    /// let xs = x.as_slice()?;
    /// let seq: f64 = ranges.map(|(lo, hi)| xs[lo as usize..hi as usize].iter().sum::<f64>()).sum();
    /// assert_eq!((sum, max, dot), (seq, 0.9, 2.0 * seq));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_chunk_mut<T, K>(
        &self,
        y: &mut SharedArray<T>,
        chunk_len: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        T: Pod,
        K: crate::ChunkKernel<T>,
        (ChunkMut<T>, u64): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        self.run_chunks(y, chunk_len, None, jobs::chunk::<T, K>, |c, len| (c, len))
    }

    /// Like [`for_each_chunk_mut`](Self::for_each_chunk_mut), with a read-only input `x`
    /// of the same length: the kernel gets each chunk of `y` and the same range of `x`
    /// (`y[r]` and `x[r]`, as rayon's `par_chunks_mut().zip(par_chunks())`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    ///
    /// fn axpy(y: &mut [f64], x: &[f64]) {
    ///     for (y, x) in y.iter_mut().zip(x) {
    ///         *y += 2.0 * x;
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let x = SharedArray::from_slice(&(0..1000).map(|i| i as f64).collect::<Vec<_>>())?;
    /// let mut y = SharedArray::from_slice(&[1.0; 1000])?;
    /// pool.for_each_chunk_mut_with(&mut y, &x, 128, axpy)?;
    /// assert_eq!(y.as_slice()?[999], 1.0 + 2.0 * 999.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_chunk_mut_with<T, U, K>(
        &self,
        y: &mut SharedArray<T>,
        x: &SharedArray<U>,
        chunk_len: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        T: Pod,
        U: Pod,
        K: crate::ZipKernel<T, U>,
        (ChunkMut<T>, zeroproc_mp::shared::ArrayHandle<U>, u64): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let h = input_of(y.len(), x, true)?;
        self.run_chunks(y, chunk_len, None, jobs::zip::<T, U, K>, |c, len| (c, h.clone(), len))
    }

    /// Runs `kernel` on bands of `band_rows` whole rows of the row-major grid `y` of
    /// `cols` columns (`y.len()` must be a multiple of `cols`; the last band may have
    /// fewer rows): the kernel gets the band's elements, row after row, and its
    /// [`RowBand`](zeroproc_mp::shared::RowBand): its first row and row count (`rows`) and
    /// the grid's width (`cols`) and height (`grid_rows`) — what rayon's closure would
    /// capture to find the grid's edges or scale coordinates.
    ///
    /// Nothing else reaches the kernel: a kernel that needs run-time parameters gets them
    /// through [`in_place`](Self::in_place)`(&mut y).args(p)`'s
    /// [`for_each_row_band_mut`](crate::InPlace::for_each_row_band_mut), other data
    /// through [`for_each_row_band_mut_with`](Self::for_each_row_band_mut_with)'s input
    /// array.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::{shared::RowBand, SharedArray};
    ///
    /// /// Each cell := its row index × 10 + its column index; the last row counts down
    /// /// from the grid's height instead.
    /// fn label(band: &mut [u32], b: RowBand) {
    ///     for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
    ///         for (col, c) in cells.iter_mut().enumerate() {
    ///             *c = if row + 1 == b.grid_rows { (b.grid_rows - col) as u32 } else { (row * 10 + col) as u32 };
    ///         }
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut grid = SharedArray::<u32>::zeroed(7 * 5)?; // 7 rows × 5 columns
    /// pool.for_each_row_band_mut(&mut grid, 5, 2, label)?; // bands of 2 rows
    /// assert_eq!(grid.as_slice()?[5 * 5 + 4], 54);
    /// assert_eq!(grid.as_slice()?[6 * 5 + 4], 3); // 7 - 4
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_row_band_mut<T, K>(
        &self,
        y: &mut SharedArray<T>,
        cols: usize,
        band_rows: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        T: Pod,
        K: crate::BandKernel<T>,
        (ChunkMut<T>, u64, u64): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let chunk_len = band_chunk_len(y.len(), cols, band_rows)?;
        self.run_chunks(y, chunk_len, None, jobs::band::<T, K>, |c, len| (c, cols as u64, len))
    }

    /// Like [`for_each_row_band_mut`](Self::for_each_row_band_mut), with a read-only input
    /// `x` that the kernel gets **whole** (any length): a stencil reads the rows around its
    /// band — rayon's `par_chunks_mut(cols * band_rows)` with a closure reading `&cur`,
    /// numpy's workers slicing the whole shared input. Iterate by swapping two arrays.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::{shared::RowBand, SharedArray};
    ///
    /// /// One Jacobi sweep of a `cols`-wide grid: each inner cell := mean of its 4 neighbours.
    /// fn jacobi(next: &mut [f64], cur: &[f64], b: RowBand) {
    ///     let (n, rows) = (b.cols, b.grid_rows);
    ///     for (r, out) in b.rows.zip(next.chunks_exact_mut(n)) {
    ///         out.copy_from_slice(&cur[r * n..(r + 1) * n]); // the boundary stays
    ///         if r == 0 || r == rows - 1 { continue; }
    ///         for c in 1..n - 1 {
    ///             out[c] = 0.25 * (cur[(r - 1) * n + c] + cur[(r + 1) * n + c]
    ///                 + cur[r * n + c - 1] + cur[r * n + c + 1]);
    ///         }
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let (rows, cols) = (6, 5);
    /// let mut init = vec![0.0; rows * cols];
    /// init[..cols].fill(100.0); // a hot top edge
    /// let mut a = SharedArray::from_slice(&init)?;
    /// let mut b = SharedArray::<f64>::zeroed(rows * cols)?;
    /// for _ in 0..5 {
    ///     pool.for_each_row_band_mut_with(&mut b, &a, cols, 2, jacobi)?;
    ///     std::mem::swap(&mut a, &mut b);
    /// }
    /// assert!(a.as_slice()?[cols + 2] > 25.0); // heat came down into row 1
    ///
    /// // To check it, run the same kernel sequentially over the whole grid: `RowBand` is
    /// // `#[non_exhaustive]`, made with `RowBand::of_elements(range, cols, grid_len)`.
    /// let whole = RowBand::of_elements(0..rows * cols, cols, rows * cols).unwrap();
    /// let (mut s0, mut s1) = (init, vec![0.0; rows * cols]);
    /// for _ in 0..5 {
    ///     jacobi(&mut s1, &s0, whole.clone());
    ///     std::mem::swap(&mut s0, &mut s1);
    /// }
    /// assert_eq!(a.as_slice()?, &s0[..]); // the same operations: bit for bit
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_row_band_mut_with<T, U, K>(
        &self,
        y: &mut SharedArray<T>,
        x: &SharedArray<U>,
        cols: usize,
        band_rows: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        T: Pod,
        U: Pod,
        K: crate::BandWithKernel<T, U>,
        (ChunkMut<T>, zeroproc_mp::shared::ArrayHandle<U>, u64, u64): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let chunk_len = band_chunk_len(y.len(), cols, band_rows)?;
        let h = input_of(y.len(), x, false)?;
        self.run_chunks(y, chunk_len, None, jobs::band_with::<T, U, K>, |c, len| {
            (c, h.clone(), cols as u64, len)
        })
    }

    /// Splits `y`, maps `job` over the chunks (argument made by `arg` from a claimed chunk
    /// and the caller's chunk length), and waits for all. More chunks than the array has
    /// claim words (4,096 by default) are grouped: each claimed chunk holds `group`
    /// consecutive chunks of the caller's, which its job runs one after the other (rayon's
    /// `par_chunks_mut(7)` works on any array; so does this). With a time `limit`, the
    /// map stops what is in flight when it passes (`Map::time_limit`) and yields the
    /// outcomes once each chunk is cancelled or its worker reaped.
    fn run_chunks<T, A, F>(
        &self,
        y: &mut SharedArray<T>,
        chunk_len: usize,
        limit: Option<Duration>,
        job: F,
        arg: impl Fn(ChunkMut<T>, u64) -> A,
    ) -> Result<(), ForEachChunkError>
    where
        T: Pod,
        A: Message,
        F: Fn(A) -> jobs::Outcome + Copy + Send + 'static,
    {
        let (chunks, group) = match y.chunks_mut(chunk_len) {
            Ok(c) => (c, 1),
            Err(SharedError::TooManyChunks { chunks, max }) => {
                let group = chunks.div_ceil(max.max(1));
                let claim = chunk_len.saturating_mul(group);
                (y.chunks_mut(claim).map_err(ForEachChunkError::Split)?, group)
            }
            Err(e) => return Err(ForEachChunkError::Split(e)),
        };
        let len = chunk_len as u64;
        // The caller's chunks in claimed chunk `i` (the last group may hold fewer).
        let total = y.len().div_ceil(chunk_len.max(1));
        let in_group = |i: usize| group.min(total.saturating_sub(i * group));
        // `map`'s adaptive window hands chunks out on demand. Submitting every chunk at
        // once measured no better on this host (docs/performance.md) and makes the pool
        // move queued chunks between workers whenever one takes over 1 ms.
        //
        // The first failure: (the caller's chunk, how many of them it spans, why).
        let (mut first, mut failed) = (None, 0);
        let claimed = chunks.len();
        let mut seen = 0;
        // One job per claimed chunk (`chunk_size(1)`), never `map`'s automatic batches:
        // the claimed chunk is the unit that fails (`ForEachChunkError::Chunk`). Batched,
        // a death failed up to 64 tiny chunks and the error named the batch's first, not
        // the one that died (pool_inplace.rs, `a_death_in_one_of_many_tiny_chunks_..`).
        let mut map = self.map(job, chunks.into_iter().map(|c| arg(c, len))).chunk_size(1);
        if let Some(d) = limit {
            map = map.time_limit(d);
        }
        for (i, r) in map.by_ref().enumerate() {
            seen = i + 1;
            let (part, parts, error) = match r {
                Ok(Ok(())) => continue,
                // Panics in some of the claimed chunk's parts: those parts failed, the
                // others ran (each reported as the caller's own chunk).
                Ok(Err(f)) if f.panicked => {
                    failed += f.parts_failed as usize;
                    let e = JobError::Panicked { message: f.reason };
                    (f.part as usize, 1, e)
                }
                // The arrays could not be attached or the chunk claimed: none of its
                // parts ran.
                Ok(Err(f)) => {
                    failed += in_group(i);
                    (0, in_group(i), JobError::Job(f.reason))
                }
                // The worker died, overran its time limit, …: the parts it had not
                // finished are unknown, so the whole claimed chunk is reported.
                Err(e) => {
                    failed += in_group(i);
                    (0, in_group(i), e.map_job(|never| match never {}))
                }
            };
            first.get_or_insert((i * group + part, parts, error));
        }
        // A map whose pool was shut down, or whose time limit struck, ends after the
        // chunks it had placed (`map.rs`): the claimed chunks it never yielded did not run.
        for i in seen..claimed {
            failed += in_group(i);
            first.get_or_insert((i * group, in_group(i), JobError::Shutdown));
        }
        let struck = map.limit_struck();
        drop(map);
        let Some((index, parts, error)) = first else { return Ok(()) };
        if let (true, Some(limit)) = (struck, limit) {
            // Every chunk resolved: the killed ones' workers were reaped, so their claims
            // are a dead process's, which `abandon_chunks` gives up.
            let _ = y.abandon_chunks();
            return Err(ForEachChunkError::TimeLimit { limit, failed });
        }
        // Close the failed chunks (unclaimed, or held by a dead worker) so the array is
        // readable again; a live holder cannot be left after every job resolved, but if
        // one is, the split stays open for the caller.
        let _ = y.abandon_chunks();
        let start = index.saturating_mul(chunk_len);
        let range = start..start.saturating_add(chunk_len.saturating_mul(parts)).min(y.len());
        Err(ForEachChunkError::Chunk { index, range, error, failed })
    }
}

/// The handle of the read-only input `x` of an output of `len` elements (of the same
/// length if `same_len`), checked readable: every job would fail to read it, so the call
/// says so once, before any runs.
fn input_of<U: Pod>(
    len: usize,
    x: &SharedArray<U>,
    same_len: bool,
) -> Result<zeroproc_mp::shared::ArrayHandle<U>, ForEachChunkError> {
    if same_len && x.len() != len {
        return Err(ForEachChunkError::LenMismatch { output: len, input: x.len() });
    }
    x.as_slice().map_err(ForEachChunkError::Input)?;
    Ok(x.handle())
}

/// The elements of a band of `band_rows` rows of a `len`-element grid `cols` wide, or
/// `Shape` when those are not a grid and a band height.
fn band_chunk_len(len: usize, cols: usize, band_rows: usize) -> Result<usize, ForEachChunkError> {
    if cols == 0 || len % cols != 0 || band_rows == 0 {
        return Err(ForEachChunkError::Shape { len, cols });
    }
    // A band taller than the grid is the whole grid (as a chunk longer than the array).
    Ok(band_rows.min(len / cols).max(1) * cols)
}

#[cfg(test)]
mod tests {
    /// The compile-time refusal of a kernel capturing a run-time parameter names the way
    /// such a parameter reaches a kernel: `in_place(..).args(..)` (before kparam32 it named
    /// a by-hand split over `pool.map`; a job's argument said `Pool::share`, which an
    /// in-place call cannot take: num31).
    #[test]
    fn capturing_kernel_message_names_the_recipes() {
        let m = super::CAPTURING_KERNEL;
        assert!(m.contains("pool.in_place(&mut y).args(alpha)"), "{m}");
        assert!(m.contains("alpha: &f64") && m.contains("`const`"), "{m}");
        assert!(!m.contains("Pool::share") && !m.contains("  "), "{m}");
    }
}
