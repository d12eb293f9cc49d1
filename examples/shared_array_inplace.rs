//! A kernel mapped over chunks of a `SharedArray`, results written **in place**: the input
//! (8 M f64, 64 MiB) and the output live in shared memory; jobs carry only handles (a few
//! dozen bytes), each worker writes its own disjoint chunk of the output.

use std::time::Instant;
use zeroproc::{ArrayHandle, ChunkMut, SharedArray};

const N: usize = 8 << 20;

/// y[i] = sqrt(x[i]) * 0.5 + 1 over one chunk.
fn kernel((x, out): (ArrayHandle<f64>, ChunkMut<f64>)) -> (u64, usize) {
    let x = x.read().expect("input");
    let mut y = out.write().expect("a chunk is written by one job only");
    let r = y.range();
    for (o, v) in y.iter_mut().zip(&x[r.clone()]) {
        *o = v.sqrt() * 0.5 + 1.0;
    }
    (std::process::id() as u64, r.len())
}

fn main() {
    zeroproc::init();
    let pool = zeroproc::Pool::new().expect("pool");
    let data: Vec<f64> = (0..N).map(|i| i as f64).collect();
    let x = SharedArray::from_slice(&data).expect("input array");
    let mut y = SharedArray::<f64>::zeroed(N).expect("output array");
    let t = Instant::now();
    let chunks = y.chunks_mut(N / 64).expect("split");
    let jobs: Vec<_> = chunks.into_iter().map(|c| (x.handle(), c)).collect();
    let mut per_pid = std::collections::BTreeMap::new();
    for r in pool.map(kernel, jobs) {
        let (pid, n) = r.expect("job");
        *per_pid.entry(pid).or_insert(0usize) += n;
    }
    let elapsed = t.elapsed();
    let y = y.as_slice().expect("every chunk finished");
    let wrong = (0..N).filter(|&i| y[i] != data[i].sqrt() * 0.5 + 1.0).count();
    println!("{N} elements, 64 chunks, {} workers, {:?}", pool.workers(), elapsed);
    for (pid, n) in per_pid {
        println!("  worker pid {pid} wrote {n} elements in place");
    }
    println!("mismatches against a local computation: {wrong}");
    assert_eq!(wrong, 0);
    println!("{}", pool.stats());
}
