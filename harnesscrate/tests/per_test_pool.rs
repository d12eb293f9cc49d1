//! A pool per test, many tests in parallel (libtest's threads): more workers than cores.

zeroproc::test_worker!();

use zeroproc::Pool;
use zeroproc_harnesscrate::{sleepy, square};

macro_rules! pool_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            let pool = Pool::builder().workers(4).build().unwrap();
            let v: Vec<u64> = pool.map(square, 0..200u64).map(Result::unwrap).collect();
            assert_eq!(v.iter().sum::<u64>(), (0..200u64).map(|x| x * x).sum::<u64>());
            let f: Vec<_> = (0..8).map(|i| pool.submit(sleepy, i)).collect();
            for (i, f) in f.into_iter().enumerate() {
                assert_eq!(f.result(), Ok(i as u64));
            }
        }
    )*};
}

pool_tests!(p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15);

#[test]
fn default_pool_per_test() {
    let pool = Pool::new().unwrap();
    assert_eq!(pool.submit(square, 3).result(), Ok(9));
}
