//! divan, with `zeroproc::init()` first in `main`.
use std::sync::LazyLock;
use zeroproc::Pool;
use zeroproc_harnesscrate::square;

static POOL: LazyLock<Pool> = LazyLock::new(|| Pool::builder().workers(2).build().unwrap());

#[divan::bench]
fn submit() -> u64 {
    POOL.submit(square, divan::black_box(3)).result().unwrap()
}

#[divan::bench]
fn map_100() -> u64 {
    POOL.map(square, 0..100u64).map(Result::unwrap).sum()
}

fn main() {
    zeroproc::init();
    divan::main();
}
