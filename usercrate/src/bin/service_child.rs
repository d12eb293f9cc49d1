//! A small service for `src/service.rs`'s lifecycle scenarios: `service_child MODE [ARG]`.
//! Prints `WORKERS pid pid ...` once its default pool is up, then:
//!
//! * `serve`: two jobs that sleep 30 s run; the program waits to be signalled.
//! * `graceful`: SIGTERM sets a flag; two 300 ms jobs run (`RUNNING` once both started);
//!   on the flag the pool is shut down (waiting for them) and `RESULTS r1 r2` printed.
//!   `graceful keep`: the same with an initializer that leaves SIGTERM to the controller in
//!   every worker (the workaround docs/python-mapping.md gives for a process-group stop).
//! * `nowait-return DIR`: six jobs writing `DIR/<i>` after 50 ms, `shutdown(wait=false)`,
//!   then `main` returns with the pool in a variable.
//! * `nowait-leak DIR`: the same with the pool leaked (`Box::leak`) before `main` returns.
//! * `nowait-exit DIR`: the same, then `std::process::exit(0)` (Python's `sys.exit()`).
//! * `exit-in-callback DIR`: a job writing `DIR/0`, and a done-callback (on the pool's
//!   callback thread) that calls `std::process::exit(0)`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use zeroproc::{Pool, Shutdown};

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

/// In a worker: SIGTERM does nothing (a handler, not `SIG_IGN`, so programs a job runs get
/// the default back); the controller decides when the worker ends.
fn leave_sigterm_to_the_controller() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: installs an async-signal-safe handler that does nothing.
    unsafe { libc::signal(libc::SIGTERM, nothing as *const () as libc::sighandler_t) };
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn touch(path: String) {
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(path, b"done").expect("write the job's file");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn workers_line(pool: &Pool) {
    let pids: Vec<String> = pool.stats().workers.iter().map(|w| w.pid.to_string()).collect();
    say(&format!("WORKERS {}", pids.join(" ")));
}

#[zeroproc::main]
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let arg = std::env::args().nth(2).unwrap_or_default();
    let mut builder = Pool::builder().workers(2);
    if mode == "graceful" && arg == "keep" {
        builder = builder.initializer(leave_sigterm_to_the_controller);
    }
    let pool = builder.build().expect("pool");
    match mode.as_str() {
        "serve" => {
            let fs = [pool.submit(nap, 30_000), pool.submit(nap, 30_000)];
            while !fs.iter().all(|f| f.running()) {
                std::thread::sleep(Duration::from_millis(1));
            }
            workers_line(&pool);
            std::thread::sleep(Duration::from_secs(60));
        }
        "graceful" => {
            // SAFETY: installs an async-signal-safe handler (one atomic store).
            unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
            workers_line(&pool);
            let fs = [pool.submit(nap, 300), pool.submit(nap, 300)];
            while !fs.iter().all(|f| f.running()) {
                std::thread::sleep(Duration::from_millis(1));
            }
            say("RUNNING");
            let end = Instant::now() + Duration::from_secs(10);
            while !TERM.load(Ordering::SeqCst) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
            pool.shutdown();
            let [a, b] = fs;
            say(&format!("RESULTS {:?} {:?}", a.result(), b.result()));
        }
        "nowait-return" | "nowait-leak" | "nowait-exit" => {
            workers_line(&pool);
            for i in 0..6 {
                drop(pool.submit(touch, format!("{arg}/{i}")));
            }
            pool.shutdown_with(Shutdown::new().wait(false));
            if mode == "nowait-leak" {
                Box::leak(Box::new(pool));
            } else if mode == "nowait-exit" {
                std::process::exit(0);
            }
        }
        "exit-in-callback" => {
            workers_line(&pool);
            drop(pool.submit(touch, format!("{arg}/0")));
            let f = pool.submit(nap, 1);
            f.add_done_callback(|_| std::process::exit(0));
            std::thread::sleep(Duration::from_secs(30));
        }
        other => panic!("unknown mode {other:?}"),
    }
}
