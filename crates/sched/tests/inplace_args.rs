//! In-place calls with a run-time parameter and a per-call time limit
//! (`pool.in_place(&mut y).args(p).time_limit(d).for_each_*`), with real worker processes:
//! the parameter reaches every kernel call of every shape, and a kernel that never ends is
//! stopped at the limit, its worker replaced, the array left readable as documented.

use std::ops::Range;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zeroproc_mp::shared::RowBand;
use zeroproc_mp::SharedArray;
use zeroproc_sched::{ForEachChunkError, Pool};

zeroproc_sched::test_worker!();

fn pool() -> Pool {
    Pool::builder().workers(2).build().expect("pool")
}

/// Deterministic values in [-1, 1) (a 64-bit LCG), so the comparison is bit for bit.
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// BLAS axpy on one chunk: y += alpha · x.
fn axpy(y: &mut [f64], x: &[f64], alpha: &f64) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[test]
fn axpy_with_a_run_time_alpha_matches_the_sequential_loop_bit_for_bit() {
    let p = pool();
    let n = 100_003;
    let (x0, y0) = (values(n, 1), values(n, 2));
    // Known only at run time: not a constant the compiler could fold into the kernel.
    let alpha = std::f64::consts::PI * (std::env::args().count() as f64).sqrt();
    let mut want = y0.clone();
    axpy(&mut want, &x0, &alpha);
    let x = SharedArray::from_slice(&x0).unwrap();
    // 7: more chunks than the array's claim words (grouped jobs); n: one chunk.
    for chunk_len in [7, 1000, 4096, n] {
        let mut y = SharedArray::from_slice(&y0).unwrap();
        p.in_place(&mut y).args(alpha).for_each_chunk_mut_with(&x, chunk_len, axpy).unwrap();
        let got = y.as_slice().unwrap();
        let bad = got.iter().zip(&want).position(|(g, w)| g.to_bits() != w.to_bits());
        assert_eq!(bad, None, "chunk_len {chunk_len}: differs from the sequential loop");
    }
}

/// A parameter of several fields, as `#[zeroproc::data]` derives it.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug)]
struct Affine {
    scale: f64,
    shift: f64,
    label: String,
}

fn affine(y: &mut [f64], r: Range<usize>, a: &Affine) {
    assert_eq!(a.label, "affine", "the struct arrives whole");
    for (v, i) in y.iter_mut().zip(r) {
        *v = a.scale * i as f64 + a.shift;
    }
}

#[test]
fn a_struct_parameter_reaches_every_chunk() {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(1001).unwrap();
    let a = Affine { scale: 0.5, shift: -3.0, label: "affine".into() };
    p.in_place(&mut y).args(a.clone()).for_each_chunk_mut(64, affine).unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &y)| y == a.scale * i as f64 + a.shift));
}

/// Horner's polynomial with coefficients `c` (highest first) at each element's index.
#[allow(clippy::ptr_arg)] // the kernel gets `&P`, and P is a `Vec`
fn poly(y: &mut [f64], r: Range<usize>, c: &Vec<f64>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = c.iter().fold(0.0, |acc, k| acc * i as f64 + k);
    }
}

/// Each cell := row · 1000 + col, times `k`.
fn label_times(band: &mut [u64], b: RowBand, k: &u64) {
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        for (col, c) in cells.iter_mut().enumerate() {
            *c = (row * 1000 + col) as u64 * k;
        }
    }
}

/// Each cell := w.0 · (the cell above in `cur`, or 0) + w.1 · (the cell itself).
fn weighted(next: &mut [f64], cur: &[f64], b: RowBand, w: &(f64, f64)) {
    let n = b.cols;
    for (r, out) in b.rows.zip(next.chunks_exact_mut(n)) {
        for (c, o) in out.iter_mut().enumerate() {
            let up = if r == 0 { 0.0 } else { cur[(r - 1) * n + c] };
            *o = w.0 * up + w.1 * cur[r * n + c];
        }
    }
}

#[test]
fn each_of_the_four_shapes_gets_the_parameter() {
    let p = pool();
    // Chunks, a `Vec` of coefficients: i² − 2i + 3.
    let mut y = SharedArray::<f64>::zeroed(999).unwrap();
    p.in_place(&mut y).args(vec![1.0, -2.0, 3.0]).for_each_chunk_mut(50, poly).unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &y)| y == (i * i) as f64 - 2.0 * i as f64 + 3.0));
    // Chunks with an input (axpy): tested bit for bit above; here with a negative alpha.
    let x = SharedArray::from_slice(&[4.0; 300]).unwrap();
    let mut y = SharedArray::from_slice(&[1.0; 300]).unwrap();
    p.in_place(&mut y).args(-0.25).for_each_chunk_mut_with(&x, 32, axpy).unwrap();
    assert!(y.as_slice().unwrap().iter().all(|&v| v == 0.0));
    // Row bands, a `u64`.
    let (rows, cols) = (23, 7);
    let mut g = SharedArray::<u64>::zeroed(rows * cols).unwrap();
    p.in_place(&mut g).args(3u64).for_each_row_band_mut(cols, 4, label_times).unwrap();
    let v = g.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &c)| c == ((i / cols) * 1000 + i % cols) as u64 * 3));
    // Row bands with the whole input, a tuple.
    let cur0: Vec<f64> = (0..rows * cols).map(|i| i as f64).collect();
    let cur = SharedArray::from_slice(&cur0).unwrap();
    let mut next = SharedArray::<f64>::zeroed(rows * cols).unwrap();
    let w = (0.5, 2.0);
    p.in_place(&mut next).args(w).for_each_row_band_mut_with(&cur, cols, 3, weighted).unwrap();
    let v = next.as_slice().unwrap();
    for (i, &got) in v.iter().enumerate() {
        let up = if i < cols { 0.0 } else { cur0[i - cols] };
        assert_eq!(got, w.0 * up + w.1 * cur0[i], "cell {i}");
    }
}

/// Fills its chunk with 2, then never ends if the chunk starts at 32 or later.
fn fill_then_spin_from_32(y: &mut [u32], r: Range<usize>, _: &()) {
    y.fill(2);
    if r.start >= 32 {
        loop {
            std::hint::spin_loop();
        }
    }
}

/// Runs `f` on a thread of its own and waits at most `bound` for it: a hang fails the
/// test instead of hanging it.
fn within<R: Send + 'static>(bound: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound).unwrap_or_else(|_| panic!("hung: not done within {bound:?}"))
}

#[test]
fn a_kernel_that_never_ends_is_stopped_at_the_time_limit() {
    let (pool, mut y, e, took) = within(Duration::from_secs(60), || {
        let pool = pool();
        let mut y = SharedArray::from_slice(&[1u32; 128]).unwrap();
        let t0 = Instant::now();
        let e = pool
            .in_place(&mut y)
            .time_limit(Duration::from_millis(500))
            .for_each_chunk_mut(16, fill_then_spin_from_32)
            .unwrap_err();
        (pool, y, e, t0.elapsed())
    });
    // Generous: the limit, the kills and the reaping; not a speed assertion.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let ForEachChunkError::TimeLimit { limit, failed } = e else { panic!("{e}") };
    assert_eq!(limit, Duration::from_millis(500));
    let text = e.to_string();
    assert!(text.contains("time limit") && text.contains("500ms"), "{text}");
    // Readable: each chunk finished or was stopped (all 2: the kernel fills, then spins)
    // or never started (all 1, its old values). The 6 chunks from 32 on never finish.
    let v = y.as_slice().unwrap().to_vec();
    let chunks: Vec<&[u32]> = v.chunks(16).collect();
    for (i, c) in chunks.iter().enumerate() {
        assert!(c.iter().all(|&x| x == c[0]) && (c[0] == 1 || c[0] == 2), "chunk {i}: {c:?}");
    }
    let untouched = chunks.iter().filter(|c| c[0] == 1).count();
    assert!((6..=8).contains(&failed) && untouched <= failed, "{failed} failed, {untouched}");
    // The pool goes on (the killed workers were replaced), and `y` can be split again.
    assert_eq!(pool.submit(|x: u32| x + 1, 41).result(), Ok(42));
    pool.in_place(&mut y).args(7u32).for_each_chunk_mut(16, |c, _, k| c.fill(*k)).unwrap();
    assert!(y.as_slice().unwrap().iter().all(|&x| x == 7));
}

/// Never ends on the element at index 5,000 (a call of chunks of one element: grouped).
fn spin_at_5000(y: &mut [u8], r: Range<usize>, k: &u8) {
    y.fill(*k);
    if r.start == 5000 {
        loop {
            std::hint::spin_loop();
        }
    }
}

#[test]
fn the_time_limit_stops_grouped_chunks_too() {
    let (pool, y, r) = within(Duration::from_secs(60), || {
        let pool = pool();
        let mut y = SharedArray::<u8>::zeroed(20_000).unwrap();
        let r = pool
            .in_place(&mut y)
            .args(9u8)
            .time_limit(Duration::from_millis(300))
            .for_each_chunk_mut(1, spin_at_5000);
        (pool, y, r)
    });
    match r {
        Err(ForEachChunkError::TimeLimit { failed, .. }) => assert!(failed >= 1, "{failed}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(y.as_slice().unwrap()[5000], 9, "written before its worker was killed");
    assert!(y.as_slice().unwrap().iter().all(|&v| v == 0 || v == 9));
    assert_eq!(pool.submit(|x: u8| x * 2, 4).result(), Ok(8));
}

#[test]
fn a_time_limit_that_does_not_strike_changes_nothing() {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(10_000).unwrap();
    let coefficients = vec![2.0, 1.0]; // 2i + 1
    p.in_place(&mut y)
        .args(coefficients)
        .time_limit(Duration::from_secs(60))
        .for_each_chunk_mut(100, poly)
        .unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &y)| y == 2.0 * i as f64 + 1.0));
}

/// Counts up in the first element of its chunk for ever (a volatile write each time, so
/// the stores are not merged).
fn count_for_ever(y: &mut [u64], _: Range<usize>, _: &()) {
    let p = y.as_mut_ptr();
    let mut n = 0u64;
    loop {
        n = n.wrapping_add(1);
        // SAFETY: `p` is the chunk's first element, which this job holds for writing.
        unsafe { std::ptr::write_volatile(p, n) };
    }
}

#[test]
fn nothing_writes_the_array_after_the_call_returns() {
    // The pool is kept alive while `y` is watched: its drop would stop any worker.
    let (_pool, y, e) = within(Duration::from_secs(60), || {
        let pool = pool();
        let mut y = SharedArray::<u64>::zeroed(4 * 1024).unwrap();
        let e = pool
            .in_place(&mut y)
            .time_limit(Duration::from_millis(300))
            .for_each_chunk_mut(1024, count_for_ever)
            .unwrap_err();
        (pool, y, e)
    });
    assert!(matches!(e, ForEachChunkError::TimeLimit { failed: 2..=4, .. }), "{e}");
    let before = y.as_slice().unwrap().to_vec();
    assert!(before.iter().any(|&v| v > 0), "the kernels ran");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(y.as_slice().unwrap(), &before[..], "a killed kernel still wrote");
}

#[test]
fn a_zero_time_limit_stops_at_once_and_leaves_whole_chunks() {
    let (pool, y, r) = within(Duration::from_secs(60), || {
        let pool = pool();
        let mut y = SharedArray::from_slice(&[1u32; 64 * 1024]).unwrap();
        let r = pool
            .in_place(&mut y)
            .args(5u32)
            .time_limit(Duration::ZERO)
            .for_each_chunk_mut(1024, |c, _, k| c.fill(*k));
        (pool, y, r)
    });
    // The chunks a worker had claimed before the stop finished or were stopped (then
    // written in part); the rest never ran. `Ok` only if every chunk finished.
    let v = y.as_slice().unwrap();
    match r {
        Ok(()) => assert!(v.iter().all(|&v| v == 5)),
        Err(ForEachChunkError::TimeLimit { failed, .. }) => {
            assert!(v.iter().all(|&v| v == 1 || v == 5));
            let untouched = v.chunks(1024).filter(|c| c.iter().all(|&v| v == 1)).count();
            assert!((1..=64).contains(&failed) && untouched <= failed, "{failed}, {untouched}");
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
}

fn spin_chunk(_: &mut [f64], _: Range<usize>, _: &u8) {
    loop {
        std::hint::spin_loop();
    }
}

fn spin_zip(_: &mut [f64], _: &[f64], _: &u8) {
    loop {
        std::hint::spin_loop();
    }
}

fn spin_band(_: &mut [f64], _: RowBand, _: &u8) {
    loop {
        std::hint::spin_loop();
    }
}

fn spin_band_with(_: &mut [f64], _: &[f64], _: RowBand, _: &u8) {
    loop {
        std::hint::spin_loop();
    }
}

#[test]
fn each_of_the_four_shapes_keeps_its_time_limit() {
    let results = within(Duration::from_secs(120), || {
        let p = pool();
        let x = SharedArray::<f64>::zeroed(64).unwrap();
        let mut y = SharedArray::<f64>::zeroed(64).unwrap();
        let d = Duration::from_millis(200);
        let r = [
            p.in_place(&mut y).args(1u8).time_limit(d).for_each_chunk_mut(16, spin_chunk),
            p.in_place(&mut y).args(1u8).time_limit(d).for_each_chunk_mut_with(&x, 16, spin_zip),
            p.in_place(&mut y).args(1u8).time_limit(d).for_each_row_band_mut(8, 2, spin_band),
            p.in_place(&mut y).args(1u8).time_limit(d).for_each_row_band_mut_with(
                &x,
                8,
                2,
                spin_band_with,
            ),
        ];
        let readable = y.as_slice().is_ok();
        (r, readable)
    });
    for (shape, r) in results.0.iter().enumerate() {
        assert!(matches!(r, Err(ForEachChunkError::TimeLimit { failed: 4, .. })), "{shape}: {r:?}");
    }
    assert!(results.1, "the array reads after the limits");
}
