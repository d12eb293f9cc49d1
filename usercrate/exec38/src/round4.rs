//! Fourth round: futures outliving their pool, maps over endless inputs, retirement with
//! mixed lengths.

use crate::{ms, nap, Report};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc::{as_completed, wait, JobError, Pool, ReturnWhen};

/// Futures read after their pool was terminated / dropped.
fn futures_outlive_pool(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let done = pool.submit(nap, 0);
    done.wait();
    let running = pool.submit(nap, 3000);
    std::thread::sleep(Duration::from_millis(50));
    let queued = pool.submit(nap, 1);
    pool.terminate();
    drop(pool);
    r.check(
        "running: Cancelled",
        running.exception() == Some(JobError::Cancelled),
        running.exception(),
    );
    r.check("queued: cancelled", queued.cancelled() && queued.done() && !queued.running(), ());
    r.check("cancel of a cancelled: true", queued.cancel(), ());
    r.check("done: cancel false", !done.cancel() && !done.running(), ());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    done.add_done_callback(move |v| {
        assert_eq!(v, &Ok(0));
        h.fetch_add(1, Ordering::SeqCst);
    });
    r.check("late callback ran at once", hits.load(Ordering::SeqCst) == 1, ());
    let (d, nd) =
        wait(vec![done, running, queued], ReturnWhen::FirstException, Some(Duration::ZERO));
    r.check("wait: all done", (d.len(), nd.len()) == (3, 0), (d.len(), nd.len()));
}

/// wait(FIRST_COMPLETED) over only cancelled futures returns at once.
fn wait_all_cancelled(r: &mut Report) {
    let pool = Pool::builder().workers(1).build().unwrap();
    let busy = pool.submit(nap, 500);
    std::thread::sleep(Duration::from_millis(30));
    let fs: Vec<_> = (0..3).map(|_| pool.submit(nap, 1)).collect();
    fs.iter().for_each(|f| {
        f.cancel();
    });
    let t = Instant::now();
    let (d, nd) = wait(fs, ReturnWhen::FirstCompleted, Some(Duration::from_secs(5)));
    r.check("at once", t.elapsed() < Duration::from_millis(100), ms(t.elapsed()));
    r.check("3 done", (d.len(), nd.len()) == (3, 0), ());
    let t = Instant::now();
    let (d, nd) = wait(d, ReturnWhen::AllCompleted, Some(Duration::from_secs(5)));
    r.check(
        "all completed at once",
        t.elapsed() < Duration::from_millis(100) && nd.is_empty() && d.len() == 3,
        ms(t.elapsed()),
    );
    drop(busy);
}

/// Each item of a batched map panics with its own message.
fn map_every_item_panics(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let got: Vec<_> = pool.map(|x: u64| -> u64 { panic!("item {x}") }, 0..500u64).collect();
    let wrong: Vec<_> = got
        .iter()
        .enumerate()
        .filter(|(i, x)| !matches!(x, Err(JobError::Panicked { message }) if message.starts_with(&format!("item {i} "))))
        .take(3)
        .collect();
    r.check("own messages", wrong.is_empty() && got.len() == 500, &wrong);
}

/// A map over an endless input: take(10) ends it; a timeout ends it; drop is quick.
fn map_endless_input(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let t = Instant::now();
    let v: Vec<u64> = pool.map(|x: u64| x * 2, 0u64..).take(10).map(|x| x.unwrap()).collect();
    r.check("take 10", v == (0..10).map(|x| x * 2).collect::<Vec<_>>(), &v);
    let mut n = 0u64;
    let mut last = None;
    for x in pool.map(|x: u64| x, 0u64..).timeout(Duration::from_millis(200)) {
        n += 1;
        last = Some(x);
    }
    r.check("timeout ended it", last == Some(Err(JobError::Timeout)) && n > 10, (n, &last));
    let t2 = Instant::now();
    drop(pool);
    r.check("drop quick", t2.elapsed() < Duration::from_millis(1000), ms(t2.elapsed()));
    r.check("whole", t.elapsed() < Duration::from_secs(5), ms(t.elapsed()));
}

/// max_jobs_per_worker(1), 2 workers, a mix of 1 ms and 300 ms jobs via as_completed:
/// all right, short ones not stuck behind long ones for long.
fn retire_with_mixed_lengths(r: &mut Report) {
    let pool = Pool::builder().workers(2).max_jobs_per_worker(1).build().unwrap();
    let mut fs = vec![];
    for i in 0..40u64 {
        fs.push(pool.submit(nap, if i % 10 == 0 { 300 } else { 1 }));
    }
    let t = Instant::now();
    let got: Vec<_> = as_completed(fs).map(|f| (f.result(), t.elapsed())).collect();
    let bad: Vec<_> = got.iter().filter(|x| x.0.is_err()).collect();
    r.check("all ok", bad.is_empty() && got.len() == 40, &bad);
}

/// A pool inside a map job, each building its own pool (nested map).
fn nested_map(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let v: Vec<_> = pool.map(crate::inner_sum_pub, vec![10u64, 20, 30]).chunk_size(1).collect();
    r.check("nested", v == vec![Ok(285), Ok(2470), Ok(8555)], &v);
}

pub fn scenarios() -> Vec<(&'static str, fn(&mut Report))> {
    vec![
        ("futures_outlive_pool", futures_outlive_pool),
        ("wait_all_cancelled", wait_all_cancelled),
        ("map_every_item_panics", map_every_item_panics),
        ("map_endless_input", map_endless_input),
        ("retire_with_mixed_lengths", retire_with_mixed_lengths),
        ("nested_map", nested_map),
        ("map_big_results", map_big_results),
        ("two_pools_timeouts", two_pools_timeouts),
        ("map_in_callback", map_in_callback),
        ("terminate_during_wait", terminate_during_wait),
        ("cancel_races_moves", cancel_races_moves),
        ("cancel_futures_races_moves", cancel_futures_races_moves),
        ("outside_kills_and_stats", outside_kills_and_stats),
        ("map_timeout_cancels_unstarted", map_timeout_cancels_unstarted),
    ]
}

/// map over 12 items each returning 50 MiB (600 MiB through a 1 GiB spill heap in a
/// bounded window), and results dropped unread by an as_completed that times out.
pub fn map_big_results(r: &mut Report) {
    let pool = Pool::new().unwrap();
    let mut n = 0;
    for (i, v) in pool.map(|i: u64| vec![i as u8; 50 << 20], 0..12u64).enumerate() {
        let v = v.unwrap();
        if v.len() == 50 << 20 && v[12345] == i as u8 {
            n += 1;
        }
    }
    r.check("12 big results", n == 12, n);
    for round in 0..3 {
        let fs: Vec<_> =
            (0..6).map(|_| pool.submit(|n: u64| vec![7u8; n as usize], 100 << 20)).collect();
        let mut it = as_completed(fs).timeout(Duration::from_millis(1));
        let _ = it.next();
        drop(it); // futures with 100 MiB results dropped, read or not
        let after = pool.submit(|n: u64| vec![1u8; n as usize], 100 << 20).result();
        r.check(
            &format!("round {round}: a big result after"),
            after.as_ref().map(|v| v.len()) == Ok(100 << 20),
            after.map(|v| v.len()),
        );
    }
}

/// as_completed / wait over two pools: a completion in either is seen promptly, and a
/// timeout strikes on time.
pub fn two_pools_timeouts(r: &mut Report) {
    let a = Pool::builder().workers(1).build().unwrap();
    let b = Pool::builder().workers(1).build().unwrap();
    let fs =
        vec![a.submit(nap, 3000), b.submit(nap, 100), a.submit(nap, 3000), b.submit(nap, 3000)];
    let t = Instant::now();
    let mut it = as_completed(fs).timeout(Duration::from_millis(400));
    let first = it.next().map(|f| (f.result(), t.elapsed()));
    r.check(
        "b's 100 first, promptly",
        matches!(first, Some((Ok(100), e)) if e < Duration::from_millis(300)),
        first.map(|x| (x.0, ms(x.1))),
    );
    let second = it.next().map(|f| f.result());
    let e = t.elapsed();
    r.check("then the timeout", second.is_none() && it.timed_out(), &second);
    r.check("on time", e >= Duration::from_millis(390) && e < Duration::from_millis(700), ms(e));
    for f in it.into_remaining() {
        f.terminate();
    }
    let fs = vec![a.submit(nap, 3000), b.submit(crate::boom_pub, 150)];
    let t = Instant::now();
    let (d, nd) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(5)));
    r.check(
        "FIRST_EXCEPTION across pools",
        d.len() == 1 && nd.len() == 1 && t.elapsed() < Duration::from_millis(600),
        ms(t.elapsed()),
    );
    for f in nd {
        f.terminate();
    }
}

/// A done-callback runs a map on the pool it belongs to.
pub fn map_in_callback(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let p2 = pool.clone();
    let f = pool.submit(nap, 10);
    f.add_done_callback(move |_| {
        let s: u64 = p2.map(|x: u64| x, 0..1000u64).map(|x| x.unwrap()).sum();
        let u: u64 = p2.map_unordered(nap, vec![5u64; 10]).map(|x| x.unwrap()).sum();
        tx.send((s, u)).unwrap();
    });
    let got = rx.recv_timeout(Duration::from_secs(10));
    r.check("map in callback", got == Ok((499500, 50)), got);
}

/// terminate() from another thread while the main thread waits on FIRST_COMPLETED.
pub fn terminate_during_wait(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let fs = vec![pool.submit(nap, 5000), pool.submit(nap, 5000)];
    let id = fs[1].id();
    let (tx, rx) = std::sync::mpsc::channel::<zeroproc::JobFuture<u64>>();
    let h = std::thread::spawn(move || {
        let f: zeroproc::JobFuture<u64> = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        f.terminate();
        f
    });
    let mut fs = fs;
    let second = fs.pop().unwrap();
    // The waiting thread cannot hold `second` (moved into wait): terminate it through a
    // third future handle is impossible; terminate the *other* one from the thread.
    let first = fs.pop().unwrap();
    tx.send(first).unwrap();
    let first = h.join().unwrap();
    let t = Instant::now();
    let (d, nd) =
        wait(vec![first, second], ReturnWhen::FirstCompleted, Some(Duration::from_secs(5)));
    r.check(
        "terminated one is done at once",
        d.len() == 1 && t.elapsed() < Duration::from_millis(200),
        (d.len(), ms(t.elapsed())),
    );
    r.check("it is the terminated one", d.first().map(|f| f.id() != id) == Some(true), ());
    for f in nd {
        f.terminate();
    }
}

fn record(args: (u64, u64)) -> u64 {
    use std::io::Write;
    let (id, ms) = args;
    let mut f =
        std::fs::OpenOptions::new().append(true).create(true).open("/tmp/exec38-ran.txt").unwrap();
    f.write_all(format!("{id}\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    id
}

/// cancel() racing the balancer's moves: a job whose cancel() said true never runs, every
/// job that returned ran exactly once.
pub fn cancel_races_moves(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    for round in 0..15u64 {
        let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
        let mut fs = vec![pool.submit(record, (1_000_000, 200 + round * 7))];
        for i in 0..120u64 {
            fs.push(pool.submit(record, (i, if i % 9 == 0 { 3 } else { 0 })));
        }
        std::thread::sleep(Duration::from_micros(500 * round));
        let mut said = std::collections::HashMap::new();
        for (k, f) in fs.iter().enumerate().skip(1) {
            if (k as u64 + round) % 2 == 0 {
                said.insert(k as u64 - 1, f.cancel());
            }
        }
        let res: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
        let ran = std::fs::read_to_string("/tmp/exec38-ran.txt").unwrap_or_default();
        let mut count = std::collections::HashMap::new();
        for l in ran.lines() {
            *count.entry(l.parse::<u64>().unwrap()).or_insert(0) += 1;
        }
        let ran_cancelled: Vec<_> =
            said.iter().filter(|(id, c)| **c && count.contains_key(id)).collect();
        r.check(
            &format!("round {round}: cancelled never ran"),
            ran_cancelled.is_empty(),
            &ran_cancelled,
        );
        let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
        r.check(&format!("round {round}: none ran twice"), twice.is_empty(), &twice);
        let mism: Vec<_> = res
            .iter()
            .skip(1)
            .enumerate()
            .filter(|(i, x)| match x {
                Ok(_) => !count.contains_key(&(*i as u64)),
                Err(JobError::Cancelled) => said.get(&(*i as u64)) != Some(&true),
                Err(_) => true,
            })
            .take(3)
            .collect();
        r.check(&format!("round {round}: outcomes agree"), mism.is_empty(), &mism);
    }
    let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
}

/// shutdown(cancel_futures) racing moves and the backlog: a Cancelled job never ran, an
/// Ok one ran once.
pub fn cancel_futures_races_moves(r: &mut Report) {
    for round in 0..8u64 {
        let pool = Pool::builder().workers(2).build().unwrap();
        let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
        let mut fs = vec![pool.submit(record, (1_000_000, 100 + round * 13))];
        for i in 0..700u64 {
            fs.push(pool.submit(record, (i, if i % 50 == 0 { 2 } else { 0 })));
        }
        std::thread::sleep(Duration::from_millis(round * 3));
        pool.shutdown_with(zeroproc::Shutdown::new().wait(false).cancel_futures(true));
        let res: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
        drop(pool);
        let ran = std::fs::read_to_string("/tmp/exec38-ran.txt").unwrap_or_default();
        let mut count = std::collections::HashMap::new();
        for l in ran.lines() {
            *count.entry(l.parse::<u64>().unwrap()).or_insert(0) += 1;
        }
        let bad: Vec<_> = res
            .iter()
            .skip(1)
            .enumerate()
            .filter(|(i, x)| match x {
                Ok(_) => count.get(&(*i as u64)) != Some(&1),
                Err(JobError::Cancelled) => count.contains_key(&(*i as u64)),
                Err(_) => true,
            })
            .take(3)
            .collect();
        let cancelled = res.iter().filter(|x| **x == Err(JobError::Cancelled)).count();
        r.check(
            &format!("round {round}: outcomes agree ({cancelled} cancelled)"),
            bad.is_empty(),
            &bad,
        );
    }
    let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
}

/// Workers killed from outside (SIGKILL idle and mid-job); init() called again in a job;
/// stats() hammered from another thread during a map.
pub fn outside_kills_and_stats(r: &mut Report) {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let pids: Vec<u32> = pool.stats().workers.iter().map(|w| w.pid).collect();
    // SAFETY: kill our own pool's worker.
    unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(50));
    let after: Vec<_> = (0..10).map(|i| pool.submit(|x: u64| x, i)).map(|f| f.result()).collect();
    r.check("idle kill: jobs fine", after.iter().all(|x| x.is_ok()), &after);
    let f = pool.submit(
        |_: u64| {
            std::fs::write("/tmp/exec38-victim", std::process::id().to_string()).unwrap();
            nap(3000)
        },
        0,
    );
    std::thread::sleep(Duration::from_millis(200));
    let busy: Vec<i32> = std::fs::read_to_string("/tmp/exec38-victim")
        .ok()
        .and_then(|s| s.parse().ok())
        .into_iter()
        .collect();
    let _ = std::fs::remove_file("/tmp/exec38-victim");
    if let Some(p) = busy.first() {
        // SAFETY: as above.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    let fr = f.result();
    let m = fr.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    r.check(
        "mid-job kill: WorkerDied 9",
        matches!(fr, Err(JobError::WorkerDied { signal: Some(9), .. })),
        (&fr, &busy),
    );
    r.check("message names SIGKILL", m.contains("SIGKILL"), &m);
    let g = pool.submit(
        |_: u64| {
            zeroproc::init();
            3u64
        },
        0,
    );
    r.check("init() in a job", g.result() == Ok(3), ());
    let p2 = pool.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let h = std::thread::spawn(move || {
        let mut n = 0;
        while !s2.load(Ordering::Relaxed) {
            let _ = p2.stats();
            n += 1;
        }
        n
    });
    let s: u64 = pool.map(|x: u64| x, 0..200_000u64).map(|x| x.unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let n = h.join().unwrap();
    r.check("map with stats hammered", s == 199_999 * 100_000, (s, n));
}

/// After a map's time-out, the items no worker had started never run (Python cancels
/// them); running ones finish.
pub fn map_timeout_cancels_unstarted(r: &mut Report) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
    let items: Vec<(u64, u64)> = (0..12).map(|i| (i, 300)).collect();
    let got: Vec<_> = pool.map(record, items).timeout(Duration::from_millis(450)).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let ran = std::fs::read_to_string("/tmp/exec38-ran.txt").unwrap_or_default();
    let n = ran.lines().count();
    r.check("yielded 2 then Timeout", got.len() == 3 && got[2] == Err(JobError::Timeout), &got);
    r.check("at most 4 ran", n <= 4, (n, &ran));
    drop(pool);
    r.check("drop quick", t.elapsed() < Duration::from_millis(2500), ms(t.elapsed()));
    let _ = std::fs::remove_file("/tmp/exec38-ran.txt");
}
