//! The scenarios, written from `concurrent.futures` / `mpi4py.futures` semantics: what a
//! program moved from `MPIPoolExecutor` would rely on. Each one runs with a launcher
//! (`mpirun -n 3`, `-n 2`, `-n 1`) and without one, and says what it expects in each.

use crate::harness::{ensure, note, poll_until, Outcome};
use crate::jobs::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use zeroproc::cluster::{as_completed, wait, ClusterPool, ReturnWhen};
use zeroproc::{JobError, Shutdown};

/// Long enough for anything that must happen on this loaded machine; a scenario that
/// needs it is broken (the watchdog's limit is larger still).
const PATIENCE: Duration = Duration::from_secs(60);

fn build(b: zeroproc::cluster::ClusterBuilder) -> Result<ClusterPool, String> {
    b.build().map_err(|e| format!("build: {e}"))
}

fn pool() -> Result<ClusterPool, String> {
    build(ClusterPool::builder())
}

/// Node agents serving `p` (ranks other than 0).
fn agents(p: &ClusterPool) -> usize {
    p.nodes().iter().filter(|n| n.0 != 0).count()
}

fn got<T: std::fmt::Debug>(what: &str, v: T) -> String {
    format!("{what}: got {v:?}")
}

/// mpi4py: `MPIPoolExecutor().submit(f, x).result()`. Under a launcher every rank but 0 is
/// a node agent and jobs run there; without one (or with `-n 1`) a local pool runs them.
pub fn submit_and_result() -> Outcome {
    let p = pool()?;
    let nodes = p.nodes();
    note(format!("world size {}, nodes (rank, workers) {nodes:?}", world_size()));
    ensure(agents(&p) == world_size() - 1, || got("one agent per rank but 0", &nodes))?;
    ensure(p.workers() > 0, || got("workers", p.workers()))?;
    ensure(p.submit(square, 12).result() == Ok(144), || "square(12)".into())?;
    let ranks: BTreeSet<u32> = (0..40u64)
        .map(|i| p.submit(where_am_i, i))
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, f)| match f.result() {
            Ok((v, r)) if v == 2 * i as u64 => Ok(r),
            other => Err(got("where_am_i", other)),
        })
        .collect::<Result<_, _>>()?;
    let expect: BTreeSet<u32> =
        if world_size() > 1 { (1..world_size() as u32).collect() } else { [0].into() };
    // Every agent has room for the first jobs: each one gets some.
    ensure(ranks == expect, || format!("jobs ran on ranks {ranks:?}, expected {expect:?}"))
}

/// `executor.map(f, xs)` keeps input order; results are those of `f`, jobs of very different
/// lengths mixed.
pub fn map_keeps_order_with_mixed_lengths() -> Outcome {
    let p = pool()?;
    let ms: Vec<u64> = (0..60u64).map(|i| if i % 7 == 0 { 40 } else { i % 3 }).collect();
    let out: Vec<u64> =
        p.map(sleep_ms, ms.clone()).collect::<Result<_, _>>().map_err(|e| got("map", e))?;
    ensure(out == ms, || got("map order", &out))?;
    let sq: Vec<u64> = p
        .map(square, 0..5000u64)
        .chunk_size(64)
        .collect::<Result<_, _>>()
        .map_err(|e| got("chunked", e))?;
    ensure(sq == (0..5000u64).map(square).collect::<Vec<_>>(), || "chunked map values".into())
}

/// The point of a work-conserving executor: a job that blocks must not hold back short
/// jobs while any worker of any node could run them. The long job waits on a gate that is
/// opened only after every short job has finished, so this cannot pass by timing luck.
pub fn short_jobs_do_not_wait_behind_a_long_one() -> Outcome {
    for (per_node, local) in [(None, None), (Some(1), None), (Some(1), Some(1))] {
        let b = ClusterPool::builder();
        let b = match local {
            Some(n) => b.local_workers(n),
            None => b,
        };
        let p = build(match per_node {
            Some(n) => b.workers_per_node(n),
            None => b,
        })?;
        if p.workers() < 2 {
            note(format!("workers_per_node({per_node:?}): one worker in all, skipped"));
            continue;
        }
        let gate = Gate::new();
        let long = p.submit(wait_gate, gate.path());
        let shorts: Vec<_> = (0..40u64).map(|i| p.submit(square, i)).collect();
        for (i, f) in shorts.into_iter().enumerate() {
            match f.result_timeout(PATIENCE) {
                Ok(Ok(v)) if v == (i as u64) * (i as u64) => {}
                Ok(other) => return Err(got("short job", other)),
                Err(_) => {
                    return Err(format!(
                        "workers_per_node({per_node:?}), local_workers({local:?}), nodes {:?}: \
                         short job {i} still waits while one long job blocks",
                        p.nodes()
                    ))
                }
            }
        }
        ensure(!long.done(), || "the gated job finished before its gate opened".into())?;
        // The same through map_unordered: the blocked item comes last (the other jobs
        // run on the other workers).
        gate.open();
        ensure(long.result().is_ok(), || "the gated job".into())?;
        let gate2 = Gate::new();
        let items: Vec<(String, u64)> = std::iter::once((gate2.path(), 1000))
            .chain((0..30u64).map(|i| (String::new(), i)))
            .collect();
        let mut it = p.map_unordered(mixed, items);
        let mut seen = Vec::new();
        for _ in 0..30 {
            seen.push(it.next().ok_or("map_unordered ended early")?.map_err(|e| got("item", e))?);
        }
        seen.sort_unstable();
        ensure(seen == (0..30u64).map(square).collect::<Vec<_>>(), || got("short items", &seen))?;
        gate2.open();
        ensure(it.next() == Some(Ok(1_000_000)), || "the gated item".into())?;
        ensure(it.next().is_none(), || "map_unordered has more items than given".into())?;
    }
    Ok(())
}

/// `wait(fs, timeout, return_when)` and `as_completed(fs, timeout)` with a job that cannot
/// finish before the timeout (it waits on a gate).
pub fn wait_and_as_completed_with_timeouts() -> Outcome {
    let p = pool()?;
    let gate = Gate::new();
    let mut fs = vec![p.submit(wait_gate, gate.path())];
    fs.extend((0..8u64).map(|i| p.submit(square, i)));
    // FIRST_COMPLETED: some quick job.
    let (done, not_done) = wait(fs, ReturnWhen::FirstCompleted, Some(PATIENCE));
    ensure(!done.is_empty(), || "FIRST_COMPLETED returned nothing done".into())?;
    let fs: Vec<_> = done.into_iter().chain(not_done).collect();
    // ALL_COMPLETED with a short timeout: returns at the timeout, the gated job not done.
    let t = Instant::now();
    let (done, not_done) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_millis(300)));
    let waited = t.elapsed();
    ensure(waited >= Duration::from_millis(300), || {
        got("wait returned before its timeout", waited)
    })?;
    ensure(not_done.len() == 1 && done.len() == 8, || {
        format!("ALL_COMPLETED at timeout: {} done, {} not done", done.len(), not_done.len())
    })?;
    // as_completed with a timeout: the 8 done ones, then it stops and says so.
    let mut it = as_completed(done.into_iter().chain(not_done)).timeout(Duration::from_millis(300));
    let mut n = 0;
    for f in it.by_ref() {
        ensure(f.result().is_ok(), || "a yielded future".into())?;
        n += 1;
    }
    ensure(n == 8 && it.timed_out(), || {
        format!("as_completed yielded {n}, timed_out {}", it.timed_out())
    })?;
    let rest = it.into_remaining();
    ensure(rest.len() == 1, || got("remaining", rest.len()))?;
    // FIRST_EXCEPTION: a failing job ends the wait although the gated one still runs.
    let boom = p.submit(misbehave, 1);
    let (done, not_done) = wait(vec![boom], ReturnWhen::FirstException, Some(PATIENCE));
    ensure(done.len() == 1 && not_done.is_empty(), || {
        "FIRST_EXCEPTION over one failing job".into()
    })?;
    let mut fs = rest;
    fs.push(p.submit(misbehave, 1));
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(PATIENCE));
    ensure(done.len() == 1 && not_done.len() == 1, || {
        format!("FIRST_EXCEPTION: {} done, {} not done", done.len(), not_done.len())
    })?;
    gate.open();
    let (done, _) = wait(not_done, ReturnWhen::AllCompleted, Some(PATIENCE));
    ensure(done.len() == 1, || "the gated job after its gate opened".into())
}

/// `add_done_callback`: runs once the job is done — with nobody waiting too — at once
/// when added to a done future, with errors too; a panicking callback is contained.
pub fn callbacks() -> Outcome {
    let p = pool()?;
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let f = p.submit(wait_gate, gate.path());
    let t2 = tx.clone();
    f.add_done_callback(|_| panic!("a callback panics on purpose"));
    f.add_done_callback(move |r| t2.send(format!("{r:?}")).unwrap());
    ensure(rx.try_recv().is_err(), || "a callback ran before its job was done".into())?;
    gate.open();
    // Nobody waits on `f`: the pool's progress thread must run the callback.
    let msg = rx.recv_timeout(PATIENCE).map_err(|_| "the callback never ran".to_string())?;
    ensure(msg.starts_with("Ok("), || got("callback outcome", &msg))?;
    ensure(f.result().is_ok(), || "the future after a panicking callback".into())?;
    // A failed job: the callback sees the error.
    let bad = p.submit(misbehave, 1);
    let t3 = tx.clone();
    bad.add_done_callback(move |r| t3.send(format!("{r:?}")).unwrap());
    let msg = rx.recv_timeout(PATIENCE).map_err(|_| "the error callback never ran".to_string())?;
    ensure(msg.contains("Panicked") && msg.contains("panics on purpose"), || {
        got("error callback", &msg)
    })?;
    // Added to a done future: runs at once, in this thread.
    let done = p.submit(square, 3);
    done.wait();
    let me = std::thread::current().id();
    let here = Arc::new(AtomicUsize::new(0));
    let h = here.clone();
    done.add_done_callback(move |r| {
        if std::thread::current().id() == me && *r == Ok(9) {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    ensure(here.load(Ordering::SeqCst) == 1, || {
        "a callback on a done future did not run at once".into()
    })
}

/// `cancel()` is true for a job no worker started (it never runs), false for a running one
/// (which then completes normally); `cancelled()` says which.
pub fn cancel_queued_and_running() -> Outcome {
    let p = pool()?;
    let gate = Gate::new();
    let w = p.workers();
    let running: Vec<_> = (0..w).map(|_| p.submit(wait_gate, gate.path())).collect();
    if !poll_until(PATIENCE, || running.iter().all(|f| f.running())) {
        let n = running.iter().filter(|f| f.running()).count();
        return Err(format!("{w} workers but only {n} of {w} gated jobs started: {:?}", p.nodes()));
    }
    let queued: Vec<_> = (0..6u64).map(|i| p.submit(square, i)).collect();
    for q in &queued {
        ensure(!q.running(), || "a queued job runs although every worker is blocked".into())?;
        ensure(q.cancel(), || "cancel() of a queued job returned false".into())?;
        ensure(q.cancelled() && q.done(), || "cancelled()/done() after cancel".into())?;
        ensure(q.cancel(), || "cancel() again on a cancelled future must be true (Python)".into())?;
    }
    for q in queued {
        ensure(q.result() == Err(JobError::Cancelled), || "a cancelled future's result".into())?;
    }
    ensure(!running[0].cancel(), || "cancel() of a running job returned true".into())?;
    ensure(!running[0].cancelled(), || "a running job says cancelled".into())?;
    gate.open();
    for f in running {
        ensure(f.result().is_ok(), || "a running job after a refused cancel".into())?;
    }
    // A done future cannot be cancelled.
    let d = p.submit(square, 2);
    d.wait();
    ensure(!d.cancel() && !d.cancelled(), || "cancel() of a done future".into())?;
    // The cancelled jobs never ran: the pool counts only the jobs that did.
    ensure(p.submit(square, 5).result() == Ok(25), || "pool after cancels".into())
}

/// `terminate()` on a running job kills it on its node (the future fails with Cancelled,
/// the pool carries on); `pool.terminate()` ends everything at once.
pub fn terminate_jobs_and_pools() -> Outcome {
    let p = pool()?;
    let stuck = p.submit(sleep_ms, 600_000);
    if !poll_until(PATIENCE, || stuck.running()) {
        return Err("a job on an idle pool never started".into());
    }
    ensure(stuck.terminate(), || "terminate() of a running job returned false".into())?;
    ensure(stuck.result() == Err(JobError::Cancelled), || "terminated job's outcome".into())?;
    ensure(p.submit(square, 6).result() == Ok(36), || "pool after terminate()".into())?;
    // The whole pool, busy and with a queue.
    let fs: Vec<_> = (0..p.workers() + 10).map(|_| p.submit(sleep_ms, 600_000)).collect();
    let t = Instant::now();
    p.terminate();
    note(format!("pool.terminate() with {} 10-minute jobs: {:?}", fs.len(), t.elapsed()));
    for f in fs {
        match f.result_timeout(PATIENCE) {
            Ok(Err(JobError::Cancelled)) => {}
            Ok(other) => return Err(got("a job of a terminated pool", other)),
            Err(_) => return Err("a job of a terminated pool never resolved".into()),
        }
    }
    ensure(p.submit(square, 1).result() == Err(JobError::Shutdown), || {
        "submit after terminate".into()
    })
}

/// A per-job time limit on a remote node: that job fails with TimeLimit, its node's worker
/// is replaced, the others run.
pub fn time_limits_on_remote_nodes() -> Outcome {
    let p = pool()?;
    let slow = p.submit_with_time_limit(sleep_ms, 600_000, Duration::from_millis(300));
    let quick = p.submit_with_time_limit(sleep_ms, 1, Duration::from_secs(60));
    ensure(slow.result() == Err(JobError::TimeLimit), || "submit_with_time_limit".into())?;
    ensure(quick.result() == Ok(1), || "a job within its limit".into())?;
    let p = build(ClusterPool::builder().job_time_limit(Duration::from_millis(300)))?;
    let fs: Vec<_> = [600_000u64, 1, 600_000, 2].iter().map(|&ms| p.submit(sleep_ms, ms)).collect();
    let out: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    let want = vec![Err(JobError::TimeLimit), Ok(1), Err(JobError::TimeLimit), Ok(2)];
    ensure(out == want, || got("job_time_limit outcomes", &out))?;
    let msg = JobError::<zeroproc::Never>::TimeLimit.to_string();
    ensure(msg.contains("time limit"), || got("TimeLimit's message", msg))
}

/// A job that panics, exits, aborts, segfaults, runs out of memory or overflows its stack
/// on a node: exactly that job fails, with an error naming the cause; the others (queued
/// on the same node) succeed.
pub fn crashing_jobs_fail_alone_and_are_named() -> Outcome {
    let p = pool()?;
    let kinds = [1u32, 2, 3, 4, 5, 6];
    let mut fs = Vec::new();
    for &k in &kinds {
        fs.push((k, p.submit(misbehave, k)));
        for _ in 0..3 {
            fs.push((0, p.submit(misbehave, 0)));
        }
    }
    for (k, f) in fs {
        let r = f.result();
        let msg = r.as_ref().err().map(ToString::to_string).unwrap_or_default();
        let ok = match k {
            0 => r == Ok(100),
            1 => {
                matches!(&r, Err(JobError::Panicked { message }) if message.contains("job 1 panics on purpose"))
            }
            2 => {
                matches!(r, Err(JobError::WorkerDied { exit_code: Some(7), .. }))
                    && msg.contains("exit code 7")
            }
            3 => {
                matches!(r, Err(JobError::WorkerDied { signal: Some(6), .. }))
                    && msg.contains("SIGABRT")
            }
            4 => {
                matches!(r, Err(JobError::WorkerDied { signal: Some(11), .. }))
                    && msg.contains("SIGSEGV")
            }
            5 => {
                matches!(r, Err(JobError::WorkerDied { signal: Some(6), .. }))
                    && msg.contains("failed allocation")
            }
            6 => r == Err(JobError::StackOverflow),
            _ => unreachable!(),
        };
        ensure(ok, || format!("misbehave({k}): {r:?} / {msg}"))?;
    }
    let n: Vec<u64> = p
        .map(square, 0..100u64)
        .collect::<Result<_, _>>()
        .map_err(|e| got("map after crashes", e))?;
    ensure(n.len() == 100, || "map after crashes".into())
}

/// Several MiB each way (mpi4py pickles them; here the rkyv archive travels as one message).
pub fn big_arguments_and_results() -> Outcome {
    let p = pool()?;
    let arg = pattern(6 << 20, 7);
    let want = (arg.len() as u64, arg.iter().map(|&b| u64::from(b)).sum::<u64>());
    ensure(p.submit(len_and_sum, arg).result() == Ok(want), || "6 MiB argument".into())?;
    let out = p.submit(make_bytes, (5 << 20, 3)).result().map_err(|e| got("5 MiB result", e))?;
    ensure(out == pattern(5 << 20, 3), || "5 MiB result differs".into())?;
    let items: Vec<(u64, u64)> = (0..8).map(|s| (2 << 20, s)).collect();
    for (s, r) in p.map(make_bytes, items).enumerate() {
        let v = r.map_err(|e| got("2 MiB map item", e))?;
        ensure(v == pattern(2 << 20, s as u64), || format!("map item {s} differs"))?;
    }
    Ok(())
}

/// Thousands of futures in flight at once (submitted before any result is asked for),
/// collected through `as_completed`.
pub fn thousands_of_jobs_in_flight() -> Outcome {
    let p = pool()?;
    let n = 5000u64;
    let fs: Vec<_> = (0..n).map(|i| p.submit(square, i)).collect();
    let mut ids = BTreeSet::new();
    let mut sum = 0u64;
    for f in as_completed(fs) {
        ids.insert(f.id());
        sum += f.result().map_err(|e| got("a job", e))?;
    }
    ensure(ids.len() == n as usize, || got("distinct future ids", ids.len()))?;
    ensure(sum == (0..n).map(square).sum::<u64>(), || got("sum", sum))?;
    let total: u64 = p.map_unordered(square, 0..20_000u64).map(|r| r.unwrap_or(u64::MAX)).sum();
    ensure(total == (0..20_000u64).map(square).sum::<u64>(), || got("map_unordered sum", total))
}

/// Dropping the pool with jobs running: waits for them (Python's `shutdown(wait=True)`,
/// the `with` block), and the futures stay usable afterwards; `cancel_on_drop` futures
/// dropped first stop their jobs; `shutdown` with `cancel_futures` / `timeout`.
pub fn dropping_a_busy_pool() -> Outcome {
    let p = pool()?;
    let fs: Vec<_> = (0..p.workers() as u64 * 3).map(|i| p.submit(sleep_ms, 50 + i)).collect();
    drop(p);
    for (i, f) in fs.into_iter().enumerate() {
        ensure(f.result() == Ok(50 + i as u64), || format!("job {i} after the pool was dropped"))?;
    }
    // cancel_on_drop: dropping the futures stops their jobs, so the pool's drop is prompt.
    let p = build(ClusterPool::builder().cancel_on_drop(true))?;
    let fs: Vec<_> = (0..p.workers() + 5).map(|_| p.submit(sleep_ms, 600_000)).collect();
    let first = &fs[0];
    if !poll_until(PATIENCE, || first.running()) {
        return Err("no job started".into());
    }
    drop(fs);
    drop(p); // the watchdog fails the run if this waits for 10-minute jobs
             // shutdown(cancel_futures=True): queued jobs cancelled, running ones finish.
    let p = pool()?;
    let gate = Gate::new();
    let running: Vec<_> = (0..p.workers()).map(|_| p.submit(wait_gate, gate.path())).collect();
    if !poll_until(PATIENCE, || running.iter().all(|f| f.running())) {
        return Err("the gated jobs did not all start".into());
    }
    let queued: Vec<_> = (0..5).map(|_| p.submit(sleep_ms, 600_000)).collect();
    ensure(!p.shutdown_with(Shutdown::new().wait(false).cancel_futures(true)), || {
        "shutdown(wait=False) says everything finished while jobs run".into()
    })?;
    for q in queued {
        ensure(q.result() == Err(JobError::Cancelled), || {
            "a queued job at shutdown(cancel_futures)".into()
        })?;
    }
    gate.open();
    for f in running {
        ensure(f.result().is_ok(), || "a running job at shutdown(cancel_futures)".into())?;
    }
    drop(p);
    // shutdown with a timeout: what still runs then is terminated.
    let p = pool()?;
    let fs: Vec<_> = (0..p.workers()).map(|_| p.submit(sleep_ms, 600_000)).collect();
    ensure(!p.shutdown_with(Shutdown::new().timeout(Duration::from_millis(300))), || {
        "shutdown(timeout) says 10-minute jobs finished".into()
    })?;
    for f in fs {
        ensure(f.result() == Err(JobError::Cancelled), || "a job past shutdown's timeout".into())?;
    }
    // shutdown(wait=False) then drop of the last handle: returns, jobs finish.
    let p = pool()?;
    let f = p.submit(sleep_ms, 100);
    p.shutdown_with(Shutdown::new().wait(false));
    ensure(p.submit(square, 1).result() == Err(JobError::Shutdown), || {
        "submit after shutdown".into()
    })?;
    drop(p);
    ensure(f.result() == Ok(100), || "a job of a pool shut down without waiting".into())
}

/// One pool after another (a program that builds an executor per phase), and the nodes
/// serve each the same way.
pub fn pools_one_after_another() -> Outcome {
    let mut seen = None;
    for round in 0..3u64 {
        let p = pool()?;
        let nodes = p.nodes();
        if let Some(prev) = &seen {
            ensure(&nodes == prev, || format!("round {round}: nodes {nodes:?}, before {prev:?}"))?;
        }
        let v: Vec<u64> =
            p.map(square, 0..200u64).collect::<Result<_, _>>().map_err(|e| got("map", e))?;
        ensure(v[199] == 199 * 199, || "values".into())?;
        p.shutdown();
        seen = Some(nodes);
    }
    Ok(())
}

/// A local `Pool` beside the cluster pool (e.g. for rank-0-only work), used at the same
/// time; `zeroproc::wait` takes either's futures.
pub fn local_pool_beside_the_cluster() -> Outcome {
    let local = zeroproc::Pool::builder().workers(1).build().map_err(|e| got("local pool", e))?;
    let cp = pool()?;
    let a: Vec<_> = (0..50u64).map(|i| local.submit(square, i)).collect();
    let b: Vec<_> = (0..50u64).map(|i| cp.submit(square, i)).collect();
    let (da, _) = zeroproc::wait(a, ReturnWhen::AllCompleted, Some(PATIENCE));
    let (db, _) = zeroproc::wait(b, ReturnWhen::AllCompleted, Some(PATIENCE));
    ensure(da.len() == 50 && db.len() == 50, || "both pools' jobs".into())?;
    let s1: u64 = da.into_iter().map(|f| f.result().unwrap_or(0)).sum();
    let s2: u64 = db.into_iter().map(|f| f.result().unwrap_or(0)).sum();
    ensure(s1 == s2 && s1 == (0..50u64).map(square).sum::<u64>(), || format!("sums {s1} {s2}"))?;
    let zipped: Vec<(u64, u64)> = local
        .map(square, 0..300u64)
        .zip(cp.map(square, 0..300u64))
        .map(|(x, y)| (x.unwrap_or(0), y.unwrap_or(1)))
        .collect();
    ensure(zipped.iter().all(|(x, y)| x == y), || "local and cluster maps disagree".into())
}

/// Handles to node-local objects in a job's arguments. A read-only `SharedArray` is shipped
/// (the job sees the current data); every other handle must either work correctly (on
/// rank 0's workers, or without a launcher) or fail at submission naming why — never run
/// on a node against the wrong memory.
pub fn node_local_handles() -> Outcome {
    let p = pool()?;
    let remote = agents(&p) > 0;
    // SharedArray: shipped, and a write on rank 0 is seen by the next job.
    let mut arr =
        zeroproc::SharedArray::from_slice(&[1.0f64, 2.0, 3.5]).map_err(|e| got("array", e))?;
    let fs: Vec<_> = (0..20).map(|_| p.submit(sum_array, arr.handle())).collect();
    let mut ranks = BTreeSet::new();
    for f in fs {
        let (s, r) = f.result().map_err(|e| got("sum_array", e))?;
        ensure(s == 6.5, || got("sum_array", s))?;
        ranks.insert(r);
    }
    note(format!("SharedArray read on ranks {ranks:?}"));
    arr.write().map_err(|e| got("write", e))?.fill(10.0);
    let (s, _) = p.submit(sum_array, arr.handle()).result().map_err(|e| got("after write", e))?;
    ensure(s == 30.0, || got("sum after the array was written on rank 0", s))?;
    // Jobs holding the handle, queued behind a blocked job, move to an idle node and read
    // the array there (shipped to it if it had no copy).
    let one = build(ClusterPool::builder().workers_per_node(1))?;
    if one.workers() >= 2 {
        let gate = Gate::new();
        let long = one.submit(wait_gate, gate.path());
        let fs: Vec<_> = (0..12).map(|_| one.submit(sum_array, arr.handle())).collect();
        for f in fs {
            match f.result_timeout(PATIENCE) {
                Ok(Ok((30.0, _))) => {}
                Ok(other) => return Err(got("an array job behind a blocked one", other)),
                Err(_) => return Err("an array job waits behind a blocked one".into()),
            }
        }
        gate.open();
        ensure(long.result().is_ok(), || "the gated job".into())?;
    }
    drop(one);
    // The others: refused at submission with a named cause when only nodes could run them.
    let refused = |what: &str, r: Result<String, JobError>| -> Outcome {
        match r {
            Err(JobError::Decode { message }) if remote => ensure(
                message.contains("node-local handle") && message.contains("local_workers"),
                || format!("{what}: the refusal does not say why or what to do: {message}"),
            ),
            Ok(v) if !remote => {
                note(format!("{what}: ran locally: {v}"));
                Ok(())
            }
            other => Err(format!("{what} (nodes: {remote}): {other:?}")),
        }
    };
    let q = zeroproc::Queue::<u64>::new(8).map_err(|e| got("queue", e))?;
    refused("QueueHandle", p.submit(put_rank, q.handle()).result().map(|r| r.to_string()))?;
    if !remote {
        ensure(q.get_timeout(PATIENCE).is_ok(), || "the queue's item".into())?;
    }
    let mut v = zeroproc::SharedVec::<u64>::with_capacity(4).map_err(|e| got("vec", e))?;
    v.extend_from_slice(&[1, 2, 3]).map_err(|e| got("extend", e))?;
    refused("VecHandle", p.submit(sum_vec, v.handle()).result().map(|r| r.to_string()))?;
    let cell = zeroproc::SharedCell::new(AtomicU64::new(0)).map_err(|e| got("cell", e))?;
    refused("CellHandle", p.submit(bump_cell, cell.handle()).result().map(|r| r.to_string()))?;
    if !remote {
        ensure(cell.load(Ordering::SeqCst) == 1, || "the counter after a local job".into())?;
    } else {
        ensure(cell.load(Ordering::SeqCst) == 0, || "a refused job changed the counter".into())?;
    }
    let dict = zeroproc::SharedDict::<u32, u64>::new().map_err(|e| got("dict", e))?;
    refused("DictHandle", p.submit(dict_insert, dict.handle()).result().map(|r| r.to_string()))?;
    let (tx, mut rx) = zeroproc::pipe_oneway::<u64>().map_err(|e| got("pipe", e))?;
    refused("SenderHandle", p.submit(pipe_send, tx.handle()).result().map(|r| r.to_string()))?;
    if !remote {
        ensure(rx.recv().is_ok(), || "the pipe's message".into())?;
    }
    // With workers on rank 0, those jobs run there, against the right memory.
    let both = build(ClusterPool::builder().local_workers(1))?;
    for _ in 0..5 {
        ensure(both.submit(put_rank, q.handle()).result() == Ok(0), || {
            "queue job on rank 0".into()
        })?;
        ensure(both.submit(bump_cell, cell.handle()).result().is_ok(), || {
            "cell job on rank 0".into()
        })?;
    }
    let mut got_items = 0;
    while q.get_timeout(Duration::from_millis(0)).is_ok() {
        got_items += 1;
    }
    ensure(got_items == 5, || got("items in the queue", got_items))?;
    let want = if remote { 5 } else { 6 };
    ensure(cell.load(Ordering::SeqCst) == want, || got("the counter", cell.load(Ordering::SeqCst)))
}

/// `main` panics with a job running: the pool terminates, the agents stop, mpirun ends with
/// a failure. Run as `clustercrate panic-main` (the CI script checks the exit and the time).
pub fn main_panics() {
    let p = ClusterPool::builder().build().expect("cluster pool");
    let f = p.submit(sleep_ms, 600_000);
    assert!(poll_until(PATIENCE, || f.running()), "the job never started");
    panic!("main panics on purpose with a 10-minute job running");
}

/// `map(..., timeout=t)`: past the timeout the iterator yields `Timeout` and ends; jobs no
/// worker started never run (Python cancels the pending futures), running ones finish.
pub fn map_timeout_cancels_unstarted_items() -> Outcome {
    let p = pool()?;
    let w = p.workers();
    let gate = Gate::new();
    let dir = std::env::temp_dir().join(format!("clustercrate-marks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| got("mark dir", e))?;
    let items: Vec<(String, String)> = (0..w + 20)
        .map(|i| {
            // The first `w` block every worker; the rest would run once they are free.
            let g = if i < w { gate.path() } else { String::new() };
            (g, dir.join(format!("{i}")).to_string_lossy().into_owned())
        })
        .collect();
    let mut m = p.map(gated_mark, items).timeout(Duration::from_millis(500));
    let first = m.next();
    ensure(first == Some(Err(JobError::Timeout)), || got("first item past the timeout", &first))?;
    ensure(m.next().is_none(), || "the map goes on after its timeout".into())?;
    drop(m);
    gate.open();
    // Every job left is done once the pool has shut down.
    p.shutdown();
    let ran = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    ensure(ran == w, || format!("{ran} items ran; only the {w} started ones may (workers {w})"))
}

/// Several threads submitting at once (a program with a thread per input source), and
/// the futures' accessors as Python's: `exception()`, `done()`, a `result(timeout)` that
/// times out and can be asked again.
pub fn threads_submit_at_once_and_future_accessors() -> Outcome {
    let p = Arc::new(pool()?);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let fs: Vec<_> = (0..300u64).map(|i| p.submit(square, t * 1000 + i)).collect();
                fs.into_iter().map(|f| f.result().unwrap_or(u64::MAX)).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let want: u64 = (0..4u64).flat_map(|t| (0..300u64).map(move |i| square(t * 1000 + i))).sum();
    ensure(total == want, || format!("threads' sum {total}, expected {want}"))?;
    let gate = Gate::new();
    let f = p.submit(wait_gate, gate.path());
    let f = match f.result_timeout(Duration::from_millis(100)) {
        Err(back) => back,
        Ok(r) => return Err(got("a gated job's result before its gate opened", r)),
    };
    ensure(!f.done(), || "done() before the gate opened".into())?;
    gate.open();
    ensure(f.exception().is_none(), || "exception() of a job that succeeds".into())?;
    ensure(f.result().is_ok(), || "result after a timed-out result_timeout".into())?;
    let bad = p.submit(misbehave, 1);
    match bad.exception() {
        Some(JobError::Panicked { message }) if message.contains("panics on purpose") => {}
        other => return Err(got("exception() of a panicking job", other)),
    }
    ensure(bad.exception_kind() == Some(zeroproc::JobErrorKind::Panicked), || {
        "exception_kind".into()
    })
}

/// A future whose `cancel()` returned true never runs, even when a worker frees up right
/// after (each job leaves a mark file if it runs).
pub fn cancelled_jobs_never_run() -> Outcome {
    let p = pool()?;
    let w = p.workers();
    let gate = Gate::new();
    let dir = std::env::temp_dir().join(format!("clustercrate-cancelled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| got("mark dir", e))?;
    let mk = |i: usize, g: String| (g, dir.join(format!("{i}")).to_string_lossy().into_owned());
    let running: Vec<_> = (0..w).map(|i| p.submit(gated_mark, mk(i, gate.path()))).collect();
    if !poll_until(PATIENCE, || running.iter().all(|f| f.running())) {
        return Err("not started".into());
    }
    let queued: Vec<_> = (w..w + 20).map(|i| p.submit(gated_mark, mk(i, String::new()))).collect();
    let refused = queued.iter().filter(|q| !q.cancel()).count();
    ensure(refused == 0, || format!("{refused} queued jobs could not be cancelled"))?;
    gate.open();
    p.shutdown();
    let ran: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| got("mark dir", e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    ensure(ran.len() == w, || format!("jobs that ran (by index; {w} were running): {ran:?}"))
}

/// Limits named at the right moment: arguments larger than the nodes' spill heap are
/// refused at submission (`TooLarge`, saying the limit), a result larger than it fails only
/// its job, naming why; an initializer that fails on the nodes fails `build`, naming the
/// rank and the panic.
pub fn limits_and_build_errors_are_named() -> Outcome {
    let p = build(ClusterPool::builder().spill_heap(8 << 20))?;
    let r = p.submit(len_and_sum, pattern(12 << 20, 1)).result();
    match &r {
        Err(JobError::TooLarge { message }) if message.contains("bytes") => {}
        other => return Err(got("12 MiB arguments with an 8 MiB spill heap", other)),
    }
    let r = p.submit(make_bytes, (12 << 20, 1)).result().map(|v| v.len());
    note(format!("12 MiB result, 8 MiB spill heap: {r:?}"));
    let msg = r.as_ref().err().map(ToString::to_string).unwrap_or_default();
    ensure(matches!(r, Err(JobError::TooLarge { .. })) && msg.contains("result"), || {
        format!("a 12 MiB result with an 8 MiB spill heap: {r:?} / {msg}")
    })?;
    ensure(p.submit(square, 4).result() == Ok(16), || "the pool after a too-large result".into())?;
    let b = ClusterPool::builder().initializer(failing_initializer).build();
    match b {
        Err(e) => {
            let m = e.to_string();
            note(format!("failing initializer: {m}"));
            ensure(m.contains("initializer fails on purpose"), || got("build error", m))
        }
        Ok(p) => {
            // Python: BrokenProcessPool at the first submit; here build must say it.
            let r = p.submit(square, 2).result();
            Err(got("a pool whose initializer panics was built; a job gives", r))
        }
    }
}

/// Callbacks that use the pool: one submits a follow-up job (Python's pipelines do), one
/// shuts the pool down, terminates it, or drops its last handle (Python allows all from
/// a callback). None deadlocks; the other job's future completes.
pub fn callbacks_that_use_their_pool() -> Outcome {
    let p = Arc::new(pool()?);
    let (tx, rx) = mpsc::channel();
    let mine = p.clone();
    let first = p.submit(square, 3);
    first.add_done_callback(move |r| {
        let x = *r.as_ref().unwrap_or(&0);
        let _ = tx.send(mine.submit(square, x));
    });
    let next =
        rx.recv_timeout(PATIENCE).map_err(|_| "the submitting callback never ran".to_string())?;
    ensure(next.result() == Ok(81), || "the follow-up job".into())?;
    ensure(first.result() == Ok(9), || "the first job".into())?;
    drop(p);
    for how in ["shutdown", "terminate", "last drop"] {
        let p = Arc::new(pool()?);
        let f = p.submit(sleep_ms, 10);
        let other = p.submit(sleep_ms, 200);
        let (tx, rx) = mpsc::channel();
        let mine = p.clone();
        f.add_done_callback(move |_| {
            match how {
                "shutdown" => mine.shutdown(),
                "terminate" => mine.terminate(),
                _ => drop(mine),
            }
            let _ = tx.send(());
        });
        if how == "last drop" {
            drop(p);
        }
        rx.recv_timeout(PATIENCE)
            .map_err(|_| format!("a callback calling {how} did not return"))?;
        let r = other.result_timeout(PATIENCE);
        ensure(matches!(r, Ok(Ok(200)) | Ok(Err(JobError::Cancelled))), || {
            format!("{how}: the other job: {:?}", r.map_err(|_| "not done"))
        })?;
    }
    Ok(())
}

/// `main` calls `std::process::exit(3)` (no destructors run) with a job running and a pool
/// alive: as Python's `sys.exit` with an executor's work pending (and as a `Pool` does), the
/// job finishes first — it writes the file named by the second argument after 2 s — then
/// the run ends with status 3. (Until 2026-12-06 a cluster pool's jobs were dropped at
/// exit and the run ended at once.) Run as `clustercrate exit-main FILE`.
pub fn main_exits() {
    let done = std::env::args().nth(2).expect("exit-main FILE");
    let p = ClusterPool::builder().build().expect("cluster pool");
    let f = p.submit(sleep_then_write, (2_000, done));
    assert!(poll_until(PATIENCE, || f.running()), "the job never started");
    std::process::exit(3);
}

/// Sleeps `ms`, then writes `path`.
fn sleep_then_write((ms, path): (u64, String)) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    std::fs::write(path, b"done").expect("write the marker");
}
