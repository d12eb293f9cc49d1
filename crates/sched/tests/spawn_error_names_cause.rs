//! A worker process that cannot be created says why in words, not only in the OS's text:
//! "Resource temporarily unavailable" (EAGAIN: a pids cgroup or `ulimit -u` full) and
//! "Argument list too long" (E2BIG: an environment variable over 128 KiB) named no limit
//! (review30).

use zeroproc_sched::{BuildError, Pool};

zeroproc_sched::test_worker!();

#[test]
fn a_spawn_refused_by_exec_names_the_environment() {
    // One string longer than exec takes (MAX_ARG_STRLEN, 128 KiB): every spawn fails.
    std::env::set_var("ZEROPROC_TEST_E2BIG", "x".repeat(200 << 10));
    let r = Pool::builder().workers(1).build();
    std::env::remove_var("ZEROPROC_TEST_E2BIG");
    let Err(BuildError::Spawn(e)) = r else { panic!("built: {:?}", r.map(|_| ())) };
    let m = e.to_string();
    assert!(m.contains("too large for exec"), "{m}");
}
