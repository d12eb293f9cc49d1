//! A per-job time limit bounds how long a job runs; time during which the whole program
//! was stopped (Ctrl-Z in a terminal: SIGTSTP to the process group, or SIGSTOP, then `fg`)
//! is not running time. Found by a user program outside the repo (2026-12-06): a map of
//! 50 ms jobs under `job_time_limit(500 ms)`, its process group stopped three times for
//! 1 s each and continued, returned 2 of 200 jobs as `TimeLimit` ("job ran past its time
//! limit") — the jobs running at each stop, killed right after `fg`.
//!
//! The stop is simulated by a forked helper that SIGSTOPs this process and the worker,
//! waits, and SIGCONTs them (this process cannot continue itself). The job spins for
//! 150 ms of its own CPU time, so it is certainly still running when both resume.

use std::time::Duration;
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Spins until this thread has used `ms` of CPU time; returns the worker's pid.
fn spin_cpu(ms: u64) -> u32 {
    let end = thread_cpu() + Duration::from_millis(ms);
    while thread_cpu() < end {
        std::hint::spin_loop();
    }
    std::process::id()
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// Stops `pids` (in order) for `pause`, then continues them (in reverse order), from a
/// forked child; returns once the child is done.
fn stop_for(pids: &[i32], pause: Duration) {
    let ts = libc::timespec { tv_sec: pause.as_secs() as _, tv_nsec: pause.subsec_nanos() as _ };
    // SAFETY: the child calls only async-signal-safe functions (kill, nanosleep, _exit) on
    // data prepared before the fork.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            for &p in pids {
                libc::kill(p, libc::SIGSTOP);
            }
            libc::nanosleep(&ts, std::ptr::null_mut());
            for &p in pids.iter().rev() {
                libc::kill(p, libc::SIGCONT);
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
}

#[test]
fn time_the_program_was_stopped_does_not_count_against_a_job_time_limit() {
    let pool = Pool::builder().workers(1).job_time_limit(Duration::from_secs(3)).build().unwrap();
    let worker = pool.submit(worker_pid, ()).result().unwrap() as i32;
    let f = pool.submit(spin_cpu, 150);
    while !f.running() && !f.done() {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(30));
    // The worker first, then this process (the controller): as a group stop does.
    stop_for(&[worker, std::process::id() as i32], Duration::from_millis(3500));
    // Before the fix: Err(TimeLimit) — 3.5 s of stop counted as running time. (A limit
    // far above the job's 150 ms of CPU: a loaded machine must not fail it either.)
    assert_eq!(f.result(), Ok(worker as u32));
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A waker whose `wake` takes 200 ms (as a waker that does work of its own may), then
/// reports on a channel.
struct SlowWaker(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

impl std::task::Wake for SlowWaker {
    fn wake(self: std::sync::Arc<Self>) {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.0.lock().unwrap().send(());
    }
}

/// A supervisor tick that is long because the supervisor worked in it (here: waking a
/// waker of a job that completed, which it does itself; equally, decoding a large result)
/// is not a pause: the workers ran all along, and a job past its limit still fails. Before
/// the fix every such tick was counted as a stop and given back to the running job: a
/// 4 s job under a 300 ms limit, next to a stream of jobs awaited with such a waker,
/// returned Ok(4000) — its limit stretched for as long as the stream lasted.
#[test]
fn supervisor_work_in_a_tick_is_not_counted_as_a_pause() {
    use std::future::Future;
    use std::task::Context;
    let pool = Pool::builder().workers(2).build().unwrap();
    let long = pool.submit_with_time_limit(nap, 4000, Duration::from_millis(300));
    while !long.running() && !long.done() {
        std::thread::yield_now();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = std::task::Waker::from(std::sync::Arc::new(SlowWaker(tx.into())));
    let t0 = std::time::Instant::now();
    // A stream of short jobs on the other worker, each awaited with the slow waker. No
    // thread blocks on the pool meanwhile (the channel is not the pool's): the supervisor
    // drains their completions and wakes the waker.
    while t0.elapsed() < Duration::from_millis(4500) {
        let mut f = pool.submit(nap, 10);
        let mut cx = Context::from_waker(&waker);
        if std::pin::Pin::new(&mut f).poll(&mut cx).is_pending() {
            rx.recv_timeout(Duration::from_secs(10)).expect("the waker was not woken");
        }
    }
    // Before the fix: Ok(4000).
    assert_eq!(long.result(), Err(zeroproc_sched::JobError::TimeLimit));
}
