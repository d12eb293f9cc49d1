//! A blocking `submit` never waits for room (Python's `submit` never does): past the
//! in-flight limit of the workers (256 jobs each), jobs go to a controller-side backlog and
//! their futures are returned at once; the backlog is placed in order as room appears.
//!
//! Before the backlog, `submit` waited for a job to finish once every worker held 256
//! jobs: a program whose jobs wait for something `main` does after its submit loop hung
//! (user26: 600 jobs each taking one value from a queue that `main` filled after the loop,
//! 2 workers, hung in the 513th `submit`; CPython 3.11 finished). Every test below hung
//! (in a `submit` past the limit, caught by `within`) before it.

use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroproc_sched::{JobError, Pool, Shutdown, SubmitTimeoutError, TrySubmitError};
use zeroproc_testkit::within;

zeroproc_sched::test_worker!();

/// Jobs one worker holds at once (`Core::alloc_id`: half of its claim region).
const LIMIT: u64 = 256;
/// Jobs submitted to one worker: the last 44 are backlogged.
const N: u64 = 300;
const BOUND: Duration = Duration::from_secs(120);

/// Takes one value from the queue (the user26 program).
fn take(q: zeroproc_mp::queue::QueueHandle<u64>) -> u64 {
    q.attach().unwrap().get().unwrap()
}

#[test]
fn jobs_waiting_for_what_main_does_after_the_submit_loop_finish() {
    within(BOUND, || {
        let pool = Pool::builder().workers(2).build().unwrap();
        let q = zeroproc_mp::Queue::<u64>::new(1024).unwrap();
        let futs: Vec<_> = (0..600).map(|_| pool.submit(take, q.handle())).collect();
        for i in 0..600u64 {
            q.put(i).unwrap();
        }
        let mut got: Vec<u64> = futs.into_iter().map(|f| f.result().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..600).collect::<Vec<_>>());
    });
}

/// A unique path in the temporary directory for this test.
fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("zp-backlog-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Waits until the gate file exists, then appends its index to the log.
fn gated((gate, log, i): (String, String, u64)) -> u64 {
    while !Path::new(&gate).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    writeln!(f, "{i}").unwrap();
    i
}

/// The indices the jobs logged, in the order they ran.
fn ran(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(|l| l.parse().unwrap()).collect()
}

/// A gate, a log and one-worker pool with `N` gated jobs submitted (the last
/// `N - LIMIT` backlogged).
struct Setup {
    pool: Pool,
    gate: PathBuf,
    log: PathBuf,
    futs: Vec<zeroproc_sched::JobFuture<u64>>,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let (gate, log) = (temp(&format!("{tag}-gate")), temp(&format!("{tag}-log")));
        let pool = Pool::builder().workers(1).build().unwrap();
        let arg = |i| (gate.to_str().unwrap().to_owned(), log.to_str().unwrap().to_owned(), i);
        let futs = (0..N).map(|i| pool.submit(gated, arg(i))).collect();
        Setup { pool, gate, log, futs }
    }

    /// The outcomes of every job, in submission order (waiting for each).
    fn results(&mut self) -> Vec<Result<u64, JobError>> {
        std::mem::take(&mut self.futs).into_iter().map(|f| f.result()).collect()
    }

    fn open(&self) {
        std::fs::write(&self.gate, b"go").unwrap();
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.open(); // whatever still waits can finish
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.gate);
    }
}

#[test]
fn backlogged_jobs_are_placed_in_submission_order_and_keep_their_ids() {
    within(BOUND, || {
        let mut s = Setup::new("fifo");
        let last = s.futs.last().unwrap();
        assert!(!last.running() && !last.done(), "backlogged: neither running nor done");
        let ids: Vec<u64> = s.futs.iter().map(|f| f.id()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "ids are unique");
        // The bounded forms do not overtake the backlog: they see a full pool.
        let arg = (s.gate.to_str().unwrap().to_owned(), String::new(), 0);
        match s.pool.try_submit(gated, arg.clone()) {
            Err(TrySubmitError::Full(a)) => assert_eq!(a, arg),
            other => panic!("try_submit with a backlog: {:?}", other.map(|f| f.id())),
        }
        match s.pool.submit_timeout(gated, arg, Duration::from_millis(20)) {
            Err(SubmitTimeoutError::Timeout(_)) => {}
            other => panic!("submit_timeout with a backlog: {:?}", other.map(|f| f.id())),
        }
        s.open();
        for f in &s.futs {
            while !f.done() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let after: Vec<u64> = s.futs.iter().map(|f| f.id()).collect();
        let want: Vec<_> = (0..N).map(Ok).collect();
        assert_eq!(s.results(), want);
        assert_eq!(ids, after, "an id stays the job's for its whole life");
        assert_eq!(ran(&s.log), (0..N).collect::<Vec<_>>(), "one worker ran them in order");
    });
}

#[test]
fn a_backlogged_job_can_be_cancelled() {
    within(BOUND, || {
        let mut s = Setup::new("cancel");
        let victim = &s.futs[LIMIT as usize + 10];
        assert!(victim.cancel(), "a backlogged job has not started");
        assert!(victim.cancelled());
        assert!(victim.cancel(), "cancel again: still true, as in Python");
        s.open();
        for (i, r) in s.results().into_iter().enumerate() {
            if i == LIMIT as usize + 10 {
                assert_eq!(r, Err(JobError::Cancelled));
            } else {
                assert_eq!(r, Ok(i as u64));
            }
        }
        let want: Vec<u64> = (0..N).filter(|&i| i != LIMIT + 10).collect();
        assert_eq!(ran(&s.log), want, "the cancelled job never ran");
    });
}

#[test]
fn shutdown_waits_for_the_backlog() {
    within(BOUND, || {
        let mut s = Setup::new("shutdown");
        let gate = s.gate.clone();
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(gate, b"go").unwrap();
        });
        assert!(s.pool.shutdown_with(Shutdown::new()), "every worker exited");
        for (i, f) in s.futs.iter().enumerate() {
            assert!(f.done(), "job {i} done when shutdown(wait) returned");
        }
        let want: Vec<_> = (0..N).map(Ok).collect();
        assert_eq!(s.results(), want);
        assert_eq!(ran(&s.log).len(), N as usize);
        opener.join().unwrap();
    });
}

#[test]
fn shutdown_with_cancel_futures_cancels_the_backlog() {
    within(BOUND, || {
        let mut s = Setup::new("cancel-futures");
        s.pool.shutdown_with(Shutdown::new().wait(false).cancel_futures(true));
        s.open();
        for (i, r) in s.results().into_iter().enumerate() {
            match r {
                // Only a job placed before the shutdown may have run: none backlogged.
                Ok(v) => assert!(v == i as u64 && (i as u64) < LIMIT, "job {i} ran"),
                Err(JobError::Cancelled) => {}
                Err(e) => panic!("job {i}: {e}"),
            }
        }
        assert!(ran(&s.log).len() <= 1, "at most the running job ran: {:?}", ran(&s.log));
    });
}

#[test]
fn terminate_resolves_the_backlog() {
    within(BOUND, || {
        let mut s = Setup::new("terminate");
        s.pool.terminate();
        for r in s.results() {
            assert_eq!(r, Err(JobError::Cancelled));
        }
        assert!(ran(&s.log).is_empty());
    });
}

#[test]
fn dropping_the_pool_runs_the_backlog() {
    within(BOUND, || {
        let mut s = Setup::new("drop");
        let futs = std::mem::take(&mut s.futs);
        s.open();
        let pool = std::mem::replace(&mut s.pool, Pool::builder().workers(1).build().unwrap());
        drop(pool); // shutdown(wait)
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.result(), Ok(i as u64));
        }
    });
}

#[test]
fn a_worker_killed_while_jobs_are_backlogged_leaves_the_backlog_to_run() {
    within(BOUND, || {
        let mut s = Setup::new("kill");
        while !s.futs[0].running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let pid = s.pool.stats().workers[0].pid;
        // SAFETY: kill has no memory effects; the pid is our pool's worker.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        while !s.futs[0].done() {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.open();
        let rs = s.results();
        assert!(matches!(rs[0], Err(JobError::WorkerDied { .. })), "{:?}", rs[0]);
        for (i, r) in rs.into_iter().enumerate().skip(1) {
            assert_eq!(r, Ok(i as u64), "job {i}");
        }
    });
}

fn sum_len(v: Vec<u8>) -> (u64, usize) {
    (v.iter().map(|&b| b as u64).sum(), v.len())
}

fn checked(s: String) -> Result<usize, String> {
    if s.is_empty() {
        Err("empty".into())
    } else {
        Ok(s.len())
    }
}

/// Arguments archived at submit and placed later — inline with out-of-line data, spilled
/// to the heap — arrive intact, for each blocking form.
#[test]
fn backlogged_arguments_arrive_intact_for_every_blocking_submit() {
    within(BOUND, || {
        let s = Setup::new("args");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let want = (big.iter().map(|&b| b as u64).sum::<u64>(), big.len());
        let f_big = s.pool.submit(sum_len, big);
        let f_small = s.pool.submit(sum_len, vec![1, 2, 3]);
        let f_ok = s.pool.submit_fallible(checked, "four".to_string());
        let f_err = s.pool.submit_fallible(checked, String::new());
        let f_lim =
            s.pool.submit_with_time_limit(sum_len, vec![9u8; 70_000], Duration::from_secs(60));
        assert!(!f_big.done() && !f_lim.done(), "backlogged behind the gated jobs");
        s.open();
        assert_eq!(f_big.result(), Ok(want));
        assert_eq!(f_small.result(), Ok((6, 3)));
        assert_eq!(f_ok.result(), Ok(4));
        assert_eq!(f_err.result(), Err(JobError::Job("empty".to_string())));
        assert_eq!(f_lim.result(), Ok((9 * 70_000, 70_000)));
    });
}

/// Done callbacks, `as_completed` and `.await` see backlogged jobs finish like any other.
#[test]
fn callbacks_as_completed_and_await_see_backlogged_jobs() {
    within(BOUND, || {
        let mut s = Setup::new("callbacks");
        let called = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        for f in &s.futs[LIMIT as usize..] {
            let called = called.clone();
            f.add_done_callback(move |r| {
                assert!(r.is_ok());
                called.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut futs = std::mem::take(&mut s.futs);
        let awaited = futs.pop().unwrap();
        s.open();
        let mut got: Vec<u64> =
            zeroproc_sched::as_completed(futs).map(|f| f.result().unwrap()).collect();
        got.push(block_on(awaited).unwrap());
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        // Callbacks run on the pool's callback thread: wait for the last ones.
        while called.load(std::sync::atomic::Ordering::SeqCst) < N - LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// A minimal executor: polls `f`, parking the thread until it is woken.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => return r,
            std::task::Poll::Pending => std::thread::park(),
        }
    }
}

/// [`gated`] with a large argument (spilled to the heap).
fn gated_big((gate, log, i, data): (String, String, u64, Vec<u8>)) -> u64 {
    assert!(data.iter().all(|&b| b == i as u8));
    gated((gate, log, i))
}

struct Ignore;
impl zeroproc_sched::raw::RecordSink for Ignore {
    fn done(&self, _: u64, _: zeroproc_sched::raw::RawOutcome<'_>) {}
}

fn square(x: u64) -> u64 {
    x * x
}

/// A job backlogged because the spill heap's budget for queued arguments is used up (the
/// rings have room) keeps every later submission behind it: `submit`, `try_submit`, raw
/// records.
#[test]
fn a_job_waiting_for_spill_room_is_not_overtaken() {
    within(BOUND, || {
        let (gate, log) = (temp("heap-gate"), temp("heap-log"));
        let (g, l) = (gate.to_str().unwrap().to_owned(), log.to_str().unwrap().to_owned());
        let pool = Pool::builder().workers(1).spill_heap(64 << 20).build().unwrap();
        let big = |i: u64| (g.clone(), l.clone(), i, vec![i as u8; 20 << 20]);
        let a = pool.submit(gated, (g.clone(), l.clone(), 0));
        // Queued behind `a` with 25 MiB of the heap counted: `c` would pass the half of
        // the heap that queued arguments may hold, and waits in the backlog.
        let b = pool.submit(gated_big, big(1));
        let c = pool.submit(gated_big, big(2));
        let d = pool.submit(gated, (g.clone(), l.clone(), 3));
        match pool.try_submit(gated, (g.clone(), l.clone(), 9)) {
            Err(TrySubmitError::Full(_)) => {}
            other => panic!("try_submit behind the backlog: {:?}", other.map(|f| f.id())),
        }
        let mut rec = rkyv::util::Align([0u8; 64]);
        let header = zeroproc_codec::envelope::Header::new(0, zeroproc_sched::raw::fn_id(square));
        let n = zeroproc_codec::envelope::encode_into(&mut rec.0, header, &7u64).unwrap();
        match pool.try_submit_record(&rec.0[..n], std::sync::Arc::new(Ignore), 1, None, false) {
            Err(zeroproc_sched::raw::RecordError::Full) => {}
            other => panic!("raw record behind the backlog: {:?}", other.is_ok()),
        }
        std::fs::write(&gate, b"go").unwrap();
        let got = [a.result(), b.result(), c.result(), d.result()];
        assert_eq!(got, [Ok(0), Ok(1), Ok(2), Ok(3)]);
        assert_eq!(ran(&log), [0, 1, 2, 3], "placed in submission order");
        let _ = std::fs::remove_file(&gate);
        let _ = std::fs::remove_file(&log);
    });
}

/// `stats()` and an observer (`zeroproc top`) show how many jobs wait in the backlog.
#[test]
fn stats_and_observers_show_the_backlog() {
    within(BOUND, || {
        let s = Setup::new("stats");
        let st = s.pool.stats();
        let queued: usize = st.workers.iter().map(|w| w.queued).sum();
        assert_eq!((queued as u64, st.backlog as u64), (LIMIT, N - LIMIT));
        assert!(st.to_string().contains(&format!("backlog: {} jobs waiting for room", N - LIMIT)));
        let view = zeroproc_sched::PoolObserver::attach(s.pool.segment_id()).unwrap();
        // Published at the supervisor's next tick (5 ms).
        while view.snapshot().backlog != N - LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.open();
        for f in &s.futs {
            while !f.done() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(s.pool.stats().backlog, 0);
        assert!(!s.pool.stats().to_string().contains("backlog"));
        while view.snapshot().backlog != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// A backlogged job whose arguments can never be placed (larger than a ring record, and
/// the pool has no spill heap) fails with `TooLarge` naming the arguments when its turn
/// comes, and the jobs behind it still run.
#[test]
fn a_backlogged_job_that_can_never_fit_fails_too_large_and_the_rest_run() {
    within(BOUND, || {
        let (gate, log) = (temp("never-gate"), temp("never-log"));
        let pool = Pool::builder().workers(1).spill_heap(0).build().unwrap();
        let arg = |i| (gate.to_str().unwrap().to_owned(), log.to_str().unwrap().to_owned(), i);
        let futs: Vec<_> = (0..LIMIT).map(|i| pool.submit(gated, arg(i))).collect();
        let big = pool.submit(|v: Vec<u8>| v.len(), vec![7u8; 4 << 20]);
        let after = pool.submit(gated, arg(LIMIT));
        assert_eq!(pool.stats().backlog, 2, "both wait for room");
        std::fs::write(&gate, b"go").unwrap();
        match big.result() {
            Err(JobError::TooLarge { message }) => {
                let names = message.contains("arguments") && message.contains("no spill heap");
                assert!(names, "names the arguments and the missing heap: {message}")
            }
            other => panic!("a never-fitting backlogged job: {other:?}"),
        }
        assert_eq!(after.result(), Ok(LIMIT));
        assert!(futs.into_iter().all(|f| f.result().is_ok()));
        let _ = std::fs::remove_file(&gate);
        let _ = std::fs::remove_file(&log);
    });
}

/// Cancelling a large backlog one future at a time, newest first (a caller giving up on
/// the work it queued last), costs O(log n) per cancel, as Python's `cancel` is O(1):
/// CPython 3.11 cancels 190,000 queued futures in 0.36 s. Before, each cancel searched the
/// backlog from its oldest job: 50,000 took 1.58 s, and of the 400,000 here 93,355 were
/// cancelled when the bound struck at 120 s (user28 `cancel_backlog_reverse`). The bound is one on a hang, far above the
/// ~1 s this takes.
#[test]
fn cancelling_a_large_backlog_newest_first_does_not_crawl() {
    const JOBS: u64 = 400_000;
    let pool = Pool::builder().workers(1).build().unwrap();
    let hold = pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(600)), ());
    let futs: Vec<_> = (0..JOBS).map(|i| pool.submit(|x: u64| x, i)).collect();
    assert!(pool.stats().backlog as u64 >= JOBS - LIMIT, "{}", pool.stats().backlog);
    let t = std::time::Instant::now();
    for (k, f) in futs.iter().rev().enumerate() {
        assert!(f.cancel(), "job {} of {JOBS} (newest first) was not cancelled", k + 1);
        assert!(t.elapsed() < BOUND, "{k} of {JOBS} cancelled in {:?}", t.elapsed());
    }
    assert_eq!(pool.stats().backlog, 0);
    assert!(hold.terminate());
    for f in futs {
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
}
