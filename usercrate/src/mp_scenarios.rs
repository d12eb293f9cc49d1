//! The `multiprocessing` side as a new user writes it from Python's semantics: processes,
//! pipes and queues, the robust sync primitives, with children killed at bad moments.

use crate::harness::{ensure, Outcome};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zeroproc::shared::ProcessShared;
use zeroproc::sync::{BarrierError, ReleaseError};
use zeroproc::{
    Barrier, BoundedSemaphore, CellHandle, Condition, Event, Exit, JoinableQueue, Lock, Process,
    ProcessError, Queue, QueueHandle, ReceiverHandle, SharedCell,
};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A lock, a condition on it, a flag it protects and an event: one shared struct.
#[repr(C)]
struct Shared {
    lock: Lock,
    cond: Condition,
    flag: AtomicU32,
    ready: Event,
}

// SAFETY: `#[repr(C)]`, only process-shared sync primitives and an atomic: no pointers,
// all mutation through atomics, no drop glue that matters.
unsafe impl ProcessShared for Shared {}

fn shared() -> Result<SharedCell<Shared>, String> {
    SharedCell::new(Shared {
        lock: Lock::new(),
        cond: Condition::new(),
        flag: AtomicU32::new(0),
        ready: Event::new(),
    })
    .map_err(err)
}

/// Python's `r, w = Pipe(duplex=False); p.start(); r.close(); w.send(..); w.close()`: the
/// parent drops both ends at once; the child still receives everything, then EOF.
pub fn pipe_closed_after_start_like_python() -> Outcome {
    fn reader(h: ReceiverHandle<String>) {
        let mut rx = h.attach().unwrap();
        let got: Vec<String> = std::iter::from_fn(|| rx.recv().ok()).collect();
        assert_eq!(got, ["a", "b", "c"]);
    }
    let (mut tx, rx) = zeroproc::pipe_oneway::<String>().map_err(err)?;
    let mut p = Process::spawn(reader, rx.handle()).map_err(err)?;
    drop(rx);
    for s in ["a", "b", "c"] {
        tx.send(s.to_string()).map_err(err)?;
    }
    drop(tx);
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Code(0), || format!("child: {e:?} {:?}", p.panic_message()))
}

/// Consumers SIGKILLed while holding a large (spilled) value: their heap blocks come back,
/// so a small heap keeps taking large values.
pub fn killed_consumers_give_heap_back() -> Outcome {
    fn hold(h: QueueHandle<Vec<u8>>) {
        let q = h.attach().unwrap();
        let r = q.get_ref().unwrap();
        assert!(r.is_spilled());
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    const BIG: usize = 3 << 19;
    let q = Queue::<Vec<u8>>::builder(4).max_heap_size(4 << 20).build().map_err(err)?;
    for round in 0..5u8 {
        let p = Process::spawn(hold, q.handle()).map_err(err)?;
        let put = q.put_timeout(vec![round; BIG], Duration::from_secs(5));
        let taken = crate::harness::poll_until(Duration::from_secs(5), || q.is_empty());
        p.kill();
        put.map_err(|e| format!("round {round}: {e}"))?;
        ensure(taken, || format!("round {round}: the child never took the value"))?;
    }
    Ok(())
}

/// A child holding a `Lock` is SIGKILLed while another child waits for it: the waiter
/// gets the lock with `OwnerDied` (Python: held forever), the parent then a clean one.
pub fn lock_of_a_killed_holder_is_recovered() -> Outcome {
    fn holder(h: CellHandle<Shared>) {
        let s = h.attach().unwrap();
        let _g = s.lock.lock().unwrap();
        s.ready.set();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    fn waiter(h: CellHandle<Shared>) {
        let s = h.attach().unwrap();
        // Exit code 7 tells the parent the waiter was told about the dead owner.
        if s.lock.lock().is_err() {
            std::process::exit(7);
        }
    }
    let s = shared()?;
    let mut a = Process::spawn(holder, s.handle()).map_err(err)?;
    ensure(s.ready.wait_timeout(Duration::from_secs(5)), || "holder never locked".into())?;
    let mut b = Process::spawn(waiter, s.handle()).map_err(err)?;
    std::thread::sleep(Duration::from_millis(50));
    a.kill();
    let ea = a.join().map_err(err)?;
    let eb = b.join_timeout(Duration::from_secs(5)).map_err(err)?;
    ensure(ea == Exit::Signal(9), || format!("holder: {ea:?}"))?;
    ensure(eb == Some(Exit::Code(7)), || format!("waiter: {eb:?}"))?;
    let clean = s.lock.try_lock().is_ok();
    ensure(clean, || "the lock was not released by the waiter".into())
}

/// Python's `with cond: cond.wait_for(pred)` in three processes, `notify_all` from the
/// parent.
pub fn condition_wakes_every_process() -> Outcome {
    fn wait_flag(h: CellHandle<Shared>) {
        let s = h.attach().unwrap();
        let g = s.lock.lock().unwrap();
        let _g = s.cond.wait_for(g, || s.flag.load(Ordering::Relaxed) == 1).unwrap();
    }
    let s = shared()?;
    let mut kids: Vec<Process> = (0..3)
        .map(|_| Process::spawn(wait_flag, s.handle()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    std::thread::sleep(Duration::from_millis(50));
    {
        let _g = s.lock.lock().map_err(err)?;
        s.flag.store(1, Ordering::Relaxed);
        s.cond.notify_all();
    }
    for k in &mut kids {
        let e = k.join_timeout(Duration::from_secs(5)).map_err(err)?;
        ensure(e == Some(Exit::Code(0)), || format!("waiter: {e:?}"))?;
    }
    Ok(())
}

/// Exit codes and misuse, as Python reports them.
pub fn process_exit_codes_and_misuse() -> Outcome {
    let mut p = Process::new(|_: ()| panic!("boom"), ());
    ensure(matches!(p.join(), Err(ProcessError::NotStarted)), || "join before start".into())?;
    p.start().map_err(err)?;
    ensure(matches!(p.start(), Err(ProcessError::AlreadyStarted)), || "start twice".into())?;
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Code(1), || format!("panic: {e:?}"))?;
    ensure(p.join().map_err(err)? == Exit::Code(1), || "second join".into())?;
    ensure(p.panic_message().is_some_and(|m| m.contains("boom")), || "message".into())?;
    let e = Process::spawn(|_: ()| std::process::exit(3), ()).map_err(err)?.join().map_err(err)?;
    ensure(e == Exit::Code(3), || format!("exit(3): {e:?}"))?;
    let e = Process::spawn(|_: ()| std::process::abort(), ()).map_err(err)?.join().map_err(err)?;
    ensure(e.python_code() == -6, || format!("abort: {e:?}"))?;
    // terminate() of a child asleep in a futex wait.
    let ev = SharedCell::new(Event::new()).map_err(err)?;
    let mut p = Process::spawn(|h: CellHandle<Event>| h.attach().unwrap().wait(), ev.handle())
        .map_err(err)?;
    let t = Instant::now();
    ensure(p.join_timeout(Duration::from_millis(100)).map_err(err)?.is_none(), || {
        "not hung".into()
    })?;
    ensure(t.elapsed() >= Duration::from_millis(100), || "join_timeout returned early".into())?;
    p.terminate();
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Signal(15), || format!("terminate: {e:?}"))
}

/// `BoundedSemaphore` over-release and `task_done` called too often are errors (Python:
/// `ValueError`); a barrier party that dies before arriving breaks it at the time-out.
pub fn misuse_is_an_error_and_barriers_time_out() -> Outcome {
    let s = BoundedSemaphore::new(1);
    ensure(matches!(s.release(1), Err(ReleaseError::AboveBound { .. })), || "over-release".into())?;
    let q = JoinableQueue::<u8>::new(2).map_err(err)?;
    q.put(1).map_err(err)?;
    q.get().map_err(err)?;
    q.task_done().map_err(err)?;
    ensure(q.task_done().is_err(), || "task_done too often".into())?;
    let b = SharedCell::new(Barrier::new(3)).map_err(err)?;
    let mut p = Process::spawn(
        |h: CellHandle<Barrier>| {
            let b = h.attach().unwrap();
            assert_eq!(b.wait_timeout(Duration::from_millis(200)), Err(BarrierError::Timeout));
        },
        b.handle(),
    )
    .map_err(err)?;
    let mine = b.wait_timeout(Duration::from_secs(5));
    ensure(mine == Err(BarrierError::Broken), || format!("parent: {mine:?}"))?;
    let e = p.join().map_err(err)?;
    ensure(e == Exit::Code(0), || format!("party: {e:?} {:?}", p.panic_message()))
}
