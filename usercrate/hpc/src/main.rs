//! An HPC user's afternoon with zeroproc's public API (hpc35): numpy / rayon /
//! multiprocessing programs ported, each compared with a plain sequential version.
//! `cargo run --release [-- FILTER]`: `ok NAME` / `FAILED NAME: why`, then a summary.

use std::ops::Range;
use std::time::{Duration, Instant};
use zeroproc::shared::{bytemuck, ArrayHandle, RowBand};
use zeroproc::{ForEachChunkError, JobError, Pool, SharedArray};

mod probes;

pub type R = Result<(), String>;

/// A scenario: its name and its check.
type Scenario = (&'static str, fn() -> R);

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn pool() -> Pool {
    Pool::builder().workers(2).build().unwrap()
}

// ---------- SAXPY ----------
fn saxpy(y: &mut [f64], x: &[f64], a: &f64) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

fn saxpy_10m() -> R {
    let n = 10_000_000;
    let a: f64 = std::env::var("ALPHA").map_or(0.75, |s| s.parse().unwrap());
    let xv: Vec<f64> = (0..n).map(|i| (i % 1000) as f64 * 0.001).collect();
    let yv: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
    let p = pool();
    let x = SharedArray::from_slice(&xv).map_err(|e| e.to_string())?;
    let mut y = SharedArray::from_slice(&yv).map_err(|e| e.to_string())?;
    // 10 M is not divisible by 300_007
    p.in_place(&mut y)
        .args(a)
        .for_each_chunk_mut_with(&x, 300_007, saxpy)
        .map_err(|e| e.to_string())?;
    let got = y.as_slice().map_err(|e| e.to_string())?;
    let mut want = yv.clone();
    saxpy(&mut want, &xv, &a);
    for i in 0..n {
        if got[i] != want[i] {
            return Err(format!("y[{i}] = {} want {}", got[i], want[i]));
        }
    }
    Ok(())
}

// ---------- Jacobi ----------
fn jacobi(next: &mut [f64], cur: &[f64], b: RowBand) {
    let (n, rows) = (b.cols, b.grid_rows);
    for (r, out) in b.rows.zip(next.chunks_exact_mut(n)) {
        out.copy_from_slice(&cur[r * n..(r + 1) * n]);
        if r == 0 || r == rows - 1 {
            continue;
        }
        for c in 1..n - 1 {
            out[c] = 0.25
                * (cur[(r - 1) * n + c]
                    + cur[(r + 1) * n + c]
                    + cur[r * n + c - 1]
                    + cur[r * n + c + 1]);
        }
    }
}

fn jacobi_seq(cur: &[f64], next: &mut [f64], rows: usize, n: usize) {
    jacobi(next, cur, RowBand::of_elements(0..rows * n, n, rows * n).unwrap());
}

fn jacobi_2048() -> R {
    let (rows, cols, iters) = (2048, 2048, 50);
    let mut init = vec![0.0; rows * cols];
    init[..cols].fill(100.0);
    for r in 0..rows {
        init[r * cols] = 50.0;
    }
    let p = pool();
    let mut a = SharedArray::from_slice(&init).map_err(|e| e.to_string())?;
    let mut b = SharedArray::<f64>::zeroed(rows * cols).map_err(|e| e.to_string())?;
    for _ in 0..iters {
        p.for_each_row_band_mut_with(&mut b, &a, cols, 100, jacobi).map_err(|e| e.to_string())?;
        std::mem::swap(&mut a, &mut b);
    }
    let (mut s0, mut s1) = (init.clone(), vec![0.0; rows * cols]);
    for _ in 0..iters {
        jacobi_seq(&s0, &mut s1, rows, cols);
        std::mem::swap(&mut s0, &mut s1);
    }
    let got = a.as_slice().map_err(|e| e.to_string())?;
    match got.iter().zip(&s0).position(|(g, w)| g != w) {
        Some(i) => Err(format!("cell {i}: {} want {}", got[i], s0[i])),
        None => Ok(()),
    }
}

// ---------- reductions over a SharedArray ----------
fn partial((h, g, lo, hi): (ArrayHandle<f64>, ArrayHandle<f64>, u64, u64)) -> (f64, f64, f64) {
    let x = h.read().unwrap();
    let y = g.read().unwrap();
    let r = lo as usize..hi as usize;
    let s: f64 = x[r.clone()].iter().sum();
    let m = x[r.clone()].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let d: f64 = x[r.clone()].iter().zip(&y[r]).map(|(a, b)| a * b).sum();
    (s, m, d)
}

fn reductions() -> R {
    let n = 3_000_001usize;
    let xv: Vec<f64> = (0..n).map(|i| ((i * 37) % 1001) as f64 / 7.0).collect();
    let yv: Vec<f64> = (0..n).map(|i| ((i * 11) % 97) as f64 / 3.0).collect();
    let x = SharedArray::from_slice(&xv).map_err(|e| e.to_string())?;
    let y = SharedArray::from_slice(&yv).map_err(|e| e.to_string())?;
    let chunk = 250_000;
    let ranges: Vec<(u64, u64)> =
        (0..n).step_by(chunk).map(|lo| (lo as u64, (lo + chunk).min(n) as u64)).collect();
    let p = pool();
    let parts: Vec<(f64, f64, f64)> = p
        .map(partial, ranges.iter().map(|&(lo, hi)| (x.handle(), y.handle(), lo, hi)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let (s, m, d) = parts
        .iter()
        .fold((0.0, f64::NEG_INFINITY, 0.0), |(s, m, d), p| (s + p.0, m.max(p.1), d + p.2));
    // the same per-chunk order sequentially
    let (mut ws, mut wm, mut wd) = (0.0, f64::NEG_INFINITY, 0.0);
    for &(lo, hi) in &ranges {
        let r = lo as usize..hi as usize;
        ws += xv[r.clone()].iter().sum::<f64>();
        wm = wm.max(xv[r.clone()].iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        wd += xv[r.clone()].iter().zip(&yv[r]).map(|(a, b)| a * b).sum::<f64>();
    }
    let naive: f64 = xv.iter().sum();
    if !(close(s, ws) && m == wm && close(d, wd) && close(s, naive)) {
        return Err(format!("sum {s} / {ws} / {naive}, max {m} / {wm}, dot {d} / {wd}"));
    }
    Ok(())
}

// ---------- histogram ----------
fn hist((h, lo, hi): (ArrayHandle<u8>, u64, u64)) -> Vec<u64> {
    let x = h.read().unwrap();
    let mut b = vec![0u64; 256];
    for &v in &x[lo as usize..hi as usize] {
        b[v as usize] += 1;
    }
    b
}

/// Partial histograms written in place: the output has one 256-bin row per job.
fn hist_rows(out: &mut [u64], r: Range<usize>, h: &ArrayHandle<u8>) {
    let x = h.read().unwrap();
    let job = r.start / 256;
    let per = x.len().div_ceil(8); // 8 jobs of 256 bins
    let lo = (job * per).min(x.len());
    let hi = ((job + 1) * per).min(x.len());
    for &v in &x[lo..hi] {
        out[v as usize] += 1;
    }
}

fn histogram() -> R {
    let n = 5_000_003usize;
    let data: Vec<u8> = (0..n).map(|i| ((i * 2654435761usize) >> 7) as u8).collect();
    let mut want = vec![0u64; 256];
    for &v in &data {
        want[v as usize] += 1;
    }
    let x = SharedArray::from_slice(&data).map_err(|e| e.to_string())?;
    let p = pool();
    let chunk = 400_000;
    let parts: Vec<Vec<u64>> = p
        .map(
            hist,
            (0..n).step_by(chunk).map(|lo| (x.handle(), lo as u64, (lo + chunk).min(n) as u64)),
        )
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut merged = vec![0u64; 256];
    for part in &parts {
        for (m, v) in merged.iter_mut().zip(part) {
            *m += v;
        }
    }
    if merged != want {
        return Err("map-merged histogram differs".into());
    }
    // in place: 8 partial rows of 256 bins, then merged
    let mut rows = SharedArray::<u64>::zeroed(8 * 256).map_err(|e| e.to_string())?;
    p.in_place(&mut rows)
        .args(x.handle())
        .for_each_chunk_mut(256, hist_rows)
        .map_err(|e| e.to_string())?;
    let r = rows.as_slice().map_err(|e| e.to_string())?;
    let mut merged2 = vec![0u64; 256];
    for row in r.chunks(256) {
        for (m, v) in merged2.iter_mut().zip(row) {
            *m += v;
        }
    }
    if merged2 != want {
        return Err("in-place partial rows differ".into());
    }
    Ok(())
}

// ---------- Monte Carlo pi ----------
fn mc(seed: u64) -> u64 {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..100_000)
        .filter(|_| {
            let (x, y) = (next(), next());
            x * x + y * y <= 1.0
        })
        .count() as u64
}

fn monte_carlo() -> R {
    let p = pool();
    let got: u64 = p.map(mc, 0..64u64).map(Result::unwrap).sum();
    let want: u64 = (0..64u64).map(mc).sum();
    let pi = 4.0 * got as f64 / 6_400_000.0;
    if got != want || (pi - std::f64::consts::PI).abs() > 0.01 {
        return Err(format!("{got} vs {want}, pi {pi}"));
    }
    Ok(())
}

// ---------- matvec ----------
fn matvec(y: &mut [f64], r: Range<usize>, (a, x): &(ArrayHandle<f64>, ArrayHandle<f64>)) {
    let (a, x) = (a.read().unwrap(), x.read().unwrap());
    let n = x.len();
    for (yi, i) in y.iter_mut().zip(r) {
        *yi = a[i * n..(i + 1) * n].iter().zip(x.iter()).map(|(a, b)| a * b).sum();
    }
}

fn matrix_vector() -> R {
    let (m, n) = (1500, 1200);
    let av: Vec<f64> = (0..m * n).map(|k| ((k * 13) % 101) as f64 - 50.0).collect();
    let xv: Vec<f64> = (0..n).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let a = SharedArray::from_slice(&av).map_err(|e| e.to_string())?;
    let x = SharedArray::from_slice(&xv).map_err(|e| e.to_string())?;
    let mut y = SharedArray::<f64>::zeroed(m).map_err(|e| e.to_string())?;
    let p = pool();
    p.in_place(&mut y)
        .args((a.handle(), x.handle()))
        .for_each_chunk_mut(97, matvec)
        .map_err(|e| e.to_string())?;
    let got = y.as_slice().map_err(|e| e.to_string())?;
    for i in 0..m {
        let w: f64 = av[i * n..(i + 1) * n].iter().zip(&xv).map(|(a, b)| a * b).sum();
        if !close(got[i], w) {
            return Err(format!("y[{i}] {} want {w}", got[i]));
        }
    }
    Ok(())
}

// ---------- chunk lengths ----------
fn idx(c: &mut [i64], r: Range<usize>) {
    for (v, i) in c.iter_mut().zip(r) {
        *v = i as i64 * 3 - 7;
    }
}

fn chunk_lengths() -> R {
    let p = pool();
    let mut notes = vec![];
    for (len, chunk) in [
        (10_000usize, 1usize),
        (1000, 1000),
        (1000, 5000),
        (1001, 10),
        (1, 1),
        (0, 1),
        (0, 10),
        (100, 0),
    ] {
        let mut y = SharedArray::<i64>::zeroed(len).map_err(|e| format!("zeroed({len}): {e}"))?;
        match p.for_each_chunk_mut(&mut y, chunk, idx) {
            Ok(()) => {
                let got = y.as_slice().map_err(|e| e.to_string())?;
                if got.iter().enumerate().any(|(i, &v)| v != i as i64 * 3 - 7) {
                    return Err(format!("len {len} chunk {chunk}: wrong values"));
                }
            }
            Err(e) => notes.push(format!("len {len} chunk {chunk}: {e}")),
        }
    }
    println!("   chunk-length notes: {notes:?}");
    if notes.len() != 1 || !notes[0].starts_with("len 100 chunk 0") {
        return Err(format!("unexpected errors: {notes:?}"));
    }
    Ok(())
}

// ---------- faults ----------
fn panics_in_chunk_3(c: &mut [u32], r: Range<usize>) {
    for (v, i) in c.iter_mut().zip(r.clone()) {
        if r.start == 300 && i == 350 {
            panic!("bad cell {i}");
        }
        *v = i as u32 + 1;
    }
}

fn segv_in_chunk_5(c: &mut [u32], r: Range<usize>) {
    for (v, i) in c.iter_mut().zip(r.clone()) {
        *v = i as u32 + 1;
    }
    if r.start == 500 {
        // SAFETY: none: this is the fault under test (a write through a null pointer).
        unsafe { std::ptr::null_mut::<u32>().write_volatile(1) };
    }
}

pub fn loops_in_chunk_2(c: &mut [u32], r: Range<usize>) {
    for (v, i) in c.iter_mut().zip(r.clone()) {
        *v = i as u32 + 1;
    }
    if r.start == 200 {
        loop {
            std::hint::black_box(0);
        }
    }
}

pub fn check_written(y: &SharedArray<u32>, skip: Range<usize>) -> R {
    let got = y.as_slice().map_err(|e| format!("after failure, as_slice: {e}"))?;
    for (i, &v) in got.iter().enumerate() {
        if !skip.contains(&i) && v != i as u32 + 1 {
            return Err(format!("cell {i} = {v} (not written)"));
        }
    }
    Ok(())
}

fn kernel_panics() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).map_err(|e| e.to_string())?;
    let e = p.for_each_chunk_mut(&mut y, 100, panics_in_chunk_3).err().ok_or("no error")?;
    println!("   panic: {e}");
    match &e {
        ForEachChunkError::Chunk {
            index: 3,
            range,
            error: JobError::Panicked { message: m },
            failed: 1,
        } if *range == (300..400) && m.contains("bad cell 350") => {}
        _ => return Err(format!("unexpected {e:?}")),
    }
    check_written(&y, 300..400)?;
    let got = y.as_slice().unwrap();
    if got[349] != 350 || got[350] != 0 {
        return Err("partial chunk contents unexpected".into());
    }
    // pool still usable, array re-splittable
    p.for_each_chunk_mut(&mut y, 100, |c, r| {
        c.iter_mut().zip(r).for_each(|(v, i)| *v = i as u32 + 1)
    })
    .map_err(|e| e.to_string())?;
    check_written(&y, 0..0)
}

fn kernel_segfaults() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).map_err(|e| e.to_string())?;
    let e = p.for_each_chunk_mut(&mut y, 100, segv_in_chunk_5).err().ok_or("no error")?;
    println!("   segv: {e}");
    match &e {
        ForEachChunkError::Chunk {
            index: 5,
            error: JobError::WorkerDied { .. },
            failed: 1,
            ..
        } => {}
        _ => return Err(format!("unexpected {e:?}")),
    }
    check_written(&y, 500..600)?;
    p.for_each_chunk_mut(&mut y, 100, |c, r| {
        c.iter_mut().zip(r).for_each(|(v, i)| *v = i as u32 + 1)
    })
    .map_err(|e| e.to_string())?;
    check_written(&y, 0..0)
}

fn kernel_loops_time_limit() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let e = p
        .in_place(&mut y)
        .time_limit(Duration::from_millis(500))
        .for_each_chunk_mut(100, |c, r, _: &()| loops_in_chunk_2(c, r))
        .err()
        .ok_or("no error")?;
    println!("   loop+limit ({:?}): {e}", t.elapsed());
    if !matches!(e, ForEachChunkError::TimeLimit { failed: 1, .. }) {
        return Err(format!("unexpected {e:?}"));
    }
    check_written(&y, 200..300)
}

fn kernel_loops_job_time_limit() -> R {
    // without a call time limit: the pool's job_time_limit
    let p = Pool::builder().workers(2).job_time_limit(Duration::from_millis(500)).build().unwrap();
    let mut y = SharedArray::<u32>::zeroed(1000).map_err(|e| e.to_string())?;
    let e = p.for_each_chunk_mut(&mut y, 100, loops_in_chunk_2).err().ok_or("no error")?;
    println!("   loop+job_time_limit: {e}");
    if !matches!(e, ForEachChunkError::Chunk { index: 2, failed: 1, .. }) {
        return Err(format!("unexpected {e:?}"));
    }
    check_written(&y, 200..300)
}

// ---------- element types ----------
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[bytemuck(crate = "zeroproc::shared::bytemuck")]
struct Particle {
    pos: [f32; 3],
    mass: f32,
    id: u64,
}

fn types() -> R {
    let p = pool();
    let mut f = SharedArray::from_slice(&(0..10_001).map(|i| i as f32 * 0.5).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    p.for_each_chunk_mut(&mut f, 333, |c, _| c.iter_mut().for_each(|v| *v = *v * 2.0 + 1.0))
        .map_err(|e| e.to_string())?;
    if f.as_slice().unwrap().iter().enumerate().any(|(i, &v)| v != i as f32 * 0.5 * 2.0 + 1.0) {
        return Err("f32".into());
    }
    let mut u = SharedArray::<u8>::zeroed(70_000).map_err(|e| e.to_string())?;
    p.for_each_chunk_mut(&mut u, 4099, |c, r| {
        c.iter_mut().zip(r).for_each(|(v, i)| *v = (i % 251) as u8)
    })
    .map_err(|e| e.to_string())?;
    if u.as_slice().unwrap().iter().enumerate().any(|(i, &v)| v != (i % 251) as u8) {
        return Err("u8".into());
    }
    let mut q = SharedArray::<i64>::zeroed(9999).map_err(|e| e.to_string())?;
    p.for_each_chunk_mut(&mut q, 1000, |c, r| {
        c.iter_mut().zip(r).for_each(|(v, i)| *v = -(i as i64) * 1_000_000_007)
    })
    .map_err(|e| e.to_string())?;
    if q.as_slice().unwrap().iter().enumerate().any(|(i, &v)| v != -(i as i64) * 1_000_000_007) {
        return Err("i64".into());
    }
    let init: Vec<Particle> =
        (0..5000).map(|i| Particle { pos: [i as f32, 0.0, 1.0], mass: 2.0, id: i }).collect();
    let mut ps = SharedArray::from_slice(&init).map_err(|e| e.to_string())?;
    p.in_place(&mut ps)
        .args(0.5f32)
        .for_each_chunk_mut(77, |c, _, dt: &f32| {
            for q in c.iter_mut() {
                q.pos[1] += dt * q.mass;
                q.id *= 2;
            }
        })
        .map_err(|e| e.to_string())?;
    let got = ps.as_slice().unwrap().to_vec();
    for (g, i) in got.iter().zip(&init) {
        let w = Particle { pos: [i.pos[0], 1.0, 1.0], mass: 2.0, id: i.id * 2 };
        if *g != w {
            return Err(format!("struct {g:?} want {w:?}"));
        }
    }
    Ok(())
}

// ---------- lifetimes, pools, conversions ----------
fn slow_sum(h: ArrayHandle<u64>) -> Result<u64, String> {
    std::thread::sleep(Duration::from_millis(300));
    h.read().map(|r| r.iter().sum()).map_err(|e| e.to_string())
}

fn dropped_while_used() -> R {
    let p = pool();
    let a =
        SharedArray::from_slice(&(0..1000u64).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
    let f1 = p.submit(slow_sum, a.handle());
    std::thread::sleep(Duration::from_millis(50));
    let h = a.handle();
    drop(a);
    let r1 = f1.result_timeout(Duration::from_secs(20)).map_err(|_| "hung".to_string())?;
    let r2 = p
        .submit(slow_sum, h)
        .result_timeout(Duration::from_secs(20))
        .map_err(|_| "hung".to_string())?;
    println!("   in-flight: {r1:?}; after drop: {r2:?}");
    match r2 {
        Ok(Err(m)) if m.contains("dropped") => {}
        other => return Err(format!("handle after drop gave {other:?}")),
    }
    match r1 {
        Ok(Ok(499500)) => Ok(()),
        Ok(Err(m)) if m.contains("dropped") => Ok(()),
        other => Err(format!("in-flight gave {other:?}")),
    }
}

fn two_pools() -> R {
    let (p1, p2) = (pool(), pool());
    let mut y = SharedArray::<u64>::zeroed(100_000).map_err(|e| e.to_string())?;
    p1.for_each_chunk_mut(&mut y, 1000, |c, r| {
        c.iter_mut().zip(r).for_each(|(v, i)| *v = i as u64)
    })
    .map_err(|e| e.to_string())?;
    p2.for_each_chunk_mut(&mut y, 777, |c, _| c.iter_mut().for_each(|v| *v *= 3))
        .map_err(|e| e.to_string())?;
    let s1 = p1
        .submit(|h: ArrayHandle<u64>| h.read().unwrap().iter().sum::<u64>(), y.handle())
        .result()
        .unwrap();
    let s2 = p2
        .submit(|h: ArrayHandle<u64>| h.read().unwrap().iter().sum::<u64>(), y.handle())
        .result()
        .unwrap();
    let want: u64 = (0..100_000u64).map(|i| i * 3).sum();
    if s1 != want || s2 != want {
        return Err(format!("{s1} {s2} want {want}"));
    }
    Ok(())
}

fn conversions() -> R {
    let v: Vec<i64> = (0..12345).map(|i| i * i - 5).collect();
    let a = SharedArray::from_slice(&v).map_err(|e| e.to_string())?;
    let back: Vec<i64> = a.as_slice().map_err(|e| e.to_string())?.to_vec();
    if back != v {
        return Err("Vec round trip".into());
    }
    let mut z = SharedArray::<f64>::zeroed(10).map_err(|e| e.to_string())?;
    z.write().map_err(|e| e.to_string())?.copy_from_slice(&[1.5; 10]);
    if z.as_slice().unwrap() != [1.5; 10] {
        return Err("write guard".into());
    }
    let e = SharedArray::<u32>::from_slice(&[]).map_err(|e| e.to_string())?;
    if !e.is_empty() || !e.as_slice().unwrap().is_empty() {
        return Err("empty".into());
    }
    Ok(())
}

fn main() {
    zeroproc::init();
    let filter = std::env::args().nth(1).unwrap_or_default();
    if filter == "hang_forever" {
        // A kernel that loops forever, no limit: the call never returns (as rayon's).
        // Run by hand and stop with Ctrl-C: every worker must go with the controller.
        let p = pool();
        let mut y = SharedArray::<u32>::zeroed(1000).unwrap();
        println!("looping; pid {}", std::process::id());
        let r = p.for_each_chunk_mut(&mut y, 100, loops_in_chunk_2);
        println!("returned?! {r:?}");
        return;
    }
    let all: &[Scenario] = &[
        ("saxpy_10m", saxpy_10m),
        ("jacobi_2048", jacobi_2048),
        ("reductions", reductions),
        ("histogram", histogram),
        ("monte_carlo", monte_carlo),
        ("matrix_vector", matrix_vector),
        ("chunk_lengths", chunk_lengths),
        ("kernel_panics", kernel_panics),
        ("kernel_segfaults", kernel_segfaults),
        ("kernel_loops_time_limit", kernel_loops_time_limit),
        ("kernel_loops_job_time_limit", kernel_loops_job_time_limit),
        ("types", types),
        ("dropped_while_used", dropped_while_used),
        ("two_pools", two_pools),
        ("conversions", conversions),
        ("grouped_chunks", probes::grouped_chunks),
        ("shapes", probes::shapes),
        ("hung_call_terminated", probes::hung_call_terminated),
        ("dropped_mid_read", probes::dropped_mid_read),
        ("read_own_output", probes::read_own_output),
        ("zero_time_limit", probes::zero_time_limit),
        ("kernel_exits", probes::kernel_exits),
        ("huge_chunk_and_all_panic", probes::huge_chunk_and_all_panic),
        ("update_while_read", probes::update_while_read),
        ("over_aligned", probes::over_aligned),
        ("zero_sized_elements", probes::zero_sized_elements),
        ("input_dropped_mid_call", probes::input_dropped_mid_call),
    ];
    let (mut ok, mut bad) = (0, 0);
    let current = std::sync::Arc::new(std::sync::Mutex::new(("", Instant::now())));
    let watched = current.clone();
    std::thread::spawn(move || loop {
        // A hang is a bug: 60 s for any one scenario (they take under 2 s).
        std::thread::sleep(Duration::from_millis(200));
        let (name, since) = *watched.lock().unwrap();
        if since.elapsed() > Duration::from_secs(60) {
            println!("FAILED {name}: HANG (60 s)");
            std::process::exit(2);
        }
    });
    for (name, f) in all.iter().filter(|(n, _)| n.contains(&filter)) {
        *current.lock().unwrap() = (name, Instant::now());
        let t = Instant::now();
        match f() {
            Ok(()) => {
                ok += 1;
                println!("ok {name} ({:?})", t.elapsed());
            }
            Err(e) => {
                bad += 1;
                println!("FAILED {name}: {e}");
            }
        }
    }
    println!("{ok} passed, {bad} failed");
    std::process::exit(i32::from(bad > 0));
}
