//! Hostile jobs and misuse under the default pool, and harness-like use (user4 round): what
//! a job does to its own process (exit, closing descriptors, leaving its session, ignoring
//! signals, running out of memory), callbacks that shut their pool down, pools in a loop,
//! pools handed between threads, and a core list that names no core of this machine.

use crate::harness::{ensure, poll_until, Outcome};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc::{as_completed, wait, BuildError, JobError, JobFuture, Pool, ReturnWhen};

fn build(p: zeroproc::PoolBuilder) -> Result<Pool, String> {
    p.build().map_err(|e| format!("build: {e}"))
}

fn twice(x: u64) -> u64 {
    x * 2
}

fn exit_zero(_: ()) -> u64 {
    std::process::exit(0)
}

fn underscore_exit_7(_: ()) -> u64 {
    // SAFETY: _exit ends the worker at once; the pool sees a worker death.
    unsafe { libc::_exit(7) }
}

/// Closes the standard descriptors, or every descriptor below 1024.
fn close_fds(all: bool) -> u64 {
    let end = if all { 1024 } else { 3 };
    for fd in 0..end {
        // SAFETY: closing descriptors of this (worker) process; the pool's shared memory
        // stays mapped without them.
        unsafe { libc::close(fd) };
    }
    u64::from(all)
}

/// Leaves the worker's session, blocks every signal it can and ignores SIGTERM, then
/// sleeps for a minute: what only SIGKILL ends.
fn unkillable_nap(_: ()) -> u64 {
    // SAFETY: setsid/sigprocmask/signal on this process; no Rust state is involved.
    unsafe {
        libc::setsid();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    std::thread::sleep(Duration::from_secs(60));
    0
}

/// Starts a thread that outlives the job.
fn leave_a_thread(_: ()) -> u64 {
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_millis(5));
    });
    1
}

/// A job exiting, `_exit`ing, closing its descriptors (the standard ones, or all) or
/// leaving a thread behind fails at most its own job; the default pool serves on.
pub fn jobs_that_exit_or_close_their_fds() -> Outcome {
    let pool = Pool::new().map_err(|e| format!("build: {e}"))?;
    let r = pool.submit(exit_zero, ()).result();
    ensure(matches!(r, Err(JobError::WorkerDied { exit_code: Some(0), .. })), || {
        format!("std::process::exit(0) in a job: {r:?}")
    })?;
    let r = pool.submit(underscore_exit_7, ()).result();
    ensure(matches!(r, Err(JobError::WorkerDied { exit_code: Some(7), .. })), || {
        format!("_exit(7) in a job: {r:?}")
    })?;
    for all in [false, true] {
        let r = pool.submit(close_fds, all).result();
        ensure(r == Ok(u64::from(all)), || format!("close_fds({all}): {r:?}"))?;
        let v: Vec<_> = pool.map(twice, 0..50u64).collect();
        ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(2 * i as u64)), || {
            format!("jobs after close_fds({all}): {v:?}")
        })?;
    }
    let r = pool.submit(leave_a_thread, ()).result();
    ensure(r == Ok(1), || format!("a job leaving a thread: {r:?}"))?;
    let r = pool.submit(twice, 21).result();
    ensure(r == Ok(42), || format!("after the stray thread: {r:?}"))
}

/// A job that left its session and ignores or blocks every signal it can is still ended
/// by `terminate` at once, and the pool's drop is not held up by it.
pub fn unkillable_looking_job_is_terminated() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let f = pool.submit(unkillable_nap, ());
    ensure(poll_until(Duration::from_secs(5), || f.running()), || "never started".into())?;
    std::thread::sleep(Duration::from_millis(50)); // it has blocked its signals
    ensure(f.terminate(), || "terminate refused a running job".into())?;
    let r = f.result_timeout(Duration::from_secs(5)).map_err(|_| "terminated job not done")?;
    ensure(r == Err(JobError::Cancelled), || format!("terminated job: {r:?}"))?;
    ensure(pool.submit(twice, 4).result() == Ok(8), || "pool after terminate".into())?;
    let g = pool.submit(unkillable_nap, ());
    ensure(poll_until(Duration::from_secs(5), || g.running()), || "never started".into())?;
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    pool.terminate();
    drop(pool);
    ensure(t.elapsed() < Duration::from_secs(5), || format!("drop took {:?}", t.elapsed()))
}

/// 3 GiB of address space for each worker: a job asking for more runs out of memory.
fn small_address_space() {
    let lim = libc::rlimit { rlim_cur: 3 << 30, rlim_max: 3 << 30 };
    // SAFETY: setrlimit reads `lim`, a valid rlimit, and limits this worker only.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
}

/// Allocates and fills `mib` MiB; returns the number of MiB (one byte read from each).
fn allocate_mib(mib: u64) -> u64 {
    let v = vec![1u8; usize::try_from(mib << 20).unwrap_or(usize::MAX)];
    v.iter().step_by(1 << 20).map(|&b| u64::from(b)).sum()
}

/// A job that runs out of memory (Python: `MemoryError`) kills its worker with SIGABRT
/// (Rust aborts on a failed allocation); the message names that cause, the pool serves on.
pub fn out_of_memory_job_is_a_worker_death() -> Outcome {
    let pool = build(Pool::builder().workers(1).initializer(small_address_space))?;
    let r = pool.submit(allocate_mib, 8 << 10).result();
    let msg = r.as_ref().map_err(ToString::to_string).err().unwrap_or_default();
    ensure(matches!(r, Err(JobError::WorkerDied { signal: Some(6), .. })), || {
        format!("8 GiB under a 3 GiB address space: {r:?}")
    })?;
    ensure(msg.contains("failed allocation"), || format!("the message: {msg}"))?;
    let r = pool.submit(allocate_mib, 64).result();
    ensure(r == Ok(64), || format!("64 MiB after the OOM: {r:?}"))
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A done-callback that shuts its own pool down, terminates it, or drops the last handle
/// of it (an `Arc<Pool>` it captured) does not deadlock (callbacks run on the pool's own
/// callback thread, which these wait for); the other job's future still completes.
pub fn callback_that_ends_its_pool() -> Outcome {
    for how in ["shutdown", "terminate", "last drop"] {
        let pool = Arc::new(build(Pool::builder().workers(2))?);
        let f = pool.submit(nap, 10);
        let other = pool.submit(nap, 200);
        let (tx, rx) = std::sync::mpsc::channel();
        let mine = Arc::clone(&pool);
        f.add_done_callback(move |_| {
            match how {
                "shutdown" => mine.shutdown(),
                "terminate" => mine.terminate(),
                _ => drop(mine),
            }
            let _ = tx.send(());
        });
        if how == "last drop" {
            drop(pool);
        }
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| format!("a callback calling {how} did not return"))?;
        let r = other.result_timeout(Duration::from_secs(5));
        let r = r.map_err(|_| format!("{how} in a callback: the other future never done"))?;
        let want = if how == "terminate" { Err(JobError::Cancelled) } else { Ok(200) };
        ensure(r == want, || format!("{how} in a callback: the other job {r:?}"))?;
    }
    Ok(())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// This process's children (pids whose parent is us), zombies included.
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
        let rest = stat.rsplit_once(") ")?.1;
        let mut f = rest.split_whitespace();
        let state = f.next()?;
        (f.next()? == me).then(|| format!("{} ({state})", stat.split(' ').next().unwrap_or("")))
    })
    .collect()
}

/// 20 default pools built, used and dropped one after the other leave no descriptor,
/// child process (zombie or not) or shared-memory file behind.
pub fn pools_in_a_loop_leak_nothing() -> Outcome {
    let shm = || std::fs::read_dir("/dev/shm").map_or(0, |d| d.count());
    let (fds, kids, files) = (open_fds(), children(), shm());
    for i in 0..20u64 {
        let pool = Pool::new().map_err(|e| format!("build {i}: {e}"))?;
        let r = pool.submit(twice, i).result();
        ensure(r == Ok(2 * i), || format!("pool {i}: {r:?}"))?;
    }
    // At most as many: earlier scenarios' pools may still let go of theirs meanwhile.
    ensure(open_fds() <= fds, || format!("descriptors: {fds} before, {} after", open_fds()))?;
    let now = children();
    ensure(now.iter().all(|c| kids.contains(c)), || {
        format!("children: {kids:?} before, {now:?} after")
    })?;
    // Other programs may use /dev/shm meanwhile: only noted.
    crate::harness::note(format!("/dev/shm entries: {files} before, {} after", shm()));
    Ok(())
}

/// A pool built in one thread, used from another and dropped in a third; `wait` and
/// `as_completed` over no futures return at once (Python: two empty sets).
pub fn pool_across_threads_and_empty_waits() -> Outcome {
    let pool = std::thread::spawn(|| Pool::builder().workers(2).build())
        .join()
        .map_err(|_| "the building thread panicked")?
        .map_err(|e| format!("build: {e}"))?;
    let r = pool.submit(twice, 5).result();
    ensure(r == Ok(10), || format!("from the main thread: {r:?}"))?;
    let r = std::thread::spawn(move || {
        let r = pool.submit(twice, 6).result();
        drop(pool);
        r
    })
    .join()
    .map_err(|_| "the dropping thread panicked")?;
    ensure(r == Ok(12), || format!("from the third thread: {r:?}"))?;
    let t = Instant::now();
    let (done, not_done) = wait(Vec::<JobFuture<u64>>::new(), ReturnWhen::AllCompleted, None);
    ensure(done.is_empty() && not_done.is_empty(), || "wait([]) returned futures".into())?;
    let n = as_completed(Vec::<JobFuture<u64>>::new()).count();
    ensure(n == 0 && t.elapsed() < Duration::from_secs(1), || {
        format!("as_completed([]): {n} in {:?}", t.elapsed())
    })
}

/// A core this machine does not have is refused at build, naming it (a core id past 1023
/// crashed every worker and build said they "died of a signal before they attached").
pub fn cores_outside_the_mask_are_refused() -> Outcome {
    match Pool::builder().workers(1).cores([5000]).build() {
        Err(BuildError::Config(m)) if m.contains("core 5000") => Ok(()),
        Err(e) => Err(format!("cores([5000]): {e}")),
        Ok(_) => Err("cores([5000]) built a pool".into()),
    }
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// Sleeps `ms`; returns how long it slept, in ms.
fn timed_nap(ms: u64) -> u64 {
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    t.elapsed().as_millis() as u64
}

/// Ctrl-C reaches every process of the terminal's group, workers included: a controller
/// that handles it to let running jobs finish gets their results (the workers died of
/// SIGINT, failing them with `WorkerDied { signal: Some(2) }`). The SIGINT is sent to the
/// worker directly here, as a terminal would.
pub fn ctrl_c_leaves_running_jobs_to_the_controller() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let pid = pool.submit(worker_pid, ()).result().map_err(|e| e.to_string())?;
    let f = pool.submit(timed_nap, 300);
    ensure(poll_until(Duration::from_secs(5), || f.running()), || "never started".into())?;
    ensure(crate::jobs::signal(pid, libc::SIGINT), || "kill(SIGINT) failed".into())?;
    let r = f.result();
    ensure(matches!(r, Ok(ms) if ms >= 300), || format!("the job after SIGINT: {r:?}"))?;
    let r = pool.submit(worker_pid, ()).result();
    ensure(r == Ok(pid), || format!("the worker after SIGINT: {r:?} (was {pid})"))
}

/// Jobs submitted to a pool in a `static` and never waited for run before the program
/// exits (they were lost: the static is never dropped). Runs the sibling binary
/// `static_pool` (built by `cargo build --release --bins`).
pub fn static_pool_finishes_its_jobs_at_exit() -> Outcome {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("static_pool");
    ensure(exe.exists(), || format!("{} missing: cargo build --release --bins", exe.display()))?;
    let dir = std::env::temp_dir().join(format!("usercrate-static-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let status = std::process::Command::new(&exe).arg(&dir).status();
    let written = (0..4).filter(|i| dir.join(i.to_string()).exists()).count();
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.map_err(|e| e.to_string())?;
    ensure(status.success(), || format!("static_pool: {status}"))?;
    ensure(written == 4, || format!("{written} of 4 jobs of the static pool ran"))
}
