//! `std::process::exit` in a program whose `main` has `#[zeroproc::main]` (Python's
//! `sys.exit`): the pending jobs of a pool shut down with `wait(false)`, and of a pool
//! still held in a variable, run to their end before the process ends, as Python's
//! interpreter waits for its executors at exit. Found by the serviceuser round: they were
//! lost without a word (the guard that shuts live pools down is skipped by `exit`).

use std::time::Duration;
use zeroproc::{Pool, Shutdown};
use zeroproc_testkit as tk;

zeroproc::test_worker!();

#[test]
fn zp_exit_child() {
    zeroproc::init();
    tk::child_entry(|role, dir| {
        // What `#[zeroproc::main]` puts at the top of `main`.
        let _guard = zeroproc::__private::main_guard();
        let pool = Pool::builder().workers(2).build().unwrap();
        for i in 0..4 {
            drop(pool.submit(touch, format!("{dir}/{i}")));
        }
        if role == "nowait" {
            pool.shutdown_with(Shutdown::new().wait(false));
        }
        std::process::exit(0);
    });
}

fn touch(path: String) {
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(path, b"done").unwrap();
}

#[test]
fn exit_runs_the_pending_jobs_of_live_pools() {
    if tk::is_child() {
        return;
    }
    for role in ["nowait", "held"] {
        let dir = std::env::temp_dir().join(format!("zp-exit-{role}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = tk::spawn_role("zp_exit_child", role, dir.to_str().unwrap());
        let status = tk::wait_timeout(&mut child, Duration::from_secs(20));
        let written = (0..4).filter(|i| dir.join(i.to_string()).exists()).count();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(status.success(), "{role}: {status}");
        assert_eq!(written, 4, "{role}: {written} of 4 jobs ran before exit");
    }
}
