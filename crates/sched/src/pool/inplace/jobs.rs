//! The worker side of the in-place calls: one job per chunk, the kernel `K` (a fn item or
//! non-capturing closure, zero-sized) conjured from its type.

use crate::job::conjure;
use std::ops::Range;
use zeroproc_mp::shared::{ArrayHandle, ChunkMut, Pod, RowBand};

/// What a chunk job returns: `Err(reason)` when the arrays could not be attached or the
/// chunk claimed (the kernel's own panic is the job's panic).
pub(super) type Outcome = Result<(), String>;

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
    let mut g = c.write().map_err(|e| e.to_string())?;
    let start = g.range().start;
    for (p, r) in parts(&mut g, start, len) {
        conjure::<K>()(p, r);
    }
    Ok(())
}

/// Claims chunk `c` and runs `K` on each `len`-element part and the same range of the
/// input `x`.
pub(super) fn zip<T, U, K>((c, x, len): (ChunkMut<T>, ArrayHandle<U>, u64)) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U]) + Copy + 'static,
{
    let x = x.read().map_err(|e| e.to_string())?;
    let mut g = c.write().map_err(|e| e.to_string())?;
    if x.get(g.range()).is_none() {
        g.unclaim(); // not DONE: nothing was computed
        return Err("the input is shorter than the output".into());
    }
    let start = g.range().start;
    for (p, r) in parts(&mut g, start, len) {
        conjure::<K>()(p, &x[r]);
    }
    Ok(())
}

/// Claims chunk `c` of a grid `cols` wide and runs `K` on each band of `len` elements
/// (whole rows).
pub(super) fn band<T, K>((c, cols, len): (ChunkMut<T>, u64, u64)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], RowBand) + Copy + 'static,
{
    let mut g = c.write().map_err(|e| e.to_string())?;
    if RowBand::of_elements(g.range(), cols as usize).is_none() {
        g.unclaim(); // not DONE: nothing was computed
        return Err("the chunk is not whole rows".into());
    }
    let start = g.range().start;
    for (p, r) in parts(&mut g, start, len) {
        let band = RowBand::of_elements(r, cols as usize).expect("parts of whole rows");
        conjure::<K>()(p, band);
    }
    Ok(())
}
