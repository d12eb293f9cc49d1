//! W6, a service under faults: the requests and the job that serves one. Each request is
//! a CPU spin of seeded log-normal duration (median 50 µs, clamped to [2 µs, 2 ms]); 1 %
//! of them crash the worker (half `abort()`, half a write to address 0) and 1 % hang it (a busy loop
//! that never ends). The job first counts its own execution in a shared execution log
//! (one counter per request id), so a request run twice is seen; it answers
//! `(id, checksum of its input)`, so an answer given to the wrong request is seen.
//! The client is in `faults_client.rs`.

use super::spin::{self, mix, SplitMix64};
use std::sync::atomic::{AtomicU64, Ordering};
use zeroproc_mp::shared::ArrayHandle;

/// The seed of W6's requests.
pub const SEED: u64 = 0x5736_2026;
/// Median request duration, ns.
pub const MEDIAN_NS: f64 = 50_000.0;
/// σ of the duration's logarithm.
pub const SIGMA: f64 = 1.0;
/// Shortest and longest request, ns (the longest stays far below the 100 ms time-out).
pub const CLAMP_NS: (f64, f64) = (2_000.0, 2_000_000.0);

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Spins and answers.
    Normal = 0,
    /// `libc::abort()` (SIGABRT).
    Abort = 1,
    /// A write to address 0 (SIGSEGV). Not `raise(SIGSEGV)`: Rust's stack-overflow
    /// handler catches a raised SIGSEGV, resets it to the default and returns, and the job
    /// would carry on.
    Segfault = 2,
    /// Spins forever.
    Hang = 3,
}

impl Kind {
    fn of(b: u8) -> Kind {
        match b {
            1 => Kind::Abort,
            2 => Kind::Segfault,
            3 => Kind::Hang,
            _ => Kind::Normal,
        }
    }

    /// Whether the request kills its worker (abort or segfault).
    pub fn crashes(self) -> bool {
        matches!(self, Kind::Abort | Kind::Segfault)
    }
}

/// One request.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Its id: the index of its counter in the execution log.
    pub id: u64,
    /// Spin iterations (its size).
    pub iters: u64,
    /// Its target duration, ns (before calibration).
    pub duration_ns: f64,
    /// What it does.
    pub kind: Kind,
    /// Random input, folded into the answer.
    pub nonce: u64,
}

/// The job's arguments: execution log, id, iterations, kind, nonce.
pub type Args = (ArrayHandle<u64>, u64, u64, u8, u64);

impl Request {
    /// The job arguments of this request.
    pub fn args(&self, log: &ArrayHandle<u64>) -> Args {
        (log.clone(), self.id, self.iters, self.kind as u8, self.nonce)
    }
}

/// The `n` requests of a run from [`SEED`], sized with the spin calibration `ns_per_iter`.
pub fn requests(n: usize, ns_per_iter: f64) -> Vec<Request> {
    let mut g = SplitMix64::new(SEED);
    (0..n as u64)
        .map(|id| {
            let u = g.unit();
            let kind = match u {
                u if u <= 0.005 => Kind::Abort,
                u if u <= 0.010 => Kind::Segfault,
                u if u <= 0.020 => Kind::Hang,
                _ => Kind::Normal,
            };
            let duration_ns = g.log_normal(MEDIAN_NS, SIGMA, CLAMP_NS.0, CLAMP_NS.1);
            let iters = spin::iters_for(duration_ns, ns_per_iter);
            Request { id, iters, duration_ns, kind, nonce: g.next_u64() }
        })
        .collect()
}

/// The answer a request must get: a checksum of its input.
pub fn answer(id: u64, nonce: u64) -> u64 {
    mix(id ^ mix(nonce))
}

/// Serves one request (runs in a worker): counts the execution, then crashes, hangs or
/// spins and answers `(id, answer(id, nonce))`.
pub fn serve((log, id, iters, kind, nonce): Args) -> (u64, u64) {
    count_execution(&log, id);
    match Kind::of(kind) {
        Kind::Normal => {}
        // SAFETY: abort has no preconditions; killing this worker is the point.
        Kind::Abort => unsafe { libc::abort() },
        Kind::Segfault => {
            // Null, hidden from the optimizer so the store is emitted as written.
            let null = std::hint::black_box(0usize) as *mut u8;
            // SAFETY: none — this faults on purpose (SIGSEGV kills this worker).
            unsafe { null.write_volatile(1) }
        }
        Kind::Hang => loop {
            std::hint::spin_loop();
        },
    }
    std::hint::black_box(spin::spin(iters));
    (id, answer(id, nonce))
}

/// Adds one to the request's counter in the execution log.
fn count_execution(log: &ArrayHandle<u64>, id: u64) {
    let g = log.read().expect("the execution log attaches");
    let cell = &g[id as usize] as *const u64 as *mut u64;
    // SAFETY: `cell` is an aligned u64 in a MAP_SHARED, writable mapping that lives while
    // `g` does; every access to the log during the run is this atomic add (the controller
    // reads it only after the run), so no plain access races with it. zeroproc has no
    // public atomic-array type; this is the documented workaround (see the W6 notes).
    unsafe { AtomicU64::from_ptr(cell) }.fetch_add(1, Ordering::Relaxed);
}
