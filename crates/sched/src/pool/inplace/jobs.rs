//! The worker side of the in-place calls: one job per chunk, the kernel `K` (a fn item or
//! non-capturing closure, zero-sized) conjured from its type.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use zeroproc_mp::shared::{ArrayHandle, ChunkGuard, ChunkMut, Pod, ReadGuard, RowBand};

/// The kernel `K` (a fn item or a closure that captures nothing), made from its type.
///
/// Not `job::conjure`: the in-place call that submits the job already refused, at compile
/// time, a `K` that carries data (`kernel_carries_nothing`, whose message names `.args`).
/// `conjure`'s own compile-time assertion made `cargo build` print a second error beside
/// it, saying to pass the data "as the job's argument or as shared state (Pool::share)",
/// which an in-place kernel cannot take (kparam32). Checked here again at run time, on a
/// constant, which the compiler removes.
#[inline(always)]
fn kernel<K: Copy>() -> K {
    assert!(std::mem::size_of::<K>() == 0, "{}", super::CAPTURING_KERNEL);
    // SAFETY: `K` is zero-sized (asserted just above) and `Copy` (no drop glue, no
    // invariant held in bytes): it has exactly one value, which the submitter held, and
    // zero bytes of it to initialise.
    unsafe { std::mem::zeroed() }
}

/// What a chunk job returns: `Err` when the arrays could not be attached or the chunk
/// claimed (part 0, not a panic), or when the kernel panicked on some of the claimed
/// chunk's parts (the first of them, with its panic message).
pub(super) type Outcome = Result<(), Failed>;

/// Why a chunk job failed (archived back to the controller).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq)]
pub(super) struct Failed {
    /// The first failed part of the claimed chunk (the caller's chunks inside it).
    pub part: u64,
    /// How many of its parts failed.
    pub parts_failed: u64,
    /// The kernel panicked (`reason` is its message), rather than the job failing to
    /// attach the arrays or claim the chunk.
    pub panicked: bool,
    /// The panic message, or why the chunk could not be had.
    pub reason: String,
}

impl Failed {
    /// Attaching or claiming failed: nothing was computed.
    fn setup(reason: impl ToString) -> Failed {
        Failed { part: 0, parts_failed: 0, panicked: false, reason: reason.to_string() }
    }
}

/// Runs `kernel` on every part (a part's panic does not stop the parts after it, as each
/// would have run as a job of its own without grouping): the first panicking part and
/// the count, or `Ok` when none panicked.
fn run_parts<T>(
    g: &mut [T],
    start: usize,
    len: u64,
    mut kernel: impl FnMut(&mut [T], Range<usize>),
) -> Outcome {
    let mut first: Option<(u64, String)> = None;
    let mut failed = 0u64;
    for (i, (p, r)) in parts(g, start, len).enumerate() {
        let Err(payload) = catch_unwind(AssertUnwindSafe(|| kernel(p, r))) else { continue };
        // Taken now: the next part's panic would replace the message the hook recorded.
        let message = crate::worker::panic_message(payload);
        failed += 1;
        first.get_or_insert((i as u64, message));
    }
    match first {
        None => Ok(()),
        Some((part, reason)) => Err(Failed { part, parts_failed: failed, panicked: true, reason }),
    }
}

/// The caller's chunks inside one claimed chunk: `(elements, range in the array)` of
/// each `len` elements (a claimed chunk holds several when the caller asked for more
/// chunks than the array's claim words: see `run_chunks`).
fn parts<T>(g: &mut [T], start: usize, len: u64) -> impl Iterator<Item = (&mut [T], Range<usize>)> {
    let len = (len as usize).max(1);
    g.chunks_mut(len).enumerate().map(move |(i, p)| {
        let s = start + i * len;
        let n = p.len();
        (p, s..s + n)
    })
}

/// Claims chunk `c` and runs `K` on each of its `len`-element parts and their ranges.
pub(super) fn chunk<T, K>((c, len): (ChunkMut<T>, u64)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], Range<usize>) + Copy + 'static,
{
    let mut g = c.write().map_err(Failed::setup)?;
    let start = g.range().start;
    run_parts(&mut g, start, len, |p, r| kernel::<K>()(p, r))
}

/// Reads the input `x` and claims chunk `c` of the output; an input shorter than the
/// chunk's range gives the claim back (not DONE: nothing was computed).
fn read_and_claim<T: Pod, U: Pod>(
    x: &ArrayHandle<U>,
    c: &ChunkMut<T>,
) -> Result<(ReadGuard<U>, ChunkGuard<T>), Failed> {
    let x = x.read().map_err(Failed::setup)?;
    let g = c.write().map_err(Failed::setup)?;
    if x.get(g.range()).is_none() {
        g.unclaim();
        return Err(Failed::setup("the input is shorter than the output"));
    }
    Ok((x, g))
}

/// Claims chunk `c` and runs `K` on each `len`-element part and the same range of the
/// input `x`.
pub(super) fn zip<T, U, K>((c, x, len): (ChunkMut<T>, ArrayHandle<U>, u64)) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U]) + Copy + 'static,
{
    let (x, mut g) = read_and_claim(&x, &c)?;
    let start = g.range().start;
    run_parts(&mut g, start, len, |p, r| kernel::<K>()(p, &x[r]))
}

/// Claims chunk `c` of a grid `cols` wide and runs `K` on each band of `len` elements
/// (whole rows).
pub(super) fn band<T, K>((c, cols, len): (ChunkMut<T>, u64, u64)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], RowBand) + Copy + 'static,
{
    let mut g = claim_rows(&c, cols)?;
    let (start, grid_len) = (g.range().start, c.array().len());
    run_parts(&mut g, start, len, |p, r| {
        let band = RowBand::of_elements(r, cols as usize, grid_len).expect("whole rows");
        kernel::<K>()(p, band)
    })
}

/// Claims chunk `c` for writing if it is whole rows of a grid `cols` wide (else gives the
/// claim back: nothing was computed).
fn claim_rows<T: Pod>(c: &ChunkMut<T>, cols: u64) -> Result<ChunkGuard<T>, Failed> {
    let g = c.write().map_err(Failed::setup)?;
    if RowBand::of_elements(g.range(), cols as usize, c.array().len()).is_none() {
        g.unclaim(); // not DONE: nothing was computed
        return Err(Failed::setup("the chunk is not whole rows"));
    }
    Ok(g)
}

/// Claims chunk `c` of a grid `cols` wide and runs `K` on each band of `len` elements
/// (whole rows) with the whole input `x`.
pub(super) fn band_with<T, U, K>(
    (c, x, cols, len): (ChunkMut<T>, ArrayHandle<U>, u64, u64),
) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U], RowBand) + Copy + 'static,
{
    let x = x.read().map_err(Failed::setup)?;
    let mut g = claim_rows(&c, cols)?;
    let (start, grid_len) = (g.range().start, c.array().len());
    run_parts(&mut g, start, len, |p, r| {
        let band = RowBand::of_elements(r, cols as usize, grid_len).expect("whole rows");
        kernel::<K>()(p, &x, band)
    })
}

/// [`chunk`] with the call's parameter `p` (decoded once for the job), which every kernel
/// call gets by reference.
pub(super) fn chunk_args<T, P, K>((c, len, p): (ChunkMut<T>, u64, P)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], Range<usize>, &P) + Copy + 'static,
{
    let mut g = c.write().map_err(Failed::setup)?;
    let start = g.range().start;
    run_parts(&mut g, start, len, |part, r| kernel::<K>()(part, r, &p))
}

/// [`zip`] with the call's parameter `p`.
pub(super) fn zip_args<T, U, P, K>((c, x, len, p): (ChunkMut<T>, ArrayHandle<U>, u64, P)) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U], &P) + Copy + 'static,
{
    let (x, mut g) = read_and_claim(&x, &c)?;
    let start = g.range().start;
    run_parts(&mut g, start, len, |part, r| kernel::<K>()(part, &x[r], &p))
}

/// [`band`] with the call's parameter `p`.
pub(super) fn band_args<T, P, K>((c, cols, len, p): (ChunkMut<T>, u64, u64, P)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], RowBand, &P) + Copy + 'static,
{
    let mut g = claim_rows(&c, cols)?;
    let (start, grid_len) = (g.range().start, c.array().len());
    run_parts(&mut g, start, len, |part, r| {
        let band = RowBand::of_elements(r, cols as usize, grid_len).expect("whole rows");
        kernel::<K>()(part, band, &p)
    })
}

/// [`band_with`] with the call's parameter `p`.
pub(super) fn band_with_args<T, U, P, K>(
    (c, x, cols, len, p): (ChunkMut<T>, ArrayHandle<U>, u64, u64, P),
) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U], RowBand, &P) + Copy + 'static,
{
    let x = x.read().map_err(Failed::setup)?;
    let mut g = claim_rows(&c, cols)?;
    let (start, grid_len) = (g.range().start, c.array().len());
    run_parts(&mut g, start, len, |part, r| {
        let band = RowBand::of_elements(r, cols as usize, grid_len).expect("whole rows");
        kernel::<K>()(part, &x, band, &p)
    })
}
