//! Every time-out of the public API given Duration::MAX (Python: a huge timeout) and
//! Duration::ZERO, where the operation can complete: nothing may panic or hang.
use std::time::Duration;
use zeroproc::pipe::pipe;
use zeroproc::*;

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn check(name: &str, f: impl FnOnce() -> String + std::panic::UnwindSafe) {
    match std::panic::catch_unwind(f) {
        Ok(s) => println!("{name}: {s}"),
        Err(e) => println!(
            "{name}: PANIC {:?}",
            e.downcast_ref::<String>().map(|s| s.as_str()).or(e.downcast_ref::<&str>().copied())
        ),
    }
}

fn main() {
    zeroproc::init();
    let pool = Pool::builder().workers(2).build().unwrap();
    for (tn, t) in [
        ("MAX", Duration::MAX),
        ("ZERO", Duration::ZERO),
        ("1e10s", Duration::from_secs(10_000_000_000)),
    ] {
        println!("--- {tn}");
        let p = &pool;
        check(
            "result_timeout",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", p.submit(nap, 5).result_timeout(t).map_err(|_| "timeout"))
            }),
        );
        check(
            "wait_timeout",
            std::panic::AssertUnwindSafe(|| format!("{:?}", p.submit(nap, 5).wait_timeout(t))),
        );
        check(
            "wait()",
            std::panic::AssertUnwindSafe(|| {
                format!(
                    "{:?}",
                    wait(vec![p.submit(nap, 5)], ReturnWhen::AllCompleted, Some(t)).0.len()
                )
            }),
        );
        check(
            "as_completed",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", as_completed(vec![p.submit(nap, 5)]).timeout(t).count())
            }),
        );
        check(
            "map.timeout",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", p.map(nap, [5, 5]).timeout(t).collect::<Vec<_>>())
            }),
        );
        check(
            "map_unordered.timeout",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", p.map_unordered(nap, [5, 5]).timeout(t).collect::<Vec<_>>())
            }),
        );
        check(
            "submit_with_time_limit",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", p.submit_with_time_limit(nap, 5, t).result())
            }),
        );
        check(
            "submit_timeout",
            std::panic::AssertUnwindSafe(|| {
                format!("{:?}", p.submit_timeout(nap, 5, t).map(|f| f.result()).map_err(|_| "err"))
            }),
        );
        check("queue", || {
            let q = Queue::<u64>::new(2).unwrap();
            let a = q.put_timeout(1, t).map_err(|_| "put err");
            let b = q.get_timeout(t);
            let c = q.get_timeout(if t > Duration::from_secs(1) {
                Duration::from_millis(1)
            } else {
                t
            });
            format!("{a:?} {b:?} {c:?}")
        });
        check("joinable.join_timeout", || {
            let q = JoinableQueue::<u64>::new(2).unwrap();
            format!("{:?}", q.join_timeout(t))
        });
        check("pipe", || {
            let (mut a, mut b) = pipe::<u64>().unwrap();
            let s = a.send_timeout(1, t).map_err(|_| "send err");
            let p1 = b.poll(t);
            let r = b.recv_timeout(t);
            format!("{s:?} {p1} {r:?}")
        });
        check("lock_timeout", || format!("{:?}", Lock::new().lock_timeout(t).is_ok()));
        check("rlock_timeout", || format!("{:?}", RLock::new().lock_timeout(t).is_ok()));
        check("event", || {
            let e = Event::new();
            e.set();
            format!("{}", e.wait_timeout(t))
        });
        check("semaphore", || format!("{}", Semaphore::new(1).acquire_timeout(t)));
        check("bounded", || format!("{}", BoundedSemaphore::new(1).acquire_timeout(t)));
        check("barrier(1)", || format!("{:?}", Barrier::new(1).wait_timeout(t).is_ok()));
        check("condition.wait_for", || {
            let (l, c) = (Lock::new(), Condition::new());
            let r = c.wait_for_timeout(l.lock().unwrap(), t, || true).map(|(_, ok)| ok).is_ok();
            format!("{r}")
        });
        check("process.join_timeout", || {
            let mut pr = Process::spawn(nap, 5).unwrap();
            let r = pr.join_timeout(t).map(|x| x.is_some());
            pr.join().unwrap();
            format!("{r:?}")
        });
    }
    let p2 = Pool::builder().workers(1).build().unwrap();
    let f = p2.submit(nap, 50);
    check(
        "shutdown timeout MAX",
        std::panic::AssertUnwindSafe(|| {
            format!("{}", p2.shutdown_with(Shutdown::new().timeout(Duration::MAX)))
        }),
    );
    println!("f: {:?}", f.result());
    check("builder job_time_limit MAX", || {
        format!(
            "{:?}",
            Pool::builder()
                .workers(1)
                .job_time_limit(Duration::MAX)
                .build()
                .map(|p| p.submit(nap, 5).result())
        )
    });
}
