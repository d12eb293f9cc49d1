//! Shared arrays in the comparison: W3 copy-in (creating and filling a `SharedArray`
//! against a plain `memcpy` of the same size) and W2 in-place (`Pool::for_each_chunk_mut`
//! against rayon's `par_iter_mut`), each measured interleaved in this run.

use super::record::{Outcome, Selection};
use zeroproc_bench::workloads::{array_copy, inplace};

/// Runs the copy-in rows if zeroproc's W3 is selected (`array_copy`: a reuse phase and a
/// fresh phase, each against `memcpy` into touched memory measured beside it).
pub fn run(o: &mut Outcome, sel: &Selection, mib: usize, reps: usize) -> Result<(), String> {
    if !sel.wants("zeroproc", "W3") {
        return Ok(());
    }
    let what = format!("W3 {mib} MiB copy-in: SharedArray vs memcpy, {reps} interleaved reps");
    let c = super::rust::fresh(&what, || array_copy::copy_in(mib, reps))?;
    o.put("zeroproc", "W3", "copy_in_ms", c.from_slice_s * 1e3);
    o.put("zeroproc", "W3", "zeroed_fill_ms", c.zeroed_fill_s * 1e3);
    o.put("zeroproc", "W3", "memcpy_ms", c.memcpy_reuse_s * 1e3);
    o.put("zeroproc", "W3", "copy_in_memcpy_x", c.from_slice_s / c.memcpy_reuse_s);
    o.put("zeroproc", "W3", "copy_in_first_reuse_ms", c.first_reuse_s * 1e3);
    o.put("zeroproc", "W3", "copy_in_fresh_ms", c.from_slice_fresh_s * 1e3);
    o.put("zeroproc", "W3", "memcpy_fresh_phase_ms", c.memcpy_s * 1e3);
    o.put("zeroproc", "W3", "copy_in_fresh_memcpy_x", c.from_slice_fresh_s / c.memcpy_s);
    o.put("zeroproc", "W3", "memcpy_fresh_ms", c.memcpy_fresh_s * 1e3);
    o.notes.push(format!(
        "W3 copy-in ({mib} MiB, medians of {reps}, two phases each with its own memcpy \
         reference): reuse phase, the steady state of a loop creating arrays of one shape — \
         copy_in_ms = SharedArray::from_slice into the segment the previous array dropped, \
         zeroed_fill_ms = zeroed + write().copy_from_slice likewise, memcpy_ms = \
         copy_from_slice into a buffer already touched, copy_in_memcpy_x = copy_in ÷ memcpy, \
         copy_in_first_reuse_ms = the first reuse of a fresh segment (maps its pages into the \
         process); fresh phase — copy_in_fresh_ms = from_slice into a new segment, \
         memcpy_fresh_phase_ms = memcpy into touched memory, copy_in_fresh_memcpy_x = their \
         ratio, memcpy_fresh_ms = to_vec (new pages)"
    ));
    Ok(())
}

/// Runs W2 in-place x → 2x over `items` f64 if zeroproc's or rayon's W2 is selected:
/// `inplace_ms` for both (medians of `rounds` interleaved passes) and zeroproc's
/// `inplace_rayon_x`, the median of the paired ratios zeroproc ÷ rayon.
pub fn run_inplace(
    o: &mut Outcome,
    sel: &Selection,
    items: usize,
    rounds: usize,
) -> Result<(), String> {
    let (zp, ry) = (sel.wants("zeroproc", "W2"), sel.wants("rayon", "W2"));
    if !zp && !ry {
        return Ok(());
    }
    let what =
        format!("W2 in-place x → 2x over {items} f64: for_each_chunk_mut vs rayon par_iter_mut");
    let t = super::rust::fresh(&what, || inplace::inplace_times(items, rounds))?;
    if zp {
        o.put("zeroproc", "W2", "inplace_ms", t.zeroproc_s * 1e3);
        o.put("zeroproc", "W2", "inplace_rayon_x", t.zeroproc_over_rayon);
        o.put("zeroproc", "W2", "inplace_by_map_ms", t.map_s * 1e3);
    }
    if ry {
        o.put("rayon", "W2", "inplace_ms", t.rayon_s * 1e3);
    }
    o.notes.push(format!(
        "W2 in-place ({items} f64, median of {rounds} interleaved passes, 2 workers / 2 threads): \
         zeroproc pool.for_each_chunk_mut in {} chunks (inplace_by_map_ms: the same chunks by \
         hand, chunks_mut + pool.map), rayon par_iter_mut().for_each; \
         inplace_rayon_x = median of zeroproc time ÷ rayon time per pass (≤ 1.11: \
         zeroproc at ≥ 0.9× rayon's speed)",
        inplace::CHUNKS
    ));
    Ok(())
}
