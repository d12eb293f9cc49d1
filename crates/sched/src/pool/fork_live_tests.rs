//! A child forked while another thread held the list of live pools (`live.rs`: taken by
//! every pool build and by the shutdown at exit) builds a pool of its own, uses it and
//! exits through `exit`, whose handlers walk that list. Before the list was per fork
//! generation the child waited for ever at its first pool.

use crate::Pool;

crate::test_worker!();

fn add_one(x: u64) -> u64 {
    x + 1
}

#[test]
fn a_child_forked_while_the_live_pool_list_is_held_builds_a_pool() {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _g = super::live::hold();
        held_tx.send(()).unwrap();
        let _ = go_rx.recv();
    });
    held_rx.recv().unwrap();
    let status = zeroproc_testkit::fork_run(|| {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(20) };
        let ok = Pool::builder()
            .workers(1)
            .build()
            .is_ok_and(|p| p.submit(add_one, 41).result().ok() == Some(42));
        super::live::shutdown_live_pools();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(i32::from(!ok)) };
    });
    go_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x} (14 = SIGALRM: it hung)"
    );
}
