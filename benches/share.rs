//! `cargo bench --bench share`: the per-job cost of read-only state (issue #13 item 3) —
//! a job that reads one element of an 8 MiB table it gets through `Pool::share` (a
//! handle; the table was archived once) against the same job shipped the table as its
//! argument (archived into the spill heap and validated per job), and a job with no table
//! as the floor. One worker, submit → result round trips, rounds interleaved; p50/p99.
//!
//! Options (after `--`): `--jobs N` (shared and floor jobs per round; default 20,000;
//! shipped jobs are 1/100 of that).

use hdrhistogram::Histogram;
use std::time::Instant;
use zeroproc::{Pool, SharedValue};

const N: usize = 1 << 20; // 8 MiB of u64

fn read_shared((t, i): (SharedValue<Vec<u64>>, u32)) -> u64 {
    t.get().expect("shared table")[i as usize].to_native()
}

fn read_shipped((t, i): (Vec<u64>, u32)) -> u64 {
    t[i as usize]
}

fn floor((x, i): (u64, u32)) -> u64 {
    x + i as u64
}

fn main() {
    zeroproc::init();
    let args: Vec<String> = std::env::args().collect();
    let jobs: u32 = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let pool = Pool::builder().workers(1).build().expect("pool");
    let table: Vec<u64> = (0..N as u64).collect();
    let t0 = Instant::now();
    let shared = pool.share(&table).expect("share");
    let share_once = t0.elapsed();
    let mut h = [(); 3].map(|_| Histogram::<u64>::new(3).expect("histogram"));
    for round in 0..5 {
        for j in 0..jobs {
            let i = (j.wrapping_mul(7919) as usize % N) as u32;
            let t = Instant::now();
            let r = pool.submit(read_shared, (shared.clone(), i)).result().expect("job");
            h[0].record(t.elapsed().as_nanos() as u64).expect("record");
            assert_eq!(r, i as u64);
            let t = Instant::now();
            let r = pool.submit(floor, (1, i)).result().expect("job");
            h[2].record(t.elapsed().as_nanos() as u64).expect("record");
            assert_eq!(r, 1 + i as u64);
        }
        for j in 0..(jobs / 100).max(5) {
            let i = (j.wrapping_mul(7919) as usize % N) as u32;
            let arg = (table.clone(), i); // the caller's copy, not timed
            let t = Instant::now();
            let r = pool.submit(read_shipped, arg).result().expect("job");
            h[1].record(t.elapsed().as_nanos() as u64).expect("record");
            assert_eq!(r, i as u64);
        }
        eprintln!("round {round} done");
    }
    println!(
        "share once (archive 8 MiB into shared memory): {:.2} ms",
        share_once.as_secs_f64() * 1e3
    );
    println!("| per job (1 worker, submit → result) | jobs | p50 | p99 |");
    println!("|---|---|---|---|");
    for (name, h) in [
        ("reads the 8 MiB table through `Pool::share`", &h[0]),
        ("is shipped the 8 MiB table as its argument", &h[1]),
        ("no table (floor)", &h[2]),
    ] {
        println!(
            "| {name} | {} | {:.2} µs | {:.2} µs |",
            h.len(),
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3
        );
    }
}
