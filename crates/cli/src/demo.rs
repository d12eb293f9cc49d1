//! `zeroproc demo`: the foundation at work on real processes.
//!
//! 1. A prime count over `[0, size × 10^6)` cut into 64 bands, fanned out to worker
//!    processes (this executable, re-executed, pinned one per core) over one submission
//!    and one completion SPSC ring per worker; 1 worker vs N workers, checked against an
//!    in-process count.
//! 2. A ring round trip between two processes (p50/p99).
//! 3. A robust lock: a process SIGKILLed while holding a shared `Lock` does not deadlock
//!    the others; the next acquirer is told the owner died.

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use zeroproc_ring::spsc::{Ring, RingDescriptor, TryRecvError};
use zeroproc_shm::sync::Lock;
use zeroproc_shm::wait::WaitStrategy;
use zeroproc_shm::{Layout, Segment, SegmentBuilder, SegmentId};

const ENV: &str = "ZEROPROC_DEMO_CHILD";
const BANDS: u64 = 64;
const STOP: u32 = 1;
const LOCK_LAYOUT: Layout = Layout::new("demo-lock", 1).with_type::<LockCell>();

/// A shared `Lock` and a flag the holder raises once it holds it.
#[repr(C)]
struct LockCell {
    lock: Lock,
    held: std::sync::atomic::AtomicU32,
}

/// In a demo child process: runs its role and exits. Otherwise returns.
pub fn worker_entry() {
    let Ok(spec) = std::env::var(ENV) else { return };
    let r = match spec.split_once('|') {
        Some(("worker", arg)) => worker(arg),
        Some(("lock-holder", arg)) => lock_holder(arg),
        _ => Err(format!("bad demo child spec {spec:?}")),
    };
    if let Err(e) = r {
        eprintln!("demo child: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn spawn(role: &str, arg: &str) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (k, v) = zeroproc_bench::affinity::child_env();
    Command::new(exe).env(ENV, format!("{role}|{arg}")).env(k, v).spawn().map_err(|e| e.to_string())
}

fn attach(text: &str) -> Result<Ring, String> {
    let d: RingDescriptor = text.parse().map_err(|e| format!("{e}"))?;
    Ring::attach_descriptor(&d).map_err(|e| e.to_string())
}

/// The kernel: how many primes in `[lo, hi)` (trial division by odd numbers).
fn count_primes(lo: u64, hi: u64) -> u64 {
    (lo..hi)
        .filter(|&n| {
            if n < 2 {
                return false;
            }
            if n % 2 == 0 {
                return n == 2;
            }
            let mut d = 3;
            while d * d <= n {
                if n % d == 0 {
                    return false;
                }
                d += 2;
            }
            true
        })
        .count() as u64
}

/// Worker: `sub@..|comp@..|core`. Jobs are (lo, hi) pairs; results (band, count, busy ns).
fn worker(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (Some(sub), Some(comp), Some(core)) = (it.next(), it.next(), it.next()) else {
        return Err(format!("bad worker arg {arg:?}"));
    };
    zeroproc_bench::affinity::pin_to(core.parse().unwrap_or(0));
    let sub = attach(sub)?;
    let comp = attach(comp)?;
    let mut rx = sub.consumer().map_err(|e| e.to_string())?;
    let mut tx = comp.producer().map_err(|e| e.to_string())?;
    loop {
        let (band, lo, hi) = {
            let rec = rx.recv().map_err(|e| e.to_string())?;
            if rec.kind() == STOP {
                return Ok(());
            }
            let w = |i: usize| u64::from_le_bytes(rec[i * 8..i * 8 + 8].try_into().unwrap());
            (w(0), w(1), w(2))
        };
        let t = Instant::now();
        let n = count_primes(lo, hi);
        let busy = t.elapsed().as_nanos() as u64;
        let mut r = tx.reserve(24).map_err(|e| e.to_string())?;
        r[..8].copy_from_slice(&band.to_le_bytes());
        r[8..16].copy_from_slice(&n.to_le_bytes());
        r[16..24].copy_from_slice(&busy.to_le_bytes());
        r.commit();
    }
}

struct Fanout {
    total: u64,
    secs: f64,
    per_worker: Vec<(u64, f64)>, // (jobs, busy seconds)
}

/// Counts primes below `limit` on `workers` worker processes.
fn fan_out(limit: u64, workers: usize) -> Result<Fanout, String> {
    let mut subs = Vec::new();
    let mut comps = Vec::new();
    let mut children = Vec::new();
    for w in 0..workers {
        let sub = Ring::create(1 << 14).map_err(|e| e.to_string())?;
        let comp = Ring::create(1 << 14).map_err(|e| e.to_string())?;
        let arg = format!("{}|{}|{w}", sub.descriptor().unwrap(), comp.descriptor().unwrap());
        children.push(spawn("worker", &arg)?);
        subs.push(sub.producer().map_err(|e| e.to_string())?);
        comps.push(
            comp.consumer().map_err(|e| e.to_string())?.with_wait_strategy(WaitStrategy::Sleep),
        );
    }
    let t = Instant::now();
    let band = limit.div_ceil(BANDS);
    // On-demand dispatch: two bands in flight per worker, the next one sent to whichever
    // worker just finished (bands are uneven: larger numbers cost more to test).
    let mut next = 0u64;
    let mut send = |w: usize, next: &mut u64| -> Result<(), String> {
        if *next >= BANDS {
            return Ok(());
        }
        let b = *next;
        *next += 1;
        let (lo, hi) = (b * band, ((b + 1) * band).min(limit));
        let mut r = subs[w].reserve(24).map_err(|e| e.to_string())?;
        r[..8].copy_from_slice(&b.to_le_bytes());
        r[8..16].copy_from_slice(&lo.to_le_bytes());
        r[16..24].copy_from_slice(&hi.to_le_bytes());
        r.commit();
        Ok(())
    };
    for w in 0..workers {
        send(w, &mut next)?;
        send(w, &mut next)?;
    }
    let mut total = 0;
    let mut per_worker = vec![(0u64, 0f64); workers];
    let mut done = 0;
    while done < BANDS {
        let mut progressed = false;
        for (w, c) in comps.iter_mut().enumerate() {
            match c.try_recv() {
                Ok(rec) => {
                    let f =
                        |i: usize| u64::from_le_bytes(rec[i * 8..i * 8 + 8].try_into().unwrap());
                    total += f(1);
                    per_worker[w].0 += 1;
                    per_worker[w].1 += f(2) as f64 / 1e9;
                    drop(rec);
                    done += 1;
                    progressed = true;
                    send(w, &mut next)?;
                }
                Err(TryRecvError::Empty) => {}
                Err(e) => return Err(format!("worker {w}: {e}")),
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let secs = t.elapsed().as_secs_f64();
    for s in subs.iter_mut() {
        let mut r = s.reserve(0).map_err(|e| e.to_string())?;
        r.set_kind(STOP);
        r.commit();
    }
    for mut c in children {
        let st = c.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("worker exited with {st}"));
        }
    }
    Ok(Fanout { total, secs, per_worker })
}

/// Lock holder: lock, raise the flag, then sleep until killed.
fn lock_holder(arg: &str) -> Result<(), String> {
    let id: SegmentId = arg.parse().map_err(|e| format!("{e}"))?;
    let seg = Segment::attach(&id, LOCK_LAYOUT).map_err(|e| e.to_string())?;
    // SAFETY: the creator initialised a `LockCell` at the start of the data region.
    let cell = unsafe { &*seg.data().cast::<LockCell>() };
    let guard = cell.lock.lock().map_err(|_| "lock owner died unexpectedly")?;
    // Release: pairs with the parent's Acquire load of the flag.
    cell.held.store(1, std::sync::atomic::Ordering::Release);
    std::thread::sleep(Duration::from_secs(60));
    drop(guard);
    Ok(())
}

fn robust_lock() -> Result<(), String> {
    let seg = SegmentBuilder::new(LOCK_LAYOUT, std::mem::size_of::<LockCell>())
        .create_with(|s| {
            // SAFETY: fresh, aligned, large enough; nobody can attach before this returns.
            unsafe {
                s.data().cast::<LockCell>().write(LockCell {
                    lock: Lock::new(),
                    held: std::sync::atomic::AtomicU32::new(0),
                })
            }
        })
        .map_err(|e| e.to_string())?;
    // SAFETY: initialised above.
    let cell = unsafe { &*seg.data().cast::<LockCell>() };
    let mut child = spawn("lock-holder", &seg.id().to_string())?;
    // Acquire: pairs with the holder's Release store.
    while cell.held.load(std::sync::atomic::Ordering::Acquire) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("  process {} holds the shared lock; sending it SIGKILL", child.id());
    child.kill().map_err(|e| e.to_string())?;
    let t = Instant::now();
    match cell.lock.lock_timeout(Duration::from_secs(10)) {
        Err(zeroproc_shm::sync::LockTimeoutError::OwnerDied(g)) => {
            println!(
                "  next lock(): OwnerDied after {:.1} ms — lock recovered, no deadlock",
                t.elapsed().as_secs_f64() * 1e3
            );
            drop(g.into_inner());
        }
        Ok(_) => return Err("lock acquired without an owner-died report".into()),
        Err(e) => return Err(format!("lock not recovered: {e}")),
    }
    child.wait().map_err(|e| e.to_string())?;
    let again = cell.lock.try_lock().map_err(|_| "lock not usable after recovery")?;
    drop(again);
    println!("  and it works normally afterwards");
    Ok(())
}

/// Runs the demo.
/// Arguments of `zeroproc demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Scale of the prime count: numbers below SIZE × 1,000,000 are tested.
    #[arg(long, default_value_t = 4)]
    size: u64,
}

/// Runs the demo.
pub fn run(a: Args) -> Result<(), String> {
    let size = a.size;
    let n = zeroproc_bench::affinity::cpus();
    let limit = size.max(1) * 1_000_000;
    println!("zeroproc demo — {n} CPUs\n");

    println!("1. primes below {limit}, {BANDS} bands over SPSC rings to worker processes");
    let t = Instant::now();
    let expect = count_primes(0, limit);
    let local = t.elapsed().as_secs_f64();
    println!("  in-process reference: {expect} primes in {local:.3} s");
    let one = fan_out(limit, 1)?;
    let all = fan_out(limit, n)?;
    for (label, r) in [("1 worker ", &one), (&format!("{n} workers")[..], &all)] {
        if r.total != expect {
            return Err(format!("{label}: counted {} primes, expected {expect}", r.total));
        }
        println!("  {label}: {} primes in {:.3} s", r.total, r.secs);
    }
    println!("  speedup {:.2}x with {n} workers (ideal {n}x)", one.secs / all.secs);
    println!("  per worker (N-worker run): jobs, busy s, busy %");
    for (w, (jobs, busy)) in all.per_worker.iter().enumerate() {
        println!("    worker {w}: {jobs:3} jobs  {busy:.3} s  {:5.1} %", busy / all.secs * 100.0);
    }

    println!("\n2. SPSC ring round trip between two processes (8-byte records, busy-poll)");
    let mut h = zeroproc_bench::report::histogram();
    zeroproc_bench::workloads::spsc::round_spin(50_000, &mut h)?;
    println!(
        "  p50 {:.2} µs   p99 {:.2} µs   ({} samples)",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.len()
    );

    println!("\n3. robust process-shared lock");
    robust_lock()?;
    println!("\ndone: see `zeroproc bench` for the full comparison tables.");
    Ok(())
}
