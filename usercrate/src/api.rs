//! Scenarios of the API as new users meet it (issue #13): what a user writes in one line.

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
