//! An HPC / numeric user (rayon, numpy + `multiprocessing.shared_memory`, mpi4py): shared
//! arrays, the in-place chunk calls, stencils, reductions, imbalanced work, a shared
//! read-only table, and arrays created in a loop.

use crate::harness::{ensure, note, Outcome};
use std::ops::Range;
use std::time::Duration;
use zeroproc::shared::{bytemuck, RowBand};
use zeroproc::{ArrayHandle, ChunkMut, ForEachChunkError, JobError, Pool, SharedArray};

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn pool2() -> Result<Pool, String> {
    Pool::builder().workers(2).build().map_err(|e| format!("build: {e}"))
}

fn fill_index_f64(y: &mut [f64], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = i as f64 + 0.5;
    }
}

fn fill_index_u8(y: &mut [u8], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = (i % 251) as u8;
    }
}

fn fill_index_i64(y: &mut [i64], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = -(i as i64) * 3;
    }
}

fn double_f32(y: &mut [f32], x: &[f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = 2.0 * v;
    }
}

#[derive(bytemuck::Pod, bytemuck::Zeroable, Clone, Copy, Debug, PartialEq)]
#[bytemuck(crate = "zeroproc::shared::bytemuck")]
#[repr(C)]
struct Px {
    iters: u32,
    pid: u32,
}

fn label_rows(band: &mut [u32], b: RowBand) {
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        for (col, c) in cells.iter_mut().enumerate() {
            *c = (row * 1000 + col) as u32 + 1;
        }
    }
}

/// Edge sizes every numeric user hits: empty arrays, lengths not divisible by the chunk,
/// chunk 0, chunk longer than the array, one row, more bands than rows, all element types
/// (f32, f64, u8, i64, a `#[repr(C)]` struct). Each compared with what rayon's
/// `par_chunks_mut` does (empty: nothing runs, Ok; chunk 0: rayon panics, here an error).
pub fn hpc_edge_sizes() -> Outcome {
    let pool = pool2()?;
    // Empty array: rayon runs nothing; so must this.
    let mut e = SharedArray::<f64>::zeroed(0).map_err(s)?;
    pool.for_each_chunk_mut(&mut e, 10, fill_index_f64).map_err(|e| format!("empty: {e}"))?;
    let ex = SharedArray::<f32>::zeroed(0).map_err(s)?;
    let mut ey = SharedArray::<f32>::zeroed(0).map_err(s)?;
    pool.for_each_chunk_mut_with(&mut ey, &ex, 3, double_f32)
        .map_err(|e| format!("empty zip: {e}"))?;
    let mut eg = SharedArray::<u32>::zeroed(0).map_err(s)?;
    pool.for_each_row_band_mut(&mut eg, 5, 2, label_rows)
        .map_err(|e| format!("empty grid: {e}"))?;
    ensure(e.as_slice().map_err(s)?.is_empty(), || "empty readable".into())?;

    // Lengths not divisible by the chunk, chunk longer than the array, chunk 1.
    for (len, chunk) in [(1001usize, 100usize), (7, 1000), (5, usize::MAX), (13, 1), (4097, 1)] {
        let mut y = SharedArray::<f64>::zeroed(len).map_err(s)?;
        pool.for_each_chunk_mut(&mut y, chunk, fill_index_f64)
            .map_err(|e| format!("len {len} chunk {chunk}: {e}"))?;
        let v = y.as_slice().map_err(s)?;
        ensure(v.iter().enumerate().all(|(i, &x)| x == i as f64 + 0.5), || {
            format!("len {len} chunk {chunk}: wrong values")
        })?;
    }
    // chunk_len 0: rayon panics ("chunk_size must not be zero"); here an error naming it.
    let mut y = SharedArray::<f64>::zeroed(10).map_err(s)?;
    match pool.for_each_chunk_mut(&mut y, 0, fill_index_f64) {
        Err(ForEachChunkError::Split(zeroproc::shared::SharedError::BadChunkLen)) => {}
        other => return Err(format!("chunk 0: {other:?}")),
    }
    // Element types.
    let mut u = SharedArray::<u8>::zeroed(999).map_err(s)?;
    pool.for_each_chunk_mut(&mut u, 64, fill_index_u8).map_err(s)?;
    ensure(
        u.as_slice().map_err(s)?.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8),
        || "u8".into(),
    )?;
    let mut l = SharedArray::<i64>::zeroed(777).map_err(s)?;
    pool.for_each_chunk_mut(&mut l, 50, fill_index_i64).map_err(s)?;
    ensure(
        l.as_slice().map_err(s)?.iter().enumerate().all(|(i, &x)| x == -(i as i64) * 3),
        || "i64".into(),
    )?;
    let xf: Vec<f32> = (0..1000).map(|i| i as f32 * 0.25).collect();
    let x = SharedArray::from_slice(&xf).map_err(s)?;
    let mut yf = SharedArray::<f32>::zeroed(1000).map_err(s)?;
    pool.for_each_chunk_mut_with(&mut yf, &x, 33, double_f32).map_err(s)?;
    ensure(yf.as_slice().map_err(s)? == xf.iter().map(|v| 2.0 * v).collect::<Vec<_>>(), || {
        "f32 zip".into()
    })?;
    let x2 = SharedArray::<f32>::zeroed(999).map_err(s)?;
    match pool.for_each_chunk_mut_with(&mut yf, &x2, 33, double_f32) {
        Err(ForEachChunkError::LenMismatch { output: 1000, input: 999 }) => {}
        other => return Err(format!("len mismatch: {other:?}")),
    }

    // Row bands: one row, more bands than rows, band taller than the grid, odd remainder.
    for (rows, cols, band) in [(1usize, 17usize, 4usize), (3, 5, 1), (3, 5, 100), (10, 7, 3)] {
        let mut g = SharedArray::<u32>::zeroed(rows * cols).map_err(s)?;
        pool.for_each_row_band_mut(&mut g, cols, band, label_rows)
            .map_err(|e| format!("{rows}x{cols} band {band}: {e}"))?;
        let v = g.as_slice().map_err(s)?;
        ensure(
            (0..rows * cols).all(|i| v[i] == ((i / cols) * 1000 + i % cols) as u32 + 1),
            || format!("{rows}x{cols} band {band}: wrong values"),
        )?;
    }
    let mut g = SharedArray::<u32>::zeroed(12).map_err(s)?;
    match pool.for_each_row_band_mut(&mut g, 5, 1, label_rows) {
        Err(ForEachChunkError::Shape { len: 12, cols: 5 }) => {}
        other => return Err(format!("12 elements, 5 cols: {other:?}")),
    }
    match pool.for_each_row_band_mut(&mut g, 0, 1, label_rows) {
        Err(ForEachChunkError::Shape { len: 12, cols: 0 }) => {}
        other => return Err(format!("0 cols: {other:?}")),
    }
    // Band height 0: the error must name the band height, not a chunk length the user
    // never passed.
    let e = pool.for_each_row_band_mut(&mut g, 4, 0, label_rows).unwrap_err();
    let msg = e.to_string();
    ensure(msg.contains("band"), || format!("band_rows 0 says {msg:?} ({e:?})"))?;

    // A #[repr(C)] struct element.
    let mut p = SharedArray::<Px>::zeroed(100).map_err(s)?;
    pool.for_each_chunk_mut(&mut p, 9, |c: &mut [Px], r: Range<usize>| {
        for (v, i) in c.iter_mut().zip(r) {
            *v = Px { iters: i as u32, pid: std::process::id() };
        }
    })
    .map_err(s)?;
    let me = std::process::id();
    ensure(
        p.as_slice()
            .map_err(s)?
            .iter()
            .enumerate()
            .all(|(i, v)| v.iters == i as u32 && v.pid != me),
        || "struct elements".into(),
    )
}

fn panic_in_chunk_3(y: &mut [u32], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r.clone()) {
        if i == 35 {
            panic!("bad element {i}");
        }
        *v = i as u32 + 1;
    }
}

fn panic_at_element_50_005(y: &mut [u32], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r.clone()) {
        if i == 50_005 {
            panic!("bad element {i}");
        }
        *v = i as u32 + 1;
    }
}

fn set_one(y: &mut [u32], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = i as u32 + 1;
    }
}

/// A kernel that panics in one chunk: the error names that chunk and the message, the
/// other chunks are written, the array is readable and usable again afterwards; also with
/// more chunks than the claim table (grouped chunks), where the doc promises the same.
pub fn hpc_panic_in_one_chunk() -> Outcome {
    let pool = pool2()?;
    let mut y = SharedArray::<u32>::zeroed(100).map_err(s)?;
    let e = pool.for_each_chunk_mut(&mut y, 10, panic_in_chunk_3).unwrap_err();
    match &e {
        ForEachChunkError::Chunk {
            index: 3,
            range,
            error: JobError::Panicked { message },
            failed: 1,
        } if *range == (30..40) && message.contains("bad element 35") => {}
        other => return Err(format!("want chunk 3 panicked, got {other:?}")),
    }
    let v = y.as_slice().map_err(|e| format!("array unreadable after a failed chunk: {e}"))?;
    ensure((0..100).filter(|i| !(30..40).contains(i)).all(|i| v[i] == i as u32 + 1), || {
        "other chunks not written".into()
    })?;
    ensure((30..35).all(|i| v[i] == i as u32 + 1), || "chunk 3's writes before the panic".into())?;
    pool.for_each_chunk_mut(&mut y, 7, set_one).map_err(|e| format!("again: {e}"))?;
    ensure(y.as_slice().map_err(s)?.iter().enumerate().all(|(i, &v)| v == i as u32 + 1), || {
        "second run".into()
    })?;

    // 100,000 elements in chunks of 5: 20,000 chunks, more than the 4,096 claim words, so
    // chunks are grouped. The panic is in chunk 10,001 (elements 50,005..50,010).
    let n = 100_000;
    let mut y = SharedArray::<u32>::zeroed(n).map_err(s)?;
    pool.for_each_chunk_mut(&mut y, 5, set_one).map_err(|e| format!("grouped: {e}"))?;
    ensure(y.as_slice().map_err(s)?.iter().enumerate().all(|(i, &v)| v == i as u32 + 1), || {
        "grouped values".into()
    })?;
    let mut y = SharedArray::<u32>::zeroed(n).map_err(s)?;
    let e = pool.for_each_chunk_mut(&mut y, 5, panic_at_element_50_005).unwrap_err();
    let v = y.as_slice().map_err(s)?;
    let unwritten: Vec<usize> = (0..n).filter(|&i| v[i] != i as u32 + 1).collect();
    note(format!("grouped panic: {e}; unwritten elements {}", unwritten.len()));
    match &e {
        ForEachChunkError::Chunk { index: 10_001, range, failed: 1, .. }
            if *range == (50_005..50_010) => {}
        other => return Err(format!("grouped: want chunk 10001 (50005..50010), got {other}")),
    }
    ensure(unwritten == (50_005..50_010).collect::<Vec<_>>(), || {
        format!(
            "grouped: other chunks not written: {} unwritten elements, {:?}..",
            unwritten.len(),
            &unwritten[..unwritten.len().min(3)]
        )
    })
}

fn hang_in_chunk_2(y: &mut [u8], r: Range<usize>) {
    if r.start == 20 {
        loop {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    y.fill(1);
}

fn abort_in_chunk_1(y: &mut [u8], r: Range<usize>) {
    if r.start == 10 {
        std::process::abort();
    }
    y.fill(2);
}

fn sigkill_in_chunk_4(y: &mut [u8], r: Range<usize>) {
    y[0] = 9; // written before the death: may stay
    if r.start == 40 {
        // SAFETY: raising a signal on this process is always sound.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    y.fill(3);
}

#[inline(never)]
fn recurse(n: u64, buf: &mut [u8; 4096]) -> u64 {
    buf[0] = n as u8;
    let mut b = [0u8; 4096];
    std::hint::black_box(&mut b);
    if n == 0 {
        return 0;
    }
    recurse(n - 1, &mut b) + std::hint::black_box(buf[1]) as u64
}

fn overflow_in_chunk_0(y: &mut [u8], r: Range<usize>) {
    if r.start == 0 {
        let mut b = [0u8; 4096];
        y[0] = recurse(u64::MAX, &mut b) as u8;
    }
    y.fill(4);
}

/// A kernel that hangs (job time limit), aborts, is SIGKILLed, overflows its stack: the
/// call returns, names the right chunk and cause, the other chunks are written, the pool
/// and the array are usable afterwards (Python's ProcessPoolExecutor breaks the pool).
pub fn hpc_kernel_faults() -> Outcome {
    let pool = Pool::builder()
        .workers(2)
        .job_time_limit(Duration::from_millis(300))
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let mut y = SharedArray::<u8>::zeroed(60).map_err(s)?;
    let e = pool.for_each_chunk_mut(&mut y, 10, hang_in_chunk_2).unwrap_err();
    ensure(
        matches!(
            &e,
            ForEachChunkError::Chunk { index: 2, error: JobError::TimeLimit, failed: 1, .. }
        ),
        || format!("hang: {e:?}"),
    )?;
    let v = y.as_slice().map_err(s)?.to_vec();
    ensure(v.iter().enumerate().all(|(i, &x)| x == u8::from(!(20..30).contains(&i))), || {
        format!("hang: {v:?}")
    })?;

    let e = pool.for_each_chunk_mut(&mut y, 10, abort_in_chunk_1).unwrap_err();
    ensure(
        matches!(
            &e,
            ForEachChunkError::Chunk {
                index: 1,
                error: JobError::WorkerDied { signal: Some(6), .. },
                failed: 1,
                ..
            }
        ),
        || format!("abort: {e:?}"),
    )?;
    let e = pool.for_each_chunk_mut(&mut y, 10, sigkill_in_chunk_4).unwrap_err();
    ensure(
        matches!(
            &e,
            ForEachChunkError::Chunk {
                index: 4,
                error: JobError::WorkerDied { signal: Some(9), .. },
                failed: 1,
                ..
            }
        ),
        || format!("sigkill: {e:?}"),
    )?;
    let v = y.as_slice().map_err(s)?.to_vec();
    ensure(v.iter().enumerate().all(|(i, &x)| (40..50).contains(&i) || x == 3), || {
        format!("sigkill other chunks: {v:?}")
    })?;
    let e = pool.for_each_chunk_mut(&mut y, 10, overflow_in_chunk_0).unwrap_err();
    ensure(
        matches!(
            &e,
            ForEachChunkError::Chunk { index: 0, error: JobError::StackOverflow, failed: 1, .. }
        ),
        || format!("overflow: {e:?}"),
    )?;
    pool.for_each_chunk_mut(&mut y, 10, |c: &mut [u8], _| c.fill(5)).map_err(s)?;
    ensure(y.as_slice().map_err(s)?.iter().all(|&x| x == 5), || "after faults".into())
}

fn read_sum((h, hold_ms): (ArrayHandle<f64>, u64)) -> Result<(f64, f64), String> {
    let g = h.read().map_err(|e| e.to_string())?;
    let before: f64 = g.iter().sum();
    std::thread::sleep(Duration::from_millis(hold_ms));
    let after: f64 = g.iter().sum();
    Ok((before, after))
}

/// Handles misused the ways numpy users misuse shared memory: read after the array was
/// dropped (numpy: a closed block), the array dropped and a same-shape one created (the
/// kept segment is reused) while a job still reads the old one, and a read-only input
/// handed to two pools at once.
pub fn hpc_handles_after_drop_and_two_pools() -> Outcome {
    let pool = pool2()?;
    let a = SharedArray::from_slice(&[1.0f64; 4096]).map_err(s)?;
    let h = a.handle();
    drop(a);
    let r = pool.submit(read_sum, (h.clone(), 0)).result();
    ensure(matches!(&r, Ok(Err(m)) if m.contains("dropped")), || format!("after drop: {r:?}"))?;
    // A new array of the same shape takes the dropped one's segment (kept for reuse): the
    // old handle must still be refused, in a worker and here, not read the new values.
    let b = SharedArray::from_slice(&[7.0f64; 4096]).map_err(s)?;
    let r = pool.submit(read_sum, (h.clone(), 0)).result();
    ensure(matches!(&r, Ok(Err(m)) if m.contains("dropped")), || format!("old handle: {r:?}"))?;
    ensure(matches!(h.read(), Err(zeroproc::shared::SharedError::Dropped)), || {
        "old handle read the new array in the controller".into()
    })?;
    let r = pool.submit(read_sum, (b.handle(), 0)).result();
    ensure(r == Ok(Ok((7.0 * 4096.0, 7.0 * 4096.0))), || format!("new handle: {r:?}"))?;
    drop(b);

    // A job reading (holding its guard 300 ms) while the owner drops the array and makes a
    // new one of the same shape: the job must see the old values, unchanged.
    let a = SharedArray::from_slice(&[1.0f64; 4096]).map_err(s)?;
    let fut = pool.submit(read_sum, (a.handle(), 300));
    std::thread::sleep(Duration::from_millis(100));
    drop(a);
    let b = SharedArray::from_slice(&[2.0f64; 4096]).map_err(s)?;
    let r = fut.result().map_err(s)?;
    ensure(r == Ok((4096.0, 4096.0)), || format!("reader saw {r:?} while the owner re-used"))?;
    ensure(b.as_slice().map_err(s)?.iter().all(|&x| x == 2.0), || "new array".into())?;

    // One input, two pools, two threads, two outputs.
    let pool_b = pool2()?;
    let xv: Vec<f32> = (0..200_000).map(|i| (i % 1000) as f32).collect();
    let x = SharedArray::from_slice(&xv).map_err(s)?;
    let (r1, r2) = std::thread::scope(|sc| {
        let t1 = sc.spawn(|| -> Result<Vec<f32>, String> {
            let mut y = SharedArray::<f32>::zeroed(xv.len()).map_err(s)?;
            for _ in 0..5 {
                pool.for_each_chunk_mut_with(&mut y, &x, 10_000, double_f32).map_err(s)?;
            }
            Ok(y.as_slice().map_err(s)?.to_vec())
        });
        let t2 = sc.spawn(|| -> Result<Vec<f32>, String> {
            let mut y = SharedArray::<f32>::zeroed(xv.len()).map_err(s)?;
            for _ in 0..5 {
                pool_b.for_each_chunk_mut_with(&mut y, &x, 7_777, double_f32).map_err(s)?;
            }
            Ok(y.as_slice().map_err(s)?.to_vec())
        });
        (t1.join().unwrap(), t2.join().unwrap())
    });
    let want: Vec<f32> = xv.iter().map(|v| 2.0 * v).collect();
    ensure(r1? == want && r2? == want, || "two pools, one input".into())
}

// ---- Jacobi over row bands ----

const N: usize = 512;

/// One Jacobi sweep of rows `rows` of `next` from the whole of `cur` (fixed boundary).
fn jacobi_rows(cur: &[f64], next: &mut [f64], rows: Range<usize>) {
    for (k, r) in rows.enumerate() {
        let out = &mut next[k * N..(k + 1) * N];
        if r == 0 || r == N - 1 {
            out.copy_from_slice(&cur[r * N..(r + 1) * N]);
            continue;
        }
        out[0] = cur[r * N];
        out[N - 1] = cur[r * N + N - 1];
        for c in 1..N - 1 {
            out[c] = 0.25
                * (cur[(r - 1) * N + c]
                    + cur[(r + 1) * N + c]
                    + cur[r * N + c - 1]
                    + cur[r * N + c + 1]);
        }
    }
}

/// The job: a band of the next grid from the whole current grid (the halo rows are read
/// from the input handle; rayon: a closure capturing `&cur`).
fn jacobi_band((c, cur): (ChunkMut<f64>, ArrayHandle<f64>)) -> Result<(), String> {
    let cur = cur.read().map_err(|e| e.to_string())?;
    let mut g = c.write().map_err(|e| e.to_string())?;
    let r = g.range();
    jacobi_rows(&cur, &mut g, r.start / N..r.end / N);
    Ok(())
}

fn initial_grid() -> Vec<f64> {
    let mut g = vec![0.0; N * N];
    for c in 0..N {
        g[c] = 100.0; // hot top edge
        g[(N - 1) * N + c] = (c % 17) as f64;
    }
    for r in 0..N {
        g[r * N] = 50.0;
    }
    g
}

/// 100 Jacobi iterations on a 512×512 grid, bands of rows as jobs, swapping two arrays —
/// by hand (chunk handles + the previous grid's handle) and with
/// `for_each_row_band_mut_with` — compared bit for bit with a serial run.
pub fn hpc_jacobi_bit_for_bit() -> Outcome {
    let pool = pool2()?;
    let init = initial_grid();
    let mut a = SharedArray::from_slice(&init).map_err(s)?;
    let mut b = SharedArray::<f64>::zeroed(N * N).map_err(s)?;
    for it in 0..100 {
        let (cur, next) = if it % 2 == 0 { (&a, &mut b) } else { (&b, &mut a) };
        let h = cur.handle();
        let chunks = next.chunks_mut(37 * N).map_err(s)?; // 14 bands, last one shorter
        for r in pool.map(jacobi_band, chunks.into_iter().map(|c| (c, h.clone()))) {
            r.map_err(|e| format!("iteration {it}: {e}"))?
                .map_err(|e| format!("iteration {it}: {e}"))?;
        }
    }
    let mut cur = init.clone();
    let mut next = vec![0.0; N * N];
    for _ in 0..100 {
        jacobi_rows(&cur, &mut next, 0..N);
        std::mem::swap(&mut cur, &mut next);
    }
    let got = a.as_slice().map_err(s)?;
    let diff = got.iter().zip(&cur).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
    ensure(diff == 0, || format!("chunk handles: {diff} cells differ from the serial run"))?;

    // The same with the one-call form (bands of 37 rows, the whole input to each band).
    let mut a = SharedArray::from_slice(&init).map_err(s)?;
    let mut b = SharedArray::<f64>::zeroed(N * N).map_err(s)?;
    for it in 0..100 {
        pool.for_each_row_band_mut_with(&mut b, &a, N, 37, jacobi_band_kernel)
            .map_err(|e| format!("row bands, iteration {it}: {e}"))?;
        std::mem::swap(&mut a, &mut b);
    }
    let got = a.as_slice().map_err(s)?;
    let diff = got.iter().zip(&cur).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
    ensure(diff == 0, || format!("row bands: {diff} cells differ from the serial run"))
}

fn jacobi_band_kernel(next: &mut [f64], cur: &[f64], b: RowBand) {
    jacobi_rows(cur, next, b.rows);
}

fn chunk_sum((h, r): (ArrayHandle<f64>, (u64, u64))) -> Result<f64, String> {
    let x = h.read().map_err(|e| e.to_string())?;
    Ok(x[r.0 as usize..r.1 as usize].iter().sum())
}

fn square(y: &mut [f64], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        let t = (i as f64).sqrt() * 1e-3;
        *v = t * t;
    }
}

/// A chunked map-reduce (a `for_each_chunk_mut` then per-chunk sums by `map`) against the
/// same chunked sum done serially: equal bit for bit (same association), and close to the
/// naive serial sum.
pub fn hpc_chunked_reduction() -> Outcome {
    let pool = pool2()?;
    let n = 1_000_003usize;
    let mut y = SharedArray::<f64>::zeroed(n).map_err(s)?;
    pool.for_each_chunk_mut(&mut y, 65_536, square).map_err(s)?;
    let c = 10_000usize;
    let ranges: Vec<(u64, u64)> =
        (0..n.div_ceil(c)).map(|k| ((k * c) as u64, ((k + 1) * c).min(n) as u64)).collect();
    let h = y.handle();
    let parts: Vec<f64> = pool
        .map(chunk_sum, ranges.iter().map(|&r| (h.clone(), r)))
        .map(|r| r.map_err(s).and_then(|x| x))
        .collect::<Result<_, _>>()?;
    let total: f64 = parts.iter().sum();
    let mut serial = vec![0.0; n];
    square(&mut serial, 0..n);
    let want: f64 = serial.chunks(c).map(|ch| ch.iter().sum::<f64>()).sum();
    ensure(y.as_slice().map_err(s)? == &serial[..], || "squares differ".into())?;
    ensure(total.to_bits() == want.to_bits(), || format!("sum {total} vs serial {want}"))
}

fn mandel_band(band: &mut [Px], b: RowBand) {
    // The band knows the whole grid: the image is scaled to its width and height.
    let (w, h) = (b.cols as f64, b.grid_rows as f64);
    let pid = std::process::id();
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        for (col, px) in cells.iter_mut().enumerate() {
            let (cr, ci) = (col as f64 / w * 3.0 - 2.0, row as f64 / h * 2.0 - 1.0);
            let (mut zr, mut zi, mut k) = (0.0f64, 0.0f64, 0u32);
            while k < 500 && zr * zr + zi * zi <= 4.0 {
                (zr, zi) = (zr * zr - zi * zi + cr, 2.0 * zr * zi + ci);
                k += 1;
            }
            *px = Px { iters: k, pid };
        }
    }
}

/// Mandelbrot 256×384 with one row per band (rows near the set cost ~100× the edge rows):
/// right answers, and every worker got rows.
pub fn hpc_mandelbrot_imbalance() -> Outcome {
    let pool = pool2()?;
    let (rows, cols) = (256usize, 384usize);
    let mut img = SharedArray::<Px>::zeroed(rows * cols).map_err(s)?;
    pool.for_each_row_band_mut(&mut img, cols, 1, mandel_band).map_err(s)?;
    let mut serial = vec![Px { iters: 0, pid: 0 }; rows * cols];
    mandel_band(&mut serial, RowBand::of_elements(0..rows * cols, cols, rows * cols).unwrap());
    let got = img.as_slice().map_err(s)?;
    ensure(got.iter().zip(&serial).all(|(a, b)| a.iters == b.iters), || {
        "iterations differ".into()
    })?;
    let mut pids: Vec<u32> = got.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    note(format!("rows computed by {} worker process(es)", pids.len()));
    ensure(pids.len() == 2, || format!("work went to {} workers, want 2", pids.len()))
}

#[zeroproc::data]
struct Table {
    scale: f64,
    weights: Vec<f64>,
}

fn use_table((t, i): (zeroproc::SharedValue<Table>, u64)) -> f64 {
    let t = t.get().unwrap();
    let w = &t.weights;
    let k = i as usize * 997 % w.len();
    w[k].to_native() * t.scale.to_native() + w.len() as f64
}

/// `pool.share` of a 32 MiB read-only table read by every job (numpy: a shared_memory
/// block attached in each worker).
pub fn hpc_shared_table() -> Outcome {
    let pool = pool2()?;
    let n = 4 << 20;
    let weights: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let t = pool.share(&Table { scale: 2.0, weights }).map_err(s)?;
    let got: Vec<f64> = pool
        .map(use_table, (0..2000u64).map(|i| (t.clone(), i)))
        .map(|r| r.map_err(s))
        .collect::<Result<_, _>>()?;
    let want: Vec<f64> =
        (0..2000usize).map(|i| ((i * 997 % n) as f64 * 0.5) * 2.0 + n as f64).collect();
    ensure(got == want, || "table lookups differ".into())?;
    drop(t);

    // Tables shared and dropped in a loop (a new model per epoch): descriptors bounded in
    // the controller and in the workers.
    let me = std::process::id();
    let fd0 = fd_count(me);
    let mut pids = std::collections::BTreeMap::new();
    for epoch in 0..100u64 {
        let t =
            pool.share(&Table { scale: epoch as f64, weights: vec![1.0; 1 << 14] }).map_err(s)?;
        for r in pool.map(table_pid, (0..4).map(|_| t.clone())) {
            let (pid, v) = r.map_err(s)?;
            ensure(v == epoch as f64, || format!("epoch {epoch}: read {v}"))?;
            let f = fd_count(pid);
            pids.entry(pid).or_insert((f, f)).1 = f;
        }
    }
    let fd1 = fd_count(me);
    note(format!("100 shared tables: controller fds {fd0} -> {fd1}, workers {pids:?}"));
    ensure(fd1 <= fd0 + 8, || format!("controller fds {fd0} -> {fd1}"))?;
    ensure(pids.values().all(|&(a, b)| b <= a + 8), || format!("worker fds {pids:?}"))
}

fn table_pid(t: zeroproc::SharedValue<Table>) -> (u32, f64) {
    (std::process::id(), t.get().unwrap().scale.to_native())
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    st.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn touch_all((h, _i): (ArrayHandle<u8>, u64)) -> Result<(u32, u64), String> {
    let x = h.read().map_err(|e| e.to_string())?;
    Ok((std::process::id(), x.iter().map(|&v| v as u64).sum()))
}

/// 300 arrays of 60 distinct lengths (up to 4 MiB) created, read by jobs and dropped: the
/// controller's and the workers' descriptors and RSS stay bounded (numpy: unlink each block).
pub fn hpc_array_churn_leaks_nothing() -> Outcome {
    let pool = pool2()?;
    let me = std::process::id();
    let mut worker_pids = std::collections::BTreeSet::new();
    let (fd0, rss0) = (fd_count(me), rss_kib(me));
    let mut worker_fd0 = std::collections::BTreeMap::new();
    for round in 0..300usize {
        let len = (round % 60 + 1) * 65_536 + round % 7;
        let a = SharedArray::from_slice(&vec![1u8; len]).map_err(s)?;
        let outs: Vec<(u32, u64)> = pool
            .map(touch_all, (0..2u64).map(|i| (a.handle(), i)))
            .map(|r| r.map_err(s).and_then(|x| x))
            .collect::<Result<_, _>>()?;
        for (pid, sum) in outs {
            if sum != len as u64 {
                return Err(format!("round {round}: sum {sum} != {len}"));
            }
            if worker_pids.insert(pid) {
                worker_fd0.insert(pid, fd_count(pid));
            }
        }
        drop(a);
    }
    let (fd1, rss1) = (fd_count(me), rss_kib(me));
    note(format!("controller fds {fd0} -> {fd1}, RSS {rss0} -> {rss1} KiB"));
    let mut worse = Vec::new();
    for (&pid, &f0) in &worker_fd0 {
        let (f1, r1) = (fd_count(pid), rss_kib(pid));
        note(format!("worker {pid}: fds {f0} -> {f1}, RSS {r1} KiB"));
        if f1 > f0 + 64 || r1 > 512 * 1024 {
            worse.push(format!("worker {pid}: fds {f0}->{f1}, RSS {r1} KiB"));
        }
    }
    ensure(fd1 <= fd0 + 16, || format!("controller fds grew {fd0} -> {fd1}"))?;
    // Kept segments: at most 1 GiB by default (8 segments of up to 4 MiB here).
    ensure(rss1 <= rss0 + 128 * 1024, || format!("controller RSS grew {rss0} -> {rss1} KiB"))?;
    ensure(worse.is_empty(), || worse.join("; "))
}

fn read_then_die((h, _): (ArrayHandle<f64>, u64)) -> f64 {
    let g = h.read().expect("read");
    let s: f64 = g.iter().sum();
    if s > 0.0 {
        // SAFETY: raising a signal on this process is always sound.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    s
}

fn slow_read((h, ms): (ArrayHandle<f64>, u64)) -> f64 {
    let g = h.read().expect("read");
    std::thread::sleep(Duration::from_millis(ms));
    g.iter().sum()
}

fn add_one(y: &mut [f64], _r: Range<usize>) {
    y.iter_mut().for_each(|v| *v += 1.0);
}

/// Readers and the owner: a job reading the array while the owner starts a kernel over it
/// (refused, naming the reader: numpy would race), a reader killed holding its guard (the
/// owner can write again: a dead reader must not block for ever), sizes past the address
/// space (`TooLarge`, nothing allocated), one pool driven from two threads at once, and a
/// pool shut down before the call (every chunk fails, no hang).
pub fn hpc_readers_owner_and_shutdown() -> Outcome {
    let pool = pool2()?;
    let mut y = SharedArray::from_slice(&[1.0f64; 10_000]).map_err(s)?;
    let fut = pool.submit(slow_read, (y.handle(), 400));
    // Wait until the job holds its guard: the owner's write is refused then.
    let held = crate::harness::poll_until(Duration::from_secs(5), || {
        matches!(y.write(), Err(zeroproc::shared::SharedError::ReadersActive { .. }))
    });
    ensure(held, || "the reader never showed".into())?;
    match pool.for_each_chunk_mut(&mut y, 1000, add_one) {
        Err(ForEachChunkError::Split(zeroproc::shared::SharedError::ReadersActive { pid }))
            if pid != std::process::id() => {}
        other => return Err(format!("kernel while a job reads: {other:?}")),
    }
    ensure(fut.result() == Ok(10_000.0), || "reader's sum".into())?;
    pool.for_each_chunk_mut(&mut y, 1000, add_one).map_err(|e| format!("after the reader: {e}"))?;
    ensure(y.as_slice().map_err(s)?.iter().all(|&v| v == 2.0), || "add_one".into())?;

    // A reader killed holding its guard.
    let r = pool.submit(read_then_die, (y.handle(), 0)).result();
    ensure(matches!(r, Err(JobError::WorkerDied { .. })), || format!("read_then_die: {r:?}"))?;
    let w = crate::harness::poll_until(Duration::from_secs(2), || y.write().is_ok());
    ensure(w, || format!("owner still refused after its reader died: {:?}", y.write().err()))?;
    pool.for_each_chunk_mut(&mut y, 999, add_one)
        .map_err(|e| format!("after a dead reader: {e}"))?;

    // Too large for the address space: refused before anything is mapped.
    match SharedArray::<f64>::zeroed(usize::MAX / 4) {
        Err(zeroproc::shared::SharedError::TooLarge) => {}
        other => return Err(format!("usize::MAX/4 f64s: {other:?}")),
    }

    // One pool, two threads, two kernels at once.
    let (a, b) = std::thread::scope(|sc| {
        let t = |k: f64| {
            let pool = &pool;
            sc.spawn(move || -> Result<bool, String> {
                let mut y = SharedArray::from_slice(&vec![k; 50_000]).map_err(s)?;
                for _ in 0..10 {
                    pool.for_each_chunk_mut(&mut y, 1234, add_one).map_err(s)?;
                }
                Ok(y.as_slice().map_err(s)?.iter().all(|&v| v == k + 10.0))
            })
        };
        let (t1, t2) = (t(1.0), t(100.0));
        (t1.join().unwrap(), t2.join().unwrap())
    });
    ensure(a? && b?, || "two threads, one pool: wrong values".into())?;

    // After shutdown: an error for every chunk, at once, and the array readable.
    pool.shutdown();
    let mut z = SharedArray::<f64>::zeroed(100).map_err(s)?;
    match pool.for_each_chunk_mut(&mut z, 10, add_one) {
        Err(ForEachChunkError::Chunk {
            index: 0, error: JobError::Shutdown, failed: 10, ..
        }) => {}
        other => return Err(format!("after shutdown: {other:?}")),
    }
    ensure(z.as_slice().is_ok(), || "array after a refused call".into())
}

fn make_array_in_job(n: u64) -> ArrayHandle<f64> {
    let a = SharedArray::from_slice(&vec![1.5; n as usize]).expect("create in a worker");
    a.handle() // the array drops when the job returns
}

fn grouped_rows(next: &mut [u32], cur: &[u32], b: RowBand) {
    // Each cell := the sum of the column above it in `cur` (reads rows outside the band).
    for (r, out) in b.rows.zip(next.chunks_exact_mut(b.cols)) {
        for (c, o) in out.iter_mut().enumerate() {
            *o = (0..r).map(|k| cur[k * b.cols + c]).sum();
        }
    }
}

/// An array created inside a job and its handle returned (Python: a `SharedMemory` made
/// in a worker, its name returned — alive until unlinked): here the array dropped with the
/// job, so the controller's read fails, with a message saying the owner dropped or exited.
/// Also a band kernel over more bands than claim words, reading the whole input.
pub fn hpc_array_made_in_a_job_and_grouped_bands() -> Outcome {
    let pool = pool2()?;
    let h = pool.submit(make_array_in_job, 1000).result().map_err(s)?;
    let e = h.read().map(|g| g.len()).unwrap_err();
    let msg = e.to_string();
    note(format!("controller reading a job's dropped array: {msg}"));
    ensure(msg.contains("dropped") || msg.contains("exited") || msg.contains("gone"), || {
        format!("the error does not say the array is gone: {msg} ({e:?})")
    })?;

    let (rows, cols) = (6000usize, 2usize);
    let x = SharedArray::from_slice(&vec![1u32; rows * cols]).map_err(s)?;
    let mut y = SharedArray::<u32>::zeroed(rows * cols).map_err(s)?;
    pool.for_each_row_band_mut_with(&mut y, &x, cols, 1, grouped_rows).map_err(s)?;
    let v = y.as_slice().map_err(s)?;
    ensure((0..rows * cols).all(|i| v[i] == (i / cols) as u32), || "grouped bands".into())
}

/// Arrays past the machine's memory: numpy's `np.zeros(huge)` overcommits and dies on
/// touch; a `SharedArray` reserves its pages, so it is an error at creation naming memory,
/// and the process lives on (also under a cgroup limit: crates/shm/tests).
pub fn hpc_arrays_past_memory_are_errors() -> Outcome {
    let e = SharedArray::<f64>::zeroed(1 << 37).map(|a| a.len()).unwrap_err(); // 1 TiB
    let msg = e.to_string();
    note(format!("1 TiB array: {msg}"));
    ensure(
        matches!(e, zeroproc::shared::SharedError::Create(_)) && msg.contains("not enough"),
        || format!("1 TiB array: {msg} ({e:?})"),
    )?;
    let a = SharedArray::<f64>::zeroed(1 << 20).map_err(|e| format!("after: {e}"))?;
    ensure(a.len() == 1 << 20, || "a normal array after the refusal".into())
}

fn hang_forever_in_chunk_0(y: &mut [u8], r: Range<usize>) {
    if r.start == 0 {
        loop {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    y.fill(7);
}

fn write_chunk_in_process((c, v): (ChunkMut<u8>, u8)) {
    c.write().expect("claim").fill(v);
}

fn die_holding_chunk(c: ChunkMut<u8>) {
    let mut g = c.write().expect("claim");
    g[0] = 1;
    // SAFETY: raising a signal on this process is always sound.
    unsafe { libc::raise(libc::SIGKILL) };
}

/// A kernel hung without a time limit, stopped by `pool.terminate()` from another thread
/// (mpi4py: `MPI.Abort`; Python's `Pool.terminate`): the call returns, naming the
/// cancelled chunk, the array is readable. Chunks written by `Process` children (nested
/// use of chunk handles), one child killed holding its chunk: `wait_chunks` times out
/// naming it, `abandon_chunks` makes the array readable.
pub fn hpc_terminate_and_process_writers() -> Outcome {
    let pool = pool2()?;
    let mut y = SharedArray::<u8>::zeroed(40).map_err(s)?;
    let r = std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            pool.terminate();
        });
        pool.for_each_chunk_mut(&mut y, 10, hang_forever_in_chunk_0)
    });
    note(format!("terminated kernel: {r:?}"));
    match &r {
        Err(ForEachChunkError::Chunk { index: 0, error: JobError::Cancelled, .. }) => {}
        other => return Err(format!("after terminate: {other:?}")),
    }
    let v = y.as_slice().map_err(|e| format!("unreadable after terminate: {e}"))?;
    ensure(v[..10].iter().all(|&x| x == 0), || format!("chunk 0: {v:?}"))?;

    let mut z = SharedArray::<u8>::zeroed(30).map_err(s)?;
    let mut chunks = z.chunks_mut(10).map_err(s)?.into_iter();
    let mut kids = Vec::new();
    for v in [3u8, 4] {
        let c = chunks.next().unwrap();
        kids.push(zeroproc::Process::spawn(write_chunk_in_process, (c, v)).map_err(s)?);
    }
    let mut killer =
        zeroproc::Process::spawn(die_holding_chunk, chunks.next().unwrap()).map_err(s)?;
    for k in &mut kids {
        k.join().map_err(s)?;
    }
    let _ = killer.join();
    match z.wait_chunks(Duration::from_millis(300)) {
        Err(zeroproc::shared::SharedError::Timeout { pending: 1 }) => {}
        other => return Err(format!("wait with a dead writer: {other:?}")),
    }
    z.abandon_chunks().map_err(|e| format!("abandon: {e}"))?;
    let v = z.as_slice().map_err(s)?;
    ensure(v[..10].iter().all(|&x| x == 3) && v[10..20].iter().all(|&x| x == 4), || {
        format!("process-written chunks: {v:?}")
    })
}

/// daxpy with `alpha` from the command line or the environment, as a rayon user writes it.
fn daxpy(y: &mut [f64], x: &[f64], alpha: &f64) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// A time step's parameters, known at run time.
#[zeroproc::data]
#[derive(Clone, Debug)]
struct Decay {
    rate: f64,
    dt: f64,
}

fn decay(y: &mut [f64], _: Range<usize>, d: &Decay) {
    y.iter_mut().for_each(|v| *v -= d.rate * d.dt * *v);
}

fn hang_in_chunk_1(y: &mut [u8], r: Range<usize>, v: &u8) {
    y.fill(*v);
    if r.start == 10 {
        loop {
            std::hint::spin_loop();
        }
    }
}

/// Run-time parameters reach in-place kernels (`pool.in_place(&mut y).args(p)`: rayon's
/// captured `alpha`, Python's `partial`), bit for bit against the sequential loop; a call
/// time limit stops a kernel that never ends, the array reads, the pool goes on.
pub fn hpc_run_time_parameters_and_call_time_limit() -> Outcome {
    let pool = pool2()?;
    let n = 50_001;
    let x0: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
    let y0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.5).cos()).collect();
    let alpha: f64 = std::env::var("ALPHA").map_or(-1.75, |a| a.parse().unwrap_or(-1.75));
    let mut want = y0.clone();
    daxpy(&mut want, &x0, &alpha);
    let x = SharedArray::from_slice(&x0).map_err(s)?;
    let mut y = SharedArray::from_slice(&y0).map_err(s)?;
    pool.in_place(&mut y).args(alpha).for_each_chunk_mut_with(&x, 4096, daxpy).map_err(s)?;
    let same = y.as_slice().map_err(s)?.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
    ensure(same, || "daxpy differs from the sequential loop".into())?;

    let d = Decay { rate: 0.5, dt: 0.1 };
    pool.in_place(&mut y).args(d.clone()).for_each_chunk_mut(1000, decay).map_err(s)?;
    want.iter_mut().for_each(|v| *v -= d.rate * d.dt * *v);
    ensure(y.as_slice().map_err(s)? == &want[..], || "decay differs".into())?;

    let mut z = SharedArray::<u8>::zeroed(60).map_err(s)?;
    let t0 = std::time::Instant::now();
    let r = pool
        .in_place(&mut z)
        .args(3u8)
        .time_limit(Duration::from_millis(300))
        .for_each_chunk_mut(10, hang_in_chunk_1);
    let took = t0.elapsed();
    match &r {
        Err(ForEachChunkError::TimeLimit { failed: 1.., .. }) => {}
        other => return Err(format!("time limit: {other:?}")),
    }
    note(format!("the call returned {took:?} after its start (limit 300 ms): {}", r.unwrap_err()));
    ensure(took < Duration::from_secs(30), || format!("took {took:?}"))?;
    let v = z.as_slice().map_err(s)?.to_vec();
    ensure(v[10..20].iter().all(|&b| b == 3), || format!("the stopped chunk: {v:?}"))?;
    ensure(v.iter().all(|&b| b == 0 || b == 3), || format!("after the limit: {v:?}"))?;
    ensure(pool.submit(|a: u8| a + 1, 1).result() == Ok(2), || "pool after the limit".into())
}
