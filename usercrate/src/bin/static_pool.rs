//! A pool in a `static` (`LazyLock<Pool>`), never dropped: jobs submitted to it and never
//! waited for still run, because `#[zeroproc::main]` shuts it down when `main` returns
//! (Python waits at exit for a module-level executor's pending work). `static_pool DIR`
//! submits 4 jobs, each writing `DIR/<i>` after 50 ms, and returns at once.

use std::sync::LazyLock;
use std::time::Duration;
use zeroproc::Pool;

static POOL: LazyLock<Pool> =
    LazyLock::new(|| Pool::builder().workers(2).build().expect("the static pool"));

fn touch(path: String) {
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(path, b"done").expect("write the job's file");
}

#[zeroproc::main]
fn main() {
    let dir = std::env::args().nth(1).expect("usage: static_pool DIR");
    for i in 0..4 {
        drop(POOL.submit(touch, format!("{dir}/{i}"))); // fire and forget
    }
}
