//! Differential pair with mp_diff.py: the same steps through zeroproc's public API,
//! printing the same lines (compare with `diff`).
use std::time::{Duration, Instant};
use zeroproc::pipe::pipe;
use zeroproc::queue::{GetTimeoutError, PutTimeoutError, TryGetError, TryPutError};
use zeroproc::shared::ProcessShared;
use zeroproc::sync::BarrierError;
use zeroproc::{
    Barrier, BoundedSemaphore, CellHandle, Condition, ConnectionHandle, Event, JoinableQueue, Lock,
    Namespace, Process, Queue, QueueHandle, RLock, Semaphore, SharedCell, SharedDict, SharedList,
};

fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn raises(_: u8) {
    panic!("child failed");
}
fn exits(code: i32) {
    std::process::exit(code);
}
fn aborts(_: u8) {
    std::process::abort();
}
fn sleeps(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

fn barrier_party((b, out): (CellHandle<Barrier>, QueueHandle<String>)) {
    let (b, out) = (b.attach().unwrap(), out.attach().unwrap());
    let r = match b.wait_timeout(Duration::from_secs(5)) {
        Ok(_) => "passed",
        Err(_) => "broken",
    };
    out.put(r.to_string()).unwrap();
}

fn pipe_child(conn: ConnectionHandle<u64>) {
    let mut c = conn.attach().unwrap();
    c.send(41).unwrap();
    c.send(42).unwrap();
}

#[repr(C)]
struct Held {
    lock: Lock,
    ready: Event,
    go: Event,
}
// SAFETY: repr(C), process-shared primitives only.
unsafe impl ProcessShared for Held {}

fn holder(h: CellHandle<Held>) {
    let h = h.attach().unwrap();
    let g = h.lock.lock().unwrap();
    h.ready.set();
    h.go.wait_timeout(Duration::from_secs(5));
    drop(g);
}

fn exit_py(e: Option<zeroproc::Exit>) -> String {
    e.map(|e| e.python_code().to_string()).unwrap_or("None".into())
}

fn main() {
    zeroproc::init();
    // 1. Process exit codes
    let cases: [(&str, Process); 4] = [
        ("raise", Process::new(raises, 0u8)),
        ("exit(3)", Process::new(exits, 3)),
        ("exit(0)", Process::new(exits, 0)),
        ("abort", Process::new(aborts, 0u8)),
    ];
    for (name, mut pr) in cases {
        println!(
            "{name} before start: exitcode {} alive {}",
            exit_py(pr.exit_code()),
            py(pr.is_alive())
        );
        pr.start().unwrap();
        pr.join().unwrap();
        println!("{name} exitcode {} alive {}", exit_py(pr.exit_code()), py(pr.is_alive()));
    }
    let mut last = None;
    for sig in ["SIGKILL", "SIGTERM"] {
        let mut pr = Process::spawn(sleeps, 30).unwrap();
        let _ = pr.join_timeout(Duration::from_millis(200)).unwrap();
        println!(
            "join(0.2) of a sleeper: exitcode {} alive {}",
            exit_py(pr.exit_code()),
            py(pr.is_alive())
        );
        if sig == "SIGKILL" {
            pr.kill()
        } else {
            pr.terminate()
        }
        pr.join().unwrap();
        println!("after {sig} exitcode {}", exit_py(pr.exit_code()));
        last = Some(pr);
    }
    let pr = last.unwrap();
    pr.terminate();
    pr.kill();
    println!("terminate/kill of a joined process: ok");

    // 2. Queue
    let q = Queue::<u64>::new(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    println!("qsize {} full {} empty {}", q.len(), py(q.is_full()), py(q.is_empty()));
    if let Err(TryPutError::Full(_)) = q.try_put(3) {
        println!("put_nowait: Full");
    }
    let t = Instant::now();
    if let Err(PutTimeoutError::Timeout(_)) = q.put_timeout(3, Duration::from_millis(200)) {
        println!(
            "put(timeout=0.2): Full, waited>=0.19: {}",
            py(t.elapsed() >= Duration::from_millis(190))
        );
    }
    println!("get {} {}", q.get().unwrap(), q.get().unwrap());
    if let Err(TryGetError::Empty) = q.try_get() {
        println!("get_nowait: Empty");
    }
    let t = Instant::now();
    if let Err(GetTimeoutError::Timeout) = q.get_timeout(Duration::from_millis(200)) {
        println!(
            "get(timeout=0.2): Empty, waited>=0.19: {}",
            py(t.elapsed() >= Duration::from_millis(190))
        );
    }

    // 3. JoinableQueue
    let jq = JoinableQueue::<u64>::new(4).unwrap();
    jq.put(1).unwrap();
    jq.get().unwrap();
    jq.task_done().unwrap();
    if let Err(e) = jq.task_done() {
        println!("task_done too many: ValueError {e}");
    }
    jq.join();
    println!("join after balanced: returns");

    // 4. Pipe
    let (mut a, b) = pipe::<u64>().unwrap();
    let mut c = Process::spawn(pipe_child, b.handle()).unwrap();
    drop(b);
    c.join().unwrap();
    println!("recv {} {}", a.recv().unwrap(), a.recv().unwrap());
    println!("poll after peer closed: {}", py(a.poll(Duration::from_millis(100))));
    match a.recv() {
        Err(e) => println!("recv after peer closed: EOFError ({e})"),
        Ok(v) => println!("recv after peer closed: {v}"),
    }
    let (a, mut b) = pipe::<u64>().unwrap();
    println!("poll(0.1) on empty open pipe: {}", py(b.poll(Duration::from_millis(100))));
    drop(a);
    match b.recv() {
        Err(e) => println!("recv after local peer close: EOFError ({e})"),
        Ok(v) => println!("recv: {v}"),
    }

    // 5. Barrier
    let bar = SharedCell::new(Barrier::new(2)).unwrap();
    if let Err(BarrierError::Timeout) = bar.wait_timeout(Duration::from_millis(100)) {
        println!("barrier timeout: BrokenBarrierError, broken {}", py(bar.is_broken()));
    }
    if let Err(BarrierError::Broken) = bar.wait_timeout(Duration::from_millis(100)) {
        println!("wait on broken: BrokenBarrierError");
    }
    bar.reset();
    println!(
        "after reset: broken {} n_waiting {} parties {}",
        py(bar.is_broken()),
        bar.n_waiting(),
        bar.parties()
    );
    let out = Queue::<String>::new(8).unwrap();
    let mut kids: Vec<_> = (0..2)
        .map(|_| Process::spawn(barrier_party, (bar.handle(), out.handle())).unwrap())
        .collect();
    kids.iter_mut().for_each(|k| {
        k.join().unwrap();
    });
    let mut got = vec![out.get().unwrap(), out.get().unwrap()];
    got.sort();
    println!("two parties: {got:?}");
    let bar3 = SharedCell::new(Barrier::new(3)).unwrap();
    let mut kids: Vec<_> = (0..2)
        .map(|_| Process::spawn(barrier_party, (bar3.handle(), out.handle())).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    bar3.abort();
    kids.iter_mut().for_each(|k| {
        k.join().unwrap();
    });
    let mut got = vec![out.get().unwrap(), out.get().unwrap()];
    got.sort();
    println!("abort with 2 of 3 waiting: {got:?} broken {}", py(bar3.is_broken()));

    // 6. Semaphores
    let s = Semaphore::new(1);
    s.release(1);
    println!("Semaphore(1) released once: value {}", s.value());
    let t = Duration::from_millis(100);
    println!(
        "acquire x2: {} {} third (timeout 0.1): {}",
        py(s.acquire_timeout(t)),
        py(s.acquire_timeout(t)),
        py(s.acquire_timeout(t))
    );
    let bs = BoundedSemaphore::new(1);
    if let Err(e) = bs.release(1) {
        println!("BoundedSemaphore over-release: ValueError {e}");
    }

    // 7. Lock / RLock
    let lk =
        SharedCell::new(Held { lock: Lock::new(), ready: Event::new(), go: Event::new() }).unwrap();
    {
        let g = lk.lock.lock().unwrap();
        println!("acquire: True again (timeout 0.1): {}", py(lk.lock.lock_timeout(t).is_ok()));
        drop(g);
    }
    println!("release unlocked: (a guard: cannot be written)");
    let mut h = Process::spawn(holder, lk.handle()).unwrap();
    lk.ready.wait_timeout(Duration::from_secs(5));
    println!("held by child: acquire(timeout 0.1): {}", py(lk.lock.lock_timeout(t).is_ok()));
    lk.go.set();
    h.join().unwrap();
    println!(
        "after child released: acquire(timeout 1): {}",
        py(lk.lock.lock_timeout(Duration::from_secs(1)).is_ok())
    );
    let rl = RLock::new();
    {
        let g1 = rl.lock().unwrap();
        let g2 = rl.lock().unwrap();
        println!("rlock acquire x2: True True (depth {})", rl.depth());
        drop(g2);
        drop(g1);
    }
    println!("rlock release unowned: (a guard: cannot be written)");

    // 8. Event
    let ev = Event::new();
    println!("event wait(0.1): {} is_set {}", py(ev.wait_timeout(t)), py(ev.is_set()));
    ev.set();
    println!("after set wait(0.1): {}", py(ev.wait_timeout(t)));
    ev.clear();
    println!("after clear is_set: {}", py(ev.is_set()));

    // 9. Condition
    let (lock, cond) = (Lock::new(), Condition::new());
    let (g, ok) = cond.wait_for_timeout(lock.lock().unwrap(), t, || false).unwrap();
    println!("wait_for false pred (timeout 0.1): {}", py(ok));
    let (g, notified) = cond.wait_timeout(g, t).unwrap();
    println!("wait(0.1): {}", py(notified));
    drop(g);
    cond.notify_one();
    println!("notify without lock: (allowed: the condition holds no lock)");

    // 10. containers
    let d = SharedDict::<String, u64>::new().unwrap();
    d.insert("a".into(), 1).unwrap();
    println!(
        "dict get missing: {:?} len {} 'a' in d {}",
        d.get(&"b".into()).unwrap(),
        d.len().unwrap(),
        py(d.contains_key(&"a".into()).unwrap())
    );
    println!("dict [missing]: {:?}", d.get(&"b".into()));
    println!("del missing: {:?}", d.remove(&"b".into()));
    println!("pop: {:?} len {}", d.remove(&"a".into()).unwrap(), d.len().unwrap());
    let l = SharedList::<u64>::new().unwrap();
    l.push(1).unwrap();
    l.push(2).unwrap();
    println!("list [5]: {:?}", l.get(5));
    println!("list pop: {:?} {:?}", l.pop().unwrap(), l.pop().unwrap());
    println!("pop empty: {:?}", l.pop());
    println!("remove(5) of empty: {:?}", l.remove(5).map_err(|e| e.to_string()));
    let ns = Namespace::new().unwrap();
    ns.set("x", 1u64).unwrap();
    println!("ns.x {:?}", ns.get::<u64>("x").unwrap());
    println!("ns.y missing: {:?}", ns.get::<u64>("y"));
    println!("ns.x as String: {:?}", ns.get::<String>("x").map_err(|e| e.to_string()));
}
