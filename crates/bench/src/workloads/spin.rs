//! Deterministic CPU work of a chosen duration, and the seeded random durations of W5 and
//! W6: a float spin loop, its calibration (measured once in the controller, so every
//! system runs the same iteration counts), a splitmix64 generator and log-normal draws.

use std::hint::black_box;
use std::time::Instant;

/// Spins `iters` iterations of a dependent float recurrence and returns the final value's
/// bits (a checksum of the work, the same in every process and every system).
#[inline(never)]
pub fn spin(iters: u64) -> u64 {
    let mut x = black_box(0.5f64);
    for _ in 0..iters {
        // Rises towards 5e6: no denormals, no overflow; one dependent multiply and add.
        x = x * 0.999_999_9 + 0.5;
    }
    black_box(x).to_bits()
}

/// Nanoseconds one [`spin`] iteration takes on this machine (the fastest of a few runs of
/// about 20 ms each).
pub fn calibrate_ns_per_iter() -> f64 {
    const ITERS: u64 = 5_000_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        black_box(spin(black_box(ITERS)));
        best = best.min(t.elapsed().as_nanos() as f64 / ITERS as f64);
    }
    best.max(1e-3)
}

/// The iteration count of a spin of `ns` nanoseconds, given the calibration.
pub fn iters_for(ns: f64, ns_per_iter: f64) -> u64 {
    (ns / ns_per_iter).round().max(1.0) as u64
}

/// splitmix64: a tiny seeded generator (Steele, Lea, Flood 2014), the same sequence
/// everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A uniform draw in (0, 1] (never 0, so its logarithm is finite).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal draw with the given median and σ of the logarithm, clamped to
    /// `[lo, hi]`.
    pub fn log_normal(&mut self, median: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
        (median * (sigma * self.normal()).exp()).clamp(lo, hi)
    }
}

/// splitmix64's output function: a bijective 64-bit mix (also used as a checksum).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat_and_spin_is_deterministic() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix64::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut g = SplitMix64::new(1);
        let xs: Vec<f64> = (0..1000).map(|_| g.log_normal(1.0, 1.0, 0.01, 100.0)).collect();
        assert!(xs.iter().all(|x| (0.01..=100.0).contains(x)));
        assert_eq!(spin(1000), spin(1000));
        assert_eq!(iters_for(10.0, 2.5), 4);
    }
}
