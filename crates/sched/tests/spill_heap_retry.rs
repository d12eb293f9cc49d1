//! A spill heap that could not be created is tried again when a later payload needs it.
//! Before (review30): its creation failure was kept for the pool's life, so a moment of
//! shortage at the first large payload (here: the controller's descriptors all in use, so
//! `memfd_create` fails with EMFILE) made every later argument or result too large for a
//! ring record fail — "could not be created: ... Too many open files" 3 s after the
//! descriptors had been closed.

use std::time::Duration;
use zeroproc_sched::{JobError, Pool};

zeroproc_sched::test_worker!();

fn len(v: Vec<u8>) -> usize {
    v.len()
}

fn make(n: usize) -> Vec<u8> {
    vec![7; n]
}

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `lim`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile(lim: &libc::rlimit) {
    // SAFETY: setrlimit reads one valid `rlimit`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) }, 0);
}

#[test]
fn a_spill_heap_that_could_not_be_made_is_tried_again() {
    const MIB: usize = 1 << 20;
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(len, vec![1u8; 10]).result(), Ok(10));
    // Every descriptor of this process in use: the heap's memfd cannot be made.
    let old = nofile();
    set_nofile(&libc::rlimit { rlim_cur: 256, rlim_max: old.rlim_max });
    let mut hold = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hold.push(f);
    }
    let arg = pool.submit(len, vec![1u8; MIB]).result_timeout(Duration::from_secs(30));
    let res = pool.submit(make, MIB).result_timeout(Duration::from_secs(30));
    drop(hold);
    set_nofile(&old);
    let arg = arg.expect("hung").expect_err("the heap was made with no descriptor free");
    assert!(arg.to_string().contains("Too many open files"), "{arg}");
    // A resource short, not bad data: it said "job data invalid: ..." (`Decode`).
    assert!(matches!(arg, JobError::TooLarge { .. }), "{arg:?}");
    let res = res.expect("hung").expect_err("the heap was made with no descriptor free");
    assert!(res.to_string().contains("spill heap"), "{res}");
    // The shortage is over: a payload that needs the heap gets it (once a retry is due).
    std::thread::sleep(Duration::from_millis(1500));
    let arg = pool.submit(len, vec![1u8; MIB]).result_timeout(Duration::from_secs(30));
    assert_eq!(arg.expect("hung"), Ok(MIB), "an argument still cannot spill");
    let res = pool.submit(make, MIB).result_timeout(Duration::from_secs(30));
    assert_eq!(res.expect("hung").map(|v| v.len()), Ok(MIB), "a result still cannot spill");
}
