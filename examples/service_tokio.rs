//! A tokio service that runs each request in a pool worker: process isolation per request
//! at thread-like cost. Python's `loop.run_in_executor(ProcessPoolExecutor, f, x)`, where
//! one segfaulting request breaks the whole executor (`BrokenProcessPool`); here it fails
//! only that request, and the pool replaces the worker.
//!
//! What it shows: `.await` on a `JobFuture`; a per-request time limit (`submit_with_time_limit`,
//! the worker is killed) beside the client's own deadline (`tokio::time::timeout`, which
//! with `cancel_on_drop` also stops the job); a client that goes away (`select!`); turning
//! `JobError` into a response and a log line; health from `pool.stats()`; and a graceful
//! stop on SIGTERM/SIGINT with `shutdown_with(timeout)`. It ends by sending itself SIGTERM.
//!
//! `cargo run --release --example service_tokio`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zeroproc::{JobError, JobErrorKind, Pool, Shutdown};

/// A request: `n` says what the job does (most are ordinary; a few are hostile).
fn handle(n: u64) -> u64 {
    match n % 500 {
        13 => std::process::abort(), // a crash in native code
        77 => loop {
            std::hint::spin_loop()
        }, // never returns: its time limit kills it
        99 => panic!("bad request {n}"),
        42 => {
            std::thread::sleep(Duration::from_millis(150)); // a slow one
            42
        }
        _ => (1..=n % 1000).sum(),
    }
}

/// Set by the signal handler; the service polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
}

/// Run in each worker before its first job (`PoolBuilder::initializer`): a service manager
/// stopping the service (systemd's default `KillMode=control-group`, `kill -TERM -PGID`)
/// sends SIGTERM to every process of it, workers included, whose running jobs would fail
/// with `WorkerDied { signal: Some(15) }`. With a do-nothing handler they finish while the
/// service shuts down; `terminate`, time limits and the service's own death still end the
/// workers (SIGKILL). A handler rather than `SIG_IGN`: programs a job executes get the
/// default action back.
fn leave_sigterm_to_the_service() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing (async-signal-safe).
    unsafe { libc::signal(libc::SIGTERM, nothing as *const () as libc::sighandler_t) };
}

/// A request as the service answers it: an HTTP-like status and a body.
async fn serve(pool: &Pool, n: u64) -> (u16, String) {
    // The job's own limit: past 200 ms its worker is killed and replaced (`TimeLimit`).
    let job = pool.submit_with_time_limit(handle, n, Duration::from_millis(200));
    // The client's deadline: dropping the future stops the job (`cancel_on_drop` below).
    match tokio::time::timeout(Duration::from_secs(1), job).await {
        Ok(Ok(v)) => (200, v.to_string()),
        Ok(Err(e)) => match e.kind() {
            JobErrorKind::TimeLimit => (504, e.to_string()),
            JobErrorKind::Panicked => (400, e.to_string()),
            // The worker died in this request (signal or exit code in the message) or
            // overflowed its stack: only this request failed; the worker was replaced.
            JobErrorKind::WorkerDied | JobErrorKind::StackOverflow => (500, e.to_string()),
            JobErrorKind::Shutdown | JobErrorKind::Cancelled => (503, e.to_string()),
            _ => (500, e.to_string()),
        },
        Err(_) => (504, "no answer within the client's deadline".into()),
    }
}

fn main() {
    zeroproc::init(); // first: in a worker it never returns
                      // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let pool = Pool::builder().cancel_on_drop(true).initializer(leave_sigterm_to_the_service);
    let pool = Arc::new(pool.build().expect("pool"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap();
    rt.block_on(async {
        // 64 clients at once, 40 requests each.
        let clients: Vec<_> = (0..64u64)
            .map(|c| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut by_status = std::collections::BTreeMap::<u16, u32>::new();
                    for i in 0..40 {
                        let (status, body) = serve(&pool, c * 40 + i).await;
                        if status != 200 {
                            println!("request {}: {status} {body}", c * 40 + i);
                        }
                        *by_status.entry(status).or_default() += 1;
                    }
                    by_status
                })
            })
            .collect();
        // A client that goes away after 10 ms: its request's future is dropped, which
        // (cancel_on_drop) revokes the job if it is queued or kills its worker if it runs.
        tokio::select! {
            r = serve(&pool, 77) => println!("unexpected answer {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => println!("a client went away"),
        }
        let mut total = std::collections::BTreeMap::<u16, u32>::new();
        for c in clients {
            for (s, k) in c.await.unwrap() {
                *total.entry(s).or_default() += k;
            }
        }
        println!("answers by status: {total:?}");
        // Health: what a service can log (the table: `println!("{}", pool.stats())`).
        let st = pool.stats();
        let respawns: u64 = st.workers.iter().map(|w| w.respawns).sum();
        println!(
            "health: {} workers, {} jobs done, {respawns} workers replaced, backlog {}",
            st.workers.len(),
            st.jobs_done(),
            st.backlog
        );

        // Graceful stop: a request still running when SIGTERM comes gets up to 2 s.
        let slow = tokio::spawn(pool.submit(handle, 42)); // 150 ms, running at the signal
                                                          // SAFETY: raise(3) signals this process; the handler above only stores an atomic.
        unsafe { libc::raise(libc::SIGTERM) };
        while !STOP.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // `shutdown_with` blocks until the workers exited: off the async threads.
        let p = pool.clone();
        let clean = tokio::task::spawn_blocking(move || {
            p.shutdown_with(Shutdown::new().timeout(Duration::from_secs(2)))
        })
        .await
        .unwrap();
        println!("SIGTERM: shut down (every worker exited in time: {clean})");
        let slow = slow.await.unwrap();
        println!("the request running at SIGTERM finished: {slow:?}");
        assert_eq!(slow, Ok(42));
        let late = pool.submit(handle, 1).await;
        assert_eq!(late, Err(JobError::Shutdown));
        println!("a request after shutdown: {}", late.unwrap_err());
    });
}
