//! A program that forgot `zeroproc::init()` (misuse, issue #11): its workers are copies of
//! this program that run `main` again. `forgot_init MODE` does, before building a pool:
//! `build` nothing; `sleep` sleep 60 s (as `main` waiting for input or a lock would);
//! `spin` spin 60 s (as `main` doing its own work first would); `process`: start a
//! `Process` instead of a pool (its child, a copy that runs `main`, never runs the body). The program itself skips
//! that wait (it would only delay the test) and hands the mode to its copies in the
//! environment (`FORGOT_INIT_MODE`: a worker's arguments are zeroproc's own). Prints
//! `BUILD ERROR: <error>` and exits 3 when the build fails (the expected outcome: the
//! missing `init()` is named), `BUILT` if a pool came up.

use std::time::{Duration, Instant};
use zeroproc::{BuildError, Pool, Process, ProcessError};

fn main() {
    // No zeroproc::init() here: the mistake under test.
    let before = Instant::now();
    let copy_mode = std::env::var("FORGOT_INIT_MODE").ok();
    if copy_mode.is_none() {
        std::env::set_var("FORGOT_INIT_MODE", std::env::args().nth(1).unwrap_or_default());
    }
    match copy_mode.as_deref().unwrap_or("") {
        "sleep" => std::thread::sleep(Duration::from_secs(60)),
        "spin" => {
            while before.elapsed() < Duration::from_secs(60) {
                std::hint::spin_loop();
            }
        }
        _ => {}
    }
    if copy_mode.is_none() && std::env::args().nth(1).as_deref() == Some("process") {
        let r = Process::spawn(|x: u64| println!("BODY RAN {x}"), 5).and_then(|mut p| p.join());
        match r {
            Err(e @ ProcessError::NotRun { .. }) => {
                println!("PROCESS ERROR (NotRun): {e}");
                std::process::exit(3)
            }
            other => {
                println!("PROCESS: {other:?}");
                std::process::exit(0)
            }
        }
    }
    match Pool::builder().workers(2).build() {
        Ok(_) => println!("BUILT"),
        Err(e) => {
            let kind = if matches!(e, BuildError::NoInit { .. }) { "NoInit" } else { "other" };
            println!("BUILD ERROR ({kind}): {e}");
            std::process::exit(3)
        }
    }
}
