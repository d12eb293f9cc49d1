//! Size classes: block sizes in 16-byte units, with quarter-octave steps.
//!
//! A block is one 16-byte header unit followed by its payload. Classes 0–6 are the block
//! sizes 2..=8 units (32..=128 bytes, every 16 bytes); above that every octave
//! `(2^k, 2^(k+1)]` units is split into four equal steps, so rounding a request up to its
//! class wastes at most a quarter of the block (a third for the 48-byte class).

/// Bytes per unit: the granularity of offsets, block sizes and payload alignment.
pub(crate) const UNIT: u64 = 16;

/// Number of the small classes with a 1-unit step (block sizes 2..=8 units).
const SMALL: u32 = 7;

/// Block size in units of class `c`.
#[inline]
pub(crate) const fn units(c: u32) -> u64 {
    if c < SMALL {
        c as u64 + 2
    } else {
        let j = c - SMALL;
        let k = 3 + j / 4;
        let step = (j % 4) as u64 + 1;
        (1u64 << k) + step * (1u64 << (k - 2))
    }
}

/// Block size in bytes of class `c` (header included).
#[inline]
pub(crate) const fn block_bytes(c: u32) -> u64 {
    units(c) * UNIT
}

/// The smallest class whose blocks hold `u` units (header included), or `None` when `u`
/// is beyond every class that fits a 64-bit offset.
#[inline]
pub(crate) const fn class_for_units(u: u64) -> Option<u32> {
    if u <= 8 {
        return Some(if u < 2 { 0 } else { (u - 2) as u32 });
    }
    if u > (1u64 << 58) {
        return None;
    }
    // 2^k < u <= 2^(k+1)
    let k = 63 - (u - 1).leading_zeros();
    let quarter = 1u64 << (k - 2);
    let step = (u - (1u64 << k)).div_ceil(quarter); // 1..=4
    Some(SMALL + (k - 3) * 4 + step as u32 - 1)
}

/// How many classes have blocks of at most `bytes` bytes (at least 1 for `bytes >= 32`).
pub(crate) const fn classes_up_to(bytes: u64) -> u32 {
    let mut c = 0;
    while block_bytes(c) <= bytes {
        c += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_increasing_and_round_trip() {
        let mut prev = 0;
        for c in 0..150 {
            let u = units(c);
            assert!(u > prev, "class {c}");
            assert_eq!(class_for_units(u), Some(c));
            assert_eq!(class_for_units(u - 1), Some(if u - 1 <= prev { c - 1 } else { c }));
            // Quarter steps: rounding loses at most a quarter of the block.
            if c > 1 {
                assert!((u - prev) * 4 <= u, "class {c}: step {} of {u}", u - prev);
            }
            prev = u;
        }
    }

    #[test]
    fn small_sizes() {
        assert_eq!(class_for_units(0), Some(0));
        assert_eq!(class_for_units(2), Some(0));
        assert_eq!(units(0), 2);
        assert_eq!(units(6), 8);
        assert_eq!(units(7), 10);
        assert_eq!(units(10), 16);
        assert_eq!(units(11), 20);
        assert_eq!(class_for_units(9), Some(7));
        assert_eq!(class_for_units(17), Some(11));
        assert_eq!(classes_up_to(32), 1);
        assert_eq!(classes_up_to(31), 0);
    }
}
