//! `cargo test`: unit tests in a `mod tests` (not the crate root) that use pools — the one
//! line they need is `zeroproc::test_worker!()`, here, inside the module.

zeroproc::test_worker!();

use crate::jobs::echo;
use zeroproc::{Pool, Process};

#[test]
fn a_pool_in_a_unit_test() {
    let pool = Pool::builder().workers(2).build().expect("pool");
    let v: Vec<u64> = pool.map(echo, 0..100u64).map(Result::unwrap).collect();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_job_type_of_the_crate() {
    use crate::api::Tile;
    let pool = Pool::builder().workers(1).build().expect("pool");
    let t = Tile { x: 1, y: 2, pixels: vec![3; 10] };
    let r = pool.submit(|t: Tile| t.pixels.len() as u64 + u64::from(t.x + t.y), t).result();
    assert_eq!(r, Ok(13));
}

#[test]
fn a_process_in_a_unit_test() {
    let mut p = Process::spawn(|code: i32| std::process::exit(code), 3).expect("spawn");
    assert_eq!(p.join().expect("join"), zeroproc::Exit::Code(3));
}

/// Recursion `kib` frames deep, each holding 1 KiB.
#[inline(never)]
fn deep(kib: u64) -> u64 {
    let buf = [kib as u8; 1024];
    if kib == 0 {
        0
    } else {
        u64::from(std::hint::black_box(&buf)[7]) + deep(kib - 1)
    }
}

/// A job using 3 MiB of stack, which runs in a binary (the main thread's 8 MiB), runs
/// under `cargo test` too: the worker ran on libtest's 2 MiB test thread and overflowed.
#[test]
fn a_deep_recursion_in_a_job_under_cargo_test() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    let r = pool.submit(deep, 3 << 10).result();
    assert!(r.is_ok(), "{:?}", r.map_err(|e| e.to_string()));
}
