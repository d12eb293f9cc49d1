//! Cluster benchmarks (issue #15), run under mpirun by `bench/cluster.sh`:
//!
//! * `cluster pingpong` — raw MPI (rsmpi) ping-pong, 8 bytes, rank 0 ↔ rank 1: the floor
//!   (no zeroproc involved; the program does not call `init`).
//! * `cluster relay` — raw MPI, 8 bytes, rank 0 → rank 1 → rank 2 → rank 1 → rank 0 (run
//!   with 3 ranks): the same chain of three processes and four hand-offs as a cluster job
//!   (controller → agent → worker → agent → controller), with MPI in place of the node's
//!   rings — the floor of a cluster round trip when the three do not each have a core.
//! * `cluster` — a tiny job's round trip rank 0 → node agent → worker → back (p50/p99),
//!   `map` throughput unbatched and chunked, and W4 (Mandelbrot 2048², 64 bands) on rank 0's
//!   1 worker + rank 1's 1 worker against a local 2-worker pool, passes interleaved. The
//!   round trip and the maps are measured twice: the cluster's default wait strategy for
//!   the nodes' workers (sleep at once), and the local pool's (`_nodes_spin`). `ONLY_RTT=1` stops after it; `RTT_TAG` suffixes
//!   its keys.
//!
//! Lines starting with `cluster-bench` are the figures (`key value unit`).

use hdrhistogram::Histogram;
use std::time::Instant;
use zeroproc_bench::workloads::pool::{mandel_band_of, Mandel};
use zeroproc_cluster::ClusterPool;

const RTT_JOBS: u64 = 20_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("pingpong") {
        return raw_ping_pong();
    }
    if args.first().map(String::as_str) == Some("relay") {
        return raw_relay();
    }
    zeroproc_cluster::init();
    let _finish = zeroproc_cluster::MainGuard::new();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    round_trip();
    if std::env::var_os("ONLY_RTT").is_some() {
        return;
    }
    map_throughput();
    w4(rounds);
}

fn report(key: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    println!("cluster-bench {key}_p50 {:.2} us", us(0.5));
    println!("cluster-bench {key}_p99 {:.2} us", us(0.99));
}

/// Raw MPI: rank 0 sends 8 bytes to rank 1, which sends them back.
fn raw_ping_pong() {
    use mpi::point_to_point::{Destination, Source};
    use mpi::topology::Communicator;
    // The threading level the cluster runs with (MPI_THREAD_MULTIPLE), so the floor is
    // measured under the same locking inside Open MPI.
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Multiple).expect("MPI");
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    assert!(size >= 2, "ping-pong needs 2 ranks");
    let n = RTT_JOBS + 2_000;
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let mut buf = [0u64; 1];
    for i in 0..n {
        if rank == 0 {
            let t = Instant::now();
            world.process_at_rank(1).send(&[i][..]);
            world.process_at_rank(1).receive_into(&mut buf[..]);
            if i >= 2_000 {
                h.record(t.elapsed().as_nanos() as u64).expect("record");
            }
            assert_eq!(buf[0], i);
        } else if rank == 1 {
            world.process_at_rank(0).receive_into(&mut buf[..]);
            world.process_at_rank(0).send(&buf[..]);
        }
    }
    if rank == 0 {
        report("raw_mpi_pingpong_8B", &h);
    }
}

/// Raw MPI over three processes: rank 0 → 1 → 2 → 1 → 0, 8 bytes (blocking calls: Open
/// MPI yields between polls when oversubscribed, as our loops do).
fn raw_relay() {
    use mpi::point_to_point::{Destination, Source};
    use mpi::topology::Communicator;
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Multiple).expect("MPI");
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    assert!(size >= 3, "the relay needs 3 ranks");
    let n = RTT_JOBS + 2_000;
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let mut buf = [0u64; 1];
    for i in 0..n {
        match rank {
            0 => {
                let t = Instant::now();
                world.process_at_rank(1).send(&[i][..]);
                world.process_at_rank(1).receive_into(&mut buf[..]);
                if i >= 2_000 {
                    h.record(t.elapsed().as_nanos() as u64).expect("record");
                }
                assert_eq!(buf[0], i + 1);
            }
            1 => {
                world.process_at_rank(0).receive_into(&mut buf[..]);
                world.process_at_rank(2).send(&buf[..]);
                world.process_at_rank(2).receive_into(&mut buf[..]);
                world.process_at_rank(0).send(&buf[..]);
            }
            2 => {
                world.process_at_rank(1).receive_into(&mut buf[..]);
                buf[0] += 1;
                world.process_at_rank(1).send(&buf[..]);
            }
            _ => {}
        }
    }
    if rank == 0 {
        report("raw_mpi_relay_3_ranks_8B", &h);
    }
}

/// The round trip with the cluster's default wait strategy for the nodes' workers (sleep at
/// once: they leave the CPU to rank 0 and the agent), then with the local pool's default
/// (spin 50 µs, then sleep: `_nodes_spin`).
fn round_trip() {
    let pool = ClusterPool::builder().workers_per_node(1).build().expect("cluster pool");
    let nodes = pool.nodes();
    println!("cluster-bench config round trip: nodes (rank, workers) {nodes:?}");
    round_trip_on(&pool, "tiny_job_round_trip");
    drop(pool);
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .wait_strategy(zeroproc_sched::WaitStrategy::default())
        .build()
        .expect("cluster pool");
    round_trip_on(&pool, "tiny_job_round_trip_nodes_spin");
}

fn round_trip_on(pool: &ClusterPool, key: &str) {
    // `RTT_TAG` tells runs under other placements apart (bench/cluster.sh: `_bind_core`).
    let key = format!("{key}{}", std::env::var("RTT_TAG").unwrap_or_default());
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..RTT_JOBS + 2_000 {
        let t = Instant::now();
        let r = pool.submit(|x: u64| x + 1, i).result();
        let ns = t.elapsed().as_nanos() as u64;
        assert_eq!(r, Ok(i + 1));
        if i >= 2_000 {
            h.record(ns).expect("record");
        }
    }
    report(&key, &h);
}

/// Unbatched and chunked map, with the cluster's default wait strategy for the nodes'
/// workers and with the local pool's (`_nodes_spin`).
fn map_throughput() {
    for spin in [false, true] {
        let mut b = ClusterPool::builder().workers_per_node(1);
        if spin {
            b = b.wait_strategy(zeroproc_sched::WaitStrategy::default());
        }
        let tag = if spin { "_nodes_spin" } else { "" };
        map_throughput_on(&b.build().expect("cluster pool"), tag);
    }
}

fn map_throughput_on(pool: &ClusterPool, tag: &str) {
    for (items, chunk) in [(20_000u64, 1usize), (20_000_000, 1000)] {
        let expect: u64 = (0..items).map(|x| 2 * x).sum();
        let t = Instant::now();
        let mut sum = 0u64;
        for r in pool.map(|x: u64| 2 * x, 0..items).chunk_size(chunk) {
            sum += r.expect("job");
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(sum, expect);
        let rate = items as f64 / secs;
        println!("cluster-bench map_chunk{chunk}{tag}_items_per_s {rate:.0} items/s");
    }
}

/// W4 on rank 0's 1 worker + every agent's 1 worker, against a local pool of as many
/// workers, passes alternated; medians and the median of paired ratios.
fn w4(rounds: usize) {
    let m = Mandel::FULL;
    let serial = m.serial_checksum();
    let check = |v: Vec<Vec<u8>>| {
        let sum: u64 = v.iter().flatten().map(|&b| b as u64).sum();
        assert_eq!(sum, serial, "W4 image differs");
    };
    let (mut cl, mut lo, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut workers = 0;
    for _ in 0..rounds {
        let pool =
            ClusterPool::builder().workers_per_node(1).local_workers(1).build().expect("cluster");
        workers = pool.workers();
        let t = Instant::now();
        let v: Vec<Vec<u8>> = pool
            .map(mandel_band_of, (0..m.bands).map(|b| m.job(b)))
            .map(|r| r.expect("band"))
            .collect();
        let c = t.elapsed().as_secs_f64();
        check(v);
        drop(pool);
        let local = zeroproc_sched::Pool::builder().workers(workers).build().expect("pool");
        let t = Instant::now();
        let v: Vec<Vec<u8>> = local
            .map(mandel_band_of, (0..m.bands).map(|b| m.job(b)))
            .map(|r| r.expect("band"))
            .collect();
        let l = t.elapsed().as_secs_f64();
        check(v);
        drop(local);
        cl.push(c);
        lo.push(l);
        ratios.push(c / l);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("cluster-bench config W4: {workers} workers (rank 0: 1, each agent: 1) vs a local pool of {workers}, {rounds} rounds");
    println!("cluster-bench w4_cluster_s {:.3} s", med(&mut cl));
    println!("cluster-bench w4_local_s {:.3} s", med(&mut lo));
    println!("cluster-bench w4_ratio_cluster_over_local {:.3} x", med(&mut ratios));
}
