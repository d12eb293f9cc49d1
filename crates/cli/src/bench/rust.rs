//! The Rust side of the comparison: zeroproc and its in-process peers (rayon,
//! crossbeam-channel threads), on the workloads of `zeroproc_bench::workloads`.

use super::record::{Curve, Outcome, Selection};
use super::Profile;
use hdrhistogram::Histogram;
use zeroproc_bench::affinity;
use zeroproc_bench::report::histogram;
use zeroproc_bench::workloads::pool::{self, Mandel};
use zeroproc_bench::workloads::{pool_array, queue, spsc, threads};
use zeroproc_sched::WaitStrategy;

/// Sizes of one run of the Rust side.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// W1 timed round trips (per system).
    pub w1: usize,
    /// W2 items, unbatched (one job per item).
    pub w2_unbatched: u64,
    /// W2 items, chunked.
    pub w2_chunked: u64,
    /// W2 chunk size (zeroproc `chunk_size`; the Python peers' `chunksize`).
    pub chunk: usize,
    /// W3 array size in MiB.
    pub w3_mib: usize,
    /// W3 cached hand-offs after the first.
    pub w3_repeats: usize,
    /// W4 image.
    pub w4: Mandel,
    /// W4 interleaved passes.
    pub w4_rounds: usize,
    /// START samples.
    pub start: usize,
    /// RING and QUEUE timed round trips.
    pub round_trips: usize,
    /// W5 jobs.
    pub w5_jobs: usize,
    /// W5 interleaved passes.
    pub w5_rounds: usize,
    /// W6 requests.
    pub w6_requests: usize,
}

impl Sizes {
    /// The sizes of a profile.
    pub fn of(p: Profile) -> Sizes {
        match p {
            Profile::Smoke => Sizes {
                w1: 500,
                w2_unbatched: 20_000,
                w2_chunked: 200_000,
                chunk: 10_000,
                w3_mib: 8,
                w3_repeats: 1,
                w4: Mandel { size: 256, iters: 64, bands: 64 },
                w4_rounds: 1,
                start: 2,
                round_trips: 2_000,
                w5_jobs: 200,
                w5_rounds: 1,
                w6_requests: 300,
            },
            Profile::Quick => Sizes {
                w1: 20_000,
                w2_unbatched: 1_000_000,
                w2_chunked: 10_000_000,
                chunk: 10_000,
                w3_mib: 256,
                w3_repeats: 3,
                w4: Mandel::FULL,
                w4_rounds: 3,
                start: 10,
                round_trips: 20_000,
                w5_jobs: 2_000,
                w5_rounds: 3,
                w6_requests: 4_000,
            },
            Profile::Full => Sizes {
                w1: 200_000,
                w2_unbatched: 10_000_000,
                w2_chunked: 10_000_000,
                chunk: 10_000,
                w3_mib: 256,
                w3_repeats: 9,
                w4: Mandel::FULL,
                w4_rounds: 5,
                start: 20,
                round_trips: 100_000,
                w5_jobs: 2_000,
                w5_rounds: 5,
                w6_requests: 20_000,
            },
        }
    }

    fn describe(&self) -> Vec<(String, String)> {
        let m = self.w4;
        [
            ("W1 round trips (zeroproc, crossbeam-channel)", self.w1.to_string()),
            ("W2 unbatched items (zeroproc, crossbeam-channel)", self.w2_unbatched.to_string()),
            ("W2 chunked items (zeroproc, rayon)", self.w2_chunked.to_string()),
            ("W2 chunk_size (zeroproc)", self.chunk.to_string()),
            ("W3 array (zeroproc, rayon)", format!("{} MiB f64", self.w3_mib)),
            (
                "W4 image (zeroproc, rayon)",
                format!("{0}×{0}, {1} iterations, {2} bands", m.size, m.iters, m.bands),
            ),
            ("W4 interleaved passes", self.w4_rounds.to_string()),
            ("START samples", self.start.to_string()),
            ("RING / QUEUE round trips", self.round_trips.to_string()),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b))
        .collect()
    }
}

/// The quantiles of the latency curves (same as the Python peers').
pub const QUANTILES: [f64; 10] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];

fn curve(system: &str, workload: &str, h: &Histogram<u64>) -> Curve {
    let at = |q: f64| match q {
        q if q <= 0.0 => h.min(),
        q if q >= 1.0 => h.max(),
        q => h.value_at_quantile(q),
    };
    Curve {
        system: system.into(),
        workload: workload.into(),
        points: QUANTILES.iter().map(|&q| (q, at(q) as f64 / 1e3)).collect(),
    }
}

fn latency(o: &mut Outcome, system: &str, workload: &str, h: &Histogram<u64>) {
    o.put(system, workload, "p50_us", h.value_at_quantile(0.5) as f64 / 1e3);
    o.put(system, workload, "p99_us", h.value_at_quantile(0.99) as f64 / 1e3);
    o.curves.push(curve(system, workload, h));
}

/// Runs one measurement with the calling thread free to run anywhere before and after
/// (some workloads pin it; pools, threads and processes started later inherit the mask).
pub(super) fn fresh<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    eprintln!("  {what}");
    affinity::unpin();
    let r = f();
    affinity::unpin();
    r.map_err(|e| format!("{what}: {e}"))
}

/// Runs every selected Rust measurement. The W4 checksum (if W4 ran) is returned for
/// checking the Python peers' images.
pub fn run(sel: &Selection, sizes: &Sizes) -> Result<(Outcome, Option<(Mandel, u64)>), String> {
    let mut o = Outcome { sizes: sizes.describe(), ..Outcome::default() };
    let want = |s: &str, w: &str| sel.wants(s, w);
    let mut w4_check = None;
    let (zp, cb, ry) = ("zeroproc", "crossbeam-channel", "rayon");

    if want(zp, "W1") {
        // The worker is pinned to the first core; the controller to the second, as in
        // the crossbeam-channel and ring round trips (unpinned, the scheduler sometimes
        // puts it on the worker's core and the two take turns: p50 ~17 µs instead of ~1).
        let h = fresh("W1 zeroproc submit(f, x).result(), 1 worker", || {
            pool::w1_histogram_on(WaitStrategy::default(), sizes.w1, Some(1))
        })?;
        latency(&mut o, zp, "W1", &h);
        // The configuration a new user gets: `Pool::new()`, one pinned worker per core,
        // so one worker shares a core with the (unpinned) submitting thread.
        let h = fresh("W1 zeroproc submit(f, x).result(), default pool (Pool::new())", || {
            pool::w1_default_histogram(sizes.w1)
        })?;
        o.put(zp, "W1", "default_pool_p50_us", h.value_at_quantile(0.5) as f64 / 1e3);
        o.put(zp, "W1", "default_pool_p99_us", h.value_at_quantile(0.99) as f64 / 1e3);
    }
    if want(cb, "W1") {
        let mut h = histogram();
        fresh("W1 crossbeam-channel send → echo thread → recv, 2 threads", || {
            threads::round_crossbeam(sizes.w1, &mut h)
        })?;
        latency(&mut o, cb, "W1", &h);
    }

    if want(zp, "W2") {
        let (m, u, s, c) = fresh("W2 zeroproc pool.map(x → 2x) and submit, 2 workers", || {
            let p = pool::default_pool(2)?;
            let m = pool::w2_rate(&p, sizes.w2_unbatched, None)?;
            let u = pool::w2_rate(&p, sizes.w2_unbatched, Some(1))?;
            let s = pool::w2_submit_rate(&p, sizes.w2_unbatched, 256)?;
            let c = pool::w2_rate(&p, sizes.w2_chunked, Some(sizes.chunk))?;
            Ok((m, u, s, c))
        })?;
        o.put(zp, "W2", "map_items_per_s", m);
        o.put(zp, "W2", "jobs_per_s", u);
        o.put(zp, "W2", "submit_jobs_per_s", s);
        o.put(zp, "W2", "chunked_items_per_s", c);
    }
    if want(ry, "W2") {
        let r = fresh("W2 rayon into_par_iter().map(x → 2x), 2 threads", || {
            pool::w2_rayon_rate(sizes.w2_chunked)
        })?;
        o.put(ry, "W2", "chunked_items_per_s", r);
    }
    if want(cb, "W2") {
        let r = fresh("W2 crossbeam-channel, one message per item, 2 worker threads", || {
            threads::w2_crossbeam(sizes.w2_unbatched, 1024)
        })?;
        o.put(cb, "W2", "jobs_per_s", r);
        // The thread design a user would write instead of either `map`: compared with both.
        o.put(cb, "W2", "map_items_per_s", r);
    }

    if want(zp, "W3") {
        let m = fresh(&format!("W3 zeroproc {} MiB SharedArray hand-off", sizes.w3_mib), || {
            pool_array::w3_measure(sizes.w3_mib, sizes.w3_repeats, WaitStrategy::default())
        })?;
        o.put(zp, "W3", "total_ms", m.first_total_s * 1e3);
        o.put(zp, "W3", "overhead_ms", m.first_overhead_s * 1e3);
        o.put(zp, "W3", "cached_total_ms", m.cached_total_s * 1e3);
        o.put(zp, "W3", "cached_overhead_ms", m.cached_overhead_s * 1e3);
        o.put(zp, "W3", "local_sum_ms", m.local_s * 1e3);
    }
    if want(ry, "W3") {
        let (t, ov) = fresh(&format!("W3 rayon {} MiB by reference", sizes.w3_mib), || {
            pool_array::w3_rayon(sizes.w3_mib)
        })?;
        o.put(ry, "W3", "total_ms", t * 1e3);
        o.put(ry, "W3", "overhead_ms", ov * 1e3);
    }

    if want(zp, "W4") || want(ry, "W4") {
        // Pool and rayon passes are interleaved in one function: both are measured.
        let t = fresh("W4 Mandelbrot, zeroproc 1/2 workers and rayon 1/2 threads", || {
            pool::w4_times(sizes.w4, sizes.w4_rounds)
        })?;
        if want(zp, "W4") {
            o.put(zp, "W4", "time_1w_s", t.pool1);
            o.put(zp, "W4", "time_2w_s", t.pool2);
        }
        if want(ry, "W4") {
            o.put(ry, "W4", "time_1w_s", t.rayon1);
            o.put(ry, "W4", "time_2w_s", t.rayon2);
        }
        w4_check = Some((sizes.w4, t.checksum));
    }

    if want(zp, "START") {
        let h = fresh("START zeroproc pool start → first result, 2 workers", || {
            pool::start_histogram(sizes.start)
        })?;
        o.put(zp, "START", "pool_start_ms", h.value_at_quantile(0.5) as f64 / 1e6);
    }

    if want(zp, "RING") {
        let mut h = histogram();
        fresh("RING zeroproc SPSC ring 8 B round trip, busy-poll", || {
            spsc::round_spin(sizes.round_trips, &mut h)
        })?;
        latency(&mut o, zp, "RING", &h);
    }

    if want(zp, "QUEUE") {
        let mut h = histogram();
        fresh("QUEUE zeroproc Queue put → get round trip, 2 processes", || {
            queue::round(sizes.round_trips, &mut h)
        })?;
        latency(&mut o, zp, "QUEUE", &h);
    }
    if want(cb, "QUEUE") {
        let mut h = histogram();
        fresh("QUEUE crossbeam-channel send → recv round trip, 2 threads", || {
            threads::round_crossbeam(sizes.round_trips, &mut h)
        })?;
        latency(&mut o, cb, "QUEUE", &h);
    }

    super::arrays::run(&mut o, sel, sizes.w3_mib, sizes.w3_repeats.max(3))?;
    super::arrays::run_inplace(&mut o, sel, sizes.w2_chunked as usize, sizes.w4_rounds * 10 + 1)?;
    super::uneven::run(&mut o, sel, sizes.w5_jobs, sizes.w5_rounds)?;
    super::faults::run(&mut o, sel, sizes.w6_requests)?;
    Ok((o, w4_check))
}
