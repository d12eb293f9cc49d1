//! A counting allocator: live allocations per exact size (up to 4 KiB), so a heap that
//! grows can be told by the sizes that grow (`SOAK_ALLOC_SIZES=1` prints them).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

const SIZES: usize = 4097;

pub struct Counting;

static LIVE: [AtomicI64; SIZES] = [const { AtomicI64::new(0) }; SIZES];
/// Bytes live in all allocations (Rust's: glibc's own, and other C code's, are not seen).
static TOTAL_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes live in allocations of 4 KiB or more (the last size class).
static LARGE_BYTES: AtomicI64 = AtomicI64::new(0);

/// `SOAK_ALLOC_TRACE=1` (read at start): every allocation of 4 KiB or more prints its
/// size and a backtrace on stderr, to tell what the large class holds.
pub static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    static IN_TRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn trace(size: usize) {
    if !TRACE.load(Ordering::Relaxed) || IN_TRACE.with(|f| f.replace(true)) {
        return;
    }
    let bt = std::backtrace::Backtrace::force_capture();
    eprintln!("ALLOC {size} B\n{bt}");
    IN_TRACE.with(|f| f.set(false));
}

fn slot(size: usize) -> &'static AtomicI64 {
    TOTAL_BYTES.fetch_add(size as i64, Ordering::Relaxed);
    if size >= SIZES - 1 {
        LARGE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
        trace(size);
    }
    &LIVE[size.min(SIZES - 1)]
}

fn unslot(size: usize) -> &'static AtomicI64 {
    TOTAL_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
    if size >= SIZES - 1 {
        LARGE_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
    }
    &LIVE[size.min(SIZES - 1)]
}

// SAFETY: forwards every call to the system allocator unchanged; the counters are only
// statistics (Relaxed: nothing is ordered by them).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        slot(l.size()).fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unslot(l.size()).fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        unslot(l.size()).fetch_sub(1, Ordering::Relaxed);
        slot(new).fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.realloc(p, l, new) }
    }
}

/// Bytes live in Rust allocations now.
pub fn live_bytes() -> i64 {
    TOTAL_BYTES.load(Ordering::Relaxed)
}

/// Live allocations per size now.
/// (The last entry: the bytes of the 4 KiB-or-more class.)
pub fn live() -> Vec<i64> {
    let mut v: Vec<i64> = LIVE.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    v.push(LARGE_BYTES.load(Ordering::Relaxed));
    v
}

/// The sizes whose live count grew most from `then` to now.
pub fn print_growth(then: &[i64]) {
    let now = live();
    let (n, t) = (now[SIZES], then[SIZES]);
    println!("  bytes in allocations of 4 KiB or more: {t} -> {n}");
    let (now, then) = (&now[..SIZES], &then[..SIZES]);
    let mut d: Vec<(i64, usize)> = now
        .iter()
        .zip(then)
        .enumerate()
        .map(|(s, (n, t))| (n - t, s))
        .filter(|(d, _)| *d != 0)
        .collect();
    d.sort_unstable_by_key(|&(d, _)| -d.abs());
    for (delta, size) in d.into_iter().take(12) {
        println!("  live allocations of {size} B: {delta:+} (now {})", now[size]);
    }
}
