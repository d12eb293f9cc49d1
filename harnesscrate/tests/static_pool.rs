//! One pool shared by every test of the binary, in a `static`.

zeroproc::test_worker!();

use std::sync::{LazyLock, OnceLock};
use zeroproc::Pool;
use zeroproc_harnesscrate::{boom, sleepy, square};

static POOL: LazyLock<Pool> = LazyLock::new(|| Pool::builder().workers(2).build().unwrap());
static ONCE: OnceLock<Pool> = OnceLock::new();

fn once() -> &'static Pool {
    ONCE.get_or_init(|| Pool::builder().workers(2).build().unwrap())
}

macro_rules! shared_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            let v: Vec<u64> = POOL.map(square, 0..500u64).map(Result::unwrap).collect();
            assert_eq!(v.len(), 500);
            assert_eq!(once().submit(sleepy, 2).result(), Ok(2));
            assert!(POOL.submit(boom, 1).result().is_err());
        }
    )*};
}

shared_tests!(s00, s01, s02, s03, s04, s05, s06, s07, s08, s09);

/// A test that panics while it has jobs running on the shared pool: the pool stays usable
/// for the others.
#[test]
#[should_panic(expected = "the test fails on purpose")]
fn panics_with_jobs_on_the_shared_pool() {
    let _f: Vec<_> = (0..4).map(|_| POOL.submit(sleepy, 50)).collect();
    panic!("the test fails on purpose");
}
