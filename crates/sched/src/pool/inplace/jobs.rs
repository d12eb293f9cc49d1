//! The worker side of the in-place calls: one job per chunk, the kernel `K` (a fn item or
//! non-capturing closure, zero-sized) conjured from its type.

use crate::job::conjure;
use std::ops::Range;
use zeroproc_mp::shared::{ArrayHandle, ChunkMut, Pod, RowBand};

/// What a chunk job returns: `Err(reason)` when the arrays could not be attached or the
/// chunk claimed (the kernel's own panic is the job's panic).
pub(super) type Outcome = Result<(), String>;

/// Claims chunk `c` and runs `K` on its elements and range.
pub(super) fn chunk<T, K>(c: ChunkMut<T>) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], Range<usize>) + Copy + 'static,
{
    let mut g = c.write().map_err(|e| e.to_string())?;
    let r = g.range();
    conjure::<K>()(&mut g, r);
    Ok(())
}

/// Claims chunk `c` and runs `K` on its elements and the same range of the input `x`.
pub(super) fn zip<T, U, K>((c, x): (ChunkMut<T>, ArrayHandle<U>)) -> Outcome
where
    T: Pod,
    U: Pod,
    K: Fn(&mut [T], &[U]) + Copy + 'static,
{
    let x = x.read().map_err(|e| e.to_string())?;
    let mut g = c.write().map_err(|e| e.to_string())?;
    let Some(input) = x.get(g.range()) else {
        g.abandon(); // not DONE: nothing was computed
        return Err("the input is shorter than the output".into());
    };
    conjure::<K>()(&mut g, input);
    Ok(())
}

/// Claims chunk `c` of a grid `cols` wide and runs `K` on its rows.
pub(super) fn band<T, K>((c, cols): (ChunkMut<T>, u64)) -> Outcome
where
    T: Pod,
    K: Fn(&mut [T], RowBand) + Copy + 'static,
{
    let mut g = c.write().map_err(|e| e.to_string())?;
    let Some(band) = RowBand::of_elements(g.range(), cols as usize) else {
        g.abandon(); // not DONE: nothing was computed
        return Err("the chunk is not whole rows".into());
    };
    conjure::<K>()(&mut g, band);
    Ok(())
}
