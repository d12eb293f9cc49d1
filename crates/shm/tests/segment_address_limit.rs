//! Segments under an address-space limit (`RLIMIT_AS`, `ulimit -v`: a batch system's or a
//! sandbox's cap, or a pool initializer bounding its workers): creating or attaching one
//! that does not fit is `AddressSpace`, naming the limit and what is mapped — not
//! "mmap failed: Cannot allocate memory", which sent a user with 18 GiB of RAM free
//! looking for a memory shortage (num31: a 3,000 MiB array under `ulimit -v` 2 GiB). The
//! creation fails before its pages are reserved (it took 1.3 s and reserved 3 GB of RAM,
//! only for the mapping to be refused).
//!
//! One test in this binary: it lowers the address-space limit of the whole process.

use zeroproc_shm::{AttachError, CreateError, Layout, Segment};

const L: Layout = Layout::new("test-address-limit", 1);

/// This process's mapped address space (`VmSize`), in bytes.
fn mapped() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() << 10
}

#[test]
fn segments_past_the_address_space_limit_name_it() {
    // Made before the limit: attached again under it below.
    let big = Segment::create(L, 256 << 20).unwrap();
    let limit = mapped() + (128 << 20);
    let lim = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads one valid `rlimit`; only this test runs in the process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);

    // What fits still works.
    let small = Segment::create(L, 16 << 20).unwrap();
    drop(small);

    let e = Segment::create(L, 512 << 20).map(|_| ()).expect_err("past the limit");
    let m = e.to_string();
    assert!(matches!(e, CreateError::AddressSpace { .. }), "{e:?}");
    assert!(m.contains("RLIMIT_AS") && m.contains("ulimit -v"), "the limit is not named: {m}");
    assert!(m.contains(&format!("{} MiB", limit >> 20)), "the limit's size is not given: {m}");
    assert!(!m.contains("mmap failed"), "{m}");

    let e = Segment::attach(big.id(), L).map(|_| ()).expect_err("past the limit");
    let m = e.to_string();
    assert!(matches!(e, AttachError::AddressSpace { .. }), "{e:?}");
    assert!(m.contains("RLIMIT_AS") && m.contains(&format!("{} MiB", limit >> 20)), "{m}");

    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &unlimited) }, 0);
    drop(Segment::attach(big.id(), L).unwrap());
}
