//! W3 copy-in: what creating and filling a `SharedArray` costs against a plain `memcpy` of
//! the same size, measured interleaved in one run.
//!
//! Two phases, each repetition timing `memcpy` into a buffer this process has already
//! touched (the copy alone) beside the SharedArray ways:
//!
//! 1. **fresh**: `SharedArray::from_slice` into a new segment (kept segments released
//!    first, not timed), and `memcpy` into fresh memory (`to_vec`: the kernel hands out and
//!    maps new pages);
//! 2. **reused**, the steady state of a loop that creates an array of one shape per
//!    iteration: `from_slice`, then `zeroed` + `write()` + `copy_from_slice`, each into
//!    the segment the previous one dropped. The first reuse of a segment maps its pages
//!    into this process (`MADV_POPULATE_WRITE`); it is timed apart (`first_reuse_s`).

use std::hint::black_box;
use std::time::Instant;
use zeroproc_mp::shared::cache;
use zeroproc_mp::SharedArray;

/// Medians of the four copy-ins, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct CopyIn {
    /// `copy_from_slice` into an already-touched buffer, in the fresh phase.
    pub memcpy_s: f64,
    /// `to_vec` (allocation, page faults and the copy).
    pub memcpy_fresh_s: f64,
    /// `SharedArray::from_slice`, reusing a dropped array's segment.
    pub from_slice_s: f64,
    /// `memcpy` into touched memory, in the reuse phase.
    pub memcpy_reuse_s: f64,
    /// The first reuse of a segment made fresh (its pages mapped into this process).
    pub first_reuse_s: f64,
    /// `SharedArray::from_slice` into a fresh segment.
    pub from_slice_fresh_s: f64,
    /// `SharedArray::zeroed` + `write().copy_from_slice`.
    pub zeroed_fill_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let r = black_box(f());
    (t.elapsed().as_secs_f64(), r)
}

/// Runs `reps` interleaved repetitions of each phase of the copy-ins of `mib` MiB.
pub fn copy_in(mib: usize, reps: usize) -> Result<CopyIn, String> {
    let n = mib * (1 << 20) / 8;
    let src: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
    let mut warm = vec![1.0f64; n];
    let err = |e: zeroproc_mp::shared::SharedError| e.to_string();
    let reps = reps.max(1);
    // Phase 1: fresh segments.
    let mut fresh: [Vec<f64>; 3] = Default::default();
    for _ in 0..reps {
        fresh[0].push(timed(|| warm.copy_from_slice(&src)).0);
        fresh[1].push(timed(|| src.to_vec()).0);
        cache::release_dropped();
        let (s, a) = timed(|| SharedArray::from_slice(&src));
        check(a.map_err(err)?, &src)?; // dropped: kept
        fresh[2].push(s);
    }
    // Phase 2: the segment kept by the last fresh array, reused again and again.
    let (first_reuse_s, a) = timed(|| SharedArray::from_slice(&src));
    check(a.map_err(err)?, &src)?;
    let mut reuse: [Vec<f64>; 3] = Default::default();
    for _ in 0..reps {
        reuse[0].push(timed(|| warm.copy_from_slice(&src)).0);
        let (s, a) = timed(|| SharedArray::from_slice(&src));
        check(a.map_err(err)?, &src)?;
        reuse[1].push(s);
        let (s, a) = timed(|| -> Result<_, String> {
            let mut a = SharedArray::<f64>::zeroed(n).map_err(err)?;
            a.write().map_err(err)?.copy_from_slice(&src);
            Ok(a)
        });
        check(a?, &src)?;
        reuse[2].push(s);
    }
    cache::release_dropped();
    black_box(&warm);
    let [m1, to_vec, fresh] = fresh;
    let [m2, from_slice, zeroed_fill] = reuse;
    Ok(CopyIn {
        memcpy_s: median(m1),
        memcpy_fresh_s: median(to_vec),
        from_slice_fresh_s: median(fresh),
        memcpy_reuse_s: median(m2),
        from_slice_s: median(from_slice),
        zeroed_fill_s: median(zeroed_fill),
        first_reuse_s,
    })
}

/// Spot-checks the copy (first, middle, last element), outside the timed part.
fn check(a: SharedArray<f64>, src: &[f64]) -> Result<(), String> {
    let x = a.as_slice().map_err(|e| e.to_string())?;
    let n = src.len();
    let same = |i: usize| n == 0 || x[i] == src[i];
    if x.len() != n || !same(0) || !same(n / 2) || !same(n.saturating_sub(1)) {
        return Err("W3 copy-in: the array does not hold the data".into());
    }
    Ok(())
}
