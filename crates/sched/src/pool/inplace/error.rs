//! [`ForEachChunkError`]: why an in-place call over a shared array failed.

use crate::error::JobError;
use std::fmt;
use std::ops::Range;
use std::time::Duration;
use zeroproc_mp::shared::SharedError;

/// Why [`Pool::for_each_chunk_mut`](crate::Pool::for_each_chunk_mut) (or its `_with` and
/// row-band forms, or the same calls on [`Pool::in_place`](crate::Pool::in_place)) failed.
///
/// `Split`, `Input`, `LenMismatch` and `Shape` are found before any job is submitted:
/// nothing ran.
/// `Chunk` is returned after **every** chunk finished or failed: the chunks that did not
/// fail hold their results. `TimeLimit` (a call with
/// [`time_limit`](crate::InPlace::time_limit)) is returned once every chunk finished, was
/// stopped or was given up unstarted, and no process writes the array.
///
/// A kernel that raises on one chunk (Python: the exception of one task of a `Pool.map`
/// over slices) fails that chunk alone; the others are written:
///
/// ```
/// zeroproc_sched::init();
/// use zeroproc_sched::{ForEachChunkError, JobError, Pool};
/// fn halve(y: &mut [f64], r: std::ops::Range<usize>) {
///     assert!(!r.contains(&50), "bad rows {r:?}");
///     y.iter_mut().for_each(|v| *v /= 2.0);
/// }
/// let pool = Pool::builder().workers(2).build()?;
/// let mut y = zeroproc_mp::SharedArray::from_slice(&[8.0; 100])?;
/// match pool.for_each_chunk_mut(&mut y, 25, halve) {
///     Err(ForEachChunkError::Chunk { index: 2, range, error: JobError::Panicked { .. }, failed: 1 }) => {
///         assert_eq!(range, 50..75)
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(y.as_slice()?[0], 4.0); // the other chunks ran
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ForEachChunkError {
    /// The output array could not be split into chunks (a read guard is live somewhere, a
    /// previous split is unfinished, `chunk_len` is 0 or makes too many chunks).
    Split(SharedError),
    /// The read-only input cannot be read now (a split of it is unfinished, or its owner
    /// holds its write guard).
    Input(SharedError),
    /// The read-only input has another length than the output.
    LenMismatch {
        /// Elements of the output.
        output: usize,
        /// Elements of the input.
        input: usize,
    },
    /// The grid's length is not a whole number of rows of `cols` (or `cols` or the band
    /// height is 0).
    Shape {
        /// Elements of the array.
        len: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// At least one chunk failed; this is the lowest-numbered one. Its elements hold
    /// whatever its job wrote before failing. The failed chunks are closed, so the array
    /// can be read and split again.
    ///
    /// When the call made more chunks than the array's claim table holds (4,096 by
    /// default), consecutive chunks are grouped into one job: a kernel's panic still
    /// fails only its own chunk (the group's other chunks run and are written), but a
    /// job that dies, overruns its time limit (a job's limit, so it covers the group's
    /// chunks together) or cannot claim its chunk fails the whole group — then `index` is
    /// the group's first chunk, `range` the group's elements, and each of the group's
    /// chunks counts in `failed`.
    Chunk {
        /// The chunk's position in the split (`chunk_len` elements each, as asked).
        index: usize,
        /// Its element range (a group's, see above).
        range: Range<usize>,
        /// Why: the job panicked (`Panicked`), its worker died (`WorkerDied`), … or
        /// `Job(reason)`: the worker could not attach the arrays or claim the chunk.
        error: JobError<String>,
        /// How many chunks failed in all (of `chunk_len` elements, as asked).
        failed: usize,
    },
    /// The call's [`time_limit`](crate::InPlace::time_limit) passed before every chunk
    /// finished. The chunks still running then were stopped the way
    /// [`submit_with_time_limit`](crate::Pool::submit_with_time_limit) stops a job (their
    /// workers were killed and replaced), the ones not started were never run, and the
    /// call returned only once every worker that ran a chunk had finished it or been
    /// reaped: nothing writes the array after the call returns. The array is then
    /// readable and can be split again; its elements hold
    /// - the chunks that finished: their results;
    /// - the chunks that were running: whatever their kernel wrote before the kill (part
    ///   of the chunk, in the kernel's own order);
    /// - the chunks never started: their values from before the call.
    ///
    /// The error does not say which chunks are which: run the call again from the inputs
    /// (an in-place update `y += …` is not idempotent: keep a copy of `y` to start over).
    TimeLimit {
        /// The call's time limit.
        limit: Duration,
        /// How many chunks (of `chunk_len` elements, as asked) did not finish: stopped,
        /// never started, or failed otherwise (a kernel's panic) before the limit.
        failed: usize,
    },
}

impl fmt::Display for ForEachChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForEachChunkError::Split(e) => write!(f, "cannot split the array: {e}"),
            ForEachChunkError::Input(e) => write!(f, "cannot read the input array: {e}"),
            ForEachChunkError::LenMismatch { output, input } => {
                write!(f, "the input has {input} elements, the output {output}")
            }
            ForEachChunkError::Shape { cols: 0, .. } => {
                write!(f, "a grid of 0 columns: `cols` must be at least 1")
            }
            ForEachChunkError::Shape { len, cols } if len % cols != 0 => {
                write!(f, "{len} elements are not whole rows of {cols} columns")
            }
            // Shape is only returned for these three causes (`for_each_row_band_mut[_with]`).
            ForEachChunkError::Shape { .. } => {
                write!(f, "a band of 0 rows: `band_rows` must be at least 1")
            }
            ForEachChunkError::Chunk { index, range, error, failed } => write!(
                f,
                "chunk {index} (elements {}..{}) failed: {error}; {failed} chunk(s) failed",
                range.start, range.end
            ),
            ForEachChunkError::TimeLimit { limit, failed } => write!(
                f,
                "the in-place call ran past its time limit of {limit:?}: {failed} chunk(s) did \
                 not finish (the running ones were stopped, their workers killed and \
                 restarted); the array holds the finished chunks' results and partial or \
                 old values elsewhere"
            ),
        }
    }
}

impl std::error::Error for ForEachChunkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ForEachChunkError::Split(e) | ForEachChunkError::Input(e) => Some(e),
            ForEachChunkError::Chunk { error, .. } => Some(error),
            _ => None,
        }
    }
}
