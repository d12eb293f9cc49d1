//! A long-running service's use of one pool (serviceuser round): endurance under a hostile
//! fraction of jobs with the process's resources checked against a baseline, async waiters
//! (tokio), cancels from other threads, the controller signalled or SIGKILLed while jobs
//! run (a child service, `src/bin/service_child.rs`), pools built and dropped in loops and
//! from many threads at once, and back-pressure (a producer outrunning the workers, endless
//! inputs to `map`, big arguments under heap pressure).

use crate::harness::{ensure, note, poll_until, Outcome};
use crate::jobs::{exists, signal};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc::{as_completed, JobError, JobFuture, Pool, Shutdown};

fn build(p: zeroproc::PoolBuilder) -> Result<Pool, String> {
    p.build().map_err(|e| format!("build: {e}"))
}

// ---------------------------------------------------------------------------------------
// The process's resources, read from /proc.

/// What a leak would show: descriptors (memfds among them), memfd mappings, threads, RSS,
/// children (zombies included), files in /dev/shm.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    fds: usize,
    memfd_fds: usize,
    memfd_maps: usize,
    threads: usize,
    rss_kib: u64,
    children: Vec<(u32, char)>,
    dev_shm: usize,
}

fn status_field(name: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// This process's children as (pid, state), zombies included.
pub fn children_of(parent: u32) -> Vec<(u32, char)> {
    let me = parent.to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut v: Vec<(u32, char)> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = stat.rsplit_once(") ")?.1;
            let mut f = rest.split_whitespace();
            let state = f.next()?.chars().next()?;
            (f.next()? == me).then_some((pid, state))
        })
        .collect();
    v.sort_unstable();
    v
}

pub fn usage() -> Usage {
    let links: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut memfd_maps: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("/memfd:"))
        .filter_map(|l| l.split_whitespace().nth(4)) // the inode
        .collect();
    memfd_maps.sort_unstable();
    memfd_maps.dedup();
    Usage {
        // read_dir's own descriptor is in the listing: not counted.
        fds: links.len().saturating_sub(1),
        memfd_fds: links.iter().filter(|l| l.starts_with("/memfd:")).count(),
        memfd_maps: memfd_maps.len(),
        threads: status_field("Threads:") as usize,
        rss_kib: status_field("VmRSS:"),
        children: children_of(std::process::id()),
        dev_shm: std::fs::read_dir("/dev/shm").map_or(0, |d| d.count()),
    }
}

/// Waits up to 2 s for the usage to come back to `base` (threads and children end
/// asynchronously) and compares: descriptors, memfds, threads, children exactly; RSS within
/// `rss_slack_kib`. /dev/shm is only noted (other programs use it).
fn back_to(base: &Usage, rss_slack_kib: u64, what: &str) -> Outcome {
    let same = |u: &Usage| {
        u.fds <= base.fds
            && u.memfd_fds <= base.memfd_fds
            && u.memfd_maps <= base.memfd_maps
            && u.threads <= base.threads
            && u.children.iter().all(|c| base.children.contains(c))
    };
    let mut now = usage();
    if now.rss_kib > base.rss_kib + rss_slack_kib {
        // Freed memory glibc keeps in its arenas (one per thread that allocated: the
        // submitting threads' 8 MiB results) is not a leak: hand it back first.
        // SAFETY: malloc_trim only releases free heap pages; no pointer of ours changes.
        unsafe { libc::malloc_trim(0) };
        note(format!("{what}: RSS {} KiB before malloc_trim(0)", now.rss_kib));
    }
    let _ = poll_until(Duration::from_secs(2), || {
        now = usage();
        same(&now)
    });
    note(format!(
        "{what}: fds {}→{} (memfd {}→{}, memfd maps {}→{}), threads {}→{}, RSS {}→{} KiB, \
         children {}→{}, /dev/shm {}→{}",
        base.fds,
        now.fds,
        base.memfd_fds,
        now.memfd_fds,
        base.memfd_maps,
        now.memfd_maps,
        base.threads,
        now.threads,
        base.rss_kib,
        now.rss_kib,
        base.children.len(),
        now.children.len(),
        base.dev_shm,
        now.dev_shm
    ));
    ensure(same(&now), || format!("{what}: not back to the baseline: {base:?} → {now:?}"))?;
    if now.rss_kib > base.rss_kib + rss_slack_kib {
        note(format!("{what}: largest mappings: {}", largest_mappings(5)));
    }
    ensure(now.rss_kib <= base.rss_kib + rss_slack_kib, || {
        format!("{what}: RSS {} → {} KiB (slack {rss_slack_kib})", base.rss_kib, now.rss_kib)
    })
}

/// The `n` mappings with the most resident memory (smaps), for a failure's message.
fn largest_mappings(n: usize) -> String {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut maps: Vec<(u64, String)> = Vec::new();
    let mut head = String::new();
    for l in smaps.lines() {
        if let Some(kib) = l.strip_prefix("Rss:") {
            let kib = kib.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            maps.push((kib, head.clone()));
        } else if l.split_whitespace().next().is_some_and(|w| w.contains('-')) {
            head = l.to_string();
        }
    }
    maps.sort_unstable_by_key(|m| std::cmp::Reverse(m.0));
    maps.iter().take(n).map(|(k, h)| format!("[{k} KiB {h}]")).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Endurance.

/// The kinds of job of the endurance mix.
const NORMAL: u8 = 0;
const PANIC: u8 = 1;
const EXIT: u8 = 2;
const ABORT: u8 = 3;
const KILL9: u8 = 4;
const LOOP: u8 = 5;
const HUGE: u8 = 6;
const LEAK_FD: u8 = 7;
const LEAK_MEM: u8 = 8;
const KINDS: usize = 9;

/// Elements of a huge result (8 MiB of u64).
const HUGE_LEN: usize = 1 << 20;

/// One endurance job: `(kind, i)`.
fn service_job((kind, i): (u8, u64)) -> Vec<u64> {
    match kind {
        PANIC => panic!("service panic {i}"),
        EXIT => std::process::exit(3),
        ABORT => std::process::abort(),
        KILL9 => {
            signal(std::process::id(), libc::SIGKILL);
            std::thread::sleep(Duration::from_secs(10));
            vec![]
        }
        LOOP => {
            let mut x = i;
            loop {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        HUGE => vec![i; HUGE_LEN],
        LEAK_FD => {
            let f = std::fs::File::open("/dev/null").expect("/dev/null");
            std::mem::forget(f);
            vec![i * 3 + 1]
        }
        LEAK_MEM => {
            let v: &mut [u8] = Vec::leak(vec![1u8; 256 << 10]);
            std::hint::black_box(v);
            vec![i * 3 + 1]
        }
        _ => vec![i * 3 + 1],
    }
}

/// Per 10,000 jobs, how many of each kind (the rest are NORMAL).
const MIX: [(u8, u64); 8] = [
    (PANIC, 100),
    (EXIT, 20),
    (ABORT, 20),
    (KILL9, 20),
    (LOOP, 10),
    (HUGE, 40),
    (LEAK_FD, 50),
    (LEAK_MEM, 50),
];

fn kind_of(rng: &mut crate::jobs::Rng) -> u8 {
    let mut r = rng.below(10_000);
    for (k, n) in MIX {
        if r < n {
            return k;
        }
        r -= n;
    }
    NORMAL
}

/// Checks one endurance answer; returns the kind's index for the tally.
fn check_answer(kind: u8, i: u64, r: &Result<Vec<u64>, JobError>) -> Result<(), String> {
    let ok = match (kind, r) {
        (NORMAL | LEAK_FD | LEAK_MEM, Ok(v)) => v == &[i * 3 + 1],
        (HUGE, Ok(v)) => v.len() == HUGE_LEN && v.iter().all(|&x| x == i),
        (PANIC, Err(JobError::Panicked { message })) => {
            message.starts_with(&format!("service panic {i} (at "))
        }
        (EXIT, Err(JobError::WorkerDied { exit_code: Some(3), .. })) => true,
        (ABORT, Err(JobError::WorkerDied { signal: Some(6), .. })) => true,
        (KILL9, Err(JobError::WorkerDied { signal: Some(9), .. })) => true,
        (LOOP, Err(JobError::TimeLimit)) => true,
        _ => false,
    };
    let short = |r: &Result<Vec<u64>, JobError>| match r {
        Ok(v) => format!("Ok(len {}, first {:?})", v.len(), v.first()),
        Err(e) => format!("Err({e:?})"),
    };
    ensure(ok, || format!("job {i} of kind {kind}: {}", short(r)))
}

/// How many endurance jobs: `SERVICE_JOBS` (default 20,000).
fn endurance_jobs() -> u64 {
    std::env::var("SERVICE_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// One default pool serves 20,000 mixed jobs from 8 threads at once, about 4 % of them
/// hostile (panic, `exit`, abort, SIGKILL of their own worker, an endless loop under a
/// 30 ms limit, 8 MiB results, leaked descriptors and memory in the worker): every future
/// is answered with what its job did; the stats add up (one respawn per worker death,
/// every job the workers reported counted); the pool serves on; once it is dropped the
/// process is back to its baseline (descriptors, memfds, threads, children, RSS).
pub fn service_endurance() -> Outcome {
    const THREADS: u64 = 8;
    const BATCH: usize = 64;
    let n = endurance_jobs();
    // A fixed mmap threshold: glibc's dynamic one rises to 8 MiB after the first huge result
    // is freed, and each submitting thread's arena then keeps 8-16 MiB of freed results at
    // its top (malloc_trim does not trim other arenas' tops) — retention, not a leak, but it
    // hides one. With it fixed, freed results go back to the kernel and RSS can be compared.
    // SAFETY: mallopt sets an allocator parameter; no memory of ours is touched.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    let base = usage();
    let pool = Arc::new(Pool::new().map_err(|e| format!("build: {e}"))?);
    // Warm up (one huge result too, so the allocator's thresholds are set).
    for i in 0..4 {
        check_answer(HUGE, i, &pool.submit(service_job, (HUGE, i)).result())?;
    }
    let s0 = pool.stats();
    let warm = usage();
    let t0 = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || -> Result<[u64; KINDS], String> {
                let mut rng = crate::jobs::Rng::new(0xfeed_0000 + t);
                let mut tally = [0u64; KINDS];
                let mut i = t;
                while i < n {
                    let mut batch: Vec<(u8, u64, JobFuture<Vec<u64>>)> = Vec::new();
                    while batch.len() < BATCH && i < n {
                        let kind = kind_of(&mut rng);
                        let f = if kind == LOOP {
                            pool.submit_with_time_limit(
                                service_job,
                                (kind, i),
                                Duration::from_millis(30),
                            )
                        } else {
                            pool.submit(service_job, (kind, i))
                        };
                        batch.push((kind, i, f));
                        i += THREADS;
                    }
                    // Half the batches in order, half as they complete.
                    if rng.below(2) == 0 {
                        for (kind, i, f) in batch {
                            check_answer(kind, i, &f.result())?;
                            tally[kind as usize] += 1;
                        }
                    } else {
                        let keys: BTreeMap<u64, (u8, u64)> =
                            batch.iter().map(|(k, i, f)| (f.id(), (*k, *i))).collect();
                        let fs: Vec<_> = batch.into_iter().map(|(_, _, f)| f).collect();
                        for f in as_completed(fs) {
                            let (kind, i) = keys[&f.id()];
                            check_answer(kind, i, &f.result())?;
                            tally[kind as usize] += 1;
                        }
                    }
                }
                Ok(tally)
            })
        })
        .collect();
    let mut tally = [0u64; KINDS];
    for t in threads {
        let part = t.join().map_err(|_| "a submitting thread panicked".to_string())??;
        for k in 0..KINDS {
            tally[k] += part[k];
        }
    }
    let took = t0.elapsed();
    let answered: u64 = tally.iter().sum();
    ensure(answered == n, || format!("{answered} of {n} answered"))?;
    let mid = usage();
    // The stats: one respawn per worker death, every other job reported done.
    let s1 = pool.stats();
    let deaths = tally[EXIT as usize] + tally[ABORT as usize] + tally[KILL9 as usize];
    let killed = deaths + tally[LOOP as usize];
    let respawns: u64 =
        s1.workers.iter().zip(&s0.workers).map(|(a, b)| a.respawns - b.respawns).sum();
    let done = s1.jobs_done() - s0.jobs_done();
    note(format!(
        "{n} jobs in {took:?} from {THREADS} threads: tally {tally:?} (normal, panic, exit, \
         abort, kill9, loop, huge, leak_fd, leak_mem); stats: {done} done, {respawns} respawns"
    ));
    ensure(respawns == killed, || {
        format!("{respawns} respawns for {killed} workers killed ({deaths} deaths + time limits)")
    })?;
    ensure(done == n - killed, || {
        format!("stats say {done} jobs done; {n} ran, {killed} of them killed their worker")
    })?;
    ensure(s1.workers.iter().all(|w| w.queued == 0), || format!("queued left: {s1:?}"))?;
    // While the pool lives: its own descriptors and threads did not grow with the jobs.
    ensure(mid.fds <= warm.fds && mid.threads <= warm.threads + 8, || {
        format!("during the run: {warm:?} → {mid:?}")
    })?;
    note(format!(
        "pool alive: fds {}→{}, threads {}→{}, RSS {}→{} KiB",
        warm.fds, mid.fds, warm.threads, mid.threads, warm.rss_kib, mid.rss_kib
    ));
    // Still serves.
    let v: Vec<_> = pool.map(|x: u64| x + 1, 0..1000u64).collect();
    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(i as u64 + 1)), || "map after".into())?;
    let pool = Arc::into_inner(pool).ok_or("the pool is still shared")?;
    drop(pool);
    back_to(&base, 8 << 10, "after the pool's drop")
}

// ---------------------------------------------------------------------------------------
// Async and other threads.

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn spin_forever(_: ()) -> u64 {
    loop {
        std::hint::spin_loop();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| format!("tokio: {e}"))
}

/// From a tokio runtime: 300 tasks await one job each; `tokio::time::timeout` around a slow
/// job drops its future mid-await (a `cancel_on_drop` future frees its worker, a plain one
/// lets the job finish, as Python's `asyncio.wait_for` over a `wrap_future` cancels only a
/// queued job); `select!` between a fast and a slow job drops the loser; a future first
/// polled in one task is finished in another.
pub fn async_service_awaits() -> Outcome {
    let pool = Arc::new(build(Pool::builder().workers(2))?);
    let rt = runtime()?;
    let p = Arc::clone(&pool);
    rt.block_on(async move {
        let tasks: Vec<_> = (0..300u64)
            .map(|i| {
                let f = p.submit(|x: u64| x * 7, i);
                tokio::spawn(async move { (i, f.await) })
            })
            .collect();
        for t in tasks {
            let (i, r) = t.await.map_err(|e| format!("task: {e}"))?;
            ensure(r == Ok(i * 7), || format!("awaited job {i}: {r:?}"))?;
        }
        // A time-out dropping a cancel_on_drop future frees the worker at once.
        for _ in 0..2 {
            let f = p.submit(spin_forever, ()).cancel_on_drop();
            let r = tokio::time::timeout(Duration::from_millis(30), f).await;
            ensure(r.is_err(), || "spin_forever answered".into())?;
        }
        let t = Instant::now();
        let fs: Vec<_> = (0..4u64).map(|i| p.submit(|x: u64| x + 1, i)).collect();
        for (i, f) in (0..4u64).zip(fs) {
            let r = tokio::time::timeout(Duration::from_secs(5), f).await;
            ensure(matches!(r, Ok(Ok(v)) if v == i + 1), || format!("after the drops: {r:?}"))?;
        }
        note(format!("two spinning jobs dropped by time-outs; 4 jobs then took {:?}", t.elapsed()));
        // A plain future dropped by a time-out: the job still runs to its end.
        let f = p.submit(nap, 80);
        ensure(tokio::time::timeout(Duration::from_millis(10), f).await.is_err(), || {
            "the 80 ms nap answered within 10 ms".into()
        })?;
        // select!: the loser (cancel_on_drop) is dropped.
        let fast = p.submit(nap, 1);
        let slow = p.submit(spin_forever, ()).cancel_on_drop();
        let won = tokio::select! {
            r = fast => r == Ok(1),
            _ = slow => false,
        };
        ensure(won, || "select!: the fast job did not win".into())?;
        // Polled once in this task, awaited to the end in another.
        let mut f = p.submit(nap, 40);
        let first = tokio::time::timeout(Duration::from_millis(1), &mut f).await;
        ensure(first.is_err(), || "the 40 ms nap answered within 1 ms".into())?;
        let r = tokio::spawn(f).await.map_err(|e| format!("{e}"))?;
        ensure(r == Ok(40), || format!("moved future: {r:?}"))
    })?;
    drop(rt);
    let t = Instant::now();
    let pool = Arc::into_inner(pool).ok_or("the pool is still shared")?;
    drop(pool);
    ensure(t.elapsed() < Duration::from_secs(5), || format!("drop took {:?}", t.elapsed()))
}

/// A waiter blocked in `wait()` (thread), or awaiting (a tokio task), is woken when another
/// thread cancels the queued job or terminates the running one (Python: `cancel()` from
/// another thread wakes `result()` with `CancelledError`).
pub fn cancel_from_another_thread_wakes_waiters() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    // Runs through both halves below under load (it is terminated at the end).
    let busy = pool.submit(nap, 5_000);
    ensure(poll_until(Duration::from_secs(5), || busy.running()), || "never ran".into())?;
    let queued = pool.submit(nap, 1);
    let woke = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let t = Instant::now();
            queued.wait_timeout(Duration::from_secs(10));
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(30));
        let cancelled = queued.cancel();
        (cancelled, waiter.join())
    });
    let (cancelled, waited) = (woke.0, woke.1.map_err(|_| "waiter panicked")?);
    ensure(cancelled && queued.cancelled(), || "cancel of a queued job refused".into())?;
    ensure(waited < Duration::from_secs(2), || format!("the waiter woke after {waited:?}"))?;
    let r = queued.result();
    ensure(r == Err(JobError::Cancelled), || format!("cancelled job: {r:?}"))?;
    // terminate() of the running job from another thread wakes a thread in wait().
    let waited = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let t = Instant::now();
            busy.wait();
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(30));
        busy.terminate();
        waiter.join()
    });
    let waited = waited.map_err(|_| "waiter panicked")?;
    ensure(waited < Duration::from_secs(2), || {
        format!("terminate woke the waiter after {waited:?}")
    })?;
    let r = busy.result();
    ensure(r == Err(JobError::Cancelled), || format!("terminated job: {r:?}"))?;
    Ok(())
}

/// A pool terminated from another thread while a tokio task awaits one of its futures:
/// the task gets `Cancelled` at once (not a hang).
pub fn terminate_wakes_an_awaiting_task() -> Outcome {
    let pool = Arc::new(build(Pool::builder().workers(1))?);
    let rt = runtime()?;
    let running = pool.submit(spin_forever, ());
    let queued = pool.submit(nap, 1);
    ensure(poll_until(Duration::from_secs(5), || running.running()), || "never ran".into())?;
    let a = rt.spawn(running);
    let b = rt.spawn(queued);
    let p = Arc::clone(&pool);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        p.terminate();
    });
    let r = rt.block_on(async {
        let a = tokio::time::timeout(Duration::from_secs(5), a).await;
        let b = tokio::time::timeout(Duration::from_secs(5), b).await;
        (a, b)
    });
    killer.join().map_err(|_| "killer panicked")?;
    match r {
        (Ok(Ok(Err(JobError::Cancelled))), Ok(Ok(Err(JobError::Cancelled)))) => Ok(()),
        other => Err(format!("awaited futures of a terminated pool: {other:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// Lifecycle: a child service signalled or killed.

fn child_exe() -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("service_child");
    ensure(exe.exists(), || format!("{} missing: cargo build --release --bins", exe.display()))?;
    Ok(exe)
}

/// Starts `service_child MODE ARG` in its own process group and reads its worker pids
/// (the line `WORKERS pid pid ...`).
fn start_child(
    mode: &str,
    arg: &str,
) -> Result<(std::process::Child, Vec<u32>, BufReader<std::process::ChildStdout>), String> {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new(child_exe()?)
        .args([mode, arg])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            let _ = child.kill();
            return Err(format!("{mode}: the child ended before naming its workers"));
        }
        if let Some(rest) = line.trim().strip_prefix("WORKERS ") {
            let pids = rest.split(' ').filter_map(|p| p.parse().ok()).collect();
            return Ok((child, pids, out));
        }
    }
}

/// How long until every one of `pids` is dead — gone, or a zombie waiting for the
/// machine's init to reap it (this VM's init reaps orphans every 2 s or so) — None if some
/// still run after 3 s.
fn gone_within(pids: &[u32]) -> Option<Duration> {
    let t = Instant::now();
    let dead = |p: u32| !exists(p) || crate::jobs::proc_state(p).is_none_or(|s| s == 'Z');
    poll_until(Duration::from_secs(3), || pids.iter().all(|&p| dead(p))).then(|| t.elapsed())
}

/// The controller of a busy pool receives SIGTERM, SIGINT (to it alone) or SIGKILL: it
/// dies (default actions) and its workers are gone soon after — no orphan keeps running
/// its job, no zombie is left to us, nothing new in /dev/shm (Python: the workers of a
/// `ProcessPoolExecutor` whose parent was SIGKILLed run on until they next read the call
/// queue; `multiprocessing.Pool` workers survive a SIGTERM of the parent).
pub fn controller_signalled_or_killed() -> Outcome {
    let shm = || std::fs::read_dir("/dev/shm").map_or(0, |d| d.count());
    let before = shm();
    for (sig, name) in
        [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT"), (libc::SIGKILL, "SIGKILL")]
    {
        let (mut child, pids, _out) = start_child("serve", "")?;
        ensure(!pids.is_empty(), || "no workers named".into())?;
        ensure(signal(child.id(), sig), || format!("kill({name})"))?;
        let status = child.wait().map_err(|e| e.to_string())?;
        let gone = gone_within(&pids);
        note(format!("{name}: controller {status}, {} workers gone after {gone:?}", pids.len()));
        ensure(gone.is_some(), || format!("{name}: workers {pids:?} outlived their controller"))?;
    }
    note(format!("/dev/shm entries: {before} before, {} after", shm()));
    Ok(())
}

/// A service that handles SIGTERM to shut down gracefully (finish the running jobs, then
/// exit), stopped the way systemd's default `KillMode=control-group` or `kill -TERM -PGID`
/// does: SIGTERM to every process of the group, workers included. By default the workers
/// die of it, as Python's spawn-started workers do: the running jobs fail with
/// `WorkerDied { signal: Some(15) }`, whose message names a service manager. With the
/// documented workaround (an initializer leaving SIGTERM to the controller, as Python's
/// fork-started workers inherit the parent's handler) their results reach the controller.
pub fn graceful_sigterm_to_the_process_group() -> Outcome {
    for keep in [false, true] {
        let (mut child, pids, mut out) = start_child("graceful", if keep { "keep" } else { "" })?;
        let mut line = String::new();
        // "RUNNING": its jobs have started.
        while !line.starts_with("RUNNING") {
            line.clear();
            if out.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("the child ended before its jobs ran".into());
            }
        }
        // SAFETY: kill(2) with a negative pid signals the child's process group (its own,
        // set by process_group(0)); it touches no memory.
        let sent = unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM) } == 0;
        ensure(sent, || "kill(-pgid, SIGTERM)".into())?;
        let mut rest = String::new();
        while out.read_line(&mut rest).map_err(|e| e.to_string())? > 0 {}
        let status = child.wait().map_err(|e| e.to_string())?;
        let gone = gone_within(&pids);
        note(format!("keep={keep}: the child said: {}", rest.trim().replace('\n', " | ")));
        ensure(gone.is_some(), || format!("workers {pids:?} outlived their controller"))?;
        ensure(status.success(), || format!("the service exited {status}"))?;
        let want = if keep {
            "RESULTS Ok(300) Ok(300)"
        } else {
            "RESULTS Err(WorkerDied { signal: Some(15), exit_code: None }) Err(WorkerDied { signal: Some(15), exit_code: None })"
        };
        ensure(rest.contains(want), || {
            format!("keep={keep}: after a SIGTERM to the group: {}, want {want}", rest.trim())
        })?;
    }
    Ok(())
}

/// `shutdown(wait=false)` and then the program ends (returns from `#[zeroproc::main]`'s
/// `main`, the pool still in a variable, or leaked; or calls `std::process::exit`, Python's
/// `sys.exit`): the queued and running jobs still run to their end, as Python's
/// interpreter waits for them at exit (with `exit` they were lost). And `exit` called in a
/// done-callback (the pool's own callback thread) ends the program, after the other job.
pub fn shutdown_nowait_then_exit() -> Outcome {
    for mode in ["nowait-return", "nowait-leak", "nowait-exit"] {
        let dir = std::env::temp_dir().join(format!("svc-{mode}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (mut child, pids, _out) = start_child(mode, dir.to_str().unwrap_or(""))?;
        let status = child.wait().map_err(|e| e.to_string())?;
        let written = (0..6).filter(|i| dir.join(i.to_string()).exists()).count();
        let _ = std::fs::remove_dir_all(&dir);
        ensure(gone_within(&pids).is_some(), || format!("{mode}: workers outlived the program"))?;
        ensure(status.success(), || format!("{mode}: {status}"))?;
        ensure(written == 6, || format!("{mode}: {written} of 6 jobs ran"))?;
    }
    let dir = std::env::temp_dir().join(format!("svc-cb-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let (mut child, pids, _out) = start_child("exit-in-callback", dir.to_str().unwrap_or(""))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let took = t.elapsed();
    let written = dir.join("0").exists();
    let _ = std::fs::remove_dir_all(&dir);
    ensure(gone_within(&pids).is_some(), || "exit in a callback: workers outlived it".into())?;
    ensure(status.success() && took < Duration::from_secs(10), || {
        format!("exit in a callback: {status} after {took:?}")
    })?;
    ensure(written, || "exit in a callback: the other job did not run".into())
}

fn twice(x: u64) -> u64 {
    x * 2
}

/// 200 pools built, used and dropped in a loop (one worker each, as a service re-creating
/// its pool on reconfiguration might): nothing accumulates.
pub fn two_hundred_pools_in_a_loop() -> Outcome {
    let base = usage();
    let t = Instant::now();
    for i in 0..200u64 {
        let pool = build(Pool::builder().workers(1))?;
        let r = pool.submit(twice, i).result();
        ensure(r == Ok(2 * i), || format!("pool {i}: {r:?}"))?;
    }
    note(format!("200 pools in {:?}", t.elapsed()));
    back_to(&base, 8 << 10, "200 pools")
}

/// 16 threads build a pool each at the same moment, use it and drop it, twice: every
/// build succeeds, every answer is right, nothing accumulates.
pub fn pools_built_from_many_threads_at_once() -> Outcome {
    let base = usage();
    for round in 0..2u64 {
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || -> Result<(), String> {
                    barrier.wait();
                    let pool = build(Pool::builder().workers(1))?;
                    let v: Vec<_> = pool.map(twice, 0..50u64).collect();
                    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(2 * i as u64)), || {
                        format!("round {round} thread {t}: {v:?}")
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "a thread panicked".to_string())??;
        }
    }
    back_to(&base, 8 << 10, "32 pools from 16 threads")
}

// ---------------------------------------------------------------------------------------
// Back-pressure.

/// A producer submitting 50 µs jobs as fast as it can and dropping the futures (fire and
/// forget): `submit` blocks when the rings are full, so memory stays bounded (Python's
/// executor queues every pending item in its own memory); every job runs.
pub fn producer_outruns_workers() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let counter = zeroproc::SharedCell::new(std::sync::atomic::AtomicU64::new(0))
        .map_err(|e| format!("cell: {e}"))?;
    fn count((c, n): (zeroproc::CellHandle<std::sync::atomic::AtomicU64>, u64)) -> u64 {
        let c = c.attach().expect("counter");
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(50) {}
        c.fetch_add(1, Ordering::Relaxed);
        n
    }
    let rss0 = usage().rss_kib;
    let mut peak = rss0;
    let mut slowest = Duration::ZERO;
    let n = 20_000u64;
    let t0 = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        drop(pool.submit(count, (counter.handle(), i)));
        slowest = slowest.max(t.elapsed());
        if i % 1000 == 0 {
            peak = peak.max(usage().rss_kib);
        }
    }
    let submitted = t0.elapsed();
    pool.shutdown();
    let ran = counter.load(Ordering::Relaxed);
    note(format!(
        "{n} fire-and-forget submits in {submitted:?} (slowest {slowest:?}); RSS {rss0} KiB, \
         peak {peak} KiB; {ran} ran"
    ));
    ensure(ran == n, || format!("{ran} of {n} dropped-future jobs ran"))?;
    ensure(peak < rss0 + (32 << 10), || format!("RSS grew {rss0} → {peak} KiB"))
}

/// `map` over an endless input, with `take`: ordered, chunked and unordered; then the pool
/// drops at once (the jobs placed beyond what was taken are cancelled or finish).
pub fn map_over_an_endless_input() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let v: Vec<_> = pool.map(twice, 0u64..).take(1000).collect();
    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(2 * i as u64)), || "map 0..".into())?;
    let v: Vec<_> = pool.map(twice, 0u64..).chunk_size(64).take(5000).collect();
    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(2 * i as u64)), || "chunked 0..".into())?;
    let mut u: Vec<u64> =
        pool.map_unordered(twice, 0u64..).take(1000).map(|r| r.unwrap_or(u64::MAX)).collect();
    u.sort_unstable();
    // Unordered over an endless input: 1000 distinct even results (not necessarily 0..1000).
    let distinct = u.windows(2).all(|w| w[0] < w[1]);
    ensure(distinct && u.iter().all(|x| x % 2 == 0), || "unordered 0..".into())?;
    // A slow endless generator: results come back while the input is still being read.
    let t = Instant::now();
    let slow = (0u64..).inspect(|_| std::thread::sleep(Duration::from_millis(2)));
    let first = pool.map(twice, slow).next();
    ensure(first == Some(Ok(0)), || format!("first of a slow endless input: {first:?}"))?;
    ensure(t.elapsed() < Duration::from_secs(2), || format!("first after {:?}", t.elapsed()))?;
    let t = Instant::now();
    drop(pool);
    ensure(t.elapsed() < Duration::from_secs(2), || format!("drop took {:?}", t.elapsed()))
}

fn sum_slowly(v: Vec<u64>) -> u64 {
    std::thread::sleep(Duration::from_millis(3));
    v.iter().sum()
}

/// 8 threads submit arguments of 1, 4 and 8 MiB at once to a pool whose spill heap is
/// limited to 64 MiB, faster than the workers read them: `submit` waits for room; every job
/// is answered with the right sum (no `TooLarge` for an argument that fits the empty heap,
/// no hang), and the heap is reusable after.
pub fn big_arguments_under_pressure() -> Outcome {
    let pool = Arc::new(build(Pool::builder().workers(2).spill_heap(64 << 20))?);
    let base = usage().rss_kib;
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let mut too_large = 0;
                let fs: Vec<_> = (0..6u64)
                    .map(|k| {
                        let mib = [1u64, 4, 8][((t + k) % 3) as usize];
                        let len = (mib << 20) / 8;
                        let f = pool.submit(sum_slowly, vec![t * 100 + k; len as usize]);
                        (f, (t * 100 + k) * len)
                    })
                    .collect();
                for (f, want) in fs {
                    match f.result() {
                        Ok(s) if s == want => {}
                        Err(JobError::TooLarge { .. }) => too_large += 1,
                        other => return Err(format!("thread {t}: {other:?}, want {want}")),
                    }
                }
                Ok((6 - too_large, too_large))
            })
        })
        .collect();
    let (mut ok, mut too_large) = (0, 0);
    for t in threads {
        let (a, b) = t.join().map_err(|_| "a thread panicked".to_string())??;
        ok += a;
        too_large += b;
    }
    note(format!(
        "48 big arguments: {ok} ok, {too_large} TooLarge; RSS {base} → {} KiB",
        usage().rss_kib
    ));
    ensure(too_large == 0, || {
        format!("{too_large} of 48 arguments that fit an empty heap were TooLarge")
    })?;
    // A 32 MiB argument fitted the fresh 64 MiB heap; after the mixed sizes it fits again
    // once the freed blocks merge (it may still wait for jobs in flight to free theirs).
    match pool.submit(sum_slowly, vec![1u64; 4 << 20]).result() {
        Ok(s) => ensure(s == 4 << 20, || format!("32 MiB argument: sum {s}"))?,
        Err(JobError::TooLarge { message }) => {
            return Err(format!(
                "a 32 MiB argument after them: TooLarge although freed blocks merge: {message}"
            ))
        }
        Err(e) => return Err(format!("a 32 MiB argument after: {e:?}")),
    }
    let r = pool.submit(sum_slowly, vec![1u64; 1 << 20]).result();
    ensure(r == Ok(1 << 20), || format!("an 8 MiB argument after: {r:?}"))
}

/// A dropped `map` over an endless input whose jobs are slow: the map stops reading its
/// input, and shutting the pool down takes the time of the running jobs only.
pub fn dropped_endless_map_does_not_hold_shutdown() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    let read = Arc::new(AtomicU64::new(0));
    let r2 = Arc::clone(&read);
    let input = (0u64..).inspect(move |_| {
        r2.fetch_add(1, Ordering::Relaxed);
    });
    let mut m = pool.map(nap, input.map(|_| 50u64));
    let first = m.next();
    ensure(first == Some(Ok(50)), || format!("first: {first:?}"))?;
    drop(m);
    let after_drop = read.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(20));
    ensure(read.load(Ordering::Relaxed) == after_drop, || "input read after the drop".into())?;
    let t = Instant::now();
    pool.shutdown_with(Shutdown::new());
    note(format!("{after_drop} items read; shutdown after the drop took {:?}", t.elapsed()));
    ensure(t.elapsed() < Duration::from_secs(2), || format!("shutdown took {:?}", t.elapsed()))
}

/// This process's resident shared memory (`RssShmem`, KiB): the pages of the pool's spill
/// heap it has touched, among others.
fn rss_shmem_kib() -> u64 {
    status_field("RssShmem:")
}

fn byte_sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| u64::from(b)).sum()
}

/// One burst of a 300 MiB argument, then the service goes back to tiny jobs: the shared
/// memory the burst took is given back once the pool is quiet, as Python frees its pickled
/// copy (it stayed resident until the pool was dropped).
pub fn burst_of_a_big_argument_is_given_back() -> Outcome {
    let pool = build(Pool::builder().workers(2))?;
    ensure(pool.submit(twice, 1).result() == Ok(2), || "warm-up".into())?;
    let before = rss_shmem_kib();
    let r = pool.submit(byte_sum, vec![1u8; 300 << 20]).result();
    ensure(r == Ok(300 << 20), || format!("300 MiB argument: {r:?}"))?;
    let during = rss_shmem_kib();
    for i in 0..100 {
        ensure(pool.submit(twice, i).result() == Ok(2 * i), || "tiny jobs after".into())?;
    }
    let t = Instant::now();
    let back = poll_until(Duration::from_secs(3), || rss_shmem_kib() < before + (16 << 10));
    let after = rss_shmem_kib();
    note(format!(
        "RssShmem: {before} KiB before, {during} after the burst, {after} {:?} after the tiny jobs",
        t.elapsed()
    ));
    ensure(back, || format!("RssShmem {before} → {during} → {after} KiB"))?;
    // The cost of the released pages: the same argument after the release, then at once.
    let mut took = Vec::new();
    for _ in 0..2 {
        let v = vec![2u8; 300 << 20];
        let t = Instant::now();
        let r = pool.submit(byte_sum, v).result();
        took.push(t.elapsed());
        ensure(r == Ok(600 << 20), || format!("300 MiB again: {r:?}"))?;
    }
    note(format!(
        "300 MiB round trip: {:?} on released pages, {:?} on warm ones",
        took[0], took[1]
    ));
    Ok(())
}

fn tagged_nap((i, us): (u64, u64)) -> u64 {
    std::thread::sleep(Duration::from_micros(us));
    i * 5 + 3
}

/// A pool with `cancel_on_drop(true)` (an async service whose requests time out): 4
/// threads submit ~1,000 jobs each and drop a third of the futures at random moments —
/// queued ones are revoked, running ones killed with their worker. Every future kept gets
/// its own job's answer (never a killed job's, never another's), and the pool serves on.
pub fn dropped_futures_under_load_never_cross_answers() -> Outcome {
    let pool = Arc::new(build(Pool::builder().cancel_on_drop(true))?);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let mut rng = crate::jobs::Rng::new(0xd20f + t);
                let (mut kept, mut dropped) = (0, 0);
                let mut i = t;
                while i < 4000 {
                    let mut batch = Vec::new();
                    for _ in 0..32 {
                        let us = if rng.below(10) == 0 { 2000 } else { rng.below(200) };
                        batch.push((i, pool.submit(tagged_nap, (i, us))));
                        i += 4;
                    }
                    if rng.below(2) == 0 {
                        std::thread::sleep(Duration::from_micros(rng.below(500)));
                    }
                    for (i, f) in batch {
                        if rng.below(3) == 0 {
                            drop(f);
                            dropped += 1;
                            continue;
                        }
                        let r = f.result();
                        if r != Ok(i * 5 + 3) {
                            return Err(format!("thread {t}: job {i} answered {r:?}"));
                        }
                        kept += 1;
                    }
                }
                Ok((kept, dropped))
            })
        })
        .collect();
    let (mut kept, mut dropped) = (0, 0);
    for t in threads {
        let (k, d) = t.join().map_err(|_| "a thread panicked".to_string())??;
        kept += k;
        dropped += d;
    }
    let s = pool.stats();
    let respawns: u64 = s.workers.iter().map(|w| w.respawns).sum();
    note(format!("{kept} kept and answered right, {dropped} dropped; {respawns} workers killed"));
    let v: Vec<_> = pool.map(|x: u64| x + 1, 0..500u64).collect();
    ensure(v.iter().enumerate().all(|(i, r)| *r == Ok(i as u64 + 1)), || "map after".into())
}

/// A per-job time limit counts from the job's start, not its submission: a 50 ms job with
/// a 150 ms limit queued behind a 300 ms job on one worker completes.
pub fn time_limit_counts_from_the_start() -> Outcome {
    let pool = build(Pool::builder().workers(1))?;
    let long = pool.submit(nap, 300);
    let short = pool.submit_with_time_limit(nap, 50, Duration::from_millis(150));
    let r = short.result();
    ensure(r == Ok(50), || format!("50 ms job, 150 ms limit, queued 300 ms: {r:?}"))?;
    ensure(long.result() == Ok(300), || "the long job".into())
}

/// A `Queue` that carried one 200 MiB value gives that shared memory back once it has been
/// quiet for 0.5 s, while it lives (docs/python-mapping.md, Queue row); dropping the queue
/// gives back the rest.
pub fn queue_burst_memory_goes_with_the_queue() -> Outcome {
    let q = zeroproc::Queue::<Vec<u8>>::new(4).map_err(|e| format!("queue: {e}"))?;
    let before = rss_shmem_kib();
    q.put(vec![1u8; 200 << 20]).map_err(|e| format!("put: {e}"))?;
    let v = q.get().map_err(|e| format!("get: {e}"))?;
    ensure(v.len() == 200 << 20, || "the value".into())?;
    drop(v);
    let taken = rss_shmem_kib();
    let t = std::time::Instant::now();
    let mut quiet = taken;
    while quiet >= before + (16 << 10) && t.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        quiet = rss_shmem_kib();
    }
    let waited = t.elapsed().as_millis();
    drop(q);
    let after = rss_shmem_kib();
    note(format!(
        "Queue: RssShmem {before} KiB before, {taken} after one 200 MiB value went through, \
         {quiet} {waited} ms later with the queue alive, {after} after the queue's drop"
    ));
    ensure(quiet < before + (16 << 10) && after < before + (16 << 10), || {
        format!("RssShmem {before} → {taken} → {quiet} (queue alive) → {after} KiB")
    })
}
