//! Scenarios of the API as new users meet it (issues #13, #14): what a user writes in one
//! line.

use crate::harness::{ensure, Outcome};
use zeroproc::Pool;

/// A job type of the user's own: one attribute, no rkyv dependency, no crate path.
#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub pixels: Vec<u8>,
}

/// An enum result type, also with the one attribute.
#[zeroproc::data]
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Bright { sum: u64 },
    Dark,
}

fn judge(t: Tile) -> Verdict {
    let sum: u64 = t.pixels.iter().map(|&p| p as u64).sum();
    if sum > 1000 {
        Verdict::Bright { sum }
    } else {
        Verdict::Dark
    }
}

/// `#[zeroproc::data]` types as a job's argument and result, through `submit` and `map`.
pub fn data_attribute() -> Outcome {
    let pool = Pool::builder().workers(2).build().map_err(|e| format!("build: {e}"))?;
    let bright = Tile { x: 1, y: 2, pixels: vec![200; 10] };
    let r = pool.submit(judge, bright.clone()).result().map_err(|e| e.to_string())?;
    ensure(r == Verdict::Bright { sum: 2000 }, || format!("submit gave {r:?}"))?;
    let tiles = (0..50u32).map(|i| Tile { x: i, y: i, pixels: vec![i as u8; 30] });
    let dark = pool.map(judge, tiles).filter(|r| r.as_ref().is_ok_and(|v| *v == Verdict::Dark));
    let n = dark.count();
    // Tiles 0..=33 sum to at most 33 × 30 = 990: dark; 34.. are bright.
    ensure(n == 34, || format!("map: {n} dark tiles, expected 34"))
}

/// Python raises `RuntimeError` on `submit` after `shutdown`: the future says `Shutdown`
/// (not "cancelled"), and `try_submit` hands the arguments back.
pub fn submit_after_shutdown() -> Outcome {
    let pool = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    pool.shutdown();
    let r = pool.submit(|x: u32| x + 1, 1).result();
    ensure(r == Err(zeroproc::JobError::Shutdown), || format!("submit after shutdown: {r:?}"))?;
    let back = pool.try_submit(|x: u32| x + 1, 41);
    ensure(matches!(back, Err(zeroproc::TrySubmitError::Shutdown(41))), || {
        format!("try_submit after shutdown: {back:?}")
    })
}

/// Python's `future.exception()` returns the exception, message included.
pub fn exception_has_the_message() -> Outcome {
    let pool = Pool::builder().workers(1).build().map_err(|e| format!("build: {e}"))?;
    let f = pool.submit(|x: u32| if x > 3 { panic!("{x} is too big") } else { x }, 7);
    let e = f.exception().ok_or("no exception")?;
    ensure(e.to_string().contains("7 is too big"), || format!("exception(): {e}"))
}

/// Lookup tables the user's jobs read: a `#[zeroproc::data]` type, shared once.
#[zeroproc::data]
pub struct Model {
    pub name: String,
    pub weights: Vec<f64>,
}

fn score((model, i): (zeroproc::SharedValue<Model>, u32)) -> f64 {
    let m = model.get().expect("the shared model"); // &ArchivedModel, in place
    m.weights[i as usize].to_native() * m.name.len() as f64
}

/// An 8 MiB model shared by every job (`pool.share`), read in place in the workers; the
/// same model shipped per job would go through the spill heap every time.
pub fn shared_model() -> Outcome {
    let pool = Pool::builder().build().map_err(|e| format!("build: {e}"))?;
    let weights: Vec<f64> = (0..1 << 20).map(|i| i as f64).collect();
    let model = pool.share(&Model { name: "ab".into(), weights }).map_err(|e| e.to_string())?;
    let items = (0..1000u32).map(|i| (model.clone(), i * 1000));
    let sum: f64 = pool.map(score, items).map(|r| r.expect("score")).sum();
    let want: f64 = (0..1000u32).map(|i| 2.0 * (i * 1000) as f64).sum();
    ensure(sum == want, || format!("sum {sum}, expected {want}"))
}

static UNIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn set_unit(u: String) {
    UNIT.set(u).expect("once per worker");
}

fn with_unit(x: u32) -> String {
    format!("{x}{}", UNIT.get().expect("initialized"))
}

/// Python's `initializer=f, initargs=(..)`.
pub fn initializer_with_args() -> Outcome {
    let pool = Pool::builder()
        .initializer_with(set_unit, "kg".to_string())
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let v: Vec<String> = pool.map(with_unit, 1..=3).map(|r| r.expect("job")).collect();
    ensure(v == ["1kg", "2kg", "3kg"], || format!("{v:?}"))
}

fn sum_big(v: Vec<u64>) -> u64 {
    v.iter().sum()
}

/// `map` over items of 8 MiB each with the default pool (64 MiB spill heap): waits for heap
/// room like for ring room; every item completes (it failed around the 7th before).
pub fn big_items_backpressure() -> Outcome {
    let pool = Pool::builder().build().map_err(|e| format!("build: {e}"))?;
    let items = (0..24u64).map(|i| vec![i; 1 << 20]);
    for (i, r) in pool.map(sum_big, items).enumerate() {
        let want = i as u64 * (1 << 20);
        ensure(r.as_ref() == Ok(&want), || format!("item {i}: {r:?}"))?;
    }
    // 8 MiB results as well: queued arguments leave heap room for them.
    let items = (0..12u64).map(|i| vec![i; 1 << 20]);
    for (i, r) in
        pool.map(|v: Vec<u64>| v.iter().map(|x| x + 1).collect::<Vec<u64>>(), items).enumerate()
    {
        let v = r.map_err(|e| format!("item {i} (big result): {e}"))?;
        ensure(v.len() == 1 << 20 && v[7] == i as u64 + 1, || format!("item {i}: wrong result"))?;
    }
    Ok(())
}

/// A program that forgot `init()` is told so, whatever its `main` does before building a
/// pool (issue #11): not "a worker did not start in time" after 10 s. Runs the sibling
/// binary `forgot_init` (built by `cargo build --release --bins`).
pub fn forgot_init_is_named() -> Outcome {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("forgot_init");
    ensure(exe.exists(), || format!("{} missing: cargo build --release --bins", exe.display()))?;
    for mode in ["build", "sleep", "spin", "process"] {
        let t0 = std::time::Instant::now();
        let out = std::process::Command::new(&exe).arg(mode).output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        crate::harness::note(format!("{mode}: {:.0?}: {}", t0.elapsed(), stdout.trim()));
        let named =
            if mode == "process" { "PROCESS ERROR (NotRun)" } else { "BUILD ERROR (NoInit)" };
        ensure(out.status.code() == Some(3) && stdout.contains(named), || {
            format!("{mode}: exit {:?}, stdout {stdout:?}", out.status.code())
        })?;
        ensure(stdout.contains("zeroproc::init()"), || format!("{mode}: init() not named"))?;
    }
    Ok(())
}

fn saxpy(y: &mut [f32], x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += 3.0 * x;
    }
}

fn exit_in_rows_8_to_11(band: &mut [u16], b: zeroproc::shared::RowBand) {
    if b.rows.start == 8 {
        std::process::exit(7);
    }
    for (row, cells) in b.rows.zip(band.chunks_exact_mut(b.cols)) {
        cells.fill(row as u16);
    }
}

/// In-place kernels over shared arrays in one call (issue #14): a zip with a read-only
/// input, and a grid in row bands where one band's worker exits — the error names that
/// band and how it died, every other band is written, and the grid reads again.
pub fn in_place_kernels() -> Outcome {
    let pool = Pool::builder().workers(2).build().map_err(|e| format!("build: {e}"))?;
    let x = zeroproc::SharedArray::from_slice(&(0..10_000).map(|i| i as f32).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    let mut y = zeroproc::SharedArray::from_slice(&[1.0f32; 10_000]).map_err(|e| e.to_string())?;
    pool.for_each_chunk_mut_with(&mut y, &x, 1_000, saxpy).map_err(|e| e.to_string())?;
    let v = y.as_slice().map_err(|e| e.to_string())?;
    ensure(v.iter().enumerate().all(|(i, &y)| y == 3.0 * i as f32 + 1.0), || "saxpy".into())?;

    let (rows, cols) = (20, 64);
    let mut grid = zeroproc::SharedArray::<u16>::zeroed(rows * cols).map_err(|e| e.to_string())?;
    let e = pool.for_each_row_band_mut(&mut grid, cols, 4, exit_in_rows_8_to_11).unwrap_err();
    let died = zeroproc::JobError::WorkerDied { signal: None, exit_code: Some(7) };
    ensure(
        matches!(&e, zeroproc::ForEachChunkError::Chunk { index: 2, error, failed: 1, .. } if *error == died),
        || format!("expected band 2 to fail with exit code 7, got {e:?}"),
    )?;
    let g = grid.as_slice().map_err(|e| e.to_string())?;
    let want = |r: usize| if (8..12).contains(&r) { 0 } else { r as u16 };
    ensure((0..rows * cols).all(|i| g[i] == want(i / cols)), || "the other bands".into())
}

fn halve_or_panic(x: u64) -> u64 {
    if x == 12_345 {
        panic!("no half for {x}");
    }
    x / 2
}

/// A chunked `map` consumed the ways users consume iterators — a `for` loop, `sum`,
/// `for_each`, `collect` into a `Result` — gives the same items in the same order, a
/// panicking item failing its chunk once per item, whichever way it is consumed (`sum`
/// and `for_each` take the internal-iteration path, `for` and `collect` the `next` one).
pub fn chunked_map_consumed_every_way() -> Outcome {
    let pool = Pool::new().map_err(|e| format!("build: {e}"))?;
    let n = 200_000u64;
    let mut by_for = Vec::new();
    for r in pool.map(halve_or_panic, 0..n).chunk_size(1000) {
        by_for.push(r.ok());
    }
    let mut by_each = Vec::new();
    pool.map(halve_or_panic, 0..n).chunk_size(1000).for_each(|r| by_each.push(r.ok()));
    ensure(by_for == by_each, || "for and for_each disagree".into())?;
    let failed = by_for.iter().filter(|r| r.is_none()).count();
    ensure(failed == 1000, || format!("{failed} items failed, want the 1000 of one chunk"))?;
    ensure(by_for[12_000..13_000].iter().all(Option::is_none), || "wrong chunk failed".into())?;
    let sum: u64 = pool.map(|x: u64| x * 3, 0..n).chunk_size(777).map(Result::unwrap).sum();
    ensure(sum == 3 * n * (n - 1) / 2, || format!("sum {sum}"))?;
    let all: Result<Vec<u64>, _> = pool.map(halve_or_panic, 0..n).chunk_size(1000).collect();
    ensure(all.is_err(), || "collect into Result missed the failed chunk".into())?;
    let ok: Vec<u64> =
        pool.map(|x: u64| x + 1, 0..n).chunk_size(4096).map(Result::unwrap).collect();
    ensure(ok.iter().copied().eq(1..=n), || "collect out of order".into())
}
