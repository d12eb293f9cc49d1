//! In-place kernels over shared arrays in one call, with real worker processes: every
//! chunk is written by a worker, a crash or panic in one chunk is returned after the others
//! were written, and nothing runs when the split or the shapes are refused.

use std::ops::Range;
use zeroproc_mp::shared::{RowBand, SharedError};
use zeroproc_mp::SharedArray;
use zeroproc_sched::{ForEachChunkError, JobError, Pool};

zeroproc_sched::test_worker!();

fn pool() -> Pool {
    Pool::builder().workers(2).build().expect("pool")
}

fn index_times_3(y: &mut [f64], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        *v = i as f64 * 3.0;
    }
}

fn writer_pid(y: &mut [u32], _r: Range<usize>) {
    y.fill(std::process::id());
}

fn abort_in_chunk_3(y: &mut [f64], r: Range<usize>) {
    if r.start == 300 {
        std::process::abort();
    }
    index_times_3(y, r);
}

fn panic_in_chunks_2_and_5(y: &mut [f64], r: Range<usize>) {
    if r.start == 200 || r.start == 500 {
        panic!("bad chunk at {}", r.start);
    }
    index_times_3(y, r);
}

fn add_twice(y: &mut [f64], x: &[f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += 2.0 * x;
    }
}

fn label(band: &mut [u64], b: RowBand) {
    assert_eq!(band.len(), b.rows.len() * b.cols);
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        for (col, c) in cells.iter_mut().enumerate() {
            *c = (row * 1000 + col) as u64;
        }
    }
}

#[test]
fn every_chunk_is_written_in_place_by_a_worker() {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(1003).unwrap();
    p.for_each_chunk_mut(&mut y, 100, index_times_3).unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as f64 * 3.0));

    let mut pids = SharedArray::<u32>::zeroed(64).unwrap();
    p.for_each_chunk_mut(&mut pids, 4, writer_pid).unwrap();
    let workers: Vec<u32> = p.stats().workers.iter().map(|w| w.pid).collect();
    for &pid in pids.as_slice().unwrap() {
        assert!(workers.contains(&pid), "chunk written by {pid}, workers {workers:?}");
    }
    assert!(!pids.as_slice().unwrap().contains(&std::process::id()));
}

#[test]
fn zip_gives_the_same_range_of_the_input() {
    let p = pool();
    let x = SharedArray::from_slice(&(0..777).map(|i| i as f64).collect::<Vec<_>>()).unwrap();
    let mut y = SharedArray::from_slice(&[1.0; 777]).unwrap();
    p.for_each_chunk_mut_with(&mut y, &x, 50, add_twice).unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &y)| y == 1.0 + 2.0 * i as f64));
    // The input can be read meanwhile and afterwards; the output again after a second call.
    p.for_each_chunk_mut_with(&mut y, &x, 1000, add_twice).unwrap();
    assert_eq!(y.as_slice().unwrap()[776], 1.0 + 4.0 * 776.0);
    assert_eq!(x.as_slice().unwrap()[776], 776.0);
}

#[test]
fn row_bands_are_whole_rows() {
    let p = pool();
    let (rows, cols) = (37, 11);
    let mut g = SharedArray::<u64>::zeroed(rows * cols).unwrap();
    p.for_each_row_band_mut(&mut g, cols, 4, label).unwrap();
    let v = g.as_slice().unwrap();
    for r in 0..rows {
        for c in 0..cols {
            assert_eq!(v[r * cols + c], (r * 1000 + c) as u64);
        }
    }
    let e = p.for_each_row_band_mut(&mut g, 10, 4, label).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Shape { len: 407, cols: 10 }), "{e:?}");
    // A band of 0 rows is a shape error naming `band_rows` (it was `Split(BadChunkLen)`:
    // "chunk length must be at least 1", a length the caller never passed).
    let e = p.for_each_row_band_mut(&mut g, cols, 0, label).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Shape { len: 407, cols: 11 }), "{e:?}");
    assert!(e.to_string().contains("band_rows"), "{e}");
    let e = p.for_each_row_band_mut(&mut g, 0, 4, label).unwrap_err();
    assert!(e.to_string().contains("`cols` must be at least 1"), "{e}");
    // A band taller than the grid is the whole grid.
    p.for_each_row_band_mut(&mut g, cols, usize::MAX, label).unwrap();
    assert_eq!(g.as_slice().unwrap()[36 * cols + 10], 36_010);
}

#[test]
fn a_crash_in_one_chunk_is_returned_after_the_others_were_written() {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(1000).unwrap();
    let e = p.for_each_chunk_mut(&mut y, 100, abort_in_chunk_3).unwrap_err();
    match e {
        ForEachChunkError::Chunk { index: 3, range, error, failed: 1 } => {
            assert_eq!(range, 300..400);
            assert_eq!(
                error,
                JobError::WorkerDied { signal: Some(libc::SIGABRT), exit_code: None }
            );
        }
        e => panic!("expected chunk 3 to fail with SIGABRT, got {e:?}"),
    }
    // The failed chunk was closed: the array reads, the other chunks hold their results.
    let v = y.as_slice().expect("failed chunks are closed");
    for (i, &x) in v.iter().enumerate() {
        let want = if (300..400).contains(&i) { 0.0 } else { i as f64 * 3.0 };
        assert_eq!(x, want, "element {i}");
    }
    // The pool respawned the worker; the array splits again.
    p.for_each_chunk_mut(&mut y, 100, index_times_3).unwrap();
    assert_eq!(y.as_slice().unwrap()[350], 1050.0);
}

#[test]
fn panics_report_the_lowest_chunk_and_how_many_failed() {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(1000).unwrap();
    let e = p.for_each_chunk_mut(&mut y, 100, panic_in_chunks_2_and_5).unwrap_err();
    match &e {
        ForEachChunkError::Chunk {
            index: 2,
            range,
            error: JobError::Panicked { message },
            failed: 2,
        } => {
            assert_eq!(*range, 200..300);
            assert!(message.contains("bad chunk at 200"), "{message}");
        }
        e => panic!("expected chunk 2 to fail by panic, 2 failures, got {e:?}"),
    }
    assert!(e.to_string().contains("chunk 2 (elements 200..300) failed"), "{e}");
    let v = y.as_slice().unwrap();
    assert_eq!(v[199], 597.0);
    assert_eq!(v[650], 1950.0);
}

#[test]
fn refusals_run_nothing() {
    let p = pool();
    let x = SharedArray::<f64>::zeroed(10).unwrap();
    let mut y = SharedArray::<f64>::zeroed(11).unwrap();
    let e = p.for_each_chunk_mut_with(&mut y, &x, 5, add_twice).unwrap_err();
    assert!(matches!(e, ForEachChunkError::LenMismatch { output: 11, input: 10 }), "{e:?}");

    // An input with an unfinished split of its own cannot be read by the jobs.
    let mut x11 = SharedArray::<f64>::zeroed(11).unwrap();
    let open = x11.chunks_mut(5).unwrap();
    let e = p.for_each_chunk_mut_with(&mut y, &x11, 5, add_twice).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Input(SharedError::SplitInProgress { .. })), "{e:?}");
    drop(open);

    let e = p.for_each_chunk_mut(&mut y, 0, index_times_3).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Split(SharedError::BadChunkLen)), "{e:?}");

    // A live read guard (here, in this process) keeps writers out.
    let reader = y.handle();
    let guard = reader.read().unwrap();
    let e = p.for_each_chunk_mut(&mut y, 5, index_times_3).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Split(SharedError::ReadersActive { .. })), "{e:?}");
    drop(guard);
    assert!(y.as_slice().unwrap().iter().all(|&v| v == 0.0), "nothing ran");
    p.for_each_chunk_mut(&mut y, 5, index_times_3).unwrap();
    assert_eq!(y.as_slice().unwrap()[10], 30.0);
}

/// Records the caller's chunk boundaries: element i holds the start of its chunk.
fn chunk_start(y: &mut [u64], r: Range<usize>) {
    assert!(r.len() <= 7, "a part of at most chunk_len elements: {r:?}");
    y.fill(r.start as u64);
}

fn sum_rows(band: &mut [u64], b: RowBand) {
    assert!(b.rows.len() <= 1, "one row per band: {:?}", b.rows);
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        cells.fill(row as u64);
    }
}

/// Each cell := where its band lies: its grid's width and height, its band's first row
/// and row count, and whether the band holds the top or bottom row.
fn band_geometry(band: &mut [u64], b: RowBand) {
    let edges = u64::from(b.is_top()) * 2 + u64::from(b.is_bottom());
    let v = [b.cols, b.grid_rows, b.rows.start, b.rows.len()].map(|x| x as u64);
    for c in band {
        *c = ((v[0] * 10_000 + v[1]) * 10_000 + v[2]) * 10_000 * 100 + v[3] * 100 + edges;
    }
}

/// The band carries the grid's height: a row-band kernel needs it to find the grid's
/// bottom edge (it had only the width and its own rows: `for_each_row_band_mut`'s kernel
/// could not know it, short of a constant).
#[test]
fn a_row_band_knows_the_grid_it_lies_in() {
    let p = pool();
    // Uneven last band, one band, and more bands than claim words (grouped).
    for (rows, cols, band) in [(7usize, 5usize, 2usize), (3, 4, 10), (5000, 2, 1)] {
        let mut g = SharedArray::<u64>::zeroed(rows * cols).unwrap();
        p.for_each_row_band_mut(&mut g, cols, band, band_geometry).unwrap();
        let v = g.as_slice().unwrap();
        for (i, &got) in v.iter().enumerate() {
            let first = (i / cols) / band * band;
            let count = band.min(rows - first);
            let edges = u64::from(first == 0) * 2 + u64::from(first + count == rows);
            let want = (((cols * 10_000 + rows) * 10_000 + first) * 10_000 * 100 + count * 100)
                as u64
                + edges;
            assert_eq!(got, want, "{rows}×{cols} in bands of {band}: element {i}");
        }
    }
}

/// More chunks than the array's claim words (4,096): grouped into claimed chunks, and the
/// kernel still sees the caller's chunks — rayon's `par_chunks_mut(7)` shape on any
/// array (it was `Split(TooManyChunks { chunks: 14287, max: 4096 })`).
#[test]
fn more_chunks_than_claim_words_are_grouped() {
    let p = pool();
    let mut y = SharedArray::<u64>::zeroed(100_003).unwrap();
    p.for_each_chunk_mut(&mut y, 7, chunk_start).unwrap();
    let v = y.as_slice().unwrap();
    assert!(v.iter().enumerate().all(|(i, &s)| s == (i - i % 7) as u64));
    let mut x = SharedArray::<f64>::from_slice(&vec![1.0; 10_000]).unwrap();
    let ones = SharedArray::<f64>::from_slice(&vec![1.0; 10_000]).unwrap();
    p.for_each_chunk_mut_with(&mut x, &ones, 1, add_twice).unwrap();
    assert!(x.as_slice().unwrap().iter().all(|&v| v == 3.0));
    let mut grid = SharedArray::<u64>::zeroed(9_000 * 3).unwrap();
    p.for_each_row_band_mut(&mut grid, 3, 1, sum_rows).unwrap();
    let g = grid.as_slice().unwrap();
    assert!(g.chunks(3).enumerate().all(|(row, c)| c.iter().all(|&v| v == row as u64)));
}

fn panic_at_50_005(y: &mut [u32], r: Range<usize>) {
    for (v, i) in y.iter_mut().zip(r) {
        assert!(i != 50_005 && i != 50_017, "bad element {i}");
        *v = i as u32 + 1;
    }
}

/// With more chunks than claim words (grouped), a panicking chunk fails alone: the rest of
/// its group is written, and the error names the caller's chunk, its range and the count
/// (it was the group's first chunk and range, with the group's chunks after the panicking
/// one left unwritten, and `failed: 1` for two panics).
#[test]
fn a_panic_in_a_grouped_chunk_fails_only_that_chunk() {
    let p = pool();
    let n = 100_000; // chunks of 5: 20,000 chunks, grouped 5 by 5
    let mut y = SharedArray::<u32>::zeroed(n).unwrap();
    let e = p.for_each_chunk_mut(&mut y, 5, panic_at_50_005).unwrap_err();
    match &e {
        ForEachChunkError::Chunk {
            index: 10_001,
            range,
            error: JobError::Panicked { message },
            failed: 2,
        } => {
            assert_eq!(*range, 50_005..50_010);
            assert!(message.contains("bad element 50005"), "{message}");
        }
        e => panic!("expected chunk 10001 to fail alone, got {e:?}"),
    }
    let v = y.as_slice().unwrap();
    let unwritten: Vec<usize> = (0..n).filter(|&i| v[i] != i as u32 + 1).collect();
    let want: Vec<usize> = (50_005..50_010).chain(50_017..50_020).collect(); // 50,015..17 written before its panic
    assert_eq!(unwritten, want);
}

/// One sweep of a 5-point stencil over rows `b.rows` of a `b.cols`-wide grid (the first
/// and last rows and columns copied): reads the rows above and below the band.
fn smooth(next: &mut [f64], cur: &[f64], b: RowBand) {
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

fn panic_in_row_7(next: &mut [f64], cur: &[f64], b: RowBand) {
    assert!(!b.rows.contains(&7), "row 7");
    smooth(next, cur, b);
}

/// A stencil over row bands reads the whole input (its halo rows): 20 sweeps match a
/// serial run bit for bit, grouped or not; refusals name their cause, a panicking band
/// fails alone (there was no way to give a band kernel an input: the `BandKernel` note
/// told users to put it in a `SharedArray`, which no band kernel could reach).
#[test]
fn row_bands_with_the_whole_input_run_a_stencil() {
    let p = pool();
    for (rows, cols, band) in [(37usize, 29usize, 4usize), (5000, 3, 1), (3, 8, 10)] {
        let init: Vec<f64> = (0..rows * cols).map(|i| ((i * 7919) % 101) as f64).collect();
        let mut a = SharedArray::from_slice(&init).unwrap();
        let mut b = SharedArray::<f64>::zeroed(rows * cols).unwrap();
        let (mut cur, mut next) = (init.clone(), vec![0.0; rows * cols]);
        for _ in 0..20 {
            p.for_each_row_band_mut_with(&mut b, &a, cols, band, smooth).unwrap();
            std::mem::swap(&mut a, &mut b);
            let whole = RowBand::of_elements(0..rows * cols, cols, rows * cols).unwrap();
            smooth(&mut next, &cur, whole);
            std::mem::swap(&mut cur, &mut next);
        }
        let got = a.as_slice().unwrap();
        assert!(got.iter().zip(&cur).all(|(x, y)| x.to_bits() == y.to_bits()), "{rows}x{cols}");
    }

    let x = SharedArray::<f64>::zeroed(12 * 5).unwrap();
    let mut y = SharedArray::<f64>::zeroed(12 * 5).unwrap();
    let e = p.for_each_row_band_mut_with(&mut y, &x, 5, 0, smooth).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Shape { len: 60, cols: 5 }), "{e:?}");
    let e = p.for_each_row_band_mut_with(&mut y, &x, 7, 1, smooth).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Shape { len: 60, cols: 7 }), "{e:?}");
    let mut x2 = SharedArray::<f64>::zeroed(60).unwrap();
    let open = x2.chunks_mut(6).unwrap();
    let e = p.for_each_row_band_mut_with(&mut y, &x2, 5, 1, smooth).unwrap_err();
    assert!(matches!(e, ForEachChunkError::Input(SharedError::SplitInProgress { .. })), "{e:?}");
    drop(open);

    let e = p.for_each_row_band_mut_with(&mut y, &x, 5, 2, panic_in_row_7).unwrap_err();
    match &e {
        ForEachChunkError::Chunk {
            index: 3,
            range,
            error: JobError::Panicked { .. },
            failed: 1,
        } => {
            assert_eq!(*range, 30..40)
        }
        e => panic!("expected band 3 to fail, got {e:?}"),
    }
}

#[test]
fn after_shutdown_every_chunk_is_counted_failed() {
    // A map over a shut-down pool ends after the chunks it read (it used to read its whole
    // input): the chunks it never yielded must still count as failed, not pass unseen.
    let pool = pool();
    pool.shutdown();
    for (len, chunk) in [(100, 10), (10_000, 1)] {
        let mut y = SharedArray::<f64>::zeroed(len).unwrap();
        match pool.for_each_chunk_mut(&mut y, chunk, index_times_3) {
            Err(ForEachChunkError::Chunk {
                index: 0, error: JobError::Shutdown, failed, ..
            }) => {
                assert_eq!(failed, len / chunk, "{len}/{chunk}")
            }
            other => panic!("{len}/{chunk}: {other:?}"),
        }
        assert!(y.as_slice().unwrap().iter().all(|&v| v == 0.0));
    }
}

fn abort_at_element_5_000(y: &mut [f64], r: Range<usize>) {
    if r.contains(&5_000) {
        std::process::abort();
    }
    index_times_3(y, r);
}

/// Tiny chunks, one of which dies: the error names that chunk and only it fails, as with
/// one job per chunk. `map`'s automatic batches (pack33) put up to 64 tiny chunks in one
/// job: the error named another chunk of the batch, all of which failed (measured:
/// chunk 485, elements 4,850..4,860, 31 chunks failed; checked failing before the fix).
#[test]
fn a_death_in_one_of_many_tiny_chunks_names_that_chunk() {
    let p = pool();
    let mut y = SharedArray::from_slice(&[0.0f64; 10_000]).unwrap();
    match p.for_each_chunk_mut(&mut y, 10, abort_at_element_5_000).unwrap_err() {
        ForEachChunkError::Chunk { index, range, failed, .. } => {
            assert_eq!((index, range, failed), (500, 5_000..5_010, 1));
        }
        e => panic!("{e:?}"),
    }
}
