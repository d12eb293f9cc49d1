//! zeroproc inside test and bench harnesses, set up as the docs tell a user to.
//!
//! A doctest that builds a pool, with `zeroproc::init();` as its first line:
//!
//! ```
//! zeroproc::init();
//! let pool = zeroproc::Pool::builder().workers(2).build().unwrap();
//! assert_eq!(pool.submit(zeroproc_harnesscrate::square, 7).result(), Ok(49));
//! ```

/// `x * x`.
///
/// ```
/// zeroproc::init();
/// let pool = zeroproc::Pool::builder().workers(1).build().unwrap();
/// let v: Vec<u64> = pool.map(zeroproc_harnesscrate::square, 0..4u64).map(Result::unwrap).collect();
/// assert_eq!(v, [0, 1, 4, 9]);
/// ```
pub fn square(x: u64) -> u64 {
    x * x
}

/// Sleeps `ms` milliseconds, then returns `ms`.
pub fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

/// Panics with a recognisable message.
pub fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

/// `x + 1`.
///
/// ```
/// // no zeroproc::init() here: the error says where it goes
/// let e = zeroproc::Pool::builder().workers(1).build().unwrap_err();
/// assert!(e.to_string().contains("in a doctest, `zeroproc::init();` as the example's first line"), "{e}");
/// ```
pub fn inc(x: u64) -> u64 {
    x + 1
}

#[cfg(test)]
mod tests {
    zeroproc::test_worker!();

    use super::*;
    use zeroproc::Pool;

    #[test]
    fn unit_pool_map() {
        let pool = Pool::builder().workers(2).build().unwrap();
        let v: Vec<u64> = pool.map(square, 0..100u64).map(Result::unwrap).collect();
        assert_eq!(v, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    }

    #[test]
    fn unit_pool_submit() {
        let pool = Pool::builder().workers(1).build().unwrap();
        assert_eq!(pool.submit(square, 9).result(), Ok(81));
    }
}
