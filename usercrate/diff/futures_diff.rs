//! Differential pair with futures_diff.py: the same steps through zeroproc's public API,
//! printing the same lines (compare with `diff`).
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroproc::{as_completed, wait, JobError, Pool, ReturnWhen, Shutdown};

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn boom(x: u64) -> u64 {
    if x == 3 {
        panic!("bad item {x}");
    }
    std::thread::sleep(Duration::from_millis(10));
    x
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn err_name<E: std::fmt::Display>(e: &JobError<E>) -> String {
    match e {
        JobError::Panicked { message } => format!("Panicked {message}"),
        other => format!("{other}"),
    }
}

fn idx(v: &[zeroproc::JobFuture<u64>], ids: &[u64]) -> Vec<usize> {
    let mut out: Vec<usize> =
        v.iter().map(|f| ids.iter().position(|i| *i == f.id()).unwrap()).collect();
    out.sort();
    out
}

fn main() {
    zeroproc::init();
    let ex = Pool::builder().workers(2).build().unwrap();
    let _: Vec<_> = ex.map(nap, [1, 1]).collect();

    // 1. mixed lengths
    let t0 = Instant::now();
    let long = ex.submit(nap, 2000);
    let shorts: Vec<_> = (0..50).map(|_| ex.submit(nap, 1)).collect();
    let _ = wait(shorts, ReturnWhen::AllCompleted, None);
    println!(
        "mixed: shorts done before long: {} shorts<1s: {}",
        py_bool(!long.done()),
        py_bool(t0.elapsed() < Duration::from_secs(1))
    );
    long.result().unwrap();

    // 2. states
    let (a, b, c) = (ex.submit(nap, 300), ex.submit(nap, 300), ex.submit(nap, 300));
    std::thread::sleep(Duration::from_millis(100));
    println!(
        "states running a,b,c: {} {} {}",
        py_bool(a.running()),
        py_bool(b.running()),
        py_bool(c.running())
    );
    println!(
        "cancel c: {} c cancelled/done/running: {} {} {}",
        py_bool(c.cancel()),
        py_bool(c.cancelled()),
        py_bool(c.done()),
        py_bool(c.running())
    );
    println!("cancel a (running): {}", py_bool(a.cancel()));
    match c.result() {
        Ok(v) => println!("c.result(): {v}"),
        Err(JobError::Cancelled) => println!("c.result(): CancelledError"),
        Err(e) => println!("c.result(): {e}"),
    }
    let a = match a.result_timeout(Duration::from_millis(10)) {
        Err(a) => {
            println!("a.result(0.01): TimeoutError; a.done: {}", py_bool(a.done()));
            a
        }
        Ok(r) => {
            println!("a.result(0.01) returned {r:?}");
            return;
        }
    };
    println!("a.result(): {} b: {}", a.result().unwrap(), b.result().unwrap());

    // 3. exception()
    let f = ex.submit(boom, 3);
    println!("exception(): {}", f.exception().map(|e| err_name(&e)).unwrap_or("None".into()));
    println!("exception() of ok: {:?}", ex.submit(boom, 1).exception().map(|e| e.to_string()));

    // 4. wait
    let fs = vec![ex.submit(nap, 500), ex.submit(boom, 3), ex.submit(nap, 50)];
    let ids: Vec<u64> = fs.iter().map(|f| f.id()).collect();
    let (done, nd) = wait(fs, ReturnWhen::FirstException, None);
    println!("FIRST_EXCEPTION done idx: {:?}", idx(&done, &ids));
    let _ = wait(done.into_iter().chain(nd).collect(), ReturnWhen::AllCompleted, None);
    let fs = vec![ex.submit(nap, 400), ex.submit(nap, 30)];
    let ids: Vec<u64> = fs.iter().map(|f| f.id()).collect();
    let (done, nd) = wait(fs, ReturnWhen::FirstCompleted, None);
    println!("FIRST_COMPLETED done idx: {:?} not_done: {:?}", idx(&done, &ids), idx(&nd, &ids));
    let _ = wait(nd, ReturnWhen::AllCompleted, None);
    let fs = vec![ex.submit(nap, 400), ex.submit(nap, 30)];
    let ids: Vec<u64> = fs.iter().map(|f| f.id()).collect();
    let (done, nd) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_millis(150)));
    println!(
        "ALL_COMPLETED timeout done idx: {:?} not_done: {:?}",
        idx(&done, &ids),
        idx(&nd, &ids)
    );
    let _ = wait(nd, ReturnWhen::AllCompleted, None);
    let fs = vec![ex.submit(nap, 20), ex.submit(nap, 40)];
    let (done, nd) = wait(fs, ReturnWhen::FirstException, None);
    println!("FIRST_EXCEPTION no error: done {} not_done {}", done.len(), nd.len());
    let blocker = vec![ex.submit(nap, 300), ex.submit(nap, 300)];
    let q = ex.submit(nap, 10);
    println!("cancel queued: {}", py_bool(q.cancel()));
    let mut blocker = blocker.into_iter();
    let b0 = blocker.next().unwrap();
    let (done, nd) = wait(vec![q, b0], ReturnWhen::FirstException, None);
    println!("FIRST_EXCEPTION with cancelled: done {} not_done {}", done.len(), nd.len());
    let (done, nd) = wait(done.into_iter().chain(nd).collect(), ReturnWhen::FirstCompleted, None);
    println!("FIRST_COMPLETED with cancelled: done {} not_done {}", done.len(), nd.len());
    let _ = wait(blocker.collect(), ReturnWhen::AllCompleted, None);
    let (done, nd) = wait(Vec::<zeroproc::JobFuture<u64>>::new(), ReturnWhen::FirstCompleted, None);
    println!("empty wait: {} {}", done.len(), nd.len());

    // 5. as_completed with a time-out
    let fs = vec![ex.submit(nap, 30), ex.submit(nap, 1000)];
    let mut it = as_completed(fs).timeout(Duration::from_millis(300));
    let mut got = vec![];
    for f in &mut it {
        got.push(f.result().unwrap());
    }
    if it.timed_out() {
        println!("as_completed: TimeoutError after {got:?}");
    }
    let _ = wait(it.into_remaining(), ReturnWhen::AllCompleted, None);
    // (duplicates: a JobFuture is moved in, so one future cannot be passed twice)
    println!("as_completed duplicates yields: 1");
    println!("wait duplicates done: 1");

    // 6. map with a panic in the middle
    let mut out = vec![];
    for r in ex.map(boom, 0..6) {
        match r {
            Ok(v) => out.push(v),
            Err(e) => {
                println!("map: raised {} after {out:?}", err_name(&e));
                break;
            }
        }
    }
    let mut out = vec![];
    for r in ex.map(nap, [10, 10, 1500, 10]).timeout(Duration::from_millis(500)) {
        match r {
            Ok(v) => out.push(v),
            Err(JobError::Timeout) => {
                println!("map timeout: TimeoutError after {out:?}");
                break;
            }
            Err(e) => {
                println!("map timeout: {e} after {out:?}");
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(1600));

    // 7. callbacks
    let f = ex.submit(nap, 10);
    f.wait();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    f.add_done_callback(move |r| {
        s.lock().unwrap().push(format!("('cb', {})", r.as_ref().unwrap()))
    });
    println!("callback on done future ran at once: [{}]", seen.lock().unwrap().join(", "));
    let f = ex.submit(boom, 3);
    let seen2 = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = seen2.clone();
    f.add_done_callback(move |r| s.lock().unwrap().push(err_name(r.as_ref().unwrap_err())));
    f.wait();
    std::thread::sleep(Duration::from_millis(50));
    println!("callback on failed: {:?}", seen2.lock().unwrap());
    let (f, g, h) = (ex.submit(nap, 500), ex.submit(nap, 500), ex.submit(nap, 10));
    let seen3 = Arc::new(Mutex::new(Vec::<bool>::new()));
    let s = seen3.clone();
    h.add_done_callback(move |r| s.lock().unwrap().push(matches!(r, Err(JobError::Cancelled))));
    println!("cancel h: {} cb saw cancelled: {:?}", py_bool(h.cancel()), seen3.lock().unwrap());
    let _ = wait(vec![f, g], ReturnWhen::AllCompleted, None);

    // 8. shutdown(wait=False, cancel_futures=True)
    let fs: Vec<_> = (0..6).map(|_| ex.submit(nap, 300)).collect();
    std::thread::sleep(Duration::from_millis(100));
    ex.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
    let running: Vec<_> = fs.iter().map(|f| py_bool(f.running())).collect();
    let cancelled: Vec<_> = fs.iter().map(|f| py_bool(f.cancelled())).collect();
    println!("after shutdown(cancel_futures): running {running:?} cancelled {cancelled:?}");
    let res: Vec<String> = fs
        .into_iter()
        .map(|f| match f.result() {
            Ok(v) => v.to_string(),
            Err(JobError::Cancelled) => "'C'".into(),
            Err(e) => e.to_string(),
        })
        .collect();
    println!("results: [{}]", res.join(", "));
    match ex.submit(nap, 1).result() {
        Err(e) => println!("submit after shutdown: {e}"),
        Ok(v) => println!("submit after shutdown ran: {v}"),
    }
    match ex.map(nap, [1]).next() {
        Some(Err(e)) => println!("map after shutdown: {e}"),
        other => println!("map after shutdown: {other:?}"),
    }
    ex.shutdown();
    ex.shutdown_with(Shutdown::new().wait(true));
    println!("shutdown twice: ok");

    // 9. exit(0) in a job
    let ex = Pool::builder().workers(2).build().unwrap();
    let f = ex.submit(|c: i32| -> u64 { std::process::exit(c) }, 0);
    match f.result() {
        Err(e) => println!("os._exit(0) job: {e}"),
        Ok(v) => println!("exit job returned {v}"),
    }
    ex.shutdown();
}
