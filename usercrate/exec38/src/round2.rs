//! Second round: callbacks against shutdown, dropped futures, terminate of queued and
//! done futures, escapes from the worker, nested pools killed, races with shutdown.

use crate::{ms, nap, Report};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use zeroproc::{as_completed, wait, JobError, Pool, ReturnWhen, Shutdown};

/// A callback calls `shutdown()` (wait) while another running future has a callback of
/// its own that must run on the same callback thread.
fn callback_shutdown_other_has_callback(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (tx, rx) = mpsc::channel();
    let other = pool.submit(nap, 300);
    let tx2 = tx.clone();
    other.add_done_callback(move |v| tx2.send(format!("other cb {v:?}")).unwrap());
    let p2 = pool.clone();
    let f = pool.submit(nap, 10);
    f.add_done_callback(move |_| {
        p2.shutdown();
        tx.send("shutdown returned".to_string()).unwrap();
    });
    let mut got = vec![];
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(4)) {
        got.push(m);
        if got.len() == 2 {
            break;
        }
    }
    r.check("both ran", got.len() == 2, &got);
    let t = Instant::now();
    let o = other.result_timeout(Duration::from_secs(3));
    r.check("other result", matches!(o, Ok(Ok(300))), (ms(t.elapsed()), o.is_ok()));
}

/// A future dropped with a callback on it: the callback still runs (Python's executor
/// keeps the future).
fn dropped_future_callback_runs(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..10u64 {
        let f = pool.submit(nap, 20 + i);
        let tx = tx.clone();
        f.add_done_callback(move |v| tx.send(v.clone()).unwrap());
        drop(f);
    }
    drop(tx);
    let got: Vec<_> = rx.iter().take(10).collect();
    r.check("all ten callbacks", got.len() == 10 && got.iter().all(|x| x.is_ok()), &got);
}

/// terminate() of a queued, a done and a cancelled future.
fn terminate_states(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(nap, 300);
    std::thread::sleep(Duration::from_millis(50));
    let q = pool.submit(nap, 1);
    let t = q.terminate();
    r.check("queued: terminate true", t, ());
    r.check("queued: cancelled", q.cancelled() && q.done(), (q.cancelled(), q.done()));
    r.check("queued: result Cancelled", q.result() == Err(JobError::Cancelled), ());
    r.check("busy ran", busy.result() == Ok(300), ());
    let d = pool.submit(nap, 0);
    d.wait();
    r.check("done: terminate false", !d.terminate(), ());
    r.check("done: result", d.result() == Ok(0), ());
}

/// A job that closes every descriptor (close_range 0..) then returns: the result still
/// comes back, the worker or its replacement serves later jobs.
fn job_closes_all_fds(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            for fd in 0..4096 {
                // SAFETY: closing descriptors of this process.
                unsafe { libc::close(fd) };
            }
            11u64
        },
        0,
    );
    let fr = f.result_timeout(Duration::from_secs(10));
    r.check("result back", matches!(fr, Ok(Ok(11))), fr.as_ref().map_err(|_| "timeout"));
    let big = pool
        .submit(|n: u64| vec![1u8; n as usize], 4 << 20)
        .result_timeout(Duration::from_secs(10));
    r.check(
        "big result after",
        matches!(&big, Ok(Ok(v)) if v.len() == 4 << 20),
        big.as_ref().map(|x| x.as_ref().map(|v| v.len())).map_err(|_| "timeout"),
    );
    let after: Vec<_> = (0..5).map(|i| pool.submit(|x: u64| x, i).result()).collect();
    r.check("later jobs", after.iter().all(|x| x.is_ok()), &after);
}

/// A job leaves a thread that exits the process 200 ms later, while a later job runs.
fn job_thread_exits_later(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                std::process::exit(5);
            });
            1u64
        },
        0,
    );
    r.check("first ok", f.result() == Ok(1), ());
    let g = pool.submit(nap, 2000).result();
    r.check(
        "victim WorkerDied exit 5",
        matches!(g, Err(JobError::WorkerDied { exit_code: Some(5), .. })),
        &g,
    );
    r.check("later", pool.submit(nap, 1).result() == Ok(1), ());
}

/// A job leaves a thread that overflows its stack later.
fn job_thread_overflows(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(|| {
                    std::thread::sleep(Duration::from_millis(200));
                    crate::hostile::deep_pub(0)
                })
                .unwrap();
            1u64
        },
        0,
    );
    r.check("first ok", f.result() == Ok(1), ());
    let g = pool.submit(nap, 2000).result();
    // The job itself did not overflow: its worker died (abort) under it.
    eprintln!("victim: {g:?} / {}", g.as_ref().err().map(|e| e.to_string()).unwrap_or_default());
    r.check("victim fails", g.is_err(), &g);
    r.check("later", pool.submit(nap, 1).result() == Ok(1), ());
}

/// A job forks a child that lingers 3 s: the pool's drop does not wait for it.
fn job_fork_lingers(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(
        |_: u64| {
            // SAFETY: fork; the child sleeps and _exits.
            let p = unsafe { libc::fork() };
            if p == 0 {
                std::thread::sleep(Duration::from_secs(3));
                unsafe { libc::_exit(0) };
            }
            p as u64
        },
        0,
    );
    let child = f.result().unwrap();
    let t = Instant::now();
    let g = pool.submit(nap, 1).result();
    r.check("next job", g == Ok(1), &g);
    drop(pool);
    let e = t.elapsed();
    r.check("drop does not wait for the grandchild", e < Duration::from_millis(2000), ms(e));
    // SAFETY: kill a pid our job made.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
}

/// A job builds a pool and is killed by its time limit: the nested pool's workers must
/// not outlive it.
fn nested_pool_killed(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit_with_time_limit(
        |_: u64| {
            let p = Pool::builder().workers(2).build().unwrap();
            let pids: Vec<u32> = p
                .map(|_: ()| std::process::id(), vec![(); 8])
                .chunk_size(1)
                .map(|x| x.unwrap())
                .collect();
            std::fs::write("/tmp/exec38-nested-pids", format!("{pids:?}")).unwrap();
            let _long = p.submit(nap, 60_000);
            nap(60_000)
        },
        0,
        Duration::from_millis(500),
    );
    let fr = f.result();
    r.check("TimeLimit", fr == Err(JobError::TimeLimit), &fr);
    std::thread::sleep(Duration::from_millis(1500));
    let pids = std::fs::read_to_string("/tmp/exec38-nested-pids").unwrap_or_default();
    let alive: Vec<&str> = pids
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .filter(|p| !p.is_empty() && std::path::Path::new(&format!("/proc/{p}")).exists())
        .collect();
    r.check("nested workers gone", alive.is_empty(), (&alive, &pids));
    let _ = std::fs::remove_file("/tmp/exec38-nested-pids");
}

/// Threads submit while another shuts down with cancel_futures: every future ends.
fn submit_races_shutdown(r: &mut Report) {
    for round in 0..5 {
        let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
        let mut hs = vec![];
        for _ in 0..3 {
            let p = pool.clone();
            hs.push(std::thread::spawn(move || {
                (0..500).map(|i| p.submit(nap, i % 3)).collect::<Vec<_>>()
            }));
        }
        std::thread::sleep(Duration::from_millis(20 + round * 10));
        pool.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
        let fs: Vec<_> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let t = Instant::now();
        let (d, nd) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_secs(10)));
        r.check(&format!("round {round}: all done"), nd.is_empty(), (nd.len(), ms(t.elapsed())));
        let odd: Vec<_> = d
            .into_iter()
            .map(|f| f.result())
            .filter(|x| !matches!(x, Ok(_) | Err(JobError::Cancelled) | Err(JobError::Shutdown)))
            .collect();
        r.check(&format!("round {round}: outcomes"), odd.is_empty(), &odd);
    }
}

/// as_completed while another thread terminates the pool: the iteration ends.
fn as_completed_pool_terminated(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let fs: Vec<_> = (0..20).map(|i| pool.submit(nap, 100 * (i % 4))).collect();
    let p = pool.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        p.terminate();
    });
    let t = Instant::now();
    let mut kinds = std::collections::BTreeMap::new();
    for f in as_completed(fs) {
        let k = match f.result() {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        };
        *kinds.entry(k).or_insert(0) += 1;
    }
    h.join().unwrap();
    r.check("ended soon", t.elapsed() < Duration::from_secs(3), ms(t.elapsed()));
    r.check("only ok and Cancelled", kinds.keys().all(|k| k == "ok" || k == "Cancelled"), &kinds);
    r.check("twenty", kinds.values().sum::<i32>() == 20, &kinds);
}

/// A callback cancels another queued future and terminates a running one.
fn callback_cancels_others(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let first = pool.submit(nap, 100);
    let queued = Arc::new(pool.submit(nap, 1));
    let q2 = queued.clone();
    let (tx, rx) = mpsc::channel();
    first.add_done_callback(move |_| tx.send(q2.cancel()).unwrap());
    let c = rx.recv_timeout(Duration::from_secs(3));
    // The queued job may have started once the worker freed; either answer is coherent.
    let st = (queued.cancelled(), queued.done());
    r.check("answer matches state", c.is_ok() && (c == Ok(true)) == st.0, (c, st));
    r.check("first", first.result() == Ok(100), ());
}

/// Callbacks from several threads at once, many futures: each runs exactly once.
fn callbacks_exactly_once(r: &mut Report) {
    let pool = Arc::new(Pool::new().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let mut hs = vec![];
    for t in 0..4 {
        let p = pool.clone();
        let c = count.clone();
        hs.push(std::thread::spawn(move || {
            let fs: Vec<_> = (0..2000u64).map(|i| p.submit(|x: u64| x, i + t)).collect();
            for (i, f) in fs.iter().enumerate() {
                let c = c.clone();
                f.add_done_callback(move |_| {
                    c.fetch_add(1, Ordering::SeqCst);
                });
                if i % 7 == 0 {
                    f.cancel();
                }
            }
            fs
        }));
    }
    let fs: Vec<_> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let (d, nd) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_secs(20)));
    r.check("all done", nd.is_empty(), nd.len());
    let t = Instant::now();
    while count.load(Ordering::SeqCst) < 8000 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    r.check("8000 callbacks", count.load(Ordering::SeqCst) == 8000, count.load(Ordering::SeqCst));
    drop(d);
}

/// exception() of a running future blocks until it fails; exception_kind too.
fn exception_blocks(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let f = pool.submit(crate::boom_pub, 200);
    let t = Instant::now();
    let e = f.exception();
    r.check("waited", t.elapsed() >= Duration::from_millis(180), ms(t.elapsed()));
    r.check("Panicked", matches!(e, Some(JobError::Panicked { .. })), &e);
    r.check(
        "kind",
        f.exception_kind() == Some(zeroproc::JobErrorKind::Panicked),
        f.exception_kind(),
    );
    // exception() then result() on the same future: both answer
    r.check("result after exception", matches!(f.result(), Err(JobError::Panicked { .. })), ());
    // result_timeout that strikes, then cancel of the queued... a running one: false
    let g = pool.submit(nap, 300);
    let g = g.result_timeout(Duration::from_millis(50)).unwrap_err();
    r.check("cancel running after timeout false", !g.cancel(), ());
    r.check("then ok", g.result() == Ok(300), ());
}

/// map_unordered with a timeout, and a map whose job dies midway.
fn map_unordered_timeout_and_death(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let got: Vec<_> = pool
        .map_unordered(nap, [2000, 10, 20, 30, 2000, 40])
        .timeout(Duration::from_millis(400))
        .collect();
    let oks: Vec<u64> = got.iter().filter_map(|x| x.as_ref().ok().copied()).collect();
    r.check(
        "unordered: the short ones then Timeout",
        got.last() == Some(&Err(JobError::Timeout)) && oks.len() == 4,
        &got,
    );
    let m: Vec<_> = pool
        .map(
            |x: u64| {
                if x == 3 {
                    std::process::exit(2)
                }
                x
            },
            0..8u64,
        )
        .collect();
    r.check(
        "map: item 3 died",
        matches!(m[3], Err(JobError::WorkerDied { exit_code: Some(2), .. })),
        &m,
    );
    let others = m.iter().enumerate().filter(|(i, x)| *i != 3 && x.is_err()).count();
    r.check("map: others fine", others == 0, &m);
}

/// A pool whose jobs all die: each job's cause named; the pool is never "broken".
fn every_job_dies(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let fs: Vec<_> = (0..40u64)
        .map(|i| pool.submit(|x: u64| -> u64 { std::process::exit((x % 7) as i32 + 1) }, i))
        .collect();
    let res: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    let wrong: Vec<_> = res
        .iter()
        .enumerate()
        .filter(|(i, x)| !matches!(x, Err(JobError::WorkerDied { exit_code: Some(c), .. }) if *c as usize == i % 7 + 1))
        .collect();
    r.check("each names its own exit code", wrong.is_empty(), &wrong);
    r.check("then fine", pool.submit(nap, 1).result() == Ok(1), ());
}

pub fn scenarios() -> Vec<(&'static str, fn(&mut Report))> {
    vec![
        ("callback_shutdown_other_has_callback", callback_shutdown_other_has_callback),
        ("dropped_future_callback_runs", dropped_future_callback_runs),
        ("terminate_states", terminate_states),
        ("job_closes_all_fds", job_closes_all_fds),
        ("job_thread_exits_later", job_thread_exits_later),
        ("job_thread_overflows", job_thread_overflows),
        ("job_fork_lingers", job_fork_lingers),
        ("nested_pool_killed", nested_pool_killed),
        ("submit_races_shutdown", submit_races_shutdown),
        ("as_completed_pool_terminated", as_completed_pool_terminated),
        ("callback_cancels_others", callback_cancels_others),
        ("callbacks_exactly_once", callbacks_exactly_once),
        ("exception_blocks", exception_blocks),
        ("map_unordered_timeout_and_death", map_unordered_timeout_and_death),
        ("every_job_dies", every_job_dies),
        ("job_exits_with_internal_codes", job_exits_with_internal_codes),
        ("init_exits_with_codes", init_exits_with_codes),
        ("job_stops_itself", job_stops_itself),
        ("map_timeout_input_blocks", map_timeout_input_blocks),
        ("as_completed_zero_timeout", as_completed_zero_timeout),
        ("callback_waits_on_futures_with_callbacks", callback_waits_on_futures_with_callbacks),
        ("callback_terminates_pool", callback_terminates_pool),
        ("callback_bounded_cancel_shutdown", callback_bounded_cancel_shutdown),
    ]
}

/// Jobs exiting with zeroproc's own exit codes (90–97): each is an ordinary death of
/// that job; the slot is not retired, the pool goes on.
pub fn job_exits_with_internal_codes(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    for code in 88..=98u64 {
        for _ in 0..4 {
            let f = pool.submit(|c: u64| -> u64 { std::process::exit(c as i32) }, code).result();
            r.check(&format!("exit({code})"), matches!(f, Err(JobError::WorkerDied { exit_code: Some(c), signal: None }) if c as u64 == code), &f);
            let m = f.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
            r.check(&format!("exit({code}) message names the job"), m.contains("the job"), &m);
        }
        let g = pool.submit(nap, 1).result_timeout(Duration::from_secs(10));
        r.check(&format!("after exit({code})"), matches!(g, Ok(Ok(1))), g.map_err(|_| "timeout"));
    }
}

/// An initializer that exits with 93 or 0: the build error names an exit, not a panic.
pub fn init_exits_with_codes(r: &mut Report) {
    fn init93() {
        std::process::exit(93)
    }
    fn init0() {
        std::process::exit(0)
    }
    for (c, b) in [
        (93, Pool::builder().workers(1).initializer(init93).build()),
        (0, Pool::builder().workers(1).initializer(init0).build()),
    ] {
        let m = b.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        r.check(
            &format!("init exit({c}): not a panic"),
            !m.contains("panicked") && m.contains("exit"),
            &m,
        );
    }
}

/// A job that stops itself (SIGSTOP): its time limit still strikes; terminate works on
/// another such job; a bounded shutdown returns.
pub fn job_stops_itself(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let stop = |_: u64| -> u64 {
        // SAFETY: raise on this process.
        unsafe { libc::raise(libc::SIGSTOP) };
        1
    };
    let t = Instant::now();
    let f = pool
        .submit_with_time_limit(stop, 0, Duration::from_millis(300))
        .result_timeout(Duration::from_secs(10));
    r.check(
        "TimeLimit",
        matches!(f, Ok(Err(JobError::TimeLimit))),
        (f.map_err(|_| "hang"), ms(t.elapsed())),
    );
    let g = pool.submit(stop, 0);
    std::thread::sleep(Duration::from_millis(200));
    r.check("running", g.running(), ());
    r.check("terminate", g.terminate(), ());
    let gr = g.result_timeout(Duration::from_secs(10));
    r.check("Cancelled", matches!(gr, Ok(Err(JobError::Cancelled))), gr.map_err(|_| "hang"));
    let h = pool.submit(stop, 0);
    let others: Vec<_> = (0..20).map(|i| pool.submit(|x: u64| x, i)).collect();
    let (d, nd) = wait(others, ReturnWhen::AllCompleted, Some(Duration::from_secs(10)));
    r.check("others run on the other worker", nd.is_empty() && d.len() == 20, nd.len());
    let t = Instant::now();
    pool.shutdown_with(Shutdown::new().timeout(Duration::from_millis(500)));
    r.check("bounded shutdown", t.elapsed() < Duration::from_secs(3), ms(t.elapsed()));
    let hr = h.result_timeout(Duration::from_secs(5));
    r.check(
        "stopped job Cancelled",
        matches!(hr, Ok(Err(JobError::Cancelled))),
        hr.map_err(|_| "hang"),
    );
}

/// map with a timeout over an input that blocks past the timeout: what was done before
/// is yielded (Python: fs.pop().result(negative) returns a done future's result).
pub fn map_timeout_input_blocks(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let input = (0..6u64).map(|i| {
        if i == 3 {
            std::thread::sleep(Duration::from_millis(800));
        }
        if i == 4 {
            3000
        } else {
            10
        }
    });
    let got: Vec<_> = pool.map(nap, input).timeout(Duration::from_millis(300)).collect();
    r.check("first three Ok", got.len() >= 3 && got[..3].iter().all(|x| x == &Ok(10)), &got);
    r.check("ends with Timeout", got.last() == Some(&Err(JobError::Timeout)), &got);
}

/// as_completed with a zero timeout: done ones yielded, then the end.
pub fn as_completed_zero_timeout(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let a = pool.submit(nap, 0);
    a.wait();
    let fs = vec![pool.submit(nap, 500), a];
    let mut it = as_completed(fs).timeout(Duration::ZERO);
    let got: Vec<_> = it.by_ref().map(|f| f.result()).collect();
    r.check("one yielded", got == vec![Ok(0)], &got);
    r.check("timed out", it.timed_out(), ());
    let empty: Vec<zeroproc::JobFuture<u64>> = vec![];
    let mut e = as_completed(empty).timeout(Duration::ZERO);
    r.check("empty: none, not timed out", e.next().is_none() && !e.timed_out(), ());
}

/// A callback that waits (wait / as_completed) for other futures that have callbacks of
/// their own queued on the same callback thread.
pub fn callback_waits_on_futures_with_callbacks(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (tx, rx) = mpsc::channel();
    let others: Vec<_> = (0..4).map(|i| pool.submit(nap, 100 + 20 * i)).collect();
    for o in &others {
        let tx = tx.clone();
        o.add_done_callback(move |_| tx.send("other cb".to_string()).unwrap());
    }
    let f = pool.submit(nap, 50);
    let tx2 = tx.clone();
    f.add_done_callback(move |_| {
        let (d, nd) = wait(others, ReturnWhen::AllCompleted, Some(Duration::from_secs(5)));
        tx2.send(format!("wait {} {}", d.len(), nd.len())).unwrap();
        let n = as_completed(d).count();
        tx2.send(format!("as_completed {n}")).unwrap();
    });
    let mut got = vec![];
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(8)) {
        got.push(m);
        if got.len() == 6 {
            break;
        }
    }
    r.check("wait all 4 done", got.contains(&"wait 4 0".to_string()), &got);
    r.check("as_completed 4", got.contains(&"as_completed 4".to_string()), &got);
    r.check("other callbacks ran", got.iter().filter(|m| *m == "other cb").count() == 4, &got);
}

/// A callback that terminates its pool while other running futures have callbacks.
pub fn callback_terminates_pool(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (tx, rx) = mpsc::channel();
    let long = pool.submit(nap, 5000);
    let tx1 = tx.clone();
    long.add_done_callback(move |v| tx1.send(format!("long {v:?}")).unwrap());
    let p2 = pool.clone();
    let f = pool.submit(nap, 50);
    let tx3 = tx.clone();
    f.add_done_callback(move |_| {
        p2.terminate();
        tx3.send("terminate returned".to_string()).unwrap();
    });
    let queued: Vec<_> = (0..5).map(|_| pool.submit(nap, 5000)).collect();
    for q in &queued {
        let tx = tx.clone();
        q.add_done_callback(move |v| tx.send(format!("queued {v:?}")).unwrap());
    }
    let t = Instant::now();
    let mut got = vec![];
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(5)) {
        got.push(m);
        if got.len() == 7 {
            break;
        }
    }
    r.check("all 7 messages", got.len() == 7, (&got, ms(t.elapsed())));
    r.check("terminate returned", got.contains(&"terminate returned".to_string()), &got);
    let lr = long.result_timeout(Duration::from_secs(3));
    r.check("long Cancelled", matches!(lr, Ok(Err(JobError::Cancelled))), lr.map_err(|_| "hang"));
}

/// A callback on the pool's own callback thread shuts the pool down with cancel_futures
/// and a timeout while the cancelled futures have callbacks (to run on that same thread).
pub fn callback_bounded_cancel_shutdown(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(3).build().unwrap());
    let (tx, rx) = mpsc::channel();
    let busy: Vec<_> = (0..2).map(|_| pool.submit(nap, 3000)).collect();
    let p2 = pool.clone();
    let trigger = pool.submit(nap, 50);
    let tx2 = tx.clone();
    trigger.add_done_callback(move |_| {
        p2.shutdown_with(Shutdown::new().cancel_futures(true).timeout(Duration::from_millis(300)));
        tx2.send("shutdown returned".to_string()).unwrap();
    });
    let queued: Vec<_> = (0..5).map(|_| pool.submit(nap, 5000)).collect();
    for q in &queued {
        let tx = tx.clone();
        q.add_done_callback(move |v| tx.send(format!("queued {v:?}")).unwrap());
    }
    let t = Instant::now();
    let mut got = vec![];
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(5)) {
        got.push(m);
        if got.len() == 6 {
            break;
        }
    }
    r.check("6 messages", got.len() == 6, (&got, ms(t.elapsed())));
    let b: Vec<_> = busy
        .into_iter()
        .map(|f| f.result_timeout(Duration::from_secs(5)).map_err(|_| "hang"))
        .collect();
    r.check("busy Cancelled", b.iter().all(|x| matches!(x, Ok(Err(JobError::Cancelled)))), &b);
}
