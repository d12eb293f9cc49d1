//! Scenario 3: thousands of short-lived `Process` children over long-lived `Queue`,
//! `JoinableQueue`, `SharedDict`, `Lock` and `Event` objects, and a new `pipe` and a new
//! `Queue` per child; one child in three SIGKILLed mid-`put`, mid-`get`, mid-update or
//! holding the lock. After each child the parent checks the objects still work.

use crate::service::Rng;
use crate::tally::Tally;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroproc::container::DictHandle;
use zeroproc::pipe::pipe;
use zeroproc::sync::{Event, Lock};
use zeroproc::{
    CellHandle, ConnectionHandle, Exit, JoinableQueue, JoinableQueueHandle, Process, Queue,
    QueueHandle, SharedCell, SharedDict,
};

const SHORT: Duration = Duration::from_millis(200);

type Objs = (
    QueueHandle<u64>,
    JoinableQueueHandle<u64>,
    DictHandle<String, u64>,
    CellHandle<Lock>,
    CellHandle<Event>,
);

/// Puts `n` values (blocks when the queue is full: killed there).
fn putter((q, n): (QueueHandle<u64>, u64)) {
    let q = q.attach().unwrap();
    for i in 0..n {
        q.put(i).unwrap();
    }
}

/// Gets until killed, or `n` values.
fn getter((q, n): (QueueHandle<u64>, u64)) -> u64 {
    let q = q.attach().unwrap();
    (0..n).map(|_| q.get().unwrap()).sum()
}

/// Takes `n` values from the joinable queue, reporting each.
fn worker((q, n): (JoinableQueueHandle<u64>, u64)) {
    let q = q.attach().unwrap();
    for _ in 0..n {
        q.get().unwrap();
        q.task_done().unwrap();
    }
}

/// Adds 1 to "n" `k` times, then (if `hold`) takes the lock and sleeps holding it.
fn updater((d, l, k, hold): (DictHandle<String, u64>, CellHandle<Lock>, u64, bool)) {
    let d = d.attach().unwrap();
    for _ in 0..k {
        d.update(&"n".to_string(), |v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
    }
    if hold {
        let l = l.attach().unwrap();
        let _g = l.lock().unwrap_or_else(|e| e.into_inner());
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn waiter(e: CellHandle<Event>) -> bool {
    e.attach().unwrap().wait_timeout(Duration::from_secs(30))
}

fn echo(c: ConnectionHandle<u64>) {
    let mut c = c.attach().unwrap();
    while let Ok(v) = c.recv() {
        if c.send(v + 1).is_err() {
            break;
        }
    }
}

fn spawn<F: zeroproc::JobFn<A, R>, A: zeroproc::Message, R>(
    t: &Tally,
    f: F,
    a: A,
) -> Option<Process> {
    match Process::spawn(f, a) {
        Ok(p) => Some(p),
        Err(e) => {
            t.anomaly("spawn", e);
            None
        }
    }
}

fn join(t: &Tally, p: &mut Process, want: Exit, what: &str) {
    match p.join_timeout(Duration::from_secs(30)) {
        Ok(Some(e)) if e == want => t.add(what),
        Ok(Some(e)) => t.anomaly(what, format!("exit {e:?}, wanted {want:?}")),
        Ok(None) => {
            t.anomaly("HANG", format!("{what}: child not exited in 30 s"));
            p.kill();
            let _ = p.join();
        }
        Err(e) => t.anomaly(what, e),
    }
}

/// Kills `p` after `us` microseconds.
fn kill_after(t: &Tally, p: &mut Process, us: u64, what: &str) {
    std::thread::sleep(Duration::from_micros(us));
    p.kill();
    match p.join_timeout(Duration::from_secs(30)) {
        Ok(Some(Exit::Signal(9))) => t.add(what),
        Ok(Some(Exit::Code(0))) => t.add(&format!("{what} (finished first)")),
        other => t.anomaly(what, format!("{other:?}")),
    }
}

/// The queue still carries values: drain, then one round trip.
fn queue_ok(t: &Tally, q: &Queue<u64>) {
    while q.get_timeout(Duration::from_millis(5)).is_ok() {}
    if q.put_timeout(7, SHORT).is_err() || q.get_timeout(SHORT) != Ok(7) {
        t.anomaly("queue after kill", "round trip failed");
    }
}

fn one(t: &Tally, o: &Objs, counted: &AtomicU64, rng: &mut Rng, only: Option<u64>) {
    let (q, jq, d, l, e) = (&o.0, &o.1, &o.2, &o.3, &o.4);
    let us = rng.next() % 3000;
    let case = rng.next() % 9;
    match only.unwrap_or(case) {
        0 => {
            let Some(mut p) = spawn(t, putter, (q.clone(), 100)) else { return };
            let qq = q.attach().unwrap();
            let got: u64 =
                (0..100).map(|_| qq.get_timeout(Duration::from_secs(30)).unwrap_or(1 << 40)).sum();
            if got != 4950 {
                t.anomaly("queue put/get", format!("sum {got}"));
            }
            join(t, &mut p, Exit::Code(0), "queue: 100 put");
        }
        1 => {
            // Killed mid-put: 1,000 values into a queue of 64 nobody reads.
            let Some(mut p) = spawn(t, putter, (q.clone(), 1000)) else { return };
            kill_after(t, &mut p, us, "queue: killed mid-put");
            queue_ok(t, &q.attach().unwrap());
        }
        2 => {
            // Killed mid-get: the parent feeds it slowly.
            let Some(mut p) = spawn(t, getter, (q.clone(), 1000)) else { return };
            let qq = q.attach().unwrap();
            for i in 0..20 {
                let _ = qq.put_timeout(i, SHORT);
            }
            kill_after(t, &mut p, us, "queue: killed mid-get");
            queue_ok(t, &qq);
        }
        3 => {
            let jj = jq.attach().unwrap();
            let Some(mut p) = spawn(t, worker, (jq.clone(), 10)) else { return };
            for i in 0..10 {
                jj.put(i).unwrap();
            }
            if jj.join_timeout(Duration::from_secs(30)).is_err() {
                t.anomaly("HANG", "JoinableQueue::join 30 s");
            }
            join(t, &mut p, Exit::Code(0), "joinable: 10 done");
        }
        4 => {
            let k = 50;
            let Some(mut p) = spawn(t, updater, (d.clone(), l.clone(), k, false)) else { return };
            join(t, &mut p, Exit::Code(0), "dict: 50 updates");
            counted.fetch_add(k, Ordering::Relaxed);
        }
        5 => {
            // Killed mid-update (or holding the lock, after its updates).
            let hold = us.is_multiple_of(2);
            let Some(mut p) = spawn(t, updater, (d.clone(), l.clone(), 200, hold)) else { return };
            kill_after(
                t,
                &mut p,
                us,
                if hold { "dict+lock: killed" } else { "dict: killed mid-update" },
            );
            let dd = d.attach().unwrap();
            let n = dd.get(&"n".to_string()).unwrap().unwrap_or(0);
            let floor = counted.load(Ordering::Relaxed);
            if n < floor || n > floor + 200 {
                t.anomaly("dict after kill", format!("n {n}, counted {floor}"));
            }
            counted.store(n, Ordering::Relaxed);
            let ll = l.attach().unwrap();
            match ll.lock() {
                Ok(_) => t.add("lock: clean"),
                Err(e) => {
                    drop(e.into_inner());
                    t.add("lock: owner died, recovered");
                }
            }
            if ll.lock().is_err() {
                t.anomaly("lock", "still OwnerDied after recovery");
            }
        }
        6 => {
            let ee = e.attach().unwrap();
            ee.clear();
            let Some(mut p) = spawn(t, waiter, e.clone()) else { return };
            std::thread::sleep(Duration::from_micros(us));
            if us.is_multiple_of(3) {
                kill_after(t, &mut p, 0, "event: killed waiting");
            } else {
                ee.set();
                join(t, &mut p, Exit::Code(0), "event: woken");
            }
        }
        7 => {
            // A pipe of its own, echoing; killed mid-recv half the time.
            let Ok((mut a, b)) = pipe::<u64>() else { return t.anomaly("pipe", "create") };
            let Some(mut p) = spawn(t, echo, b.handle()) else { return };
            drop(b);
            let mut ok = true;
            for i in 0..20 {
                ok &= a.send(i).is_ok()
                    && a.recv_timeout(Duration::from_secs(30)).ok() == Some(i + 1);
            }
            if !ok {
                t.anomaly("pipe echo", "wrong or missing reply");
            }
            if us.is_multiple_of(2) {
                kill_after(t, &mut p, us, "pipe: killed mid-recv");
            } else {
                drop(a);
                join(t, &mut p, Exit::Code(0), "pipe: closed, child exits");
            }
        }
        _ => {
            // A queue of its own, killed mid-put.
            let qq = Queue::<u64>::new(8).unwrap();
            let Some(mut p) = spawn(t, putter, (qq.handle(), 1000)) else { return };
            kill_after(t, &mut p, us, "own queue: killed mid-put");
            queue_ok(t, &qq);
        }
    }
}

pub fn run(secs: u64) -> Tally {
    let t = Tally::default();
    let q = Queue::<u64>::new(64).unwrap();
    let jq = JoinableQueue::<u64>::new(64).unwrap();
    let d = SharedDict::<String, u64>::new().unwrap();
    let l = SharedCell::new(Lock::new()).unwrap();
    let e = SharedCell::new(Event::new()).unwrap();
    let o: Objs = (q.handle(), jq.handle(), d.handle(), l.handle(), e.handle());
    let counted = AtomicU64::new(0);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let end = Instant::now() + Duration::from_secs(secs);
    // SOAK_MP_ONLY=K runs case K of `one` alone (to find which one a growth comes from).
    let only = std::env::var("SOAK_MP_ONLY").ok().and_then(|v| v.parse().ok());
    let mut children = 0u64;
    while Instant::now() < end {
        one(&t, &o, &counted, &mut rng, only);
        children += 1;
    }
    println!("children: {children}");
    t.add(&format!("children {children}"));
    t
}
