//! A Mandelbrot image in row bands over every node of an MPI run (feature `mpi`):
//!
//! ```text
//! cargo build --release --features mpi --example mpi_map
//! mpirun -n 3 --bind-to none target/release/examples/mpi_map      # 1 controller + 2 node agents
//! srun -N 4 --ntasks-per-node=1 --cpus-per-task=$CORES target/release/examples/mpi_map
//! ```
//!
//! Ranks 1.. become node agents at `#[zeroproc::main]`'s `init()` and never run `main`;
//! rank 0 runs it. Without a launcher the same program runs on a local pool.

use zeroproc::cluster::ClusterPool;

const SIZE: u32 = 1024;
const ITERS: u32 = 256;
const BANDS: u32 = 64;

/// One band of rows: iteration counts (capped at 255), and the MPI rank that computed it.
fn band(b: u32) -> (Vec<u8>, u32) {
    let rows = SIZE / BANDS;
    let mut out = Vec::with_capacity((rows * SIZE) as usize);
    for y in b * rows..(b + 1) * rows {
        let ci = y as f64 / SIZE as f64 * 3.0 - 1.5;
        for x in 0..SIZE {
            let cr = x as f64 / SIZE as f64 * 3.5 - 2.5;
            let (mut zr, mut zi, mut i) = (0.0f64, 0.0f64, 0u32);
            while i < ITERS && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                i += 1;
            }
            out.push(i.min(255) as u8);
        }
    }
    let rank = std::env::var("OMPI_COMM_WORLD_RANK")
        .or_else(|_| std::env::var("PMIX_RANK"))
        .or_else(|_| std::env::var("SLURM_PROCID"))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    (out, rank)
}

#[zeroproc::main]
fn main() {
    let pool = ClusterPool::builder().build().expect("cluster pool");
    println!("nodes (rank, workers): {:?}", pool.nodes());
    let t = std::time::Instant::now();
    let mut per_rank = std::collections::BTreeMap::new();
    let mut checksum = 0u64;
    for r in pool.map(band, 0..BANDS) {
        let (pixels, rank) = r.expect("band failed");
        checksum += pixels.iter().map(|&p| p as u64).sum::<u64>();
        *per_rank.entry(rank).or_insert(0) += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    let serial: u64 = (0..BANDS).map(|b| band(b).0.iter().map(|&p| p as u64).sum::<u64>()).sum();
    assert_eq!(checksum, serial, "the cluster's image differs from the serial one");
    println!(
        "{SIZE}x{SIZE} Mandelbrot, {BANDS} bands in {:.1} ms; bands per rank: {per_rank:?}",
        secs * 1e3
    );
    println!("checksum {checksum} (matches the serial computation)");
}
