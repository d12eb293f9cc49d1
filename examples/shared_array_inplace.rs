//! A kernel over chunks of a `SharedArray`, results written **in place**, in one call: the
//! input (8 M f64, 64 MiB) and the output live in shared memory; each job carries only
//! handles (a few dozen bytes) and each worker writes its own disjoint chunk of the output.
//! Then the same on a grid, in bands of whole rows.

use std::time::Instant;
use zeroproc::shared::RowBand;
use zeroproc::SharedArray;

const N: usize = 8 << 20;

/// y[i] = sqrt(x[i]) * 0.5 + 1 over one chunk (`x` is the same range of the input).
fn kernel(y: &mut [f64], x: &[f64]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = v.sqrt() * 0.5 + 1.0;
    }
}

/// Each cell of a band := its row + its column, written by whichever worker got the band.
fn stencil(band: &mut [u32], b: RowBand) {
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        for (col, c) in cells.iter_mut().enumerate() {
            *c = (row + col) as u32;
        }
    }
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::new().expect("pool");
    let data: Vec<f64> = (0..N).map(|i| i as f64).collect();
    let x = SharedArray::from_slice(&data).expect("input array");
    let mut y = SharedArray::<f64>::zeroed(N).expect("output array");
    let t = Instant::now();
    pool.for_each_chunk_mut_with(&mut y, &x, N / 64, kernel).expect("every chunk written");
    let elapsed = t.elapsed();
    let y = y.as_slice().expect("readable once the call returned");
    let wrong = (0..N).filter(|&i| y[i] != data[i].sqrt() * 0.5 + 1.0).count();
    println!("{N} elements, 64 chunks, {} workers, {elapsed:?}", pool.workers());
    println!("mismatches against a local computation: {wrong}");
    assert_eq!(wrong, 0);

    let (rows, cols) = (1000, 500);
    let mut grid = SharedArray::<u32>::zeroed(rows * cols).expect("grid");
    pool.for_each_row_band_mut(&mut grid, cols, 50, stencil).expect("every band written");
    let g = grid.as_slice().expect("readable");
    assert!((0..rows * cols).all(|i| g[i] == (i / cols + i % cols) as u32));
    println!("grid {rows}×{cols} in bands of 50 rows: every cell checked");
    println!("{}", pool.stats());
}
