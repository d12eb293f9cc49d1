//! A `#[zeroproc::data]` struct as the run-time parameter of an in-place call, through the
//! facade (`pool.in_place(&mut y).args(step)`): one explicit heat step on a grid, computed
//! by the workers band by band, equals the sequential loop bit for bit.

use zeroproc::shared::RowBand;
use zeroproc::{Pool, SharedArray};

zeroproc::test_worker!();

/// The step's parameters, known at run time.
#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
struct Step {
    dt: f64,
    /// Diffusivity per axis: (rows, columns).
    k: (f64, f64),
    /// Fixed boundary value written on the edges.
    edge: f64,
}

/// Row `r` of the next grid from the whole current grid `cur` (`n` columns, `rows` rows).
fn step_row(out: &mut [f64], cur: &[f64], r: usize, rows: usize, s: &Step) {
    let n = out.len();
    for (c, o) in out.iter_mut().enumerate() {
        if r == 0 || r + 1 == rows || c == 0 || c + 1 == n {
            *o = s.edge;
            continue;
        }
        let i = r * n + c;
        let d_rows = cur[i - n] + cur[i + n] - 2.0 * cur[i];
        let d_cols = cur[i - 1] + cur[i + 1] - 2.0 * cur[i];
        *o = cur[i] + s.dt * (s.k.0 * d_rows + s.k.1 * d_cols);
    }
}

fn heat(next: &mut [f64], cur: &[f64], b: RowBand, s: &Step) {
    for (r, out) in b.rows.zip(next.chunks_exact_mut(b.cols)) {
        step_row(out, cur, r, b.grid_rows, s);
    }
}

#[test]
fn a_data_struct_parameter_drives_a_stencil_bit_for_bit() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    let (rows, cols) = (61, 37);
    let init: Vec<f64> = (0..rows * cols).map(|i| ((i * 7919) % 1000) as f64 / 10.0).collect();
    // Known only at run time.
    let scale = std::env::args().count() as f64;
    let s = Step { dt: 0.01 * scale, k: (0.7, 1.3), edge: -1.0 / scale };
    let (mut want, mut next_want) = (init.clone(), vec![0.0; rows * cols]);
    let mut cur = SharedArray::from_slice(&init).unwrap();
    let mut next = SharedArray::<f64>::zeroed(rows * cols).unwrap();
    for _ in 0..4 {
        for (r, out) in next_want.chunks_exact_mut(cols).enumerate() {
            step_row(out, &want, r, rows, &s);
        }
        std::mem::swap(&mut want, &mut next_want);
        pool.in_place(&mut next)
            .args(s.clone())
            .for_each_row_band_mut_with(&cur, cols, 5, heat)
            .unwrap();
        std::mem::swap(&mut cur, &mut next);
    }
    let got = cur.as_slice().unwrap();
    let bad = got.iter().zip(&want).position(|(g, w)| g.to_bits() != w.to_bits());
    assert_eq!(bad, None, "differs from the sequential loop");
}
