//! Job bodies (they run in the worker processes) and small controller-side helpers: signals,
//! a seeded random generator, a tiny `block_on`.

use std::time::{Duration, Instant};
use zeroproc::ChunkMut;

/// Sleeps `ms` milliseconds; returns the worker's pid.
pub fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

/// Never returns.
pub fn hang(_: ()) -> u64 {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills its worker.
pub fn crash(_: ()) -> u64 {
    std::process::abort()
}

/// Returns its argument.
pub fn echo(x: u64) -> u64 {
    x
}

/// Adds 1 to element 0 of the one-element array the chunk covers.
pub fn bump(c: ChunkMut<u64>) -> u64 {
    let mut g = c.write().expect("the counter chunk");
    g[0] += 1;
    g[0]
}

/// A job of the mixed workload: `(input, micros, spin, panic)`: works for `micros` µs
/// (spinning or sleeping), then panics if asked, else returns `input * 2 + 1`.
pub fn mixed((input, micros, spin, panic): (u64, u64, bool, bool)) -> u64 {
    let d = Duration::from_micros(micros);
    if spin {
        let end = Instant::now() + d;
        while Instant::now() < end {
            std::hint::spin_loop();
        }
    } else {
        std::thread::sleep(d);
    }
    assert!(!panic, "injected panic for input {input}");
    input * 2 + 1
}

/// Sends `sig` to `pid`; false if it failed (no such process).
pub fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// True if a process `pid` exists (signal 0).
pub fn exists(pid: u32) -> bool {
    signal(pid, 0)
}

/// The process state letter from `/proc/PID/stat` (`T` = stopped), if it exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

/// SplitMix64: a seeded, dependency-free random generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Polls `fut` on this thread until it is ready or `limit` passes (`None`: not ready).
pub fn block_on_timeout<F: std::future::Future + Unpin>(
    fut: &mut F,
    limit: Duration,
) -> Option<F::Output> {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let end = Instant::now() + limit;
    loop {
        if let Poll::Ready(v) = std::pin::Pin::new(&mut *fut).poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= end {
            return None;
        }
        std::thread::park_timeout(end - now);
    }
}
