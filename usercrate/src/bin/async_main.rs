//! `#[zeroproc::main]` above an async runtime's attribute: `init()` still runs first, so a
//! worker never starts the runtime (issue #13, item 9). A job reports how many threads its
//! worker process has: with the runtime started in workers it would be at least the
//! runtime's 4 worker threads.

fn threads_here(_: ()) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_owned()))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[zeroproc::main]
#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let pool = zeroproc::Pool::builder().workers(2).build().expect("pool");
    let fut = pool.submit(threads_here, ());
    // A JobFuture is a std Future: awaited on the runtime.
    let n = fut.await.expect("job");
    println!("threads in a worker: {n}");
    if n >= 4 {
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
    println!("1 passed, 0 failed");
}
