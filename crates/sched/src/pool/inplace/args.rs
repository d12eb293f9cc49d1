//! [`InPlace`]: the in-place calls with a run-time parameter and a time limit
//! (`pool.in_place(&mut y).args(alpha).time_limit(d).for_each_chunk_mut(len, kernel)`).
//!
//! **How the parameter reaches the kernel.** A kernel is called by its type (it carries
//! no bytes), so the parameter travels as data: it is the last field of every chunk job's
//! argument (`(chunk, len, p)`), cloned and encoded into the job's ring slot like any job
//! argument, decoded (and validated) once per job in the worker, and lent to each kernel
//! call of that job as `&P`. Nothing is decoded per element. A large parameter (a table
//! of MBs) is better shared once with [`Pool::share`] and passed as the `SharedValue`
//! handle, which is then what each job carries.

use super::{band_chunk_len, jobs, kernel_carries_nothing, ForEachChunkError};
use crate::job::Message;
use crate::kernelfn::{BandArgsKernel, BandWithArgsKernel, ChunkArgsKernel, ZipArgsKernel};
use crate::Pool;
use std::time::Duration;
use zeroproc_mp::shared::{ArrayHandle, ChunkMut, Pod};
use zeroproc_mp::SharedArray;

/// An in-place call being set up: made by [`Pool::in_place`], given a parameter with
/// [`args`](Self::args) and a time limit with [`time_limit`](Self::time_limit), run by
/// one of its four `for_each_*` methods — the same four shapes as the pool's
/// [`for_each_chunk_mut`](Pool::for_each_chunk_mut) and its kin, whose kernels get
/// `&P` as their last argument.
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_mp::SharedArray;
///
/// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
/// let x = SharedArray::from_slice(&[2.0; 1000])?;
/// let mut y = SharedArray::from_slice(&[1.0; 1000])?;
/// let alpha = 0.5 * std::env::args().count() as f64; // known only at run time
/// // rayon: y.par_chunks_mut(128).zip(x.par_chunks(128)).for_each(|(y, x)| axpy(alpha, x, y))
/// pool.in_place(&mut y).args(alpha).for_each_chunk_mut_with(&x, 128, |y, x, alpha| {
///     for (y, x) in y.iter_mut().zip(x) {
///         *y += alpha * x;
///     }
/// })?;
/// assert!(y.as_slice()?.iter().all(|&v| v == 1.0 + alpha * 2.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an in-place call runs nothing until one of its `for_each_*` methods is called"]
pub struct InPlace<'a, T: Pod, P = ()> {
    pool: &'a Pool,
    y: &'a mut SharedArray<T>,
    args: P,
    limit: Option<Duration>,
}

impl Pool {
    /// Sets up an in-place call over `y` with a run-time parameter
    /// ([`args`](InPlace::args)) or a time limit ([`time_limit`](InPlace::time_limit)),
    /// which the four direct calls ([`for_each_chunk_mut`](Self::for_each_chunk_mut) …)
    /// do not take. Without `args` the parameter is `()`: the kernel still gets it, as
    /// `&()`.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_mp::SharedArray;
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::<u64>::zeroed(100)?;
    /// pool.in_place(&mut y)
    ///     .time_limit(Duration::from_secs(60))
    ///     .for_each_chunk_mut(10, |c, r, _: &()| c.iter_mut().zip(r).for_each(|(v, i)| *v = i as u64))?;
    /// assert_eq!(y.as_slice()?[99], 99);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_place<'a, T: Pod>(&'a self, y: &'a mut SharedArray<T>) -> InPlace<'a, T> {
        InPlace { pool: self, y, args: (), limit: None }
    }
}

impl<'a, T: Pod, P: Message + Clone> InPlace<'a, T, P> {
    /// The run-time parameter every kernel call gets as `&P` (rayon's captured `alpha`,
    /// Python's `functools.partial(kernel, alpha)`): any job argument type that is
    /// `Clone` — `f64`, a tuple `(dt, dx)`, a `#[zeroproc::data]` struct, a `Vec<f64>` of
    /// coefficients, a [`SharedValue`](crate::SharedValue) handle to a large table. It
    /// travels in each job's argument (one copy per job, decoded once per job, not per
    /// element). A kernel fn taking `&Vec<f64>` meets clippy's `ptr_arg` lint: allow it
    /// there, or pass a fixed-size array `[f64; N]`.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    ///
    /// /// y := Horner's polynomial with coefficients `c` (highest first) at y's index.
    /// fn poly(y: &mut [f64], r: std::ops::Range<usize>, c: &Vec<f64>) {
    ///     for (v, i) in y.iter_mut().zip(r) {
    ///         *v = c.iter().fold(0.0, |acc, k| acc * i as f64 + k);
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::<f64>::zeroed(50)?;
    /// pool.in_place(&mut y).args(vec![1.0, 0.0, -1.0]).for_each_chunk_mut(8, poly)?; // i² - 1
    /// assert_eq!(y.as_slice()?[7], 48.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn args<Q: Message + Clone>(self, args: Q) -> InPlace<'a, T, Q> {
        InPlace { pool: self.pool, y: self.y, args, limit: self.limit }
    }

    /// A time limit for the whole call, counted from its start (once `y` is split and
    /// the first chunk is about to be placed): the chunks still running
    /// when it passes are stopped the way
    /// [`submit_with_time_limit`](Pool::submit_with_time_limit) stops a job (each one's
    /// worker is killed and replaced), the chunks not started are not run, and the call
    /// returns [`ForEachChunkError::TimeLimit`] once every worker that ran a chunk has
    /// finished it or been reaped — nothing writes `y` after the call returns. `y` is
    /// then readable; what its elements hold is listed on
    /// [`ForEachChunkError::TimeLimit`]. If every chunk finished (a kill that came too
    /// late) the call returns `Ok`.
    ///
    /// This bounds the call, not each chunk; the builder's
    /// [`job_time_limit`](crate::PoolBuilder::job_time_limit) still bounds each chunk's
    /// job (a `Chunk` error with `JobError::TimeLimit`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use std::time::Duration;
    /// use zeroproc_sched::ForEachChunkError;
    /// use zeroproc_mp::SharedArray;
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::from_slice(&[1u32; 64])?;
    /// let spin = |c: &mut [u32], r: std::ops::Range<usize>, _: &()| {
    ///     c.fill(2);
    ///     if r.start == 0 {
    ///         loop { std::hint::spin_loop() } // the first chunk never ends
    ///     }
    /// };
    /// let e = pool.in_place(&mut y).time_limit(Duration::from_millis(300))
    ///     .for_each_chunk_mut(16, spin).unwrap_err();
    /// assert!(matches!(e, ForEachChunkError::TimeLimit { failed: 1.., .. }), "{e}");
    /// // The chunk that was running holds what it wrote; the others finished.
    /// assert!(y.as_slice()?.iter().all(|&v| v == 2));
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2)); // the pool goes on
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// [`Pool::for_each_chunk_mut`] with the parameter: `kernel(chunk, range, &p)` on
    /// every chunk of `chunk_len` elements of `y` (the last may be shorter).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    ///
    /// fn scale(y: &mut [f64], _: std::ops::Range<usize>, k: &f64) {
    ///     y.iter_mut().for_each(|v| *v *= k);
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut y = SharedArray::from_slice(&[3.0; 100])?;
    /// pool.in_place(&mut y).args(0.5).for_each_chunk_mut(16, scale)?;
    /// assert!(y.as_slice()?.iter().all(|&v| v == 1.5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_chunk_mut<K>(self, chunk_len: usize, kernel: K) -> Result<(), ForEachChunkError>
    where
        K: ChunkArgsKernel<T, P>,
        (ChunkMut<T>, u64, P): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let InPlace { pool, y, args, limit } = self;
        let job = jobs::chunk_args::<T, P, K>;
        pool.run_chunks(y, chunk_len, limit, job, |c, len| (c, len, args.clone()))
    }

    /// [`Pool::for_each_chunk_mut_with`] with the parameter: `kernel(y[r], x[r], &p)` on
    /// every chunk `r` of `chunk_len` elements (`x` has `y`'s length).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::SharedArray;
    ///
    /// /// y := a·x + b, with (a, b) the call's parameter.
    /// fn affine(y: &mut [f32], x: &[f32], &(a, b): &(f32, f32)) {
    ///     y.iter_mut().zip(x).for_each(|(y, x)| *y = a * x + b);
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let x = SharedArray::from_slice(&[4.0f32; 100])?;
    /// let mut y = SharedArray::<f32>::zeroed(100)?;
    /// pool.in_place(&mut y).args((2.0f32, 1.0f32)).for_each_chunk_mut_with(&x, 32, affine)?;
    /// assert!(y.as_slice()?.iter().all(|&v| v == 9.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_chunk_mut_with<U, K>(
        self,
        x: &SharedArray<U>,
        chunk_len: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        U: Pod,
        K: ZipArgsKernel<T, U, P>,
        (ChunkMut<T>, ArrayHandle<U>, u64, P): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let InPlace { pool, y, args, limit } = self;
        let h = super::input_of(y.len(), x, true)?;
        let job = jobs::zip_args::<T, U, P, K>;
        pool.run_chunks(y, chunk_len, limit, job, |c, len| (c, h.clone(), len, args.clone()))
    }

    /// [`Pool::for_each_row_band_mut`] with the parameter: `kernel(band, RowBand, &p)` on
    /// bands of `band_rows` whole rows of the row-major grid `y` of `cols` columns.
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::{shared::RowBand, SharedArray};
    ///
    /// /// Each cell := (row, col) scaled to the unit square by the grid size `h`.
    /// fn coords(band: &mut [[f64; 2]], b: RowBand, h: &f64) {
    ///     for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
    ///         for (col, c) in cells.iter_mut().enumerate() {
    ///             *c = [row as f64 * h, col as f64 * h];
    ///         }
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut grid = SharedArray::<[f64; 2]>::zeroed(5 * 5)?;
    /// pool.in_place(&mut grid).args(0.25).for_each_row_band_mut(5, 2, coords)?;
    /// assert_eq!(grid.as_slice()?[4 * 5 + 2], [1.0, 0.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_row_band_mut<K>(
        self,
        cols: usize,
        band_rows: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        K: BandArgsKernel<T, P>,
        (ChunkMut<T>, u64, u64, P): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let InPlace { pool, y, args, limit } = self;
        let chunk_len = band_chunk_len(y.len(), cols, band_rows)?;
        let job = jobs::band_args::<T, P, K>;
        pool.run_chunks(y, chunk_len, limit, job, |c, len| (c, cols as u64, len, args.clone()))
    }

    /// [`Pool::for_each_row_band_mut_with`] with the parameter:
    /// `kernel(band, x, RowBand, &p)` on bands of `band_rows` whole rows of the grid `y`
    /// of `cols` columns, with the **whole** read-only input `x` (a stencil's weights or
    /// time step in `p`).
    ///
    /// ```
    /// zeroproc_sched::init();
    /// use zeroproc_mp::{shared::RowBand, SharedArray};
    ///
    /// /// One explicit heat step: inner cells += dt · (sum of 4 neighbours − 4 · cell).
    /// fn heat(next: &mut [f64], cur: &[f64], b: RowBand, dt: &f64) {
    ///     let n = b.cols;
    ///     for (r, out) in b.rows.zip(next.chunks_exact_mut(n)) {
    ///         out.copy_from_slice(&cur[r * n..(r + 1) * n]);
    ///         if r == 0 || r + 1 == b.grid_rows { continue; }
    ///         for c in 1..n - 1 {
    ///             let i = r * n + c;
    ///             out[c] += dt * (cur[i - n] + cur[i + n] + cur[i - 1] + cur[i + 1] - 4.0 * cur[i]);
    ///         }
    ///     }
    /// }
    ///
    /// let pool = zeroproc_sched::Pool::builder().workers(2).build()?;
    /// let mut init = vec![0.0; 5 * 5];
    /// init[..5].fill(100.0);
    /// let cur = SharedArray::from_slice(&init)?;
    /// let mut next = SharedArray::<f64>::zeroed(5 * 5)?;
    /// pool.in_place(&mut next).args(0.1).for_each_row_band_mut_with(&cur, 5, 2, heat)?;
    /// assert_eq!(next.as_slice()?[5 + 2], 10.0); // 0.1 × 100
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_row_band_mut_with<U, K>(
        self,
        x: &SharedArray<U>,
        cols: usize,
        band_rows: usize,
        kernel: K,
    ) -> Result<(), ForEachChunkError>
    where
        U: Pod,
        K: BandWithArgsKernel<T, U, P>,
        (ChunkMut<T>, ArrayHandle<U>, u64, u64, P): Message,
    {
        let _ = kernel;
        const { kernel_carries_nothing::<K>() };
        let InPlace { pool, y, args, limit } = self;
        let chunk_len = band_chunk_len(y.len(), cols, band_rows)?;
        let h = super::input_of(y.len(), x, false)?;
        let job = jobs::band_with_args::<T, U, P, K>;
        pool.run_chunks(y, chunk_len, limit, job, |c, len| {
            (c, h.clone(), cols as u64, len, args.clone())
        })
    }
}
