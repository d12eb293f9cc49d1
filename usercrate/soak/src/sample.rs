//! Resource samples of this process (the controller) and its children, read from /proc.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One reading (`shmem`: the part of the RSS that is shared memory, the pool's and
/// objects' segments; `heap`: glibc's `mallinfo2` in-use bytes, `rust_heap`: the bytes
/// live in Rust allocations, counted by `alloc::Counting`). Children are every process
/// whose parent is this one: pool workers and `Process` children alike.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub t: f64,
    pub rss_kb: u64,
    pub shmem_kb: u64,
    pub heap_kb: u64,
    pub rust_heap_kb: u64,
    pub fds: u64,
    pub threads: u64,
    pub memfd_maps: u64,
    pub memfd_fds: u64,
    pub dev_shm: u64,
    pub registry: u64,
    pub children: u64,
    pub zombies: u64,
    pub child_rss_max_kb: u64,
    pub child_shmem_max_kb: u64,
    pub child_rss_sum_kb: u64,
    pub child_fds_max: u64,
    pub child_memfd_max: u64,
}

pub const COLUMNS: [&str; 18] = [
    "t_s",
    "rss_kb",
    "shmem_kb",
    "heap_kb",
    "rust_heap_kb",
    "fds",
    "threads",
    "memfd_maps",
    "memfd_fds",
    "dev_shm",
    "registry",
    "children",
    "zombies",
    "child_rss_max_kb",
    "child_shmem_max_kb",
    "child_rss_sum_kb",
    "child_fds_max",
    "child_memfd_max",
];

impl Sample {
    pub fn values(&self) -> [f64; 18] {
        [
            self.t,
            self.rss_kb as f64,
            self.shmem_kb as f64,
            self.heap_kb as f64,
            self.rust_heap_kb as f64,
            self.fds as f64,
            self.threads as f64,
            self.memfd_maps as f64,
            self.memfd_fds as f64,
            self.dev_shm as f64,
            self.registry as f64,
            self.children as f64,
            self.zombies as f64,
            self.child_rss_max_kb as f64,
            self.child_shmem_max_kb as f64,
            self.child_rss_sum_kb as f64,
            self.child_fds_max as f64,
            self.child_memfd_max as f64,
        ]
    }
}

fn status_field(pid: &str, key: &str) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn count_dir(path: &str) -> u64 {
    fs::read_dir(path).map(|d| d.count() as u64).unwrap_or(0)
}

fn memfd_fds(pid: &str) -> u64 {
    let Ok(d) = fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    d.filter_map(|e| e.ok())
        .filter(|e| {
            fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("/memfd:"))
        })
        .count() as u64
}

/// Distinct memfd objects mapped (by inode), not mapping lines.
fn memfd_maps(pid: &str) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut inodes: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("/memfd:"))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    inodes.sort_unstable();
    inodes.dedup();
    inodes.len() as u64
}

fn registry_entries(me: u32) -> u64 {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .map(|d| format!("{d}/zeroproc"))
        .unwrap_or_else(|_| format!("/tmp/zeroproc-{uid}"));
    let prefix = format!("{me}-");
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count() as u64
        })
        .unwrap_or(0)
}

/// (pid, state) of every child of `me`.
fn children(me: u32) -> Vec<(String, char)> {
    let mut out = Vec::new();
    let Ok(d) = fs::read_dir("/proc") else { return out };
    for e in d.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{name}/stat")) else { continue };
        // Fields after the command name, which may hold spaces: ") S PPID ...".
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            out.push((name, state));
        }
    }
    out
}

fn heap_kb() -> u64 {
    // SAFETY: mallinfo2 only reads glibc's allocator statistics.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64 / 1024
}

pub fn take(start: Instant) -> Sample {
    let me = std::process::id();
    let kids = children(me);
    let mut s = Sample {
        t: start.elapsed().as_secs_f64(),
        rss_kb: status_field("self", "VmRSS:"),
        shmem_kb: status_field("self", "RssShmem:"),
        heap_kb: heap_kb(),
        rust_heap_kb: crate::alloc::live_bytes().max(0) as u64 / 1024,
        fds: count_dir("/proc/self/fd"),
        threads: status_field("self", "Threads:"),
        memfd_maps: memfd_maps("self"),
        memfd_fds: memfd_fds("self"),
        dev_shm: count_dir("/dev/shm"),
        registry: registry_entries(me),
        children: kids.len() as u64,
        zombies: kids.iter().filter(|(_, st)| *st == 'Z').count() as u64,
        ..Sample::default()
    };
    for (pid, st) in &kids {
        if *st == 'Z' {
            continue;
        }
        let rss = status_field(pid, "VmRSS:");
        s.child_rss_max_kb = s.child_rss_max_kb.max(rss);
        s.child_shmem_max_kb = s.child_shmem_max_kb.max(status_field(pid, "RssShmem:"));
        s.child_rss_sum_kb += rss;
        s.child_fds_max = s.child_fds_max.max(count_dir(&format!("/proc/{pid}/fd")));
        s.child_memfd_max = s.child_memfd_max.max(memfd_maps(pid));
    }
    s
}

/// Samples every `every` on a thread of its own, printing each sample as a CSV line.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        // Room for 8,192 samples up front: a growing vector would show in the heap figures.
        let samples = Arc::new(Mutex::new(Vec::with_capacity(8192)));
        let (st, sa) = (stop.clone(), samples.clone());
        println!("csv,{}", COLUMNS.join(","));
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            loop {
                let s = take(start);
                let line: Vec<String> = s.values().iter().map(|v| format!("{v:.1}")).collect();
                println!("csv,{}", line.join(","));
                sa.lock().unwrap().push(s);
                let until = Instant::now() + every;
                while Instant::now() < until {
                    if st.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Sampler { stop, samples, thread: Some(thread) }
    }

    /// Stops sampling, takes a last sample and returns them all.
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// Least-squares slope of column `c` per minute over `xs`.
fn slope(xs: &[Sample], c: usize) -> f64 {
    let n = xs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for s in xs {
        let v = s.values();
        let (x, y) = (v[0] / 60.0, v[c]);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let d = n * sxx - sx * sx;
    if d == 0.0 {
        0.0
    } else {
        (n * sxy - sx * sy) / d
    }
}

/// The summary: per resource, the first sample after warm-up, the last, the maximum, and
/// the slope per minute over the whole run and over its second half (a leak keeps its
/// slope in the second half; warm-up growth does not).
pub fn report(name: &str, samples: &[Sample], secs: f64) {
    let samples: Vec<Sample> = samples.iter().filter(|s| s.t < secs).cloned().collect();
    let warm = samples.iter().position(|s| s.t >= 10.0).unwrap_or(0).min(samples.len() - 1);
    let xs = &samples[warm..];
    if xs.is_empty() {
        return;
    }
    let half = &xs[xs.len() / 2..];
    println!("summary {name}: {} samples, {:.0} s", samples.len(), xs.last().map_or(0.0, |s| s.t));
    println!(
        "  {:<18} {:>10} {:>10} {:>10} {:>12} {:>14}",
        "resource", "start", "end", "max", "slope/min", "2nd-half/min"
    );
    for (c, col) in COLUMNS.iter().enumerate().skip(1) {
        let v = |s: &Sample| s.values()[c];
        let max = xs.iter().map(v).fold(f64::MIN, f64::max);
        println!(
            "  {:<18} {:>10.0} {:>10.0} {:>10.0} {:>12.2} {:>14.2}",
            col,
            v(&xs[0]),
            v(xs.last().unwrap()),
            max,
            slope(xs, c),
            slope(half, c)
        );
    }
}
