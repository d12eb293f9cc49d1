//! In-place x → 2x over an f64 array: `Pool::for_each_chunk_mut` on 2 worker processes
//! against rayon's `par_iter_mut` on 2 threads and against the hand-built idiom it
//! replaces (`chunks_mut` + `pool.map` over the chunk handles), passes interleaved in one
//! run.

use rayon::prelude::*;
use std::ops::Range;
use std::time::Instant;
use zeroproc_mp::shared::ChunkMut;
use zeroproc_mp::SharedArray;
use zeroproc_sched::Pool;

/// Chunks per call for zeroproc (rayon splits adaptively).
pub const CHUNKS: usize = 16;

/// Medians over the passes, in seconds, and the median of the paired ratios.
#[derive(Debug, Clone, Copy)]
pub struct InPlaceTimes {
    /// `pool.for_each_chunk_mut(&mut y, len / CHUNKS, double)`.
    pub zeroproc_s: f64,
    /// `v.par_iter_mut().for_each(|x| *x *= 2.0)`.
    pub rayon_s: f64,
    /// `y.chunks_mut(len / CHUNKS)` + `pool.map(job, chunks)`, every result checked.
    pub map_s: f64,
    /// Median of zeroproc ÷ rayon per pass (below 1: zeroproc is faster).
    pub zeroproc_over_rayon: f64,
}

fn double(y: &mut [f64], _r: Range<usize>) {
    for v in y {
        *v *= 2.0;
    }
}

/// The hand-built form: a job per chunk handle.
fn double_job(c: ChunkMut<f64>) {
    let mut g = c.write().expect("chunk");
    double(&mut g, 0..0);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `rounds` interleaved passes over `items` f64 (after one warm-up pass each: the
/// workers map the array, rayon's threads start), checking both results at the end.
pub fn inplace_times(items: usize, rounds: usize) -> Result<InPlaceTimes, String> {
    let data: Vec<f64> = (0..items).map(|i| (i % 1024) as f64).collect();
    let pool = Pool::builder().workers(2).build().map_err(|e| e.to_string())?;
    let rp = rayon::ThreadPoolBuilder::new().num_threads(2).build().map_err(|e| e.to_string())?;
    let mut y = SharedArray::from_slice(&data).map_err(|e| e.to_string())?;
    let mut v = data.clone();
    let chunk = items.div_ceil(CHUNKS).max(1);
    let zp = |y: &mut SharedArray<f64>| -> Result<f64, String> {
        let t = Instant::now();
        pool.for_each_chunk_mut(y, chunk, double).map_err(|e| e.to_string())?;
        Ok(t.elapsed().as_secs_f64())
    };
    let ry = |v: &mut Vec<f64>| {
        let t = Instant::now();
        rp.install(|| v.par_iter_mut().for_each(|x| *x *= 2.0));
        t.elapsed().as_secs_f64()
    };
    let by_map = |y: &mut SharedArray<f64>| -> Result<f64, String> {
        let t = Instant::now();
        let chunks = y.chunks_mut(chunk).map_err(|e| e.to_string())?;
        for r in pool.map(double_job, chunks) {
            r.map_err(|e| e.to_string())?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    zp(&mut y)?;
    ry(&mut v);
    let (mut a, mut b, mut m, mut r) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds.max(1) {
        let z = zp(&mut y)?;
        let q = ry(&mut v);
        m.push(by_map(&mut y)?);
        r.push(z / q);
        a.push(z);
        b.push(q);
    }
    // y was doubled twice per pass (the call and the map), v once.
    let passes = rounds.max(1) as i32;
    let (scale_y, scale_v) = (2f64.powi(2 * passes + 1), 2f64.powi(passes + 1));
    let ok = |s: &[f64], k: f64| s.iter().zip(&data).all(|(x, d)| *x == d * k);
    if !ok(y.as_slice().map_err(|e| e.to_string())?, scale_y) || !ok(&v, scale_v) {
        return Err("in-place x → 2x: wrong result".into());
    }
    Ok(InPlaceTimes {
        zeroproc_s: median(a),
        rayon_s: median(b),
        map_s: median(m),
        zeroproc_over_rayon: median(r),
    })
}
