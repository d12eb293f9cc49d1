//! Cross-process tests: real child processes (this test binary re-executed in a role)
//! attach to a segment holding the primitives. Includes killing a lock holder with SIGKILL.

use std::cell::UnsafeCell;
use std::process::Child;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc_shm::sync::{
    Barrier, Condition, Event, Lock, LockTimeoutError, RLock, Semaphore, TryLockError,
};
use zeroproc_shm::{Layout, Segment, SegmentBuilder};
use zeroproc_testkit as tk;

#[repr(C)]
struct Shared {
    lock: Lock,
    rlock: RLock,
    cond: Condition,
    sem: Semaphore,
    event: Event,
    barrier: Barrier,
    /// A plain counter, read-modify-written non-atomically under `lock`.
    counter: UnsafeCell<u64>,
    /// Child → parent handshakes ("I hold it", "I am about to wait").
    flag: AtomicU32,
    holders: AtomicU32,
    max_holders: AtomicU32,
    payload: AtomicU64,
    arrivals: AtomicU32,
    /// Start gate: children count themselves in `ready` and spin until `go` is set, so that
    /// they really run concurrently (process start-up alone staggers them by milliseconds).
    ready: AtomicU32,
    go: AtomicU32,
}

// SAFETY: every field but `counter` is atomic; `counter` is only accessed under `lock`.
unsafe impl Sync for Shared {}

const L: Layout = Layout::new("sync-process-test", 1).with_type::<Shared>();
const PARTIES: u32 = 4;
const LIMIT: Duration = Duration::from_secs(60);

fn create(permits: u32) -> Segment {
    SegmentBuilder::new(L, std::mem::size_of::<Shared>())
        .create_with(|seg| {
            // SAFETY: the data region is 256-byte aligned, large enough for `Shared`, and
            // not yet visible to any other process.
            unsafe {
                seg.data().cast::<Shared>().write(Shared {
                    lock: Lock::new(),
                    rlock: RLock::new(),
                    cond: Condition::new(),
                    sem: Semaphore::new(permits),
                    event: Event::new(),
                    barrier: Barrier::new(PARTIES),
                    counter: UnsafeCell::new(0),
                    flag: AtomicU32::new(0),
                    holders: AtomicU32::new(0),
                    max_holders: AtomicU32::new(0),
                    payload: AtomicU64::new(0),
                    arrivals: AtomicU32::new(0),
                    ready: AtomicU32::new(0),
                    go: AtomicU32::new(0),
                })
            }
        })
        .unwrap()
}

fn shared(seg: &Segment) -> &Shared {
    // SAFETY: initialised by `create` before the segment was published; the layout check on
    // attach guarantees the same `Shared` type.
    unsafe { &*seg.data().cast::<Shared>() }
}

fn attach(arg: &str) -> (Segment, u64) {
    let mut it = arg.split(' ');
    let id = it.next().unwrap().parse().unwrap();
    let n = it.next().map_or(0, |v| v.parse().unwrap());
    (Segment::attach(&id, L).unwrap(), n)
}

fn spawn(role: &str, seg: &Segment, n: u64) -> Child {
    tk::spawn_role("zp_child", role, &format!("{} {n}", seg.id()))
}

fn await_flag(flag: &AtomicU32, at_least: u32) {
    let end = Instant::now() + LIMIT;
    // Acquire: pairs with the children's Release stores.
    while flag.load(Ordering::Acquire) < at_least {
        assert!(Instant::now() < end, "children never reported");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Child side of the start gate.
fn start_gate(s: &Shared) {
    // Release: pairs with the parent's Acquire in `open_gate`.
    s.ready.fetch_add(1, Ordering::Release);
    let end = Instant::now() + LIMIT;
    // Acquire: pairs with the parent's Release store of `go`.
    while s.go.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < end, "the gate never opened");
        std::hint::spin_loop();
    }
}

/// Parent side: waits for `n` children at the gate, then lets them all go at once.
fn open_gate(s: &Shared, n: u32) {
    await_flag(&s.ready, n);
    // Release: pairs with the children's Acquire loads in `start_gate`.
    s.go.store(1, Ordering::Release);
}

fn assert_success(mut c: Child) {
    let st = tk::wait_timeout(&mut c, LIMIT);
    assert!(st.success(), "child failed: {st:?}");
}

#[test]
fn zp_child() {
    tk::child_entry(|role, arg| {
        let (seg, n) = attach(arg);
        let s = shared(&seg);
        match role {
            "count" => {
                start_gate(s);
                for i in 0..n {
                    let g = s.lock.lock().unwrap();
                    let p = s.counter.get();
                    // SAFETY: `counter` is only accessed under `lock`, which we hold.
                    let v = unsafe { p.read_volatile() };
                    if i % 32 == 0 {
                        std::thread::yield_now(); // widen the race window
                    }
                    // SAFETY: as above.
                    unsafe { p.write_volatile(v + 1) };
                    drop(g);
                }
            }
            "hold" => {
                let g = s.lock.lock().unwrap();
                s.flag.store(1, Ordering::Release);
                std::thread::sleep(LIMIT); // killed here
                drop(g);
            }
            "rhold" => {
                let guards: Vec<_> = (0..3).map(|_| s.rlock.lock().unwrap()).collect();
                assert_eq!(s.rlock.depth(), 3);
                s.flag.store(1, Ordering::Release);
                std::thread::sleep(LIMIT); // killed here
                drop(guards);
            }
            "sem" => {
                start_gate(s);
                for i in 0..n {
                    assert!(s.sem.acquire_timeout(LIMIT));
                    let h = s.holders.fetch_add(1, Ordering::SeqCst) + 1;
                    s.max_holders.fetch_max(h, Ordering::SeqCst);
                    if i % 2 == 0 {
                        std::thread::yield_now();
                    }
                    s.holders.fetch_sub(1, Ordering::SeqCst);
                    s.sem.release(1);
                }
            }
            "sem_victim" => {
                s.flag.fetch_add(1, Ordering::Release);
                s.sem.acquire();
                std::thread::sleep(LIMIT); // killed before or here
            }
            "sem_live" => {
                s.flag.fetch_add(1, Ordering::Release);
                let t = Instant::now();
                assert!(s.sem.acquire_timeout(Duration::from_secs(20)), "no permit");
                s.payload.store(t.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            "event" => {
                s.flag.fetch_add(1, Ordering::Release);
                assert!(s.event.wait_timeout(LIMIT), "event never set");
                assert_eq!(s.payload.load(Ordering::Relaxed), 42, "set must publish the payload");
            }
            "cond" => {
                let g = s.lock.lock().unwrap();
                s.flag.fetch_add(1, Ordering::Release);
                let ready = || s.payload.load(Ordering::Relaxed) == 42;
                let (g, ok) = s.cond.wait_for_timeout(g, LIMIT, ready).unwrap();
                assert!(ok, "never notified");
                drop(g);
            }
            "cond_order" => {
                let g = s.lock.lock().unwrap();
                // Under the lock: this child's place in the order of the `wait` calls.
                let k = s.flag.fetch_add(1, Ordering::Release);
                let (g, ok) = s.cond.wait_timeout(g, Duration::from_secs(20)).unwrap();
                if ok {
                    s.payload.fetch_or(1 << k, Ordering::SeqCst);
                    s.arrivals.fetch_add(1, Ordering::SeqCst);
                }
                drop(g);
            }
            "barrier" => {
                for round in 0..n as u32 {
                    s.arrivals.fetch_add(1, Ordering::Relaxed);
                    s.barrier.wait_timeout(LIMIT).unwrap();
                    assert!(s.arrivals.load(Ordering::Relaxed) >= PARTIES * (round + 1));
                }
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

#[test]
fn lock_excludes_across_processes() {
    const CHILDREN: u64 = 4;
    const ITERS: u64 = 20_000;
    let seg = create(0);
    let s = shared(&seg);
    let kids: Vec<_> = (0..CHILDREN).map(|_| spawn("count", &seg, ITERS)).collect();
    open_gate(s, CHILDREN as u32);
    kids.into_iter().for_each(assert_success);
    let _g = s.lock.lock().unwrap();
    // SAFETY: under the lock; every child has exited.
    assert_eq!(unsafe { *s.counter.get() }, CHILDREN * ITERS);
}

#[test]
fn sigkilled_lock_holder_is_recovered_from_by_a_sleeping_waiter() {
    let seg = create(0);
    let s = shared(&seg);
    let mut child = spawn("hold", &seg, 0);
    await_flag(&s.flag, 1);
    assert_eq!(s.lock.owner(), Some(child.id()));
    assert!(matches!(s.lock.try_lock(), Err(TryLockError::WouldBlock)));
    let (died, waited) = std::thread::scope(|sc| {
        // Already asleep on the lock when the holder dies; the child stays an unreaped
        // zombie until after the recovery.
        let w = sc.spawn(|| {
            let r = s.lock.lock_timeout(LIMIT);
            let died = matches!(r, Err(LockTimeoutError::OwnerDied(_)));
            drop(r);
            (died, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(100));
        let killed = Instant::now();
        tk::sigkill(&child);
        let (died, at) = w.join().unwrap();
        (died, at.saturating_duration_since(killed))
    });
    assert!(died, "expected OwnerDied");
    assert!(waited < Duration::from_secs(5), "recovery took {waited:?}");
    // The lock works normally afterwards, with no lingering owner-died indication.
    assert!(s.lock.try_lock().is_ok());
    assert!(s.lock.lock().is_ok());
    assert!(!s.lock.is_locked());
    tk::wait_timeout(&mut child, LIMIT);
}

#[test]
fn sigkilled_lock_holder_is_detected_by_try_lock_and_lock() {
    let seg = create(0);
    let s = shared(&seg);
    for attempt in ["try_lock", "lock"] {
        s.flag.store(0, Ordering::Relaxed);
        let mut child = spawn("hold", &seg, 0);
        await_flag(&s.flag, 1);
        tk::sigkill(&child);
        tk::wait_timeout(&mut child, LIMIT); // reaped: the pid no longer exists
        let died = match attempt {
            "try_lock" => matches!(s.lock.try_lock(), Err(TryLockError::OwnerDied(_))),
            _ => s.lock.lock().is_err(),
        };
        assert!(died, "{attempt} did not report the dead owner");
        assert!(!s.lock.is_locked());
        assert!(s.lock.lock().is_ok());
    }
}

#[test]
fn sigkilled_rlock_holder_is_recovered_from() {
    let seg = create(0);
    let s = shared(&seg);
    let mut child = spawn("rhold", &seg, 0);
    await_flag(&s.flag, 1);
    assert!(matches!(s.rlock.try_lock(), Err(TryLockError::WouldBlock)));
    tk::sigkill(&child);
    let g = match s.rlock.lock_timeout(Duration::from_secs(5)) {
        Err(LockTimeoutError::OwnerDied(d)) => d.into_inner(),
        Err(LockTimeoutError::Timeout) => panic!("dead RLock holder not detected in 5 s"),
        Ok(_) => panic!("recovery not reported"),
    };
    assert_eq!(s.rlock.depth(), 1, "the dead owner's depth of 3 is discarded");
    let inner = s.rlock.lock().unwrap();
    assert_eq!(s.rlock.depth(), 2);
    drop((inner, g));
    assert!(!s.rlock.is_locked());
    assert!(s.rlock.try_lock().is_ok());
    tk::wait_timeout(&mut child, LIMIT);
}

#[test]
fn semaphore_limits_concurrency_across_processes() {
    const K: u32 = 2;
    let seg = create(K);
    let s = shared(&seg);
    let kids: Vec<_> = (0..4).map(|_| spawn("sem", &seg, 2000)).collect();
    open_gate(s, 4);
    kids.into_iter().for_each(assert_success);
    let max = s.max_holders.load(Ordering::SeqCst);
    assert!((1..=K).contains(&max), "{max} holders at once with {K} permits");
    assert_eq!(s.holders.load(Ordering::SeqCst), 0);
    assert_eq!(s.sem.value(), K);
}

#[test]
fn event_set_in_one_process_wakes_waiters_in_others() {
    let seg = create(0);
    let s = shared(&seg);
    let kids: Vec<_> = (0..2).map(|_| spawn("event", &seg, 0)).collect();
    await_flag(&s.flag, 2);
    std::thread::sleep(Duration::from_millis(100)); // let them fall asleep
    s.payload.store(42, Ordering::Relaxed);
    s.event.set();
    kids.into_iter().for_each(assert_success);
}

#[test]
fn condition_notify_crosses_processes() {
    let seg = create(0);
    let s = shared(&seg);
    let kids: Vec<_> = (0..2).map(|_| spawn("cond", &seg, 0)).collect();
    await_flag(&s.flag, 2);
    {
        // Both children incremented `flag` under the lock and are now (or are about to
        // be) registered waiters.
        let _g = s.lock.lock().unwrap();
        s.payload.store(42, Ordering::Relaxed);
        s.cond.notify_all();
    }
    kids.into_iter().for_each(assert_success);
}

/// Waiters SIGKILLed inside `wait` neither block `notify_all` nor swallow a `notify(1)`
/// meant for a live waiter. (Python's `multiprocessing.Condition` counts sleepers in a
/// semaphore and `notify_all` waits for each to acknowledge: with a killed sleeper it
/// hangs for ever — checked with CPython 3.11.)
#[test]
fn killed_condition_waiters_swallow_no_notification() {
    for notify_all in [false, true] {
        let seg = create(0);
        let s = shared(&seg);
        let mut dead: Vec<_> = (0..2).map(|_| spawn("cond", &seg, 0)).collect();
        await_flag(&s.flag, 2);
        // Once we hold the lock they are asleep in `wait` (it released the lock).
        drop(s.lock.lock().unwrap());
        for c in &mut dead {
            tk::sigkill(c);
            c.wait().unwrap();
        }
        let live = spawn("cond", &seg, 0);
        await_flag(&s.flag, 3);
        {
            let _g = s.lock.lock().unwrap();
            s.payload.store(42, Ordering::Relaxed);
            if notify_all {
                s.cond.notify_all();
            } else {
                s.cond.notify(1);
            }
        }
        assert_success(live);
    }
}

/// Spawns `n` "cond_order" children one after another, each queued in `wait` before the
/// next starts, `gap` apart.
fn queue_children(seg: &Segment, n: u32, gap: Duration) -> Vec<Child> {
    let s = shared(seg);
    let base = s.flag.load(Ordering::Acquire);
    (0..n)
        .map(|k| {
            let c = spawn("cond_order", seg, 0);
            await_flag(&s.flag, base + k + 1);
            // Once we hold the lock the child is in `wait` (it released the lock there).
            drop(s.lock.lock().unwrap());
            std::thread::sleep(gap);
            c
        })
        .collect()
}

/// Notifies `n` under the lock, then waits until `to` children in all returned notified
/// and a little longer (an extra wake-up would show); returns the bits of the notified.
fn notify_and_collect(s: &Shared, n: u32, to: u32) -> u64 {
    {
        let _g = s.lock.lock().unwrap();
        s.cond.notify(n);
    }
    await_flag(&s.arrivals, to);
    std::thread::sleep(Duration::from_millis(300));
    s.payload.load(Ordering::SeqCst)
}

/// `notify(1)` wakes the oldest waiter, as Python's `Condition` (a deque of waiters in
/// the order of their `wait` calls). Before, the wake-up went to whichever sleeper the
/// kernel woke first, and sleepers re-queue in the kernel at their one-second re-check: the
/// first of three waiters queued 400 ms apart, notified 1.2 s after it began to wait, was
/// passed over for the second (cond33).
#[test]
fn notify_wakes_the_waiters_in_the_order_of_their_wait_calls() {
    let seg = create(0);
    let s = shared(&seg);
    let kids = queue_children(&seg, 3, Duration::from_millis(400));
    assert_eq!(notify_and_collect(s, 1, 1), 0b001, "notify(1) woke another than the oldest");
    assert_eq!(notify_and_collect(s, 1, 2), 0b011, "the second notify(1): not the next");
    assert_eq!(notify_and_collect(s, 1, 3), 0b111);
    kids.into_iter().for_each(assert_success);
}

/// The oldest waiter SIGKILLed in `wait`: `notify(1)` wakes the next in order at once
/// (the dead one takes no wake-up and leaves the queue).
#[test]
fn notify_passes_over_a_killed_oldest_waiter_to_the_next() {
    let seg = create(0);
    let s = shared(&seg);
    let mut kids = queue_children(&seg, 3, Duration::from_millis(50));
    let mut dead = kids.remove(0);
    tk::sigkill(&dead);
    dead.wait().unwrap();
    let t = Instant::now();
    assert_eq!(notify_and_collect(s, 1, 1), 0b010, "not the oldest live waiter");
    let ms = t.elapsed().as_millis();
    assert!(ms < 5_000, "the next waiter was woken after {ms} ms");
    assert_eq!(notify_and_collect(s, 1, 2), 0b110);
    kids.into_iter().for_each(assert_success);
}

/// Resumes (SIGCONT) a stopped child when dropped, so that a failing test leaves no
/// stopped process behind (it would hold the test harness's output pipe open).
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        tk::signal(self.0, libc::SIGCONT);
    }
}

/// The oldest waiter SIGSTOPped: `notify(1)` wakes the next (a running waiter), as
/// CPython 3.11's `multiprocessing.Condition` does (measured: its stopped sleeper leaves
/// the semaphore's queue; the second of three waiters returned notified at once); the
/// stopped one, resumed, waits on in its place and the next `notify(1)` wakes it. Before
/// this (cond33's first FIFO queue) the stopped waiter kept the wake-up until resumed.
#[test]
fn notify_passes_over_a_stopped_waiter_while_a_running_one_waits() {
    let seg = create(0);
    let s = shared(&seg);
    let kids = queue_children(&seg, 3, Duration::from_millis(50));
    let stopped = Resume(kids[0].id());
    tk::stop(stopped.0);
    {
        let _g = s.lock.lock().unwrap();
        s.cond.notify(1);
    }
    // Generous: under `nice` on a loaded machine a woken child may wait seconds for a CPU.
    let end = Instant::now() + Duration::from_secs(30);
    while s.arrivals.load(Ordering::SeqCst) == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    let woke = s.payload.load(Ordering::SeqCst);
    drop(stopped);
    assert_eq!(woke, 0b010, "notify(1) went to the stopped waiter");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.payload.load(Ordering::SeqCst), 0b010, "the resumed waiter returned notified");
    assert_eq!(notify_and_collect(s, 1, 2), 0b011, "the resumed waiter is not first in line");
    assert_eq!(notify_and_collect(s, 1, 3), 0b111);
    kids.into_iter().for_each(assert_success);
}

/// A stopped waiter is the only one: `notify(1)` still gives it the wake-up, which it
/// takes when resumed (nobody else could).
#[test]
fn a_stopped_lone_waiter_keeps_its_wake_up() {
    let seg = create(0);
    let s = shared(&seg);
    let kids = queue_children(&seg, 1, Duration::ZERO);
    let stopped = Resume(kids[0].id());
    tk::stop(stopped.0);
    {
        let _g = s.lock.lock().unwrap();
        s.cond.notify(1);
    }
    drop(stopped);
    await_flag(&s.arrivals, 1);
    assert_eq!(s.payload.load(Ordering::SeqCst), 0b1);
    kids.into_iter().for_each(assert_success);
}

/// Waiters SIGKILLed in `wait` stop counting: after a `notify_all` (which reached them),
/// four live waiters and one `notify(1)` give one notified waiter, as in Python. Before,
/// each dead waiter stayed counted for the condition's life, `notify_all` granted it a
/// wake-up again, and those grants went to the live waiters: four of four returned
/// notified from the one `notify(1)` (mp30's measurement; cond33).
#[test]
fn killed_waiters_stop_counting_once_a_notify_reaches_them() {
    let seg = create(0);
    let s = shared(&seg);
    for mut c in queue_children(&seg, 3, Duration::ZERO) {
        tk::sigkill(&c);
        c.wait().unwrap();
    }
    {
        let _g = s.lock.lock().unwrap();
        s.cond.notify_all();
    }
    assert!(format!("{:?}", s.cond).contains("waiters: 0"), "{:?}", s.cond);
    let kids = queue_children(&seg, 4, Duration::ZERO);
    assert_eq!(notify_and_collect(s, 1, 1).count_ones(), 1);
    // Relaxed: the children have reported through `await_flag` (Acquire) already.
    std::thread::sleep(Duration::from_millis(1200)); // past a sleeper's re-check
    assert_eq!(s.arrivals.load(Ordering::SeqCst), 1, "more than one waiter was notified");
    {
        let _g = s.lock.lock().unwrap();
        s.cond.notify_all();
    }
    kids.into_iter().for_each(assert_success);
}

/// `release(1)` wakes one sleeper; SIGKILLed at once, it dies before taking the permit
/// (measured: in about every round here), and its wake-up dies with it. The other sleeper
/// must still take the permit: before, it slept beside it until its deadline (20 s here;
/// for ever in `acquire()`). Python's POSIX semaphore wakes one sleeper per `sem_post` too.
#[test]
fn a_sleeper_killed_as_a_release_wakes_it_leaves_the_permit_to_another() {
    for _ in 0..4 {
        let seg = create(0);
        let s = shared(&seg);
        let mut victim = spawn("sem_victim", &seg, 0);
        await_flag(&s.flag, 1);
        // Queued first in the kernel (same-priority futex sleepers wake in FIFO order).
        std::thread::sleep(Duration::from_millis(50));
        let live = spawn("sem_live", &seg, 0);
        await_flag(&s.flag, 2);
        std::thread::sleep(Duration::from_millis(50));
        s.sem.release(1);
        tk::sigkill(&victim);
        victim.wait().unwrap();
        if s.sem.value() == 0 {
            // The victim took the permit before dying (lost with it, as documented), or
            // the live sleeper has it already: a second permit ends this round either way.
            s.sem.release(1);
        }
        assert_success(live);
        let ms = s.payload.load(Ordering::Relaxed);
        assert!(ms < 5_000, "the live sleeper took the permit after {ms} ms");
    }
}

#[test]
fn barrier_rounds_across_processes() {
    const ROUNDS: u64 = 20;
    let seg = create(0);
    let s = shared(&seg);
    let kids: Vec<_> = (0..PARTIES - 1).map(|_| spawn("barrier", &seg, ROUNDS)).collect();
    let mut leaders = 0;
    for round in 0..ROUNDS as u32 {
        s.arrivals.fetch_add(1, Ordering::Relaxed);
        let r = s.barrier.wait_timeout(LIMIT).unwrap();
        leaders += r.is_leader() as u32;
        assert!(s.arrivals.load(Ordering::Relaxed) >= PARTIES * (round + 1));
    }
    kids.into_iter().for_each(assert_success);
    assert!(leaders <= ROUNDS as u32);
    assert!(!s.barrier.is_broken());
}

/// Forks a child running `f` (which must end with `_exit`); returns its pid.
fn fork_child(f: impl FnOnce()) -> u32 {
    // SAFETY: the child only touches the shared segment, reads /proc and ends with
    // `_exit`, never returning into the test harness; the parent only records the pid.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        f();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(99) };
    }
    pid as u32
}

/// Reaps child `pid`; its raw wait status.
fn reap(pid: u32) -> i32 {
    let mut st = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid as i32, &mut st, 0) }, pid as i32);
    st
}

/// A real pid reuse: a holder is SIGKILLed holding the lock, then a new process is given
/// its pid (through `/proc/sys/kernel/ns_last_pid`, which takes CAP_SYS_ADMIN: ignored by
/// default; as root run it with `--ignored`) and calls `lock_timeout`. It must take the
/// lock over with `OwnerDied`; when the word held the pid alone, it took the word for its
/// own and waited for itself (`Timeout`; `lock` for ever).
#[test]
#[ignore = "needs root: sets the machine's next pid through /proc/sys/kernel/ns_last_pid"]
fn a_process_given_a_dead_holders_pid_takes_the_lock_over() {
    let seg = create(0);
    let s = shared(&seg);
    let holder = fork_child(|| {
        std::mem::forget(s.lock.lock().unwrap());
        // SAFETY: kills this child only.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    });
    let st = reap(holder);
    assert!(libc::WIFSIGNALED(st), "holder status {st}");
    assert_eq!(s.lock.owner(), Some(holder));
    // Start times count clock ticks (10 ms at USER_HZ 100): a process made within the
    // holder's tick would look like it. Reusing a pid naturally takes the whole pid space
    // (thousands of forks); here ns_last_pid skips that, so wait a few ticks instead.
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..50 {
        // Another process of the machine may take the pid first: then try again.
        std::fs::write("/proc/sys/kernel/ns_last_pid", (holder - 1).to_string()).unwrap();
        let pid = fork_child(|| {
            // SAFETY: getpid has no preconditions.
            if unsafe { libc::getpid() } as u32 != holder {
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(2) };
            }
            let code = match s.lock.lock_timeout(Duration::from_secs(10)) {
                Err(LockTimeoutError::OwnerDied(g)) => {
                    drop(g.into_inner());
                    0
                }
                Err(LockTimeoutError::Timeout) => 1,
                Ok(_) => 3,
            };
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        });
        let st = reap(pid);
        assert!(libc::WIFEXITED(st), "status {st}");
        if pid != holder {
            assert_eq!(libc::WEXITSTATUS(st), 2);
            continue;
        }
        assert_eq!(libc::WEXITSTATUS(st), 0, "1: waited for itself; 3: no OwnerDied");
        assert!(!s.lock.is_locked());
        return;
    }
    panic!("pid {holder} was never given to a new child");
}

/// A child forked while its parent holds a `Lock` and an `RLock` (depth 2) drops its
/// copies of the guards (it returns from the scope holding them) and unlocks explicitly:
/// the locks stay the parent's, at the same depth, and other processes still cannot take
/// them. Before, the child's drop released the parent's lock (and set the shared `RLock`
/// depth to 0) while the parent was still in its critical section. Python's `Lock` (no
/// owner) is released by such a child's `release()`: a documented difference.
#[test]
fn a_forked_childs_copy_of_a_held_guard_leaves_the_parents_lock_held() {
    let seg = create(0);
    let s = shared(&seg);
    let g = s.lock.lock().unwrap();
    let r1 = s.rlock.lock().unwrap();
    let r2 = s.rlock.lock().unwrap();
    // SAFETY: the child only drops its copies of the guards, tries the locks (shared memory,
    // no blocking) and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(r2);
        r1.unlock();
        g.unlock();
        let lock_held = matches!(s.lock.try_lock(), Err(TryLockError::WouldBlock));
        let rlock_held = matches!(s.rlock.try_lock(), Err(TryLockError::WouldBlock));
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(i32::from(!lock_held) | i32::from(!rlock_held) << 1) };
    }
    let st = reap(pid as u32);
    assert!(libc::WIFEXITED(st), "child status {st:#x}");
    assert_eq!(libc::WEXITSTATUS(st), 0, "1: the Lock was free in the child, 2: the RLock");
    assert_eq!(s.lock.owner(), Some(std::process::id()), "the parent still holds the Lock");
    assert_eq!(s.rlock.depth(), 2, "the parent's RLock depth");
    let other = fork_child(|| {
        let held = matches!(s.lock.try_lock(), Err(TryLockError::WouldBlock))
            && matches!(s.rlock.try_lock(), Err(TryLockError::WouldBlock));
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(i32::from(!held)) };
    });
    let st = reap(other);
    assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "another process took a lock");
    drop(r2);
    drop(r1);
    drop(g);
    assert!(!s.lock.is_locked() && !s.rlock.is_locked(), "the parent's drops release them");
}
