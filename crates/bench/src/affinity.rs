//! Pinning the calling thread to one core.
//!
//! A child inherits its parent's affinity mask, so a controller that pinned itself to CPU 0
//! would hand its children the mask {0} and every "pin to core 1" would land on CPU 0 too.
//! The CPUs the *first* process was allowed are therefore recorded once and passed to
//! children in [`CPUS_ENV`] (see [`child_env`]).

use std::sync::OnceLock;

/// Environment variable carrying the original allowed CPU list to child processes.
pub const CPUS_ENV: &str = "ZEROPROC_BENCH_CPUS";

/// The CPUs this process tree may use: from [`CPUS_ENV`] if a parent set it, else this
/// process's affinity mask as first observed (before any pinning).
pub fn allowed_cpus() -> &'static [usize] {
    static CPUS: OnceLock<Vec<usize>> = OnceLock::new();
    CPUS.get_or_init(|| {
        if let Ok(v) = std::env::var(CPUS_ENV) {
            let l: Vec<usize> = v.split(',').filter_map(|c| c.parse().ok()).collect();
            if !l.is_empty() {
                return l;
            }
        }
        // SAFETY: cpu_set_t is a plain bit array; zeroed is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer of the right size.
        let r =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        if r != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET only reads the set; c < CPU_SETSIZE.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect()
    })
}

/// The `(name, value)` environment pair to give a child process so that it pins within
/// the original CPU set.
pub fn child_env() -> (&'static str, String) {
    let l: Vec<String> = allowed_cpus().iter().map(|c| c.to_string()).collect();
    (CPUS_ENV, l.join(","))
}

/// Pins the calling thread to the `core`-th allowed CPU (modulo their number).
/// Returns the CPU actually chosen, or `None` if pinning failed.
pub fn pin_to(core: usize) -> Option<usize> {
    let cpus = allowed_cpus();
    let cpu = cpus[core % cpus.len()];
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: valid set pointer and size.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    (r == 0).then_some(cpu)
}

/// Lets the calling thread run on every CPU of [`allowed_cpus`] again (undoes
/// [`pin_to`]). Threads and processes started afterwards inherit the full set, so a
/// harness calls this between workloads that pin. Returns false if the kernel refused.
pub fn unpin() -> bool {
    // SAFETY: cpu_set_t is a plain bit array; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in allowed_cpus().iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` < CPU_SETSIZE (filtered above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: valid set pointer and size.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    r == 0
}

/// Number of CPUs this process tree may run on.
pub fn cpus() -> usize {
    allowed_cpus().len()
}
