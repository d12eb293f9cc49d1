//! W3 copy-in: what creating and filling a `SharedArray` costs against a plain `memcpy` of
//! the same size, measured interleaved in one run.
//!
//! Four ways to get `mib` MiB of f64 from a `Vec` somewhere else, each repetition in the
//! same order so that host drift hits all alike:
//!
//! * `memcpy` into a buffer this process has already touched (the copy alone);
//! * `memcpy` into fresh memory (`to_vec`: the kernel hands out and maps new pages);
//! * `SharedArray::from_slice`;
//! * `SharedArray::zeroed` then `write()` + `copy_from_slice`.

use std::hint::black_box;
use std::time::Instant;
use zeroproc_mp::SharedArray;

/// Medians of the four copy-ins, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct CopyIn {
    /// `copy_from_slice` into an already-touched buffer.
    pub memcpy_s: f64,
    /// `to_vec` (allocation, page faults and the copy).
    pub memcpy_fresh_s: f64,
    /// `SharedArray::from_slice`.
    pub from_slice_s: f64,
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

/// Runs `reps` interleaved repetitions of the four copy-ins of `mib` MiB.
pub fn copy_in(mib: usize, reps: usize) -> Result<CopyIn, String> {
    let n = mib * (1 << 20) / 8;
    let src: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
    let mut warm = vec![1.0f64; n];
    let mut t: [Vec<f64>; 4] = Default::default();
    for _ in 0..reps.max(1) {
        t[0].push(timed(|| warm.copy_from_slice(&src)).0);
        t[1].push(timed(|| src.to_vec()).0);
        let (s, a) = timed(|| SharedArray::from_slice(&src));
        check(a.map_err(|e| e.to_string())?, &src)?;
        t[2].push(s);
        let (s, a) = timed(|| -> Result<_, String> {
            let mut a = SharedArray::<f64>::zeroed(n).map_err(|e| e.to_string())?;
            a.write().map_err(|e| e.to_string())?.copy_from_slice(&src);
            Ok(a)
        });
        check(a?, &src)?;
        t[3].push(s);
    }
    black_box(&warm);
    let [a, b, c, d] = t;
    Ok(CopyIn {
        memcpy_s: median(a),
        memcpy_fresh_s: median(b),
        from_slice_s: median(c),
        zeroed_fill_s: median(d),
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
