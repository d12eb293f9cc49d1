//! `cargo bench --bench criterion_ipc`: round trips between two processes under
//! criterion — RING (an 8-byte record over two zeroproc SPSC rings, busy-polling) and
//! QUEUE (`Queue::put` → `get` in an echo process → `put` → `get`), with crossbeam-channel
//! between two threads beside them.
//!
//! Criterion's options follow `--`. Defaults here: 1 s warm-up, 3 s measurement.

use criterion::Criterion;
use std::time::Duration;
use zeroproc_bench::workloads::queue::QueueEcho;
use zeroproc_bench::workloads::spsc::Echo;

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("RING 8 B round trip, 2 processes");
    for strat in ["spin", "default"] {
        let mut echo = Echo::start(strat).expect("echo peer");
        let mut i = 0u64;
        g.bench_function(format!("zeroproc SPSC ring, {strat}"), |b| {
            b.iter(|| {
                i += 1;
                echo.round_trip(i).expect("round trip")
            })
        });
        echo.stop().expect("echo peer stops");
    }
    g.finish();
}

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("QUEUE put → get round trip");
    let echo = QueueEcho::start().expect("echo process");
    let mut i = 0u64;
    g.bench_function("zeroproc Queue, 2 processes", |b| {
        b.iter(|| {
            i += 1;
            echo.round_trip(i).expect("round trip")
        })
    });
    echo.stop().expect("echo process stops");
    let (tx, rx_peer) = crossbeam_channel::bounded::<u64>(1);
    let (tx_peer, rx) = crossbeam_channel::bounded::<u64>(1);
    let t = std::thread::spawn(move || {
        while let Ok(v) = rx_peer.recv() {
            if tx_peer.send(v).is_err() {
                break;
            }
        }
    });
    g.bench_function("crossbeam-channel, 2 threads", |b| {
        b.iter(|| {
            i += 1;
            tx.send(i).expect("send");
            assert_eq!(rx.recv().expect("recv"), i);
        })
    });
    drop(tx);
    t.join().expect("echo thread");
    g.finish();
}

fn main() {
    // Pool workers, `Process` children and bench peers are this binary re-executed.
    zeroproc::init();
    zeroproc_bench::peer::entry();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    ring(&mut c);
    queue(&mut c);
    c.final_summary();
}
