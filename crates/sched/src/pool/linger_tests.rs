//! A worker the kernel does not let go of after its SIGKILL (uninterruptible sleep: a hung
//! NFS or FUSE read) is abandoned by the supervisor after `EXIT_GRACE + REAP_LIMIT`
//! (`supervisor::stop_lingering`), so that `terminate` and `Drop` return. It must be
//! accounted for as a death: the job it had claimed fails (its word says RUNNING, so no
//! successor runs it, and no answer can come from a killed process), and its successor,
//! a new process, must not inherit the "asked to exit" time of the abandoned one.
//!
//! Both went wrong: the claimed job was never failed (its future waited for ever, and a
//! closed pool's supervisor never finished: `terminate` hung), and every successor was
//! abandoned at its first look — without a kill — and replaced, one new process per tick,
//! each left serving the same rings.
//!
//! A real uninterruptible sleep cannot be arranged in a test, so the worker is stopped
//! (SIGSTOP) and its exit is dated back past the limit, which is what the supervisor sees
//! of such a worker.

use crate::error::JobError;
use crate::Pool;
use std::time::{Duration, Instant};

crate::test_worker!();

fn echo(x: u64) -> u64 {
    x
}

fn hang(_: ()) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_abandoned_worker_fails_its_claimed_job_and_its_successor_serves() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let f = pool.submit(hang, ());
    wait_for("the job to start", || f.running());
    let pid = pool.stats().workers[0].pid;
    // SAFETY: plain kill(2) of our own worker process.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    {
        // Asked to exit (and killed) long ago, and still not reaped.
        let mut core = pool.shared.lock();
        core.slots[0].asked_exit = Some(Instant::now() - Duration::from_secs(5));
    }
    pool.shared.wake_supervisor();
    let r = f.result_timeout(Duration::from_secs(20));
    assert!(
        matches!(r, Ok(Err(JobError::WorkerDied { .. }))),
        "the job the abandoned worker had claimed: {:?}",
        r.map(|_| ())
    );
    // The successor serves, and is not abandoned in turn (one respawn, not one per tick).
    for x in 0..4u64 {
        let r = pool.submit(echo, x).result_timeout(Duration::from_secs(20));
        assert_eq!(r.ok(), Some(Ok(x)), "job {x} after the abandonment");
    }
    std::thread::sleep(Duration::from_millis(100)); // 20 supervisor ticks
    let w = &pool.stats().workers[0];
    assert_eq!(w.respawns, 1, "successors were abandoned and replaced");
    assert_ne!(w.pid, pid);
    pool.terminate();
}

/// SIGUSR1's handler in the worker below: ends only the thread that runs it.
extern "C" fn exit_this_thread(_: libc::c_int) {
    // SAFETY: SYS_exit ends the calling thread only; nothing of it is used after.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
}

/// Makes this worker look as a worker does while the kernel tears it down after its exit
/// (freeing the pages of a large shared array took 1.2–1.5 s here for 4 GiB): its main
/// thread is gone (a zombie, in its exit), another thread is still alive. Then sleeps.
fn leader_exits(_: ()) {
    // SAFETY: a handler that only makes a syscall; the mask and tgkill are plain calls on
    // this process's own threads.
    unsafe {
        libc::signal(libc::SIGUSR1, exit_this_thread as *const () as usize);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let pid = libc::getpid();
        libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGUSR1);
    }
    hang(())
}

/// A worker still in its exit past `EXIT_GRACE + REAP_LIMIT` (a shutdown with a big array
/// mapped) is not abandoned as if it were stuck in uninterruptible sleep: the pool waits
/// for it and reaps it, so its exit status is known and no false message is printed. It
/// was abandoned: "did not exit 1.2s after SIGKILL (uninterruptible sleep?)" on stderr at
/// the end of a correct program, and the status lost (`WorkerDied` with no signal).
#[test]
fn a_worker_in_its_exit_is_waited_for_not_abandoned() {
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let f = pool.submit(leader_exits, ());
    wait_for("the job to start", || f.running());
    let pid = pool.stats().workers[0].pid;
    wait_for("the worker's main thread to exit", || {
        crate::pool::probe::sample(pid).is_some_and(|s| s.state == b'Z')
    });
    {
        // Asked to exit long ago (past the reap limit), and still not reaped.
        let mut core = pool.shared.lock();
        core.slots[0].asked_exit = Some(Instant::now() - Duration::from_secs(5));
    }
    pool.shared.wake_supervisor();
    let r = f.result_timeout(Duration::from_secs(20));
    assert!(
        matches!(r, Ok(Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), .. }))),
        "the worker was abandoned instead of reaped: {:?}",
        r.map(|r| r.err())
    );
    assert_eq!(pool.submit(echo, 2).result(), Ok(2), "the successor serves");
}

/// Starts a thread that sleeps for ever; returns its thread id.
fn sleeping_thread(_: ()) -> i64 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: gettid takes no arguments and has no memory effects.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) }).unwrap();
        hang(())
    });
    rx.recv().unwrap()
}

/// A worker one of whose threads the kernel holds in a call (frozen by a cgroup-v1
/// freezer, as a hung NFS or FUSE read holds it: state `D`, a SIGKILL waits) is abandoned
/// at `EXIT_GRACE + REAP_LIMIT` as before, though its main thread is a zombie in its exit:
/// it is stuck, not freeing memory. `terminate` took the whole 60 s `EXITING_LIMIT`, then
/// blamed "the kernel has not finished freeing its memory" (review30). Needs root and a
/// v1 freezer hierarchy (`/sys/fs/cgroup/freezer`).
#[test]
fn a_worker_with_a_thread_held_by_the_kernel_is_abandoned_not_waited_for() {
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer");
    if !freezer.is_dir() {
        eprintln!("no cgroup-v1 freezer here: skipped");
        return;
    }
    let fz = freezer.join(format!("zeroproc-linger-{}", std::process::id()));
    std::fs::create_dir(&fz).expect("a freezer cgroup (root needed)");
    let pool = Pool::builder().workers(1).build().expect("pool");
    let tid = pool.submit(sleeping_thread, ()).result().unwrap();
    let pid = pool.stats().workers[0].pid;
    std::fs::write(fz.join("tasks"), tid.to_string()).unwrap();
    std::fs::write(fz.join("freezer.state"), "FROZEN").unwrap();
    let task = format!("/proc/{pid}/task/{tid}/stat");
    wait_for("the thread to be frozen", || {
        std::fs::read_to_string(&task)
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|r| r.1.starts_with('D')))
    });
    let t = Instant::now();
    pool.terminate();
    let took = t.elapsed();
    std::fs::write(fz.join("freezer.state"), "THAWED").unwrap();
    wait_for("the thawed worker to go", || std::fs::metadata(&task).is_err());
    let _ = std::fs::remove_dir(&fz);
    assert!(took < Duration::from_secs(30), "terminate waited {took:?} for a stuck worker");
}
