//! Kills aimed at one job must land on that job and on no other.
//!
//! * A kill in the moment between a worker's claim and its starting the job must still
//!   land (it was lost: a terminated job then ran on for ever, a usercrate CI hang). The
//!   worker now publishes the job as `current` before it claims it (`worker/serve.rs`), so
//!   a claimed, unfinished job is always `current`.
//! * A kill decided while a job ran must not land on the worker's next job
//!   (`WorkerControl::aim_kill` / `finish_job`): it did when the worker finished the job and
//!   claimed the next one between the controller's decision and its SIGKILL — that next
//!   job failed with `WorkerDied` (2 of 2,000 in a loop of `terminate`s on short jobs,
//!   under load).
//!
//! * Nor a kill aimed at a job the worker then skips (its claim fails: the job was
//!   cancelled or moved between the controller's decision and the SIGKILL, a time-out's
//!   window): the worker's skip path cleared `current` without looking for an aimed kill
//!   and went on to its next job, which the SIGKILL then failed with `WorkerDied`.
//!
//! * A job failed by retiring its slot (a corrupt ring) must not be claimed by the worker
//!   before the SIGKILL lands (`Core::retire` did not revoke: the job could run after its
//!   future had failed).
//!
//! * A submission racing `terminate` must not queue its job after the queue was cancelled
//!   (`place` re-reads `closed` under the pool lock): it did, and the job ran after the
//!   terminate, which waited for it.
//!
//! The windows are a few instructions wide, so the tests hold the worker in them: the
//! worker is stopped (SIGSTOP) before it reads the job, and the test does what it would
//! do; the controller is held between its decision and its SIGKILL by [`in_the_gap`], a
//! submitting thread between its check of `closed` and the pool lock by holding the lock.

use super::core::{Core, Shared};
use crate::control::Start;
use crate::error::JobError;
use crate::Pool;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

crate::test_worker!();

fn echo(x: u64) -> u64 {
    x
}

fn hang(_: ()) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A one-worker pool whose worker is stopped, and the pid it had.
fn stopped_pool() -> (Pool, u32) {
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let pid = pool.stats().workers[0].pid;
    // SAFETY: plain syscall on a child of ours.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    // The signal lands at the worker's next kernel entry: wait until it has.
    let stopped = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('T'))
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !stopped() {
        assert!(std::time::Instant::now() < end, "worker {pid} did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
    (pool, pid)
}

/// Does what the stopped worker does to start job `id` (`serve.rs`): publish it as
/// `current`, then claim it.
fn start_as_the_worker(shared: &Shared, id: u64) -> Start {
    shared.control(0).start_job(shared.claims(), id)
}

/// The stopped worker's claim on job `id`, made for it.
fn claim_as_the_worker(pool: &Pool, id: u64) {
    let started = start_as_the_worker(&pool.shared, id);
    assert_eq!(started, Start::Run, "the job was not queued");
}

/// What a test does in the controller's place between its decision to kill worker `w` and
/// its SIGKILL (under the pool lock, whose state it gets).
type Gap = Box<dyn FnOnce(&Shared, &mut Core, usize)>;

thread_local! {
    /// What [`in_the_gap`] runs (once) on this thread.
    static GAP: RefCell<Option<Gap>> = const { RefCell::new(None) };
}

/// Called by `Shared::kill_running` after it has decided to kill worker `w` and before it
/// sends the SIGKILL: runs what a test of this thread put there.
pub(super) fn in_the_gap(shared: &Shared, core: &mut Core, w: usize) {
    if let Some(f) = GAP.with(|g| g.borrow_mut().take()) {
        f(shared, core, w);
    }
}

fn later_jobs_run(pool: &Pool, old_pid: u32) {
    for i in 0..4u64 {
        let r = pool.submit(echo, i).result_timeout(Duration::from_secs(20));
        assert_eq!(r.ok(), Some(Ok(i)), "job {i} after the kill");
    }
    assert_ne!(pool.stats().workers[0].pid, old_pid, "the worker was not replaced");
}

#[test]
fn terminate_between_claim_and_current_kills_the_job() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(hang, ());
    claim_as_the_worker(&pool, f.id());
    assert!(f.running());
    assert!(f.terminate());
    let r = f.result_timeout(Duration::from_secs(20));
    assert!(matches!(r, Ok(Err(JobError::Cancelled))), "terminated job: {:?}", r.map(|_| ()));
    later_jobs_run(&pool, pid);
}

#[test]
fn cancel_on_drop_between_claim_and_current_kills_the_job() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(hang, ()).cancel_on_drop();
    claim_as_the_worker(&pool, f.id());
    assert!(f.running());
    drop(f);
    later_jobs_run(&pool, pid);
}

#[test]
fn terminating_the_pool_in_the_window_cancels_the_job() {
    let (pool, _) = stopped_pool();
    let f = pool.submit(hang, ());
    claim_as_the_worker(&pool, f.id());
    let g = pool.submit(hang, ()); // queued behind it, never started
    pool.terminate();
    for (what, f) in [("claimed", f), ("queued", g)] {
        let r = f.result_timeout(Duration::from_secs(20));
        assert!(matches!(r, Ok(Err(JobError::Cancelled))), "{what} job: {:?}", r.map(|_| ()));
    }
}

#[test]
fn a_kill_for_a_finished_job_does_not_land_on_the_next_one() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(echo, 1);
    let g = pool.submit(echo, 2); // queued behind it, on the same worker
    let next = g.id();
    claim_as_the_worker(&pool, f.id());
    // The controller decides to kill the worker for `f`; before its SIGKILL is sent the
    // worker finishes `f` and goes on to `g` — unless it is told to wait for the kill.
    let went_on = Rc::new(Cell::new(None));
    let seen = went_on.clone();
    GAP.with(|gap| {
        *gap.borrow_mut() = Some(Box::new(move |shared: &Shared, _: &mut Core, w: usize| {
            assert_eq!(w, 0);
            let go = shared.control(0).job_finished();
            seen.set(Some(go && start_as_the_worker(shared, next) == Start::Run));
        }))
    });
    assert!(f.terminate());
    assert_eq!(went_on.get(), Some(false), "the worker started the next job under the kill");
    // `g` was never claimed: the successor runs it. (`f` stays without its completion in
    // this stand-in, so it fails with the dead worker.)
    let r = g.result_timeout(Duration::from_secs(20));
    assert_eq!(r.ok(), Some(Ok(2)), "the job after the killed one");
    later_jobs_run(&pool, pid);
}

/// A spilled result handed back after a kill was aimed at its job is freed unread: the
/// job fails with the kill's error (`Core::drain`), and its heap block goes back (the
/// first version of that branch left it in the heap for good).
#[test]
fn a_spilled_result_handed_back_under_an_aimed_kill_is_freed() {
    fn big_after(ms: u64) -> Vec<u8> {
        std::thread::sleep(Duration::from_millis(ms));
        vec![7; 1 << 20] // larger than a ring record: spilled
    }
    let pool = Pool::builder().workers(1).build().expect("pool");
    assert_eq!(pool.submit(big_after, 0).result().map(|v| v.len()), Ok(1 << 20), "warm-up");
    let pid = pool.stats().workers[0].pid;
    let in_use = |shared: &Shared| {
        let heap = shared.spill.get(shared.header()).and_then(|sh| sh.heap().ok());
        heap.expect("the warm-up created the heap").stats().in_use_blocks()
    };
    assert_eq!(in_use(&pool.shared), 0, "the warm-up's result was freed when read");
    let f = pool.submit(big_after, 50);
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !f.running() {
        assert!(std::time::Instant::now() < end, "the job never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Aimed, not yet sent: the worker finishes the job, publishes its spilled result and
    // clears `current`, then waits for the SIGKILL.
    GAP.with(|gap| {
        *gap.borrow_mut() = Some(Box::new(move |shared: &Shared, _: &mut Core, _: usize| {
            while shared.control(0).current() != 0 {
                assert!(std::time::Instant::now() < end, "the job never finished");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(in_use(shared), 1, "the result is in the heap");
        }))
    });
    assert!(f.terminate());
    let r = f.result_timeout(Duration::from_secs(20));
    assert_eq!(r.ok().map(|r| r.map(|v| v.len())), Some(Err(JobError::Cancelled)));
    later_jobs_run(&pool, pid);
    assert_eq!(in_use(&pool.shared), 0, "the unread result's block leaked");
}

#[test]
fn a_kill_for_a_job_finished_before_it_was_aimed_is_not_sent() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(echo, 1);
    let g = pool.submit(hang, ());
    claim_as_the_worker(&pool, f.id());
    // The worker finishes `f` (its completion not drained yet) and starts `g` before the
    // controller looks: the kill for `f` must not be sent.
    assert!(pool.shared.control(0).job_finished());
    claim_as_the_worker(&pool, g.id());
    pool.shared.kill_running(f.id(), JobError::Cancelled);
    assert_eq!(pool.stats().workers[0].pid, pid, "the worker was killed");
    // The aim was withdrawn: the worker will not wait at the end of `g` for a kill.
    assert_eq!(pool.shared.control(0).kill_for.load(Ordering::SeqCst), 0);
    assert!(g.running(), "the next job no longer runs");
    pool.terminate();
}

#[test]
fn a_kill_for_a_job_the_worker_skips_does_not_land_on_the_next_one() {
    let (pool, pid) = stopped_pool();
    let f = pool.submit(echo, 1);
    let g = pool.submit(echo, 2); // queued behind it, on the same worker
    let (skipped, next) = (f.id(), g.id());
    // The worker has published `f` as `current` and not claimed it yet when a time-out
    // decides to kill it for `f` (`enforce_timeout`: the same aimed kill as here). Before
    // the SIGKILL lands, `f` is cancelled (its claim word revoked), so the worker skips it —
    // and must then wait for the kill rather than start `g` for it to land on (`g` failed
    // with `WorkerDied`).
    pool.shared.control(0).current.store(skipped, Ordering::Release);
    let went_on = Rc::new(Cell::new(None));
    let seen = went_on.clone();
    GAP.with(|gap| {
        *gap.borrow_mut() = Some(Box::new(move |shared: &Shared, core: &mut Core, w: usize| {
            assert_eq!(w, 0);
            assert!(core.cancel(shared, skipped), "the job was not queued");
            let Start::Skip { go_on } = start_as_the_worker(shared, skipped) else {
                panic!("a cancelled job was claimed");
            };
            seen.set(Some(go_on && start_as_the_worker(shared, next) == Start::Run));
        }))
    });
    pool.shared.kill_running(skipped, JobError::TimeLimit);
    assert_eq!(went_on.get(), Some(false), "the worker started the next job under the kill");
    let r = f.result_timeout(Duration::from_secs(20));
    assert_eq!(r.ok(), Some(Err(JobError::Cancelled)), "the skipped job");
    // `g` was never claimed: the successor runs it.
    let r = g.result_timeout(Duration::from_secs(20));
    assert_eq!(r.ok(), Some(Ok(2)), "the job after the skipped one");
    later_jobs_run(&pool, pid);
}

#[test]
fn jobs_failed_by_retiring_a_slot_are_never_claimed() {
    let (pool, _) = stopped_pool();
    let f = pool.submit(echo, 1);
    let mut core = pool.shared.lock();
    // A corrupt ring found by the controller: the slot is retired at once, its worker
    // killed, its jobs failed.
    core.retire(&pool.shared, 0, "completion ring corrupt (test)");
    let after = core.take_after();
    drop(core);
    pool.shared.run_after(after);
    // Until the SIGKILL lands the worker reads on: a job whose future failed must not be
    // claimed (it ran, after its future had failed).
    let started = start_as_the_worker(&pool.shared, f.id());
    assert!(matches!(started, Start::Skip { .. }), "a failed job was claimed: {started:?}");
    match f.result_timeout(Duration::from_secs(20)) {
        Ok(Err(JobError::Decode { message })) => assert!(message.contains("(test)"), "{message}"),
        r => panic!("the retired slot's job: {:?}", r.map(|_| ())),
    }
}

/// The state letter of thread `tid` of this process (`R`, `S`, ...), from `/proc`.
fn thread_state(tid: i64) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit(") ").next()?.chars().next()
}

#[test]
fn a_submit_that_waited_for_the_lock_while_the_pool_closed_is_refused() {
    let pool = std::sync::Arc::new(Pool::builder().workers(1).build().expect("pool"));
    assert_eq!(pool.submit(echo, 1).result(), Ok(1), "warm-up");
    let mut core = pool.shared.lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let submitter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::syscall(libc::SYS_gettid) }).expect("send");
            pool.submit(echo, 7) // finds the pool open, then waits for the lock we hold
        })
    };
    let tid = rx.recv().expect("tid");
    // Asleep: on the pool lock (nothing else in `submit` sleeps), so past its check.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while thread_state(tid) != Some('S') {
        assert!(std::time::Instant::now() < end, "the submitter never waited for the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    // `terminate`'s close, all of it done before the submitter gets the lock.
    pool.shared.closed.store(true, Ordering::Release);
    let after = pool.shared.close_locked(&mut core, true);
    drop(core);
    pool.shared.run_after(after);
    let f = submitter.join().expect("submitter");
    let r = f.result_timeout(Duration::from_secs(20));
    assert_eq!(r.ok(), Some(Err(JobError::Shutdown)), "a job queued after the close");
}
