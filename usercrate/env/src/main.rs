//! A user's zeroproc program run in hostile environments (env36). `envprog SCENARIO`
//! runs one scenario with the default configuration and prints `RESULT SCENARIO: ...`;
//! its exit status is 0 when zeroproc did what a user expects there. `run.sh` puts each
//! scenario in its environment (small `/dev/shm`, affinity mask, descriptor limit, a
//! replaced executable, signals, scale) and checks what is left behind.

use std::time::{Duration, Instant};
use zeroproc::{ArrayHandle, Pool, Process, Queue, QueueHandle, SharedArray, SharedDict};

type R = Result<String, String>;

fn twice(x: u64) -> u64 {
    x * 2
}

fn my_pid(_: u64) -> u32 {
    std::process::id()
}

/// A result of 1 MiB: larger than a ring slot, so it spills.
fn big(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; 1 << 20]
}

fn sum_array(h: ArrayHandle<u8>) -> u64 {
    let g = h.read().expect("attach the array");
    g.iter().map(|&b| u64::from(b)).sum()
}

fn put_big(q: QueueHandle<Vec<u8>>) -> u64 {
    let q = q.attach().expect("attach the queue");
    q.put(vec![7u8; 8 << 20]).expect("put 8 MiB");
    0
}

/// The CPUs this process may run on and the one it runs on now.
fn where_am_i(_: u64) -> (Vec<u32>, i32) {
    (allowed_cpus(), unsafe_getcpu())
}

fn unsafe_getcpu() -> i32 {
    // SAFETY: sched_getcpu has no arguments and no preconditions.
    unsafe { libc::sched_getcpu() }
}

fn allowed_cpus() -> Vec<u32> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most its
    // size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .map(|c| c as u32)
            .collect()
    }
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn shout(i: u64) -> u64 {
    println!("job {i} says hello");
    i
}

/// Jobs print to stdout (a closed pipe under `| true`): how each job ends.
fn print() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let outcomes: Vec<Result<u64, String>> =
        pool.map(shout, 0..20u64).map(|r| r.map_err(|err| err.to_string())).collect();
    let failed: Vec<&String> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
    let after: u64 = pool.map(twice, 0..10u64).sum::<Result<_, _>>().map_err(e("map after"))?;
    Ok(format!(
        "{} of 20 printing jobs failed{}; plain jobs after: sum {after}",
        failed.len(),
        failed.first().map_or(String::new(), |m| format!(", first: {m}"))
    ))
}

/// An 8 MiB value through a queue in this process (its heap grows past 64 KiB).
fn bigqueue() -> R {
    let q = Queue::<Vec<u8>>::new(4).map_err(e("Queue::new"))?;
    q.put(vec![1u8; 8 << 20]).map_err(|err| format!("put 8 MiB: {err}"))?;
    let v = q.get().map_err(e("get"))?;
    Ok(format!("got {} bytes", v.len()))
}

/// A `SharedDict` that must grow for an 8 MiB value.
fn bigdict() -> R {
    let d = SharedDict::<u64, Vec<u8>>::new().map_err(e("SharedDict::new"))?;
    d.insert(1, vec![1u8; 8 << 20]).map_err(|err| format!("insert 8 MiB: {err}"))?;
    let n = d.get(&1).map_err(e("get"))?.map_or(0, |v| v.len());
    Ok(format!("got {n} bytes"))
}

fn huge(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; 64 << 20]
}

/// Results of 64 MiB, all kept: the spill heap grows (in the workers).
fn bigresults() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let futs: Vec<_> = (0..6u64).map(|i| pool.submit(huge, i)).collect();
    let mut lens = Vec::new();
    for f in futs {
        lens.push(f.result().map_err(e("64 MiB result"))?.len());
    }
    Ok(format!("{} results of 64 MiB", lens.len()))
}

fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// Pool creation, spilled results, a 100 MiB array, dict growth and an 8 MiB queue item.
fn shm() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let n: usize = pool
        .map(big, 0..16u64)
        .map(|r| r.map(|v| v.len()))
        .sum::<Result<_, _>>()
        .map_err(e("map of 1 MiB results"))?;
    let arr = SharedArray::<u8>::zeroed(100 << 20).map_err(e("SharedArray 100 MiB"))?;
    let s = pool.submit(sum_array, arr.handle()).result().map_err(e("read the array"))?;
    let dict = SharedDict::<u64, u64>::new().map_err(e("SharedDict::new"))?;
    for k in 0..50_000u64 {
        dict.insert(k, k).map_err(|err| format!("dict insert {k}: {err}"))?;
    }
    let q = Queue::<Vec<u8>>::new(4).map_err(e("Queue::new"))?;
    let mut p = Process::spawn(put_big, q.handle()).map_err(e("Process::spawn"))?;
    let got = q.get_timeout(Duration::from_secs(20)).map_err(e("queue get"))?;
    p.join().map_err(e("join"))?;
    Ok(format!(
        "workers={} spilled={n} array_sum={s} dict_len={} queue_item={}",
        pool.workers(),
        dict.len().map_err(e("len"))?,
        got.len()
    ))
}

/// The default pool's size and where its workers run, and `workers(4)`'s.
fn affinity() -> R {
    let mask = allowed_cpus();
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let seen: Vec<(Vec<u32>, i32)> = pool
        .map(where_am_i, 0..pool.workers() as u64 * 4)
        .collect::<Result<_, _>>()
        .map_err(e("map"))?;
    let outside = seen
        .iter()
        .any(|(m, cpu)| !mask.contains(&(*cpu as u32)) || m.iter().any(|c| !mask.contains(c)));
    let four = Pool::builder().workers(4).build().map_err(e("workers(4)"))?;
    let seen4: Vec<(Vec<u32>, i32)> =
        four.map(where_am_i, 0..16u64).collect::<Result<_, _>>().map_err(e("map on workers(4)"))?;
    let outside4 = seen4
        .iter()
        .any(|(m, cpu)| !mask.contains(&(*cpu as u32)) || m.iter().any(|c| !mask.contains(c)));
    let mut masks4: Vec<Vec<u32>> = seen4.into_iter().map(|(m, _)| m).collect();
    masks4.sort();
    masks4.dedup();
    let msg = format!(
        "mask={mask:?} default_workers={} worker_masks={:?} workers4_masks={masks4:?}",
        pool.workers(),
        seen.iter().map(|s| s.0.clone()).collect::<std::collections::BTreeSet<_>>()
    );
    if pool.workers() != mask.len() || outside || outside4 {
        return Err(msg);
    }
    Ok(msg)
}

/// Pool start, then Queues, Pipes and Processes until the descriptor limit says no.
fn fds() -> R {
    let pool = match Pool::new() {
        Ok(p) => p,
        Err(err) => {
            let m = err.to_string();
            return if names_fd_limit(&m) {
                Ok(format!("Pool::new refused: {m}"))
            } else {
                Err(format!("Pool::new: {m}"))
            };
        }
    };
    let sum: u64 = pool.map(twice, 0..100u64).sum::<Result<_, _>>().map_err(e("map"))?;
    let mut out = format!("pool ok (sum {sum})");
    let mut queues = Vec::new();
    let mut first_err = None;
    for _ in 0..2000 {
        match Queue::<u64>::new(4) {
            Ok(q) => queues.push(q),
            Err(err) => {
                first_err = Some(err.to_string());
                break;
            }
        }
    }
    out += &format!("; {} queues then {:?}", queues.len(), first_err);
    let q_ok = first_err.as_deref().is_none_or(names_fd_limit);
    drop(queues);
    let mut pipes = Vec::new();
    let mut perr = None;
    for _ in 0..2000 {
        match zeroproc::pipe::pipe::<u64>() {
            Ok(p) => pipes.push(p),
            Err(err) => {
                perr = Some(err.to_string());
                break;
            }
        }
    }
    out += &format!("; {} pipes then {:?}", pipes.len(), perr);
    let p_ok = perr.as_deref().is_none_or(names_fd_limit);
    drop(pipes);
    let mut procs = Vec::new();
    let mut xerr = None;
    for _ in 0..200 {
        match Process::spawn(nap, 300) {
            Ok(p) => procs.push(p),
            Err(err) => {
                xerr = Some(err.to_string());
                break;
            }
        }
    }
    out += &format!("; {} processes then {:?}", procs.len(), xerr);
    let x_ok = xerr.as_deref().is_none_or(names_fd_limit);
    for p in &mut procs {
        p.join().map_err(e("join"))?;
    }
    let sum2: u64 = pool.map(twice, 0..100u64).sum::<Result<_, _>>().map_err(e("map after"))?;
    out += &format!("; pool after: sum {sum2}");
    if q_ok && p_ok && x_ok && sum2 == sum {
        Ok(out)
    } else {
        Err(out)
    }
}

fn names_fd_limit(m: &str) -> bool {
    let m = m.to_lowercase();
    m.contains("descriptor") || m.contains("too many open files") || m.contains("nofile")
}

/// The executable is removed (`delete`) or replaced by another file (`replace`, as
/// `cargo build` does) while the pool runs; then a worker is SIGKILLed and must come back.
fn exe_changes(how: &str) -> R {
    let pool = Pool::builder().workers(2).build().map_err(e("build"))?;
    let before: Vec<u32> = pool.map(my_pid, 0..8u64).collect::<Result<_, _>>().map_err(e("map"))?;
    let exe = std::env::current_exe().map_err(e("current_exe"))?;
    match how {
        "delete" => std::fs::remove_file(&exe).map_err(e("rm"))?,
        "replace" => {
            let tmp = exe.with_extension("new");
            std::fs::write(&tmp, b"#!/bin/sh\necho I am the new build\nexit 3\n")
                .map_err(e("write"))?;
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(e("chmod"))?;
            std::fs::rename(&tmp, &exe).map_err(e("rename"))?;
        }
        _ => {}
    }
    let victim = before[0];
    // SAFETY: kill on a worker pid this pool started.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    let t0 = Instant::now();
    loop {
        let pids: Result<Vec<u32>, _> = pool.map(my_pid, 0..8u64).collect();
        if let Ok(pids) = &pids {
            if !pids.contains(&victim) && pids.len() == 8 {
                let sum: u64 =
                    pool.map(twice, 0..1000u64).sum::<Result<_, _>>().map_err(e("map after"))?;
                let mut p = Process::spawn(twice, 21).map_err(e("Process after"))?;
                let code = p.join().map_err(e("join"))?;
                return Ok(format!("replaced worker {victim}; sum {sum}; process {code:?}"));
            }
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(format!("worker {victim} not replaced after 10 s: {pids:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small everyday program: a map, a Process, a queue.
fn basic() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let sum: u64 = pool.map(twice, 0..1000u64).sum::<Result<_, _>>().map_err(e("map"))?;
    let q = Queue::<Vec<u8>>::new(4).map_err(e("Queue::new"))?;
    let mut p = Process::spawn(put_big, q.handle()).map_err(e("Process::spawn"))?;
    let got = q.get_timeout(Duration::from_secs(20)).map_err(e("get"))?;
    let code = p.join().map_err(e("join"))?;
    println!("basic prints a line to stdout");
    if sum != 999_000 {
        return Err(format!("sum {sum}"));
    }
    Ok(format!("workers={} sum={sum} item={} process {code:?}", pool.workers(), got.len()))
}

/// Jobs and a child that run for 30 s: the program is stopped by a signal meanwhile.
fn long() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let futs: Vec<_> = (0..4).map(|_| pool.submit(nap, 30_000)).collect();
    let _child = Process::spawn(nap, 30_000).map_err(e("spawn"))?;
    eprintln!("READY");
    for f in futs {
        f.result().map_err(e("job"))?;
    }
    Ok("ran to the end".into())
}

fn scale64() -> R {
    let pool = Pool::builder().workers(64).build().map_err(e("workers(64)"))?;
    let pids: std::collections::BTreeSet<u32> =
        pool.map(my_pid, 0..20_000u64).collect::<Result<_, _>>().map_err(e("map"))?;
    Ok(format!("workers={} distinct_worker_pids={}", pool.workers(), pids.len()))
}

fn pending100k() -> R {
    let pool = Pool::new().map_err(e("Pool::new"))?;
    let futs: Vec<_> = (0..100_000u64).map(|i| pool.submit(twice, i)).collect();
    let mut sum = 0u64;
    for f in zeroproc::as_completed(futs) {
        sum += f.result().map_err(e("result"))?;
    }
    if sum != 100_000 * 99_999 {
        return Err(format!("sum {sum}"));
    }
    Ok(format!("100000 futures, sum {sum}"))
}

fn pools10() -> R {
    let hs: Vec<_> = (0..10u64)
        .map(|t| {
            std::thread::spawn(move || -> Result<u64, String> {
                let pool = Pool::new().map_err(e("Pool::new"))?;
                pool.map(twice, t * 1000..(t + 1) * 1000).sum::<Result<u64, _>>().map_err(e("map"))
            })
        })
        .collect();
    let mut total = 0;
    for h in hs {
        total += h.join().map_err(|_| "thread panicked".to_string())??;
    }
    if total != 99_990_000 {
        return Err(format!("total {total}"));
    }
    Ok(format!("10 pools from 10 threads, total {total}"))
}

#[zeroproc::main]
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let r = match which.as_str() {
        "shm" => shm(),
        "affinity" => affinity(),
        "fds" => fds(),
        "exe-delete" => exe_changes("delete"),
        "exe-replace" => exe_changes("replace"),
        "basic" => basic(),
        "long" => long(),
        "scale64" => scale64(),
        "pending100k" => pending100k(),
        "pools10" => pools10(),
        "print" => print(),
        "bigqueue" => bigqueue(),
        "bigdict" => bigdict(),
        "bigresults" => bigresults(),
        other => Err(format!("no scenario {other:?}")),
    };
    match r {
        Ok(m) => eprintln!("RESULT {which}: ok {m}"),
        Err(m) => {
            eprintln!("RESULT {which}: FAILED {m}");
            std::process::exit(1);
        }
    }
}
