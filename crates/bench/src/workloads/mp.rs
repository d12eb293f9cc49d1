//! The multiprocessing layer's workloads (`cargo bench --bench mp`), each between real
//! processes, beside Python's `multiprocessing` in the same run (`bench/python/mp_ipc.py`):
//!
//! * QUEUE-RT: `put` → `get` in an echo process → `put` back → `get` (p50/p99);
//! * QUEUE-TP: one producer process `put`s `u64`s as fast as it can, this process `get`s
//!   them (items/s, from the first item received to the last);
//! * DICT-2P: two processes each alternate `insert(k, v)` and `get(k)` on one
//!   `SharedDict<u64, u64>` over 1000 keys (total operations/s, both at once);
//! * DICT-INSERT: one process's `insert` latency (p50/p99) — Python's Manager dict
//!   publishes a write in about 20 µs.

use super::queue::QueueEcho;
use crate::report::histogram;
use std::time::{Duration, Instant};
use zeroproc_mp::container::DictHandle;
use zeroproc_mp::queue::QueueHandle;
use zeroproc_mp::shared::CellHandle;
use zeroproc_mp::Queue;
use zeroproc_mp::SharedCell;
use zeroproc_mp::SharedDict;
use zeroproc_sched::{Exit, Process};
use zeroproc_shm::sync::Barrier;

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Workload id (QUEUE-RT, QUEUE-TP, DICT-2P, DICT-INSERT).
    pub workload: &'static str,
    /// Metric name.
    pub metric: &'static str,
    /// The value.
    pub value: f64,
}

fn fig(workload: &'static str, metric: &'static str, value: f64) -> Figure {
    Figure { workload, metric, value }
}

fn join(mut p: Process) -> Result<(), String> {
    match p.join_timeout(Duration::from_secs(120)).map_err(|e| e.to_string())? {
        Some(Exit::Code(0)) => Ok(()),
        other => Err(format!("bench process ended with {other:?}: {:?}", p.panic_message())),
    }
}

/// QUEUE-RT over `n` round trips: (p50 µs, p99 µs).
pub fn queue_rt(n: usize) -> Result<Vec<Figure>, String> {
    let echo = QueueEcho::start()?;
    for i in 0..1000 {
        echo.round_trip(i)?;
    }
    let mut h = histogram();
    for i in 0..n as u64 {
        let t = Instant::now();
        echo.round_trip(i)?;
        h.record(t.elapsed().as_nanos() as u64).ok();
    }
    echo.stop()?;
    Ok(vec![
        fig("QUEUE-RT", "p50_us", h.value_at_quantile(0.5) as f64 / 1000.0),
        fig("QUEUE-RT", "p99_us", h.value_at_quantile(0.99) as f64 / 1000.0),
    ])
}

fn produce((q, n): (QueueHandle<u64>, u64)) {
    let q = q.attach().expect("attach");
    for i in 0..n {
        q.put(i).expect("put");
    }
}

/// QUEUE-TP: `n` items from a producer process (items/s).
pub fn queue_tp(n: u64) -> Result<Vec<Figure>, String> {
    let q = Queue::<u64>::new(1024).map_err(|e| e.to_string())?;
    let p = Process::spawn(produce, (q.handle(), n)).map_err(|e| e.to_string())?;
    let first = q.get().map_err(|e| e.to_string())?;
    let t = Instant::now();
    for want in first + 1..n {
        let v = q.get().map_err(|e| e.to_string())?;
        if v != want {
            return Err(format!("queue out of order: want {want}, got {v}"));
        }
    }
    let dt = t.elapsed().as_secs_f64();
    join(p)?;
    Ok(vec![fig("QUEUE-TP", "items_per_s", (n - first - 1) as f64 / dt)])
}

fn dict_worker((d, b, base, n): (DictHandle<u64, u64>, CellHandle<Barrier>, u64, u64)) {
    let (d, b) = (d.attach().expect("attach dict"), b.attach().expect("attach barrier"));
    b.wait().expect("barrier");
    for i in 0..n {
        let k = (base + i) % 1000;
        d.insert(k, i).expect("insert");
        assert!(d.get(&k).expect("get").is_some());
    }
}

/// DICT-2P (two processes, `steps` insert+get each) and DICT-INSERT (`steps` inserts
/// here).
pub fn dict(steps: u64) -> Result<Vec<Figure>, String> {
    let d = SharedDict::<u64, u64>::new().map_err(|e| e.to_string())?;
    let b = SharedCell::new(Barrier::new(3)).map_err(|e| e.to_string())?;
    let ps = (0..2)
        .map(|j| Process::spawn(dict_worker, (d.handle(), b.handle(), j * 500, steps)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    b.wait().map_err(|e| e.to_string())?;
    let t = Instant::now();
    for p in ps {
        join(p)?;
    }
    let ops = (2 * 2 * steps) as f64 / t.elapsed().as_secs_f64();
    let mut h = histogram();
    for i in 0..steps {
        let t = Instant::now();
        d.insert(i % 1000, i).map_err(|e| e.to_string())?;
        h.record(t.elapsed().as_nanos() as u64).ok();
    }
    Ok(vec![
        fig("DICT-2P", "ops_per_s", ops),
        fig("DICT-INSERT", "p50_us", h.value_at_quantile(0.5) as f64 / 1000.0),
        fig("DICT-INSERT", "p99_us", h.value_at_quantile(0.99) as f64 / 1000.0),
    ])
}
