//! The job functions (plain `fn`s: every rank runs the same executable, so a function names
//! the same code on every node) and small helpers of the scenarios.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The MPI rank whose node agent runs this job (a worker inherits its agent's environment);
/// 0 on rank 0's own pool or without a launcher.
pub fn rank() -> u32 {
    std::env::var("OMPI_COMM_WORLD_RANK")
        .or_else(|_| std::env::var("PMIX_RANK"))
        .or_else(|_| std::env::var("PMI_RANK"))
        .or_else(|_| std::env::var("SLURM_PROCID"))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Ranks in the run (1 without a launcher).
pub fn world_size() -> usize {
    std::env::var("OMPI_COMM_WORLD_SIZE")
        .or_else(|_| std::env::var("PMI_SIZE"))
        .or_else(|_| std::env::var("SLURM_NTASKS"))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

pub fn square(x: u64) -> u64 {
    x * x
}

/// `x * 2` and the rank that computed it.
pub fn where_am_i(x: u64) -> (u64, u32) {
    (x * 2, rank())
}

pub fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A file every rank sees (they all run on this machine here): jobs holding its path block
/// until rank 0 opens it. This is how a scenario holds a job "running" for exactly as long
/// as it needs without guessing durations.
pub struct Gate {
    path: PathBuf,
}

static GATES: AtomicU64 = AtomicU64::new(0);

impl Gate {
    pub fn new() -> Gate {
        let n = GATES.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("clustercrate-gate-{}-{n}", std::process::id()));
        Gate { path }
    }

    pub fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    pub fn open(&self) {
        std::fs::write(&self.path, b"open").expect("gate file");
    }
}

impl Drop for Gate {
    /// Opens the gate (a scenario that fails early must not leave its pool's drop waiting
    /// for gated jobs); `remove_gates` deletes the files at the end of the run.
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, b"open");
    }
}

/// Deletes this run's gate files.
pub fn remove_gates() {
    let prefix = format!("clustercrate-gate-{}-", std::process::id());
    if let Ok(d) = std::fs::read_dir(std::env::temp_dir()) {
        for e in d.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Blocks until the gate at `path` is open (at most 120 s: a job must never outlive a
/// failed run for long); returns the rank that ran it.
pub fn wait_gate(path: String) -> u64 {
    let end = Instant::now() + Duration::from_secs(120);
    while !Path::new(&path).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    u64::from(rank())
}

/// An item of a mixed map: with a gate path it blocks on it, else it is `x * x` at once.
pub fn mixed((gate, x): (String, u64)) -> u64 {
    if !gate.is_empty() {
        wait_gate(gate);
    }
    x * x
}

/// A job that misbehaves as `how` says; 0 is a normal job.
pub fn misbehave(how: u32) -> u64 {
    match how {
        0 => 100,
        1 => panic!("job {how} panics on purpose"),
        2 => std::process::exit(7),
        3 => std::process::abort(),
        4 => {
            // Address 16 is never mapped (the first page never is on Linux).
            let p = std::ptr::without_provenance_mut::<u64>(16);
            // SAFETY: not safe at all, on purpose: this job exists to segfault its worker,
            // which only this job's outcome may notice.
            unsafe { p.write_volatile(1) };
            0
        }
        5 => allocate_past_a_small_rlimit(),
        6 => {
            fn deep(n: u64) -> u64 {
                let pad = std::hint::black_box([n; 64]);
                if n == 0 {
                    0
                } else {
                    deep(n - 1) + pad[3]
                }
            }
            deep(u64::MAX)
        }
        _ => unreachable!(),
    }
}

/// Caps this worker's address space at 256 MiB above what it maps now, then allocates
/// 4 GiB: the allocation fails at once (no memory is touched, so the machine is never in
/// danger) and Rust aborts the worker with "memory allocation of … failed".
fn allocate_past_a_small_rlimit() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cap = (vm_kib << 10) + (256 << 20);
    let lim = libc::rlimit { rlim_cur: cap as libc::rlim_t, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(rc, 0, "setrlimit");
    // black_box: an allocation nobody reads may be elided by the optimizer.
    let v = std::hint::black_box(vec![1u8; 4 << 30]);
    v.len() as u64
}

/// A simple byte pattern: the expected content of big arguments and results.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect()
}

/// Length and sum of a big argument.
pub fn len_and_sum(v: Vec<u8>) -> (u64, u64) {
    (v.len() as u64, v.iter().map(|&b| u64::from(b)).sum())
}

/// A big result.
pub fn make_bytes((len, seed): (u64, u64)) -> Vec<u8> {
    pattern(len as usize, seed)
}

/// Sums a `SharedArray` through its handle (read on whichever node runs it); reports the
/// rank.
pub fn sum_array(h: zeroproc::ArrayHandle<f64>) -> (f64, u32) {
    match h.read() {
        Ok(g) => (g.iter().sum(), rank()),
        Err(e) => panic!("read: {e}"),
    }
}

/// Puts the rank into the queue.
pub fn put_rank(h: zeroproc::QueueHandle<u64>) -> u32 {
    h.attach().expect("attach").put(u64::from(rank())).expect("put");
    rank()
}

/// Sums a `SharedVec` through its handle.
pub fn sum_vec(h: zeroproc::VecHandle<u64>) -> u64 {
    h.read().expect("read").iter().sum()
}

/// Increments a shared counter (a `SharedCell<AtomicU64>`); returns the value it saw.
pub fn bump_cell(h: zeroproc::CellHandle<AtomicU64>) -> u64 {
    h.attach().expect("attach").fetch_add(1, Ordering::SeqCst)
}

/// Inserts (rank → 1) into a `SharedDict`.
pub fn dict_insert(h: zeroproc::DictHandle<u32, u64>) -> u32 {
    h.attach().expect("attach").insert(rank(), 1).expect("insert");
    rank()
}

/// Sends the rank down a pipe.
pub fn pipe_send(h: zeroproc::SenderHandle<u64>) -> u32 {
    let mut tx = h.attach().expect("attach");
    tx.send(u64::from(rank())).expect("send");
    rank()
}

/// Waits on a gate (if any), then creates `mark` (a file): proof that the item ran.
pub fn gated_mark((gate, mark): (String, String)) -> u32 {
    if !gate.is_empty() {
        wait_gate(gate);
    }
    std::fs::write(&mark, b"ran").expect("mark file");
    rank()
}

/// An initializer that fails on every worker.
pub fn failing_initializer() {
    panic!("initializer fails on purpose");
}
