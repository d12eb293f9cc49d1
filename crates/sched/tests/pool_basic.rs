//! The executor's API on real worker processes.

use std::time::Duration;
use zeroproc_sched::{as_completed, wait, JobError, JobErrorKind, Pool, ReturnWhen};

zeroproc_sched::test_worker!();

fn square(x: u64) -> u64 {
    x * x
}

fn pool(n: usize) -> Pool {
    Pool::builder().workers(n).build().expect("pool")
}

#[test]
fn submit_fn_item_and_closure() {
    let p = pool(2);
    assert_eq!(p.submit(square, 7).result(), Ok(49));
    assert_eq!(
        p.submit(|(a, b): (u64, String)| format!("{b}{a}"), (3, "x".into())).result(),
        Ok("x3".to_string())
    );
    let fs: Vec<_> = (0..1000u64).map(|i| p.submit(square, i)).collect();
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.result(), Ok((i * i) as u64));
    }
}

#[test]
fn map_is_ordered_lazy_and_chunked() {
    let p = pool(2);
    for chunk in [1, 7, 1000] {
        let v: Vec<u64> = p.map(square, 0..5000u64).chunk_size(chunk).map(Result::unwrap).collect();
        assert_eq!(v, (0..5000u64).map(square).collect::<Vec<_>>(), "chunk {chunk}");
    }
    let mut u: Vec<u64> = p.map_unordered(square, 0..3000u64).map(Result::unwrap).collect();
    u.sort();
    assert_eq!(u, (0..3000u64).map(square).collect::<Vec<_>>());
    // Two argument lists zipped, like Python's map(fn, it1, it2).
    let sums: Vec<u64> = p
        .map(|(a, b): (u64, u64)| a + b, (0..10u64).zip(100..110u64))
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, (0..10u64).map(|i| 2 * i + 100).collect::<Vec<_>>());
}

fn fails_on_7(x: u64) -> Result<u64, String> {
    if x % 1000 == 7 {
        Err(format!("item {x}"))
    } else {
        Ok(x)
    }
}

/// Internal iteration (`fold`, `sum`, `for_each`) yields exactly what `next` does: every
/// item once, in order, a failed chunk's error once per item — chunked or not, with
/// failures in the middle.
#[test]
fn internal_iteration_matches_next() {
    let p = pool(2);
    for chunk in [1usize, 10, 1000, 4096] {
        let by_next: Vec<_> = p.map(fails_on_7, 0..20_000u64).chunk_size(chunk).collect();
        let mut by_fold = Vec::new();
        p.map(fails_on_7, 0..20_000u64).chunk_size(chunk).for_each(|r| by_fold.push(r));
        assert_eq!(by_next.len(), 20_000, "chunk {chunk}");
        assert_eq!(by_fold, by_next, "chunk {chunk}");
        let sum: u64 = p.map(square, 0..5_000u64).chunk_size(chunk).map(Result::unwrap).sum();
        assert_eq!(sum, (0..5_000u64).map(square).sum::<u64>(), "chunk {chunk}");
        // Part by `next`, the rest by `fold`.
        let mut m = p.map(square, 0..3_000u64).chunk_size(chunk);
        let head: Vec<u64> = m.by_ref().take(1_234).map(Result::unwrap).collect();
        let tail = m.fold(Vec::new(), |mut v, r| {
            v.push(r.unwrap());
            v
        });
        let all: Vec<u64> = head.into_iter().chain(tail).collect();
        assert_eq!(all, (0..3_000u64).map(square).collect::<Vec<_>>(), "chunk {chunk}");
    }
}

#[test]
fn panics_fail_only_their_job() {
    let p = pool(2);
    let f = p.submit(
        |x: u64| -> u64 {
            if x == 3 {
                panic!("three is bad")
            } else {
                x
            }
        },
        3,
    );
    match f.result() {
        Err(JobError::Panicked { message }) => {
            assert!(message.contains("three is bad"), "{message}")
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(p.submit(square, 5).result(), Ok(25));
    let v: Vec<Result<u64, JobError>> = p
        .map(
            |x: u64| {
                assert!(x != 5, "five");
                x
            },
            0..10u64,
        )
        .chunk_size(3)
        .collect();
    assert_eq!(v.len(), 10);
    for (i, r) in v.iter().enumerate() {
        if (3..6).contains(&i) {
            assert!(matches!(r, Err(JobError::Panicked { .. })), "{i}: {r:?}");
        } else {
            assert_eq!(r, &Ok(i as u64));
        }
    }
    assert_eq!(
        p.stats().workers.iter().map(|w| w.respawns).sum::<u64>(),
        0,
        "no respawn for a panic"
    );
}

#[test]
fn fallible_jobs_report_their_own_error() {
    let p = pool(1);
    let f = p.submit_fallible(
        |x: i64| if x < 0 { Err(format!("negative: {x}")) } else { Ok(x as u64) },
        -4,
    );
    assert_eq!(f.result(), Err(JobError::Job("negative: -4".to_string())));
    let g = p.submit_fallible(|x: i64| if x < 0 { Err(x) } else { Ok(x * 2) }, 21);
    assert_eq!(g.result(), Ok(42));
}

#[test]
fn result_timeout_hands_the_future_back() {
    let p = pool(1);
    let f = p.submit(
        |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        },
        300,
    );
    let f = f.result_timeout(Duration::from_millis(20)).expect_err("not done in 20 ms");
    assert!(!f.done());
    assert!(f.running() || !f.done());
    assert_eq!(f.result_timeout(Duration::from_secs(10)).ok(), Some(Ok(300)));
}

#[test]
fn cancel_queued_not_running() {
    let p = pool(1);
    let running = p.submit(
        |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        },
        300,
    );
    let queued = p.submit(square, 9);
    // Wait until the first is running.
    let t = std::time::Instant::now();
    while !running.running() && t.elapsed() < Duration::from_secs(5) {
        std::thread::yield_now();
    }
    assert!(running.running());
    assert!(!running.cancel(), "a running job cannot be cancelled");
    assert!(queued.cancel());
    assert!(queued.cancelled() && queued.done());
    assert_eq!(queued.exception_kind(), Some(JobErrorKind::Cancelled));
    assert_eq!(queued.exception(), Some(JobError::Cancelled));
    assert_eq!(running.result(), Ok(300));
    assert_eq!(queued.result(), Err(JobError::Cancelled));
    assert_eq!(p.submit(square, 3).result(), Ok(9), "pool still serves");
}

#[test]
fn callbacks_run_with_the_outcome() {
    use std::sync::{Arc, Mutex};
    let p = pool(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fs: Vec<_> = (0..20u64).map(|i| p.submit(square, i)).collect();
    for f in &fs {
        let s = seen.clone();
        f.add_done_callback(move |r| s.lock().unwrap().push(*r.as_ref().unwrap()));
    }
    let (done, not_done) = wait(fs, ReturnWhen::AllCompleted, Some(Duration::from_secs(30)));
    assert_eq!((done.len(), not_done.len()), (20, 0));
    let mut v = seen.lock().unwrap().clone();
    v.sort();
    assert_eq!(v, (0..20u64).map(square).collect::<Vec<_>>());
    // On a done future the callback runs at once, in this thread.
    let me = std::thread::current().id();
    let here = Arc::new(Mutex::new(None));
    let h = here.clone();
    done[0].add_done_callback(move |_| *h.lock().unwrap() = Some(std::thread::current().id()));
    assert_eq!(*here.lock().unwrap(), Some(me));
}

/// A pool's future that records the deadline of every sleep `wait`/`as_completed` ask of
/// it (relative to when they asked).
struct Recorded {
    f: zeroproc_sched::JobFuture<u64>,
    sleeps: std::sync::Arc<std::sync::Mutex<Vec<Option<Duration>>>>,
}

impl zeroproc_sched::Waitable for Recorded {
    fn is_done(&self) -> bool {
        self.f.is_done()
    }
    fn is_failed(&self) -> bool {
        self.f.is_failed()
    }
    fn block_until(&self, deadline: Option<std::time::Instant>, ready: &dyn Fn() -> bool) -> bool {
        let now = std::time::Instant::now();
        self.sleeps.lock().unwrap().push(deadline.map(|d| d.saturating_duration_since(now)));
        self.f.block_until(deadline, ready)
    }
    fn wake_source(&self) -> usize {
        self.f.wake_source()
    }
}

#[test]
fn wait_over_two_pools_never_sleeps_on_one_pool_unbounded() {
    // A sleep on pool `a` is not woken by pool `b`'s completions: it used to last a whole
    // 100 ms sleep slice (or until `a` completed something) after `b`'s job was done.
    use zeroproc_sched::Waitable;
    let (a, b) = (pool(1), pool(1));
    let sleepy = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let sleeps = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = |f| Recorded { f, sleeps: sleeps.clone() };
    let fs = vec![rec(a.submit(sleepy, 30_000)), rec(b.submit(sleepy, 20))];
    assert_ne!(fs[0].wake_source(), fs[1].wake_source());
    let (done, not_done) = wait(fs, ReturnWhen::FirstCompleted, None);
    assert_eq!((done.len(), not_done.len()), (1, 1));
    let mut it = as_completed(vec![rec(a.submit(sleepy, 1)), rec(b.submit(sleepy, 20))]);
    assert!(it.next().is_some());
    let sleeps = sleeps.lock().unwrap().clone();
    assert!(!sleeps.is_empty(), "nothing slept: the jobs were done too early for the test");
    for s in sleeps {
        let s = s.expect("an unbounded sleep on one pool while waiting for two");
        assert!(s <= Duration::from_millis(2), "a {s:?} sleep on one pool of two");
    }
    for f in not_done {
        assert!(f.f.terminate());
    }
}

#[test]
fn a_blocking_callback_does_not_hold_up_a_thread_waiting_for_another_job() {
    // The thread waiting for `b` drained `a`'s completion too and ran `a`'s callback in
    // place: `b.result_timeout(500 ms)` came back after the callback's 2 s. Here the
    // callback blocks until this thread, holding `b`'s result, releases it.
    use std::sync::mpsc;
    let p = pool(2);
    let sleepy = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let (release, released) = mpsc::channel::<()>();
    let (report, reported) = mpsc::channel::<bool>();
    let a = p.submit(sleepy, 10);
    a.add_done_callback(move |_| {
        let _ = report.send(released.recv_timeout(Duration::from_secs(15)).is_ok());
    });
    let b = p.submit(sleepy, 50);
    assert_eq!(b.result(), Ok(50));
    let _ = release.send(());
    assert_eq!(
        reported.recv_timeout(Duration::from_secs(30)),
        Ok(true),
        "the callback was still blocked when b's result came back: it ran on b's waiter"
    );
    assert_eq!(a.result(), Ok(10));
}

#[test]
fn wait_and_as_completed() {
    let p = pool(2);
    let sleepy = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let fs = vec![p.submit(sleepy, 400), p.submit(sleepy, 10)];
    let (done, not_done) = wait(fs, ReturnWhen::FirstCompleted, Some(Duration::from_secs(10)));
    assert_eq!(done.len(), 1);
    assert_eq!(not_done.len(), 1);
    // Jobs are bound to a worker when submitted: let the slow one finish so the order
    // below does not depend on which worker is free.
    for f in not_done {
        assert_eq!(f.result(), Ok(400));
    }
    // Both workers idle: one job each. (After the `terminate` below, one worker is being
    // respawned, and both jobs went to the other: the 5 ms one waited behind the 300 ms
    // one until the respawned worker was ready, so the order depended on how fast a
    // worker starts on a loaded host.)
    let order: Vec<u64> = as_completed(vec![p.submit(sleepy, 300), p.submit(sleepy, 5)])
        .map(|f| f.result().unwrap())
        .collect();
    assert_eq!(order, [5, 300]);
    let fs = vec![
        p.submit(
            |x: u64| -> u64 {
                if x == 1 {
                    panic!("x")
                } else {
                    x
                }
            },
            1,
        ),
        p.submit(sleepy, 3000),
    ];
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, None);
    assert_eq!((done.len(), not_done.len()), (1, 1));
    for f in not_done {
        assert!(f.terminate());
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
    let mut it = as_completed(vec![p.submit(sleepy, 2000)]).timeout(Duration::from_millis(50));
    assert!(it.next().is_none());
    assert!(it.timed_out());
    assert_eq!(it.into_remaining().len(), 1);
}

#[test]
fn future_can_be_awaited() {
    let p = pool(1);
    let f = p.submit(square, 12);
    // A minimal executor: block the thread until woken.
    struct W(std::thread::Thread);
    impl std::task::Wake for W {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    let r = loop {
        match std::future::Future::poll(f.as_mut(), &mut cx) {
            std::task::Poll::Ready(r) => break r,
            std::task::Poll::Pending => std::thread::park_timeout(Duration::from_secs(1)),
        }
    };
    assert_eq!(r, Ok(144));
}

#[test]
fn shutdown_then_submit_is_refused_with_the_args() {
    let p = pool(1);
    let f = p.submit(square, 2);
    p.shutdown();
    assert_eq!(f.result(), Ok(4));
    assert!(matches!(p.try_submit(square, 3), Err(zeroproc_sched::TrySubmitError::Shutdown(3))));
    assert_eq!(p.submit(square, 3).result(), Err(JobError::Shutdown));
}

#[test]
fn stats_count_jobs_and_bytes() {
    let p = pool(2);
    // One job per item: the default map batches tiny items (a batch is one job for
    // `stats()`; pack33 left this test at 23 jobs for 200 items).
    let n = p.map(square, 0..200u64).chunk_size(1).filter(|r| r.is_ok()).count();
    assert_eq!(n, 200);
    let s = p.stats();
    assert_eq!(s.jobs_done(), 200);
    assert!(s.workers.iter().all(|w| w.bytes_in > 0 && w.pid != 0));
    println!("{s}");
}

fn log_and_nap((q, i): (zeroproc_mp::queue::QueueHandle<u64>, u64)) -> u64 {
    q.attach().unwrap().put(i).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    i
}

/// Dropping a `map` before its end cancels the jobs no worker has started (Python's
/// `map` cancels its pending futures when its iterator is closed): with a window of 12 on
/// one worker, taking the first result and dropping the iterator runs at most the job that
/// was already running besides it, not the whole window.
#[test]
fn dropping_a_map_cancels_its_queued_jobs() {
    let p = pool(1);
    let q = zeroproc_mp::Queue::<u64>::new(64).unwrap();
    let items: Vec<_> = (0..40u64).map(|i| (q.handle(), i)).collect();
    let mut m = p.map(log_and_nap, items).window(12);
    assert_eq!(m.next(), Some(Ok(0)));
    drop(m);
    // Whatever still runs has finished well before this job, queued after it, answers.
    assert_eq!(p.submit(square, 3).result(), Ok(9));
    let mut ran = Vec::new();
    while let Ok(i) = q.try_get() {
        ran.push(i);
    }
    assert!(ran.len() <= 3, "ran {ran:?}: the queued window was not cancelled");
}

#[test]
fn as_completed_and_wait_over_many_futures_of_two_pools_see_each_once() {
    // The woken-list path (`wait.rs`): futures of two pools, completing while the
    // iterator and the waits run; each is yielded once, and the waits end when their
    // condition holds.
    let (a, b) = (pool(1), pool(1));
    let job = |x: u64| {
        if x % 97 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        x
    };
    let n = 3000u64;
    let fs: Vec<_> =
        (0..n).map(|x| if x % 2 == 0 { a.submit(job, x) } else { b.submit(job, x) }).collect();
    let mut got: Vec<u64> = as_completed(fs).map(|f| f.result().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>());

    let fs: Vec<_> =
        (0..n).map(|x| if x % 2 == 0 { a.submit(job, x) } else { b.submit(job, x) }).collect();
    let (done, not_done) = wait(fs, ReturnWhen::AllCompleted, None);
    assert_eq!((done.len(), not_done.len()), (n as usize, 0));

    let slow = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let mut fs = vec![a.submit(slow, 30_000)];
    fs.extend((0..200).map(|x| b.submit(job, x)));
    fs.push(b.submit(|_: u64| -> u64 { panic!("as asked") }, 0));
    let (done, not_done) = wait(fs, ReturnWhen::FirstException, Some(Duration::from_secs(60)));
    assert_eq!(not_done.len(), 1, "the 30 s job was waited for, or the failure missed");
    assert!(done.iter().any(|f| f.exception_kind() == Some(JobErrorKind::Panicked)));
    assert!(not_done[0].terminate());
}
