//! Pools under an address-space limit (`RLIMIT_AS`, `ulimit -v`), as a service sandboxing
//! jobs it does not trust sets it.
//!
//! Every process using the spill heap maps its maximum whole (1 GiB by default). Before
//! (user29): in a program started under `ulimit -v 1000000` the heap could not be created,
//! and every argument or result too large for a ring record failed — results with
//! `TooLarge` "… and the pool has no spill heap", as though `spill_heap(0)` had been asked
//! for; and a worker whose initializer set `RLIMIT_AS` to 512 MiB (the recipe of
//! docs/python-mapping.md for bounding a worker's memory) failed its 1 MiB results with
//! "mmap failed: Cannot allocate memory" without naming the limit.
//!
//! One test per binary: the first lowers the limit of the whole test process.

use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn set_address_limit(bytes: u64) {
    let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY: setrlimit reads one valid `rlimit`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

fn result_of(n: u64) -> Vec<u8> {
    vec![1u8; n as usize]
}

fn len_of(v: Vec<u8>) -> u64 {
    v.len() as u64
}

#[test]
fn payloads_spill_under_an_address_space_limit() {
    // The workers of the second pool lower theirs in an initializer, below the default
    // heap's maximum: the message names the limit.
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(set_address_limit, 512u64 << 20)
        .build()
        .unwrap();
    let e = pool.submit(result_of, 1 << 20).result().expect_err("the heap cannot be mapped");
    assert!(matches!(e, JobError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("RLIMIT_AS 512 MiB"), "the cause is not named: {e}");
    assert_eq!(e.to_string().matches("RLIMIT_AS").count(), 1, "named twice: {e}");
    drop(pool);
    // ... and with a heap that fits under it, they spill.
    let pool = Pool::builder()
        .workers(1)
        .initializer_with(set_address_limit, 512u64 << 20)
        .spill_heap(64 << 20)
        .build()
        .unwrap();
    assert_eq!(pool.submit(result_of, 1 << 20).result().map(|v| v.len()), Ok(1 << 20));
    drop(pool);

    // The whole program under `ulimit -v 1000000` (976 MiB): the default heap fits.
    set_address_limit(1_000_000 << 10);
    let pool = Pool::builder().workers(1).build().unwrap();
    for n in [1u64 << 20, 8 << 20] {
        let r = pool.submit(result_of, n).result().map(|v| v.len() as u64);
        assert_eq!(r, Ok(n), "a result of {n} bytes");
        assert_eq!(
            pool.submit(len_of, vec![2u8; n as usize]).result(),
            Ok(n),
            "an argument of {n} bytes"
        );
    }
    drop(pool);
    // A heap asked for larger than the limit allows cannot be created: the payloads that
    // needed it say why, naming the limit, rather than "the pool has no spill heap".
    let pool = Pool::builder().workers(1).spill_heap(1 << 30).build().unwrap();
    let e = pool.submit(len_of, vec![2u8; 1 << 20]).result().expect_err("no heap");
    let m = e.to_string();
    assert!(m.contains("could not be created") && m.contains("RLIMIT_AS 976 MiB"), "{m}");
    assert_eq!(m.matches("RLIMIT_AS").count(), 1, "named twice: {m}");
    let e = pool.submit(result_of, 1 << 20).result().expect_err("no heap");
    assert!(e.to_string().contains("could not create it"), "{e}");
}
