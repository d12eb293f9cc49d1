//! What creating (and dropping) a small channel or container costs: the figure to watch
//! when changing what a fresh object reserves or maps.
//!
//! Run: `cargo run --release -p zeroproc-mp --example create_cost [iterations]`, or with
//! `0 growth` for what a 64 MiB put costs when it grows the heap.
use std::time::Instant;
use zeroproc_mp::container::SharedDict;
use zeroproc_mp::{pipe, Queue};

fn time(name: &str, n: u32, mut f: impl FnMut()) {
    f(); // warm up
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let per = t.elapsed() / n;
    println!("{name:<28} {:>8.1} µs per create+drop", per.as_secs_f64() * 1e6);
}

/// A 64 MiB value through a fresh default queue: the first put grows the heap (2 MiB →
/// what the block needs), the second reuses the grown heap.
fn growth() {
    let v = vec![7u8; 64 << 20];
    let q = Queue::<Vec<u8>>::new(4).unwrap();
    for round in ["first (grows)", "second"] {
        let t = Instant::now();
        q.put(v.clone()).unwrap();
        let put = t.elapsed();
        let got = q.get().unwrap();
        assert_eq!(got.len(), v.len());
        println!(
            "64 MiB put, {round:<14} {:>8.1} ms (heap now {} MiB)",
            put.as_secs_f64() * 1e3,
            q.heap_size() >> 20
        );
    }
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    if std::env::args().any(|a| a == "growth") {
        return growth();
    }
    for _ in 0..3 {
        time("Queue::<u64>::new(4)", n, || drop(Queue::<u64>::new(4).unwrap()));
        time("pipe::<u64>()", n, || drop(pipe::<u64>().unwrap()));
        time("SharedDict::<u64,u64>::new()", n / 4, || {
            drop(SharedDict::<u64, u64>::new().unwrap())
        });
    }
}
