//! Locks, semaphores, conditions, barriers, events: misuse and failures.

use super::*;

const SYNC: &[Case] = &[
    Case {
        what: "try_lock of a held lock",
        python: "acquire(blocking=False) returns False",
        trigger: || {
            let l = Lock::new();
            let _g = l.lock();
            let t = match l.try_lock() {
                Err(e @ TryLockError::WouldBlock) => texts(e),
                Err(e) => Err(format!("{e:?}")),
                Ok(_) => Err("try_lock of a held lock succeeded".into()),
            };
            t
        },
        display: &["held"],
        debug: &["WouldBlock"],
    },
    Case {
        what: "lock_timeout of a held lock",
        python: "acquire(timeout=t) returns False",
        trigger: || {
            let l = Lock::new();
            let _g = l.lock();
            let t = match l.lock_timeout(Duration::from_millis(5)) {
                Err(e @ LockTimeoutError::Timeout) => texts(e),
                Err(e) => Err(format!("{e:?}")),
                Ok(_) => Err("lock_timeout of a held lock succeeded".into()),
            };
            t
        },
        display: &["timed out", "lock"],
        debug: &["Timeout"],
    },
    Case {
        what: "lock whose holder was killed",
        python: "- (the lock stays held for ever)",
        trigger: || {
            let cell = setup(SharedCell::new(Lock::new()))?;
            let mut p = setup(Process::spawn(
                |h: CellHandle<Lock>| {
                    let l = h.attach().unwrap();
                    let g = l.lock();
                    std::mem::forget(g);
                    std::process::exit(0);
                },
                cell.handle(),
            ))?;
            setup(p.join())?;
            let t = match cell.lock() {
                Err(e) => texts(e),
                Ok(_) => Err("the lock of a dead holder was taken silently".into()),
            };
            t
        },
        display: &["owner died", "held by the caller"],
        debug: &["OwnerDied"],
    },
    Case {
        what: "BoundedSemaphore released too often",
        python: "ValueError: Semaphore released too many times",
        trigger: || {
            let s = BoundedSemaphore::new(1);
            match s.release(1) {
                Err(e @ ReleaseError::AboveBound { .. }) => texts(e),
                r => Err(format!("{r:?}")),
            }
        },
        display: &["released too many times", "bound 1"],
        debug: &["AboveBound"],
    },
    Case {
        what: "Barrier aborted",
        python: "threading.BrokenBarrierError",
        trigger: || {
            let b = Barrier::new(2);
            b.abort();
            fails(b.wait().map(|r| r.index()))
        },
        display: &["broken"],
        debug: &["Broken"],
    },
    Case {
        what: "Barrier wait_timeout runs out",
        python: "threading.BrokenBarrierError",
        trigger: || match Barrier::new(2).wait_timeout(Duration::from_millis(5)) {
            Err(e @ BarrierError::Timeout) => texts(e),
            r => Err(format!("{r:?}")),
        },
        display: &["timed out", "barrier", "broken"],
        debug: &["Timeout"],
    },
];

/// Lock, semaphore and barrier misuse and failures.
pub fn errors6_sync() -> Outcome {
    check(SYNC)
}
