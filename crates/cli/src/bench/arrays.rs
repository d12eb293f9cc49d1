//! W3 copy-in: creating and filling a `SharedArray` against a plain `memcpy` of the same
//! size, measured interleaved in this run.

use super::record::{Outcome, Selection};
use zeroproc_bench::workloads::array_copy;

/// Runs the copy-in rows if zeroproc's W3 is selected: `copy_in_ms` (`from_slice`),
/// `zeroed_fill_ms`, and the references `memcpy_ms` (into touched memory) and
/// `memcpy_fresh_ms` (into new pages), with the ratio of `from_slice` to `memcpy`.
pub fn run(o: &mut Outcome, sel: &Selection, mib: usize, reps: usize) -> Result<(), String> {
    if !sel.wants("zeroproc", "W3") {
        return Ok(());
    }
    let what = format!("W3 {mib} MiB copy-in: SharedArray vs memcpy, {reps} interleaved reps");
    let c = super::rust::fresh(&what, || array_copy::copy_in(mib, reps))?;
    o.put("zeroproc", "W3", "copy_in_ms", c.from_slice_s * 1e3);
    o.put("zeroproc", "W3", "zeroed_fill_ms", c.zeroed_fill_s * 1e3);
    o.put("zeroproc", "W3", "memcpy_ms", c.memcpy_s * 1e3);
    o.put("zeroproc", "W3", "memcpy_fresh_ms", c.memcpy_fresh_s * 1e3);
    o.put("zeroproc", "W3", "copy_in_memcpy_x", c.from_slice_s / c.memcpy_s);
    o.notes.push(format!(
        "W3 copy-in ({mib} MiB, median of {reps}): copy_in_ms = SharedArray::from_slice, \
         zeroed_fill_ms = zeroed + write().copy_from_slice, memcpy_ms = copy_from_slice into a \
         buffer already touched, memcpy_fresh_ms = to_vec (new pages), copy_in_memcpy_x = \
         copy_in ÷ memcpy"
    ));
    Ok(())
}
