//! `zeroproc demo`: the executor at work on two CPU-bound workloads, on real worker
//! processes (this executable, re-executed, one pinned per core).
//!
//! 1. **Mandelbrot** ([`mandel`]): the image lives in a `SharedArray<u32>`; it is split
//!    into row bands and each job writes its band **in place** through a `ChunkMut`
//!    handle (`pool.map_unordered`). Written as a PNG (`--out`).
//! 2. **Monte Carlo π** ([`pi`]): one future per job (`pool.submit`), each job with its
//!    own seeded RNG, collected with `as_completed`.
//!
//! Both show a progress bar while jobs complete, then the pool's per-worker statistics
//! (`pool.stats()`: jobs, busy/idle time, bytes moved). Then the same work with 1 worker
//! and on rayon threads (1 and N, in the same run) gives a scaling table; the results
//! must agree bit for bit (image checksum, π hit count), or the demo fails.
//! 3. **Faults** ([`faults`]): a job that SIGKILLs its worker and a job stuck in a loop
//!    fail alone (`WorkerDied`, `TimeLimit`); the pool respawns and keeps serving.
//!
//! `--size` scales the work (1.0, the default: about 2 s of one core per workload and
//! run, 13–15 s in all on 2 cores). `--no-pin` leaves workers unpinned (better on a machine
//! shared with other pinned work). The pools are named `demo` and `demo-1w`:
//! `zeroproc top demo` watches the first one live.

mod faults;
mod mandel;
mod pi;

use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;
use zeroproc_sched::{Pool, PoolStats};

/// Arguments of `zeroproc demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Scale of the work (image area and sample count); 1.0 takes about 15 s on 2 cores.
    #[arg(long, default_value_t = 1.0)]
    size: f64,
    /// Worker processes (default: the available cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Where to write the Mandelbrot image.
    #[arg(long, default_value = "target/zeroproc-demo/mandelbrot.png")]
    out: PathBuf,
    /// Skip the fault-tolerance part.
    #[arg(long)]
    no_faults: bool,
    /// Do not pin workers to cores (pinning is the default; on a machine shared with
    /// other pinned work it can cost more than it saves).
    #[arg(long)]
    no_pin: bool,
}

/// One timed run of a workload and its result's checksum.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Wall-clock seconds.
    pub secs: f64,
    /// Checksum of the result (image hash, π hit count).
    pub check: u64,
}

/// FNV-1a over the pixels.
pub fn checksum(px: &[u32]) -> u64 {
    px.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
        p.to_le_bytes().iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    })
}

fn bar(len: usize) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    let style =
        ProgressStyle::with_template("   {bar:40.cyan/blue} {pos:>4}/{len} jobs  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    b
}

fn rayon_pool(n: usize) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| e.to_string())
}

/// Runs the demo.
pub fn run(a: Args) -> Result<(), String> {
    if !(a.size > 0.0 && a.size.is_finite()) {
        return Err(format!("--size must be a positive number, not {}", a.size));
    }
    let t0 = Instant::now();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let n = a.workers.unwrap_or(cores).max(1);
    let img = mandel::Image::for_size(a.size);
    let plan = pi::Plan::for_size(a.size);
    let pin = !a.no_pin;
    let pool =
        Pool::builder().workers(n).pin(pin).name("demo").build().map_err(|e| e.to_string())?;
    println!(
        "zeroproc demo — {cores} cores, a pool of {n} worker processes (pid {}: `zeroproc top \
         demo` watches it)\n",
        std::process::id()
    );

    println!(
        "1. Mandelbrot {}×{} (≤ {} iterations/pixel): {} row bands written in place into a \
         SharedArray<u32>",
        img.width,
        img.height,
        img.max_iter,
        img.jobs()
    );
    let b = bar(img.jobs());
    let (mandel_n, px) = mandel::on_pool(&pool, img, Some(&b))?;
    b.finish_and_clear();
    mandel::write_png(&a.out, img, &px)?;
    println!(
        "   {n} workers: {:.2} s → {} (checksum {:016x})",
        mandel_n.secs,
        a.out.display(),
        mandel_n.check
    );

    println!(
        "2. Monte Carlo π: {} jobs × {} points, each job with its own seeded RNG",
        plan.jobs, plan.samples
    );
    let b = bar(plan.jobs as usize);
    let (pi_n, hits) = pi::on_pool(&pool, plan, Some(&b))?;
    b.finish_and_clear();
    let est = plan.estimate(hits);
    println!(
        "   {n} workers: {:.2} s → π ≈ {est:.6} (error {:.1e}, {} points)",
        pi_n.secs,
        (est - std::f64::consts::PI).abs(),
        plan.total()
    );

    println!("\nPer worker (pool.stats(), both workloads):");
    print_stats(&pool.stats());
    println!(
        "   (bytes = job arguments and results through the rings; the {} image itself was \
         written in place and never travelled)",
        bytes((img.width * img.height * 4) as u64)
    );

    println!("\nScaling: the same work with 1 worker, and on rayon threads (same run)");
    let one =
        Pool::builder().workers(1).pin(pin).name("demo-1w").build().map_err(|e| e.to_string())?;
    let mandel_1 = mandel::on_pool(&one, img, None)?.0;
    let pi_1 = pi::on_pool(&one, plan, None)?.0;
    drop(one);
    let (r1, rn) = (rayon_pool(1)?, rayon_pool(n)?);
    let rows = [
        (
            "mandelbrot",
            [mandel_1, mandel_n, mandel::on_rayon(&r1, img), mandel::on_rayon(&rn, img)],
        ),
        ("monte carlo π", [pi_1, pi_n, pi::on_rayon(&r1, plan), pi::on_rayon(&rn, plan)]),
    ];
    print_table(n, &rows);
    for (name, runs) in &rows {
        if runs.iter().any(|r| r.check != runs[0].check) {
            let checks: Vec<String> = runs.iter().map(|r| format!("{:x}", r.check)).collect();
            return Err(format!("{name}: results differ between runs: {}", checks.join(" ")));
        }
    }
    println!(
        "   results agree: image checksum {:016x} and π hit count {} identical in all 4 runs",
        rows[0].1[0].check, rows[1].1[0].check
    );

    if !a.no_faults {
        println!("\n3. Faults (a Python ProcessPoolExecutor would be broken by the first one)");
        faults::run(&pool)?;
    }
    drop(pool);
    println!("\ndone in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn print_stats(s: &PoolStats) {
    println!("   worker  pid       jobs   busy s   idle s   busy %   bytes in   bytes out");
    for w in &s.workers {
        let (busy, idle) = (w.busy.as_secs_f64(), w.idle.as_secs_f64());
        let util = if busy + idle > 0.0 { 100.0 * busy / (busy + idle) } else { 0.0 };
        println!(
            "   {:<7} {:<9} {:>4}   {busy:>6.2}   {idle:>6.2}   {util:>5.1}   {:>8}   {:>9}",
            w.index,
            w.pid,
            w.jobs_done,
            bytes(w.bytes_in),
            bytes(w.bytes_out)
        );
    }
}

/// `n` bytes in B / KB / MB.
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} KB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

fn print_table(n: usize, rows: &[(&str, [Run; 4])]) {
    println!(
        "   {:<14} {:>11} {:>11} {:>8}   {:>9} {:>9} {:>8}   {:>11}",
        "workload",
        "zeroproc 1w",
        format!("zeroproc {n}w"),
        "speedup",
        "rayon 1t",
        format!("rayon {n}t"),
        "speedup",
        format!("{n}w / rayon")
    );
    for (name, [z1, zn, r1, rn]) in rows {
        println!(
            "   {:<14} {:>9.2} s {:>9.2} s {:>7.2}×   {:>7.2} s {:>7.2} s {:>7.2}×   {:>10.2}×",
            name,
            z1.secs,
            zn.secs,
            z1.secs / zn.secs,
            r1.secs,
            rn.secs,
            r1.secs / rn.secs,
            zn.secs / rn.secs
        );
    }
    println!("   (one run each on a shared machine; \"{n}w / rayon\" > 1 means slower than rayon)");
}
