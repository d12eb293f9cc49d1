//! A program that ignores SIGCHLD (`SIG_IGN`, often inherited from its parent across exec)
//! has its children reaped by the kernel: `waitpid` says `ECHILD` and the exit status is
//! lost. Before, a worker that died was never seen to: its job waited for ever, and so did
//! the pool's drop; a `Process` stayed `is_alive()` for ever and `join` failed with "No
//! child processes" (new-user finding). One test per binary: the disposition is per
//! process. Hangs are caught by generous time-outs only.

use std::time::{Duration, Instant};
use zeroproc_sched::{Exit, JobError, Pool, Process};

zeroproc_sched::test_worker!();

use zeroproc_testkit::within;

#[test]
fn workers_and_processes_are_seen_to_end_when_sigchld_is_ignored() {
    // SAFETY: setting a signal disposition; no handler runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let long = Duration::from_secs(30);
    within(Duration::from_secs(120), move || {
        let pool = Pool::builder().workers(1).build().unwrap();
        let died = pool.submit(|_: u64| -> u64 { std::process::abort() }, 0);
        let r = died.result_timeout(long).expect("the dead worker's job never failed");
        assert_eq!(r, Err(JobError::WorkerDied { signal: None, exit_code: None }));
        let hung = |_: u64| -> u64 {
            loop {
                std::thread::park()
            }
        };
        let r =
            pool.submit_with_time_limit(hung, 0, Duration::from_millis(100)).result_timeout(long);
        assert_eq!(r.ok(), Some(Err(JobError::TimeLimit)));
        assert_eq!(pool.submit(|x: u64| x + 1, 1).result_timeout(long).ok(), Some(Ok(2)));
        drop(pool); // waits until its worker has exited: seen now

        let mut p = Process::spawn(|_: u64| {}, 0).unwrap();
        assert_eq!(p.join().unwrap(), Exit::Code(0));
        let mut p = Process::spawn(|_: u64| panic!("as asked"), 0).unwrap();
        assert_eq!(p.join().unwrap(), Exit::Code(1));
        let p = Process::spawn(|_: u64| std::thread::sleep(Duration::from_millis(50)), 0).unwrap();
        let t0 = Instant::now();
        while p.is_alive() {
            assert!(t0.elapsed() < long, "is_alive stayed true");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(p.exit_code(), Some(Exit::Code(0)));
    });
}
