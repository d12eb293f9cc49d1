//! Differential pair with misuse_diff.py: hostile jobs and misuse through zeroproc's
//! public API, printing the same lines (compare with `diff`).
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroproc::{as_completed, wait, JobError, Pool, Process, ReturnWhen, Shutdown};

fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
fn segv(_: u8) -> u8 {
    // SAFETY: none: the point is to crash the worker with SIGSEGV.
    unsafe { std::ptr::null::<u8>().read_volatile() }
}
fn sleeps(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

fn main() {
    zeroproc::init();
    let ex = Pool::builder().workers(2).build().unwrap();
    match ex.submit(segv, 0).result() {
        Err(e) => println!("segfault job: {e}"),
        Ok(v) => println!("segfault job returned {v}"),
    }
    ex.shutdown();

    let ex = Pool::builder().workers(2).build().unwrap();
    let (a, b, c, d) =
        (ex.submit(nap, 300), ex.submit(nap, 300), ex.submit(nap, 300), ex.submit(nap, 10));
    println!("cancel d: {}", py(d.cancel()));
    let ids = [(a.id(), "a"), (d.id(), "d")];
    let mut order = vec![];
    for f in as_completed(vec![d, a]) {
        order.push(ids.iter().find(|(i, _)| *i == f.id()).unwrap().1);
        if order.len() == 1 { /* keep both: the rest are used below */ }
        std::mem::forget(f); // (Python keeps them; here they are not needed again)
    }
    println!("as_completed cancelled first: {order:?}");
    let (done, _) = wait(vec![b, c], ReturnWhen::AllCompleted, None);
    let mut it = as_completed(done).timeout(Duration::ZERO);
    let n = (&mut it).count();
    println!("as_completed(done, timeout=0): {n}");
    let mut done = it.into_remaining();
    let x = ex.submit(nap, 200);
    let a2 = ex.submit(nap, 1);
    a2.wait();
    let (dn, nd) = wait(vec![x, a2], ReturnWhen::AllCompleted, Some(Duration::ZERO));
    println!("wait(timeout=0): done {} not_done {}", dn.len(), nd.len());
    for f in nd {
        f.result().unwrap();
    }
    println!("(as_completed yielded {} of the done pair; {} left)", n, done.len());
    let a = ex.submit(nap, 300);
    a.wait();
    match a.result_timeout(Duration::ZERO) {
        Ok(r) => println!("result(timeout=0) of done: {}", r.unwrap()),
        Err(_) => println!("result(timeout=0) of done: TimeoutError"),
    }
    let d = ex.submit(nap, 10);
    let blockers = (ex.submit(nap, 300), ex.submit(nap, 300));
    let _ = blockers;
    let d2 = ex.submit(nap, 10);
    let _ = d.cancel();
    d2.cancel();
    let seen = Arc::new(Mutex::new(Vec::<bool>::new()));
    let s = seen.clone();
    d2.add_done_callback(move |r| s.lock().unwrap().push(matches!(r, Err(JobError::Cancelled))));
    let seen: Vec<String> = seen.lock().unwrap().iter().map(|b| py(*b).to_string()).collect();
    println!("callback on cancelled future ran at once: [{}]", seen.join(", "));
    let a = ex.submit(nap, 1);
    a.wait();
    println!("cancel cancelled again: {} cancel done: {}", py(d2.cancel()), py(a.cancel()));
    done.clear();
    let mut it = ex.map(nap, [50u64; 6]);
    println!("first of map: {}", it.next().unwrap().unwrap());
    ex.shutdown_with(Shutdown::new().wait(true));
    let rest: Vec<String> =
        it.map(|r| r.map(|v| v.to_string()).unwrap_or_else(|e| format!("Err({e})"))).collect();
    println!("rest of map after shutdown: [{}]", rest.join(", "));
    ex.shutdown();

    // Process misuse
    let mut pr = Process::new(sleeps, 0);
    match pr.join() {
        Err(e) => println!("join before start: AssertionError {e}"),
        Ok(x) => println!("join before start: Ok({x:?})"),
    }
    pr.start().unwrap();
    match pr.start() {
        Err(e) => println!("start twice: AssertionError {e}"),
        Ok(()) => println!("start twice: Ok"),
    }
    pr.join().unwrap();
    pr.join().unwrap();
    println!("join twice: ok, exitcode {}", pr.exit_code().unwrap().python_code());
    println!("pid after exit is set: {}", py(pr.pid().is_some()));
    let mut pr = Process::new(sleeps, 10).daemon(true);
    pr.start().unwrap();
    println!("daemon: True");
    pr.kill();
    pr.join().unwrap();
    println!("daemon killed exitcode {}", pr.exit_code().unwrap().python_code());
}
