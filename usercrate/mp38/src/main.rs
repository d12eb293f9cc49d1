//! A demanding newcomer's corners and misuse of zeroproc's multiprocessing layer.
//! `mp38 <scenario>` runs one scenario; it prints `PASS <name>` or panics (FAIL).
//! Each expectation is what CPython 3.11's `multiprocessing` does, or the documented
//! difference (docs/python-mapping.md) where one is written.
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};
use zeroproc::pipe::{pipe, RecvError, RecvTimeoutError, SendError, TryRecvError};
use zeroproc::queue::{GetError, GetTimeoutError, PutError, TryGetError, TryPutError};
use zeroproc::sync::{Barrier, BarrierError, BoundedSemaphore, Condition, Event, Lock, RLock};
use zeroproc::{
    CellHandle, DictHandle, Exit, JoinableQueue, ListHandle, Process, ProcessError, Queue,
    QueueHandle, SharedCell, SharedDict, SharedList,
};

const MS: Duration = Duration::from_millis(1);

fn sleep_ms(n: u64) {
    std::thread::sleep(MS * n as u32);
}

#[repr(C)]
struct Sync {
    lock: Lock,
    rlock: RLock,
    cond: Condition,
    ev: Event,
    bsem: BoundedSemaphore,
    barrier: Barrier,
    counter: AtomicU64,
    flag: AtomicU64,
}
// SAFETY: repr(C), process-shared primitives and atomics only.
unsafe impl zeroproc::shared::ProcessShared for Sync {}

fn sync_cell() -> SharedCell<Sync> {
    SharedCell::new(Sync {
        lock: Lock::new(),
        rlock: RLock::new(),
        cond: Condition::new(),
        ev: Event::new(),
        bsem: BoundedSemaphore::new(2),
        barrier: Barrier::new(3),
        counter: AtomicU64::new(0),
        flag: AtomicU64::new(0),
    })
    .unwrap()
}

// ---------------------------------------------------------------- Process

fn proc_lifecycle() {
    // start twice (Python: AssertionError "cannot start a process twice")
    let mut p = Process::new(|_: ()| {}, ());
    assert!(matches!(p.join(), Err(ProcessError::NotStarted)), "join before start");
    assert_eq!(p.exit_code(), None);
    assert!(!p.is_alive());
    p.start().unwrap();
    assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    // join twice: Python returns at once
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert_eq!(p.exit_code(), Some(Exit::Code(0)));

    let mut e3 = Process::spawn(|_: ()| std::process::exit(3), ()).unwrap();
    let mut pa = Process::spawn(|_: ()| panic!("boom38"), ()).unwrap();
    let mut k = Process::spawn(
        |_: ()| loop {
            std::thread::park()
        },
        (),
    )
    .unwrap();
    assert_eq!(e3.join().unwrap(), Exit::Code(3));
    assert_eq!(pa.join().unwrap(), Exit::Code(1));
    assert!(pa.panic_message().unwrap().contains("boom38"));
    assert!(k.is_alive());
    assert_eq!(k.exit_code(), None);
    k.kill();
    let x = k.join_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(x, Exit::Signal(9));
    assert_eq!(x.python_code(), -9);
    // is_alive after exit, before join (Python: False; exitcode set)
    let q = Process::spawn(|_: ()| {}, ()).unwrap();
    let t = Instant::now();
    while q.is_alive() {
        assert!(t.elapsed() < Duration::from_secs(10), "is_alive stays true");
        sleep_ms(5);
    }
    assert_eq!(q.exit_code(), Some(Exit::Code(0)));
    // kill/terminate after exit: nothing
    q.kill();
    q.terminate();
    drop(q);
    // join_timeout(0) on a running process
    let mut s = Process::spawn(|_: ()| sleep_ms(300), ()).unwrap();
    assert_eq!(s.join_timeout(Duration::ZERO).unwrap(), None);
    assert_eq!(s.join().unwrap(), Exit::Code(0));
}

fn ignores_term(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    c.ev.set();
    loop {
        sleep_ms(50);
    }
}

fn proc_terminate_ignored() {
    let c = sync_cell();
    let mut p = Process::spawn(ignores_term, c.handle()).unwrap();
    assert!(c.ev.wait_timeout(Duration::from_secs(10)));
    p.terminate();
    assert_eq!(p.join_timeout(MS * 300).unwrap(), None, "SIGTERM was ignored");
    assert!(p.is_alive());
    p.kill();
    assert_eq!(p.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Signal(9)));
    // terminate of a default process: Signal(15), Python -15
    let mut p = Process::spawn(
        |_: ()| loop {
            std::thread::park()
        },
        (),
    )
    .unwrap();
    sleep_ms(100);
    p.terminate();
    let x = p.join().unwrap();
    assert_eq!((x, x.python_code()), (Exit::Signal(15), -15));
}

fn proc_join_threads() {
    // Python: join from two threads. Here join takes &mut: one thread joins, the other
    // polls is_alive/exit_code through a shared reference.
    let mut p = Process::spawn(|_: ()| sleep_ms(200), ()).unwrap();
    let pr = &p;
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            let t = Instant::now();
            while pr.is_alive() {
                assert!(t.elapsed() < Duration::from_secs(10));
                sleep_ms(2);
            }
            pr.exit_code()
        });
        assert_eq!(h.join().unwrap(), Some(Exit::Code(0)));
    });
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

fn proc_drop_running() {
    // close() of a live process: dropping keeps it running; the exit waits for it.
    let d = SharedDict::<u64, u64>::new().unwrap();
    let p = Process::spawn(
        |d: DictHandle<u64, u64>| {
            sleep_ms(300);
            d.attach().unwrap().insert(1, 7).unwrap();
        },
        d.handle(),
    )
    .unwrap();
    drop(p);
    zeroproc::raw::sched::join_adopted();
    assert_eq!(d.get(&1).unwrap(), Some(7));
}

// ---------------------------------------------------------------- Queue

fn queue_closed() {
    let q = Queue::<u64>::new(4).unwrap();
    let t = Instant::now();
    assert!(matches!(q.get_timeout(MS * 100), Err(GetTimeoutError::Timeout)));
    assert!(t.elapsed() >= MS * 100);
    assert!(matches!(q.try_get(), Err(TryGetError::Empty)));
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.close();
    assert!(matches!(q.put(3), Err(PutError::Closed(3))));
    assert!(matches!(q.try_put(4), Err(TryPutError::Closed(4))));
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.try_get().unwrap(), 2);
    assert!(matches!(q.get(), Err(GetError::Closed)));
    assert!(matches!(q.try_get(), Err(TryGetError::Closed)));
    let t = Instant::now();
    assert!(matches!(q.get_timeout(Duration::from_secs(5)), Err(GetTimeoutError::Closed)));
    assert!(t.elapsed() < Duration::from_secs(1));
    // a getter blocked in another process is woken by close
    let q = Queue::<u64>::new(4).unwrap();
    let mut p = Process::spawn(
        |q: QueueHandle<u64>| {
            let q = q.attach().unwrap();
            assert!(matches!(q.get(), Err(GetError::Closed)));
        },
        q.handle(),
    )
    .unwrap();
    sleep_ms(200);
    q.close();
    assert_eq!(p.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Code(0)));
    // full queue: try_put Full, put_timeout Timeout; close wakes a blocked putter
    let q = Queue::<u64>::new(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.is_full());
    assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
    let mut p = Process::spawn(
        |q: QueueHandle<u64>| {
            let q = q.attach().unwrap();
            assert!(matches!(q.put(9), Err(PutError::Closed(9))));
        },
        q.handle(),
    )
    .unwrap();
    sleep_ms(200);
    q.close();
    assert_eq!(p.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Code(0)));
    assert_eq!((q.get().unwrap(), q.get().unwrap()), (1, 2));
    assert!(matches!(q.get(), Err(GetError::Closed)));
}

fn producer(q: QueueHandle<u64>, base: u64, n: u64) {
    let q = q.attach().unwrap();
    for i in 0..n {
        q.put(base + i).unwrap();
    }
}

fn queue_sizes_concurrent() {
    let q = Queue::<u64>::new(64).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|k| {
            Process::spawn(
                |(q, b): (QueueHandle<u64>, u64)| producer(q, b, 5000),
                (q.handle(), k * 1_000_000),
            )
            .unwrap()
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 20_000 {
        let n = q.len();
        assert!(n <= q.capacity(), "len {n} > capacity");
        let _ = (q.is_empty(), q.is_full());
        let v = q.get_timeout(Duration::from_secs(20)).expect("producers stalled");
        assert!(seen.insert(v), "duplicate {v}");
    }
    for mut k in kids {
        assert_eq!(k.join().unwrap(), Exit::Code(0));
    }
    assert!(q.is_empty());
    assert_eq!(q.len(), 0);
}

fn consumer_logs((q, got): (QueueHandle<u64>, ListHandle<u64>)) {
    let (q, got) = (q.attach().unwrap(), got.attach().unwrap());
    while let Ok(v) = q.get() {
        got.push(v).unwrap();
    }
}

fn queue_consumer_killed() {
    let q = Queue::<u64>::new(16).unwrap();
    let got = SharedList::<u64>::new().unwrap();
    let n = 20_000u64;
    let mut kills = 0;
    let mut kids: Vec<Process> = (0..2)
        .map(|_| Process::spawn(consumer_logs, (q.handle(), got.handle())).unwrap())
        .collect();
    for i in 0..n {
        q.put_timeout(i, Duration::from_secs(20)).expect("put hung");
        if i % 2000 == 1999 {
            let victim = &mut kids[(i as usize / 2000) % 2];
            victim.kill();
            victim.join().unwrap();
            kills += 1;
            *victim = Process::spawn(consumer_logs, (q.handle(), got.handle())).unwrap();
        }
    }
    q.close();
    for k in kids.iter_mut() {
        assert_eq!(k.join_timeout(Duration::from_secs(20)).unwrap(), Some(Exit::Code(0)));
    }
    let v = got.to_vec().unwrap();
    let set: std::collections::HashSet<_> = v.iter().copied().collect();
    assert_eq!(set.len(), v.len(), "a value was taken twice");
    let lost = n as usize - v.len();
    // a kill between get and push loses at most the value in hand (and a list push in
    // flight); more would be the queue's loss
    assert!(lost <= kills, "lost {lost} values with {kills} kills");
    println!("  consumer kills {kills}, values lost {lost}");
}

fn queue_producer_killed() {
    let q = Queue::<u64>::new(8).unwrap();
    let mut rounds = 0;
    for r in 0..10u64 {
        let mut p = Process::spawn(
            |(q, b): (QueueHandle<u64>, u64)| producer(q, b, u64::MAX / 4),
            (q.handle(), r << 40),
        )
        .unwrap();
        // let it fill and block on the full queue, with a taker draining meanwhile
        let mut last: Option<u64> = None;
        let t = Instant::now();
        while t.elapsed() < MS * (20 + r as u32 * 7) {
            if let Ok(v) = q.get_timeout(MS * 5) {
                if let Some(l) = last {
                    assert!(v > l, "out of order or duplicate: {l} then {v}");
                }
                last = Some(v);
            }
        }
        p.kill();
        p.join().unwrap();
        // drain: must not hang, values in order, no duplicate
        loop {
            match q.get_timeout(MS * 300) {
                Ok(v) => {
                    if let Some(l) = last {
                        assert!(v > l, "after kill: {l} then {v}");
                    }
                    last = Some(v);
                }
                Err(GetTimeoutError::Timeout) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(q.is_empty(), "len {} after drain", q.len());
        // the queue still works at full capacity
        for i in 0..8 {
            q.put_timeout(i, Duration::from_secs(5)).expect("put after producer kill");
        }
        for i in 0..8 {
            assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), i);
        }
        rounds += 1;
    }
    assert_eq!(rounds, 10);
}

fn queue_large() {
    let q = Queue::<Vec<u8>>::new(4).unwrap();
    let back = Queue::<Vec<u8>>::new(4).unwrap();
    let mut p = Process::spawn(
        |(q, b): (QueueHandle<Vec<u8>>, QueueHandle<Vec<u8>>)| {
            let (q, b) = (q.attach().unwrap(), b.attach().unwrap());
            while let Ok(mut v) = q.get() {
                v.reverse();
                b.put(v).unwrap();
            }
        },
        (q.handle(), back.handle()),
    )
    .unwrap();
    for size in [0usize, 1, 4095, 1 << 20, 64 << 20] {
        let v: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        q.put(v.clone()).unwrap();
        let mut r = back.get_timeout(Duration::from_secs(30)).expect("no answer");
        r.reverse();
        assert!(r == v, "size {size} corrupted");
    }
    q.close();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

// ---------------------------------------------------------------- JoinableQueue

fn joinable() {
    let q = JoinableQueue::<u64>::new(8).unwrap();
    assert!(q.task_done().is_err(), "task_done on an empty queue: ValueError");
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    q.task_done().unwrap();
    assert!(q.task_done().is_err(), "too many task_done");
    q.join_timeout(MS * 100).expect("nothing unfinished");
    // a consumer that dies holding a task: join waits; join_timeout says so
    q.put(2).unwrap();
    let mut p = Process::spawn(
        |q: zeroproc::JoinableQueueHandle<u64>| {
            let q = q.attach().unwrap();
            let _v = q.get().unwrap();
            std::process::exit(0);
        },
        q.handle(),
    )
    .unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert!(q.join_timeout(MS * 300).is_err());
    assert_eq!(q.unfinished_tasks(), 1);
    q.task_done().unwrap(); // any process may report it, as in Python
    q.join_timeout(MS * 100).expect("done now");
}

// ---------------------------------------------------------------- Pipe

fn pipe_eof() {
    let (mut a, mut b) = pipe::<u64>().unwrap();
    a.send(1).unwrap();
    a.send(2).unwrap();
    drop(a);
    assert_eq!(b.recv().unwrap(), 1);
    assert_eq!(b.recv().unwrap(), 2);
    assert!(matches!(b.recv(), Err(RecvError::Disconnected)));
    assert!(matches!(b.try_recv(), Err(TryRecvError::Disconnected)));
    assert!(matches!(b.recv_timeout(MS * 100), Err(RecvTimeoutError::Disconnected)));
    // Python: send on a connection whose peer closed: BrokenPipeError
    assert!(matches!(b.send(5), Err(SendError::Disconnected(5))));
    // poll on a disconnected end: Python returns True (recv would raise EOFError)
    let p = b.poll(MS * 50);
    println!("  poll after EOF: {p} (Python: True)");
    // through a child that exits
    let (mut a, b) = pipe::<u64>().unwrap();
    let mut p = Process::spawn(
        |b: zeroproc::ConnectionHandle<u64>| {
            let mut b = b.attach().unwrap();
            for i in 0..3 {
                b.send(i).unwrap();
            }
        },
        b.handle(),
    )
    .unwrap();
    drop(b);
    for i in 0..3 {
        assert_eq!(a.recv_timeout(Duration::from_secs(10)).unwrap(), i);
    }
    assert!(matches!(a.recv_timeout(Duration::from_secs(10)), Err(RecvTimeoutError::Disconnected)));
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    // a child killed while blocked in recv: the parent's send does not hang
    let (mut a, b) = pipe::<Vec<u8>>().unwrap();
    let mut p = Process::spawn(
        |b: zeroproc::ConnectionHandle<Vec<u8>>| {
            let mut b = b.attach().unwrap();
            loop {
                let _ = b.recv();
            }
        },
        b.handle(),
    )
    .unwrap();
    sleep_ms(300);
    p.kill();
    p.join().unwrap();
    let t = Instant::now();
    let mut sent = 0;
    loop {
        match a.send_timeout(vec![0u8; 4096], Duration::from_secs(5)) {
            Ok(()) => sent += 1,
            Err(e) => {
                println!("  send to a killed peer: {e:?} after {sent} sends");
                break;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(8), "send to a dead peer never fails");
    }
    assert!(matches!(a.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Disconnected)));
}

fn pipe_big_and_poll() {
    let (mut a, b) = pipe::<Vec<u8>>().unwrap();
    let mut p = Process::spawn(
        |b: zeroproc::ConnectionHandle<Vec<u8>>| {
            let mut b = b.attach().unwrap();
            while let Ok(mut v) = b.recv() {
                v.reverse();
                b.send(v).unwrap();
            }
        },
        b.handle(),
    )
    .unwrap();
    assert!(!a.poll(MS * 50));
    assert!(!a.poll(Duration::ZERO));
    for size in [0usize, 100, 1 << 16, 64 << 20] {
        let v: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
        a.send(v.clone()).unwrap();
        assert!(a.poll(Duration::from_secs(30)), "poll never saw the echo of {size}");
        let mut r = a.recv().unwrap();
        r.reverse();
        assert!(r == v, "size {size}");
    }
    drop(a);
    assert_eq!(p.join_timeout(Duration::from_secs(10)).unwrap(), Some(Exit::Code(0)));
    // one-way
    let (mut tx, rx) = zeroproc::pipe_oneway::<String>().unwrap();
    let mut p = Process::spawn(
        |rx: zeroproc::ReceiverHandle<String>| {
            let mut rx = rx.attach().unwrap();
            let mut n = 0;
            while let Ok(s) = rx.recv() {
                assert_eq!(s, format!("m{n}"));
                n += 1;
            }
            assert_eq!(n, 1000);
        },
        rx.handle(),
    )
    .unwrap();
    drop(rx);
    for i in 0..1000 {
        tx.send(format!("m{i}")).unwrap();
    }
    drop(tx);
    assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), Some(Exit::Code(0)));
}

// ---------------------------------------------------------------- sync

fn hold_lock(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    let _g = c.lock.lock().unwrap();
    let _r1 = c.rlock.lock().unwrap();
    let _r2 = c.rlock.lock().unwrap();
    c.ev.set();
    loop {
        sleep_ms(50);
    }
}

fn lock_holder_killed() {
    let c = sync_cell();
    let mut p = Process::spawn(hold_lock, c.handle()).unwrap();
    assert!(c.ev.wait_timeout(Duration::from_secs(10)));
    assert!(c.lock.try_lock().is_err());
    assert!(matches!(
        c.lock.lock_timeout(MS * 100),
        Err(zeroproc::sync::LockTimeoutError::Timeout)
    ));
    p.kill();
    p.join().unwrap();
    let g = c.lock.lock_timeout(Duration::from_secs(5));
    assert!(matches!(g, Err(zeroproc::sync::LockTimeoutError::OwnerDied(_))));
    drop(g);
    let r = c.rlock.lock_timeout(Duration::from_secs(5));
    assert!(matches!(r, Err(zeroproc::sync::LockTimeoutError::OwnerDied(_))));
    drop(r);
    // usable again, plainly
    drop(c.lock.lock_timeout(Duration::from_secs(1)).expect("lock after recovery"));
    drop(c.rlock.lock_timeout(Duration::from_secs(1)).expect("rlock after recovery"));
}

fn bump(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    for _ in 0..2000 {
        let _g = c.lock.lock().unwrap();
        let v = c.counter.load(SeqCst);
        std::hint::spin_loop();
        c.counter.store(v + 1, SeqCst);
    }
}

fn lock_contention() {
    let c = sync_cell();
    let kids: Vec<_> = (0..8).map(|_| Process::spawn(bump, c.handle()).unwrap()).collect();
    for mut k in kids {
        assert_eq!(k.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    }
    assert_eq!(c.counter.load(SeqCst), 16_000);
}

fn sems_and_events() {
    let c = sync_cell();
    // over-release of a bounded semaphore: Python ValueError
    assert!(c.bsem.release(1).is_err());
    assert!(c.bsem.try_acquire());
    c.bsem.release(1).unwrap();
    assert!(c.bsem.release(1).is_err());
    assert_eq!(c.bsem.value(), 2);
    // release(0) does nothing
    c.bsem.release(0).unwrap();
    // Event set by a child
    let mut p = Process::spawn(
        |c: CellHandle<Sync>| {
            sleep_ms(100);
            c.attach().unwrap().ev.set();
        },
        c.handle(),
    )
    .unwrap();
    assert!(!c.ev.wait_timeout(MS * 10));
    assert!(c.ev.wait_timeout(Duration::from_secs(10)));
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

fn condition_corners() {
    let c = sync_cell();
    // wait_for with timeout, predicate never true
    let g = c.lock.lock().unwrap();
    let t = Instant::now();
    let r = c.cond.wait_for_timeout(g, MS * 200, || c.flag.load(SeqCst) == 1);
    println!("  wait_for_timeout false: {:?}", r.as_ref().map(|x| x.1).map_err(|_| ()));
    assert!(t.elapsed() >= MS * 190);
    drop(r);
    // notifications without the predicate becoming true (spurious for wait_for)
    let mut p = Process::spawn(
        |c: CellHandle<Sync>| {
            let c = c.attach().unwrap();
            for i in 0..10 {
                sleep_ms(20);
                let _g = c.lock.lock().unwrap();
                if i == 9 {
                    c.flag.store(1, SeqCst);
                }
                c.cond.notify_all();
            }
        },
        c.handle(),
    )
    .unwrap();
    let g = c.lock.lock().unwrap();
    let r = c.cond.wait_for_timeout(g, Duration::from_secs(10), || c.flag.load(SeqCst) == 1);
    let (_g, ok) = r.unwrap_or_else(|_| panic!("owner died"));
    assert!(ok, "wait_for returned before the predicate held");
    assert_eq!(c.flag.load(SeqCst), 1);
    drop(_g);
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

fn barrier_party_killed() {
    let c = sync_cell();
    let party = |c: CellHandle<Sync>| {
        let c = c.attach().unwrap();
        c.barrier.wait_timeout(Duration::from_secs(10)).unwrap();
        c.counter.fetch_add(1, SeqCst);
    };
    let mut a = Process::spawn(party, c.handle()).unwrap();
    let mut b = Process::spawn(party, c.handle()).unwrap();
    let t = Instant::now();
    while c.barrier.n_waiting() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10));
        sleep_ms(5);
    }
    b.kill();
    b.join().unwrap();
    // documented: a party killed while waiting has arrived
    let r = c.barrier.wait_timeout(Duration::from_secs(10));
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(a.join().unwrap(), Exit::Code(0));
    let _ = BarrierError::Broken;
}

// ---------------------------------------------------------------- containers

#[zeroproc::data]
#[derive(Clone, Debug, PartialEq)]
struct Pair {
    a: u64,
    b: u64,
    pad: Vec<u64>,
}

fn pair_writer(d: DictHandle<u64, Pair>) {
    let d = d.attach().unwrap();
    let mut i = 0u64;
    loop {
        let k = i % 16;
        d.update(&k, |v| {
            let p = v.get_or_insert(Pair { a: 0, b: 0, pad: vec![] });
            p.a += 1;
            p.b += 1;
            p.pad = vec![p.a; (p.a % 300) as usize];
        })
        .unwrap();
        i += 1;
    }
}

fn dict_writer_killed() {
    let d = SharedDict::<u64, Pair>::new().unwrap();
    for r in 0..15u32 {
        let mut w1 = Process::spawn(pair_writer, d.handle()).unwrap();
        let mut w2 = Process::spawn(pair_writer, d.handle()).unwrap();
        let t = Instant::now();
        while t.elapsed() < MS * (30 + 11 * r) {
            for (k, p) in d.items().unwrap() {
                assert_eq!(p.a, p.b, "torn value at {k}");
                assert!(p.pad.iter().all(|&x| x == p.a));
            }
        }
        w1.kill();
        w1.join().unwrap();
        let t = Instant::now();
        for (_, p) in d.items().unwrap() {
            assert_eq!(p.a, p.b, "torn after kill");
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        w2.kill();
        w2.join().unwrap();
    }
    // still writable
    d.insert(99, Pair { a: 1, b: 1, pad: vec![] }).unwrap();
    assert_eq!(d.get(&99).unwrap().unwrap().a, 1);
}

fn dict_iter_while_mutating() {
    let d = SharedDict::<u64, u64>::new().unwrap();
    let mut m = Process::spawn(
        |d: DictHandle<u64, u64>| {
            let d = d.attach().unwrap();
            for r in 0..200u64 {
                for k in 0..100 {
                    if (k + r) % 3 == 0 {
                        d.remove(&k).unwrap();
                    } else {
                        d.insert(k, k * 10).unwrap();
                    }
                }
            }
        },
        d.handle(),
    )
    .unwrap();
    let mut snaps = 0;
    while m.is_alive() {
        for (k, v) in d.iter().unwrap() {
            assert_eq!(v, k * 10);
        }
        let n = d.len().unwrap();
        assert!(n <= 100);
        snaps += 1;
    }
    assert_eq!(m.join().unwrap(), Exit::Code(0));
    assert!(snaps > 0);
}

fn list_and_namespace_concurrent() {
    let l = SharedList::<u64>::new().unwrap();
    let ns = zeroproc::Namespace::new().unwrap();
    ns.set("n", 0u64).unwrap();
    let kids: Vec<_> = (0..4u64)
        .map(|k| {
            Process::spawn(
                |(l, ns, k): (ListHandle<u64>, zeroproc::NamespaceHandle, u64)| {
                    let (l, ns) = (l.attach().unwrap(), ns.attach().unwrap());
                    for i in 0..500 {
                        l.push(k * 1000 + i).unwrap();
                        ns.update("n", |v: &mut Option<u64>| *v = Some(v.unwrap() + 1)).unwrap();
                    }
                },
                (l.handle(), ns.handle(), k),
            )
            .unwrap()
        })
        .collect();
    for mut k in kids {
        assert_eq!(k.join().unwrap(), Exit::Code(0));
    }
    assert_eq!(l.len().unwrap(), 2000);
    assert_eq!(ns.get::<u64>("n").unwrap(), Some(2000));
    let mut v = l.to_vec().unwrap();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), 2000);
}

fn value_writer_killed() {
    // Value/Array: a SharedCell of atomics; a killed writer leaves no torn word
    let c = sync_cell();
    for _ in 0..10 {
        let mut p = Process::spawn(
            |c: CellHandle<Sync>| {
                let c = c.attach().unwrap();
                loop {
                    let _g = c.lock.lock().unwrap();
                    c.counter.fetch_add(1, SeqCst);
                    c.flag.fetch_add(1, SeqCst);
                }
            },
            c.handle(),
        )
        .unwrap();
        sleep_ms(30);
        p.kill();
        p.join().unwrap();
        let g = match c.lock.lock_timeout(Duration::from_secs(5)) {
            Ok(g) => g,
            Err(zeroproc::sync::LockTimeoutError::OwnerDied(g)) => {
                // the holder died in the section: repair the invariant as Python would have to
                let g = g.into_inner();
                let (a, b) = (c.counter.load(SeqCst), c.flag.load(SeqCst));
                if a != b {
                    c.flag.store(a, SeqCst);
                }
                g
            }
            Err(e) => panic!("lock after kill: {e:?}"),
        };
        assert_eq!(c.counter.load(SeqCst), c.flag.load(SeqCst));
        drop(g);
    }
}

// ---------------------------------------------------------------- second batch

fn cond_waiter_killed() {
    let c = sync_cell();
    let waiter = |(c, tag): (CellHandle<Sync>, u64)| {
        let c = c.attach().unwrap();
        let g = c.lock.lock().unwrap();
        c.counter.fetch_add(1, SeqCst);
        let (_g, t) =
            c.cond.wait_timeout(g, Duration::from_secs(20)).unwrap_or_else(|_| panic!("died"));
        assert!(t, "waiter {tag} timed out");
        c.flag.fetch_add(tag, SeqCst);
    };
    let mut a = Process::spawn(waiter, (c.handle(), 1)).unwrap();
    let t = Instant::now();
    while c.counter.load(SeqCst) < 1 {
        assert!(t.elapsed() < Duration::from_secs(10));
        sleep_ms(2);
    }
    sleep_ms(50);
    let mut b = Process::spawn(waiter, (c.handle(), 10)).unwrap();
    while c.counter.load(SeqCst) < 2 {
        assert!(t.elapsed() < Duration::from_secs(10));
        sleep_ms(2);
    }
    sleep_ms(50);
    a.kill();
    a.join().unwrap();
    let t = Instant::now();
    {
        let _g = c.lock.lock_timeout(Duration::from_secs(5)).map_err(|_| ()).expect("lock");
        c.cond.notify(1);
    }
    assert_eq!(
        b.join_timeout(Duration::from_secs(5)).unwrap(),
        Some(Exit::Code(0)),
        "notify(1) went to the dead waiter"
    );
    assert_eq!(c.flag.load(SeqCst), 10);
    println!("  live waiter woke after {:?}", t.elapsed());
}

fn thread_spawned_process() {
    // a Process started on one thread, joined on another (Python allows any thread of
    // the parent to join)
    let p =
        std::thread::spawn(|| Process::spawn(|_: ()| sleep_ms(100), ()).unwrap()).join().unwrap();
    let h = std::thread::spawn(move || {
        let mut p = p;
        p.join().unwrap()
    });
    assert_eq!(h.join().unwrap(), Exit::Code(0));
    // exit codes past 255 and negative, abort
    let mut a = Process::spawn(|_: ()| std::process::exit(-1), ()).unwrap();
    let mut b = Process::spawn(|_: ()| std::process::exit(259), ()).unwrap();
    let mut c = Process::spawn(|_: ()| std::process::abort(), ()).unwrap();
    assert_eq!(a.join().unwrap(), Exit::Code(255));
    assert_eq!(b.join().unwrap(), Exit::Code(3));
    assert_eq!(c.join().unwrap(), Exit::Signal(6));
}

fn getref_holder_killed() {
    let q = Queue::<Vec<u8>>::new(2).unwrap();
    for round in 0..6 {
        let big = round % 2 == 1;
        let v = if big { vec![7u8; 1 << 20] } else { vec![7u8; 10] };
        q.put(v.clone()).unwrap();
        q.put(v.clone()).unwrap();
        let mut p = Process::spawn(
            |q: QueueHandle<Vec<u8>>| {
                let q = q.attach().unwrap();
                let _r = q.get_ref().unwrap();
                loop {
                    sleep_ms(50);
                }
            },
            q.handle(),
        )
        .unwrap();
        let t = Instant::now();
        while q.len() > 1 {
            assert!(t.elapsed() < Duration::from_secs(10));
            sleep_ms(2);
        }
        p.kill();
        p.join().unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), v);
        // both slots usable again
        q.put_timeout(v.clone(), Duration::from_secs(5)).expect("slot left by the killed reader");
        q.put_timeout(v.clone(), Duration::from_secs(5)).expect("slot 2");
        assert_eq!(q.get().unwrap(), v);
        assert_eq!(q.get().unwrap(), v);
        assert!(q.is_empty(), "round {round}: len {}", q.len());
    }
}

fn pipe_sender_killed_mid_big() {
    for r in 0..6u32 {
        let (mut a, b) = pipe::<Vec<u8>>().unwrap();
        let mut p = Process::spawn(
            |b: zeroproc::ConnectionHandle<Vec<u8>>| {
                let mut b = b.attach().unwrap();
                let mut i = 0u8;
                loop {
                    b.send(vec![i; 8 << 20]).unwrap();
                    i = i.wrapping_add(1);
                }
            },
            b.handle(),
        )
        .unwrap();
        drop(b);
        let first = a.recv_timeout(Duration::from_secs(20)).expect("first");
        assert!(first.iter().all(|&x| x == 0));
        sleep_ms(5 + 13 * r as u64);
        p.kill();
        p.join().unwrap();
        let mut expect = 1u8;
        loop {
            match a.recv_timeout(Duration::from_secs(10)) {
                Ok(v) => {
                    assert_eq!(v.len(), 8 << 20);
                    assert!(v.iter().all(|&x| x == expect), "torn message");
                    expect = expect.wrapping_add(1);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("round {r}: {e:?}"),
            }
        }
    }
}

fn joinable_consumer_killed_in_get() {
    let q = JoinableQueue::<u64>::new(8).unwrap();
    let mut p = Process::spawn(
        |q: zeroproc::JoinableQueueHandle<u64>| {
            let q = q.attach().unwrap();
            loop {
                let _ = q.get();
                q.task_done().unwrap();
            }
        },
        q.handle(),
    )
    .unwrap();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    q.join_timeout(Duration::from_secs(10)).expect("all done");
    sleep_ms(100); // consumer blocked in get
    p.kill();
    p.join().unwrap();
    q.join_timeout(MS * 100).expect("nothing unfinished after a kill in an empty get");
    q.put(5).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), 5);
    q.task_done().unwrap();
    q.join_timeout(MS * 100).unwrap();
}

fn list_iter_while_mutating() {
    let l = SharedList::<u64>::new().unwrap();
    let mut m = Process::spawn(
        |l: ListHandle<u64>| {
            let l = l.attach().unwrap();
            for r in 0..300u64 {
                for i in 0..50 {
                    l.push(r * 100 + i).unwrap();
                }
                for _ in 0..50 {
                    l.remove(0).unwrap();
                }
            }
        },
        l.handle(),
    )
    .unwrap();
    while m.is_alive() {
        let v = l.to_vec().unwrap();
        assert!(v.windows(2).all(|w| w[0] < w[1]), "snapshot out of order");
        let n = l.len().unwrap();
        if n > 0 {
            let _ = l.get(n - 1).unwrap();
        }
    }
    assert_eq!(m.join().unwrap(), Exit::Code(0));
    assert_eq!(l.len().unwrap(), 0);
}

fn timeouts_edges() {
    let c = sync_cell();
    let big = Duration::MAX;
    let q = Queue::<u64>::new(1).unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get_timeout(big).unwrap(), 1);
    q.put_timeout(2, big).unwrap();
    drop(c.lock.lock_timeout(big).map_err(|_| ()).unwrap());
    drop(c.lock.lock_timeout(Duration::ZERO).map_err(|_| ()).expect("free lock, zero timeout"));
    c.ev.set();
    assert!(c.ev.wait_timeout(big));
    assert!(c.ev.wait_timeout(Duration::ZERO));
    let (mut a, mut b) = pipe::<u64>().unwrap();
    a.send(1).unwrap();
    assert!(b.poll(big));
    assert_eq!(b.recv_timeout(big).unwrap(), 1);
    let mut p = Process::spawn(|_: ()| {}, ()).unwrap();
    assert_eq!(p.join_timeout(big).unwrap(), Some(Exit::Code(0)));
    assert!(Queue::<u64>::new(usize::MAX).is_err());
    assert!(Queue::<u64>::new((1 << 32) + 1).is_err());
    let s = zeroproc::sync::Semaphore::new(u32::MAX);
    assert!(s.acquire_timeout(big));
    let b = BoundedSemaphore::new(2);
    assert!(b.try_acquire());
    assert!(b.release(u32::MAX).is_err(), "wrapping release accepted");
    assert_eq!(b.value(), 1);
    let bar = Barrier::new(1);
    assert!(bar.wait_timeout(Duration::ZERO).is_ok());
}

// ---------------------------------------------------------------- many processes

fn many_getters_close() {
    let q = Queue::<u64>::new(128).unwrap();
    let out = Queue::<u64>::new(256).unwrap();
    let kids: Vec<_> = (0..70)
        .map(|_| {
            Process::spawn(
                |(q, o): (QueueHandle<u64>, QueueHandle<u64>)| {
                    let (q, o) = (q.attach().unwrap(), o.attach().unwrap());
                    while let Ok(v) = q.get() {
                        o.put(v).unwrap();
                    }
                },
                (q.handle(), out.handle()),
            )
            .unwrap()
        })
        .collect();
    sleep_ms(500);
    for i in 0..70 {
        q.put(i).unwrap();
    }
    let mut got: Vec<u64> = (0..70)
        .map(|_| out.get_timeout(Duration::from_secs(20)).expect("a getter slept through"))
        .collect();
    got.sort();
    assert_eq!(got, (0..70).collect::<Vec<_>>());
    sleep_ms(300);
    q.close();
    for mut k in kids {
        assert_eq!(
            k.join_timeout(Duration::from_secs(20)).unwrap(),
            Some(Exit::Code(0)),
            "a getter missed the close"
        );
    }
}

fn joinable_many_consumers() {
    let q = JoinableQueue::<u64>::new(64).unwrap();
    let done = SharedCell::new(AtomicU64::new(0)).unwrap();
    let kids: Vec<_> = (0..20)
        .map(|_| {
            Process::new(
                |(q, d): (zeroproc::JoinableQueueHandle<u64>, CellHandle<AtomicU64>)| {
                    let (q, d) = (q.attach().unwrap(), d.attach().unwrap());
                    while let Ok(_v) = q.get() {
                        d.fetch_add(1, SeqCst);
                        q.task_done().unwrap();
                    }
                },
                (q.handle(), done.handle()),
            )
            .daemon(true)
        })
        .map(|mut p| {
            p.start().unwrap();
            p
        })
        .collect();
    for i in 0..3000 {
        q.put(i).unwrap();
    }
    q.join_timeout(Duration::from_secs(30)).expect("join with 20 consumers");
    assert_eq!(done.load(SeqCst), 3000);
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err());
    // kill 3 consumers, each while it holds a task (they never report it)
    q.close();
    for mut k in kids {
        k.join_timeout(Duration::from_secs(10)).unwrap().expect("consumer exits on close");
    }
}

fn many_lockers() {
    let c = sync_cell();
    let kids: Vec<_> = (0..70)
        .map(|_| {
            Process::spawn(
                |c: CellHandle<Sync>| {
                    let c = c.attach().unwrap();
                    for _ in 0..50 {
                        let _g = c
                            .lock
                            .lock_timeout(Duration::from_secs(60))
                            .map_err(|_| ())
                            .expect("lock");
                        let v = c.counter.load(SeqCst);
                        c.counter.store(v + 1, SeqCst);
                    }
                },
                c.handle(),
            )
            .unwrap()
        })
        .collect();
    for mut k in kids {
        assert_eq!(k.join_timeout(Duration::from_secs(60)).unwrap(), Some(Exit::Code(0)));
    }
    assert_eq!(c.counter.load(SeqCst), 3500);
}

fn many_event_waiters() {
    let c = sync_cell();
    let kids: Vec<_> = (0..70)
        .map(|_| {
            Process::spawn(
                |c: CellHandle<Sync>| {
                    let c = c.attach().unwrap();
                    c.counter.fetch_add(1, SeqCst);
                    assert!(
                        c.ev.wait_timeout(Duration::from_secs(30)),
                        "event waiter slept through"
                    );
                    let g = c.lock.lock().unwrap();
                    c.flag.fetch_add(1, SeqCst);
                    let (_g, ok) = c
                        .cond
                        .wait_for_timeout(g, Duration::from_secs(30), || {
                            c.flag.load(SeqCst) >= 1000
                        })
                        .unwrap_or_else(|_| panic!("died"));
                    assert!(ok, "condition waiter slept through notify_all");
                },
                c.handle(),
            )
            .unwrap()
        })
        .collect();
    let t = Instant::now();
    while c.counter.load(SeqCst) < 70 {
        assert!(t.elapsed() < Duration::from_secs(30));
        sleep_ms(5);
    }
    sleep_ms(200);
    c.ev.set();
    while c.flag.load(SeqCst) < 70 {
        assert!(t.elapsed() < Duration::from_secs(30));
        sleep_ms(5);
    }
    sleep_ms(200);
    {
        let _g = c.lock.lock().unwrap();
        c.flag.store(1000, SeqCst);
        c.cond.notify_all();
    }
    for mut k in kids {
        assert_eq!(k.join_timeout(Duration::from_secs(40)).unwrap(), Some(Exit::Code(0)));
    }
}

// ---------------------------------------------------------------- in-process misuse

fn closures_panic() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let d = SharedDict::<u64, Vec<u64>>::new().unwrap();
    d.insert(1, vec![1, 2]).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        d.update(&1, |v| {
            v.as_mut().unwrap().push(3);
            panic!("in update");
        })
    }));
    assert!(r.is_err());
    // Python: an exception inside `with lock:` releases it; the change was not stored
    assert_eq!(d.get(&1).unwrap(), Some(vec![1, 2]));
    d.insert(2, vec![]).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| d.get_with(&1, |_| panic!("in get_with"))));
    assert!(r.is_err());
    assert_eq!(d.len().unwrap(), 2);
    let l = SharedList::<u64>::new().unwrap();
    l.extend([1, 2, 3]).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        l.update(1, |v| {
            *v = 9;
            panic!("in list update")
        })
    }));
    assert!(r.is_err());
    assert_eq!(l.to_vec().unwrap(), vec![1, 2, 3]);
    let r = catch_unwind(AssertUnwindSafe(|| l.for_each(|_, _| panic!("in for_each"))));
    assert!(r.is_err());
    l.push(4).unwrap();
    let ns = zeroproc::Namespace::new().unwrap();
    ns.set("x", 1u64).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        ns.update("x", |v: &mut Option<u64>| {
            *v = Some(5);
            panic!("ns")
        })
    }));
    assert!(r.is_err());
    assert_eq!(ns.get::<u64>("x").unwrap(), Some(1));
    // condition predicate panics: the lock must be released
    let c = sync_cell();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let g = c.lock.lock().unwrap();
        let _ = c.cond.wait_for_timeout(g, MS * 50, || panic!("pred"));
    }));
    assert!(r.is_err());
    drop(c.lock.try_lock().map_err(|_| ()).expect("lock left held by a panicking predicate"));
    // a queue get_with closure panicking: the value is consumed? the queue stays usable
    let q = Queue::<u64>::new(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| q.get_with(|_| panic!("get_with"))));
    assert!(r.is_err());
    q.put_timeout(3, Duration::from_secs(2)).expect("slot of a panicking get_with");
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get().unwrap(), 3);
    // same-thread relock of a non-reentrant lock: Python deadlocks; a timeout must end it
    let _g = c.lock.lock().unwrap();
    assert!(matches!(c.lock.lock_timeout(MS * 50), Err(zeroproc::sync::LockTimeoutError::Timeout)));
    assert!(c.lock.try_lock().is_err());
}

fn zst_and_units() {
    let q = Queue::<()>::new(2).unwrap();
    q.put(()).unwrap();
    q.put(()).unwrap();
    assert!(q.is_full());
    assert!(matches!(q.try_put(()), Err(TryPutError::Full(()))));
    q.get().unwrap();
    q.get().unwrap();
    let (mut a, mut b) = pipe::<()>().unwrap();
    a.send(()).unwrap();
    b.recv().unwrap();
    a.send_bytes(b"").unwrap();
    assert_eq!(b.recv_bytes().unwrap(), Vec::<u8>::new());
    let d = SharedDict::<(), ()>::new().unwrap();
    d.insert((), ()).unwrap();
    assert_eq!(d.len().unwrap(), 1);
    let d = SharedDict::<String, String>::new().unwrap();
    d.insert(String::new(), String::new()).unwrap();
    assert_eq!(d.get(&String::new()).unwrap(), Some(String::new()));
}

// ---------------------------------------------------------------- early signals, timeouts

fn kill_right_after_start() {
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..40u32 {
        let mut p = Process::spawn(
            |_: ()| loop {
                std::thread::park()
            },
            (),
        )
        .unwrap();
        if i % 4 == 1 {
            std::thread::sleep(Duration::from_micros(200 * i as u64));
        }
        if i % 2 == 0 {
            p.kill()
        } else {
            p.terminate()
        }
        let r = p.join_timeout(Duration::from_secs(10)).map(|x| x.map(|e| e.python_code()));
        let k = format!("{}:{:?}", if i % 2 == 0 { "kill" } else { "term" }, r);
        *seen.entry(k).or_insert(0) += 1;
    }
    println!("  outcomes: {seen:?}");
    for k in seen.keys() {
        assert!(k == "kill:Ok(Some(-9))" || k == "term:Ok(Some(-15))", "Python: -9 / -15, got {k}");
    }
}

fn timeouts_not_early() {
    let c = sync_cell();
    let q = Queue::<u64>::new(1).unwrap();
    let (mut a, _b) = pipe::<u64>().unwrap();
    let mut p = Process::spawn(|_: ()| sleep_ms(3000), ()).unwrap();
    let jq = JoinableQueue::<u64>::new(2).unwrap();
    jq.put(1).unwrap();
    assert!(c.bsem.try_acquire() && c.bsem.try_acquire());
    for ms in [1u32, 7, 30, 120] {
        let d = MS * ms;
        let chk = |what: &str, t: Instant| {
            assert!(t.elapsed() >= d, "{what}({ms} ms) returned after {:?}", t.elapsed())
        };
        let t = Instant::now();
        assert!(q.get_timeout(d).is_err());
        chk("get_timeout", t);
        q.put(0).unwrap();
        let t = Instant::now();
        assert!(q.put_timeout(1, d).is_err());
        chk("put_timeout", t);
        q.get().unwrap();
        let t = Instant::now();
        assert!(!a.poll(d));
        chk("poll", t);
        let t = Instant::now();
        assert!(a.recv_timeout(d).is_err());
        chk("recv_timeout", t);
        let t = Instant::now();
        assert!(!c.ev.wait_timeout(d));
        chk("event wait_timeout", t);
        let t = Instant::now();
        assert_eq!(p.join_timeout(d).unwrap(), None);
        chk("join_timeout", t);
        let t = Instant::now();
        assert!(jq.join_timeout(d).is_err());
        chk("jq join_timeout", t);
        let t = Instant::now();
        assert!(!c.bsem.acquire_timeout(d));
        chk("acquire_timeout", t);
        let t = Instant::now();
        let g = c.lock.lock().unwrap();
        let (g, notified) = c.cond.wait_timeout(g, d).unwrap_or_else(|_| panic!());
        assert!(!notified);
        chk("cond wait_timeout", t);
        std::thread::scope(|s| {
            s.spawn(|| {
                let t = Instant::now();
                assert!(c.lock.lock_timeout(d).is_err());
                chk("lock_timeout", t);
            });
        });
        drop(g);
    }
    p.kill();
    p.join().unwrap();
}

// ---------------------------------------------------------------- zombies

fn my_zombies() -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("stat")) {
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            if f[0] == "Z" && f[1] == me {
                n += 1;
            }
        }
    }
    n
}

fn no_zombies() {
    for _ in 0..5 {
        drop(Process::spawn(|_: ()| {}, ()).unwrap());
    }
    let p = Process::spawn(
        |_: ()| loop {
            std::thread::park()
        },
        (),
    )
    .unwrap();
    p.kill();
    drop(p);
    let mut q = Process::spawn(|_: ()| sleep_ms(100), ()).unwrap();
    assert_eq!(q.join_timeout(MS).unwrap(), None);
    drop(q);
    let p = Process::spawn(|_: ()| panic!("dropped panicker"), ()).unwrap();
    drop(p);
    let t = Instant::now();
    loop {
        let z = my_zombies();
        if z == 0 && t.elapsed() > MS * 1500 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{z} zombie children 5 s after their handles were dropped"
        );
        sleep_ms(50);
    }
}

// ---------------------------------------------------------------- exit paths

fn panic_in_main() {
    let q = Queue::<u64>::new(4).unwrap();
    let _p = Process::spawn(
        |q: QueueHandle<u64>| {
            let _ = q.attach().unwrap().get_timeout(Duration::from_secs(30));
        },
        q.handle(),
    )
    .unwrap();
    let _pool = zeroproc::Pool::builder().workers(2).build().unwrap();
    let _d = SharedDict::<u64, u64>::new().unwrap();
    panic!("main panics on purpose");
}

fn panic_in_main_daemon_and_job() {
    let mut d = Process::new(
        |_: ()| loop {
            sleep_ms(50)
        },
        (),
    )
    .daemon(true);
    d.start().unwrap();
    let pool = zeroproc::Pool::builder().workers(2).build().unwrap();
    let _f = pool.submit(|_: ()| sleep_ms(30_000), ());
    sleep_ms(200);
    panic!("main panics with a daemon and a running job");
}

fn exit_in_main_with_daemon() {
    let d = Process::new(
        |_: ()| loop {
            sleep_ms(50)
        },
        (),
    )
    .daemon(true);
    let mut d = d;
    d.start().unwrap();
    let q = Queue::<u64>::new(2).unwrap();
    let _c = Process::spawn(
        |q: QueueHandle<u64>| {
            let _ = q.attach().unwrap().get_timeout(Duration::from_secs(1));
        },
        q.handle(),
    )
    .unwrap();
    println!("PASS exit_in_main_with_daemon");
    std::process::exit(3);
}

fn exclusive_worker(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    let me = std::process::id() as u64;
    loop {
        let g = match c.lock.lock() {
            Ok(g) => g,
            Err(e) => {
                // a holder died inside: whatever it left in `flag` is stale
                c.flag.store(0, SeqCst);
                c.counter.fetch_add(1 << 32, SeqCst); // takeovers
                e.into_inner()
            }
        };
        let prev = c.flag.swap(me, SeqCst);
        assert_eq!(prev, 0, "two holders at once: {prev} was inside when {me} entered");
        c.counter.fetch_add(1, SeqCst);
        std::hint::spin_loop();
        c.flag.store(0, SeqCst);
        drop(g);
    }
}

fn lock_kills_exclusion() {
    let c = sync_cell();
    let mut kids: Vec<Process> =
        (0..6).map(|_| Process::spawn(exclusive_worker, c.handle()).unwrap()).collect();
    let mut kills = 0u64;
    let t = Instant::now();
    let mut last = 0;
    while t.elapsed() < Duration::from_secs(6) {
        sleep_ms(3 + kills % 7);
        let i = (kills as usize * 7) % kids.len();
        kids[i].kill();
        let x = kids[i].join().unwrap();
        assert_eq!(x, Exit::Signal(9), "a worker failed: {:?}", kids[i].panic_message());
        kills += 1;
        kids[i] = Process::spawn(exclusive_worker, c.handle()).unwrap();
        if kills % 50 == 0 {
            let n = c.counter.load(SeqCst) & 0xffff_ffff;
            assert!(n > last, "no progress in 50 kills: lock stuck?");
            last = n;
        }
    }
    for k in kids.iter_mut() {
        k.kill();
        let x = k.join().unwrap();
        assert_eq!(x, Exit::Signal(9), "a worker failed: {:?}", k.panic_message());
    }
    let v = c.counter.load(SeqCst);
    println!("  kills {kills}, sections {}, takeovers {}", v & 0xffff_ffff, v >> 32);
}

fn barrier_party(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    loop {
        match c.barrier.wait_timeout(Duration::from_secs(10)) {
            Ok(_) => {}
            Err(e) => panic!("party: {e:?}"),
        }
    }
}

fn barrier_kills() {
    let c = sync_cell();
    let mut kids: Vec<Process> =
        (0..2).map(|_| Process::spawn(barrier_party, c.handle()).unwrap()).collect();
    let mut gens = 0u64;
    let mut kills = 0u64;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let r = c.barrier.wait_timeout(Duration::from_secs(10));
        assert!(r.is_ok(), "after {gens} generations and {kills} kills: {r:?}");
        gens += 1;
        if gens % 37 == 0 {
            let i = (kills % 2) as usize;
            if kills % 3 == 0 {
                std::thread::sleep(Duration::from_micros(50 * (kills % 11)));
            }
            kids[i].kill();
            let x = kids[i].join().unwrap();
            assert_eq!(x, Exit::Signal(9), "{:?}", kids[i].panic_message());
            kills += 1;
            kids[i] = Process::spawn(barrier_party, c.handle()).unwrap();
        }
    }
    for k in kids.iter_mut() {
        k.kill();
        let x = k.join().unwrap();
        assert_eq!(x, Exit::Signal(9), "{:?}", k.panic_message());
    }
    println!("  generations {gens}, kills {kills}");
}

fn cond_consumer(c: CellHandle<Sync>) {
    let c = c.attach().unwrap();
    loop {
        let g = c.lock.lock().unwrap_or_else(|e| e.into_inner());
        let r = c.cond.wait_for_timeout(g, Duration::from_secs(10), || c.flag.load(SeqCst) > 0);
        let (g, ok) = r.unwrap_or_else(|e| e.into_inner());
        assert!(ok, "a consumer slept 10 s with {} items available", c.flag.load(SeqCst));
        c.flag.fetch_sub(1, SeqCst);
        c.counter.fetch_add(1, SeqCst);
        drop(g);
    }
}

fn cond_kills() {
    let c = sync_cell();
    let mut kids: Vec<Process> =
        (0..4).map(|_| Process::spawn(cond_consumer, c.handle()).unwrap()).collect();
    let mut kills = 0u64;
    let mut made = 0u64;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        {
            let g = c.lock.lock().unwrap_or_else(|e| e.into_inner());
            c.flag.fetch_add(1, SeqCst);
            made += 1;
            c.cond.notify(1);
            drop(g);
        }
        if made % 200 == 0 {
            let i = (kills % 4) as usize;
            kids[i].kill();
            let x = kids[i].join().unwrap();
            assert_eq!(x, Exit::Signal(9), "{:?}", kids[i].panic_message());
            kills += 1;
            kids[i] = Process::spawn(cond_consumer, c.handle()).unwrap();
        }
        if made % 20 == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    let t = Instant::now();
    while c.flag.load(SeqCst) > 0 {
        assert!(t.elapsed() < Duration::from_secs(15), "{} items never taken", c.flag.load(SeqCst));
        sleep_ms(5);
    }
    for k in kids.iter_mut() {
        assert_eq!(k.exit_code(), None, "{:?}", k.panic_message());
        k.kill();
        k.join().unwrap();
    }
    println!("  items {made}, taken {}, kills {kills}", c.counter.load(SeqCst));
}

fn jq_producer((q, base): (zeroproc::JoinableQueueHandle<u64>, u64)) {
    let q = q.attach().unwrap();
    let mut i = 0;
    loop {
        q.put(base + i).unwrap();
        i += 1;
    }
}

fn jq_consumer((q, d): (zeroproc::JoinableQueueHandle<u64>, CellHandle<AtomicU64>)) {
    let (q, d) = (q.attach().unwrap(), d.attach().unwrap());
    while let Ok(_v) = q.get() {
        d.fetch_add(1, SeqCst);
        q.task_done().unwrap();
    }
}

fn joinable_producer_killed() {
    let mut stuck = 0;
    let rounds = 30u32;
    for r in 0..rounds {
        let q = JoinableQueue::<u64>::new(4).unwrap();
        let done = SharedCell::new(AtomicU64::new(0)).unwrap();
        let mut c = Process::spawn(jq_consumer, (q.handle(), done.handle())).unwrap();
        let mut p = Process::spawn(jq_producer, (q.handle(), 0)).unwrap();
        std::thread::sleep(Duration::from_micros(2000 + 977 * r as u64));
        p.kill();
        p.join().unwrap();
        if q.join_timeout(Duration::from_secs(2)).is_err() {
            stuck += 1;
            println!(
                "  round {r}: join stuck, unfinished {} len {}",
                q.unfinished_tasks(),
                q.len()
            );
            // documented (python-mapping, JoinableQueue row): a kill between the count
            // and the publish leaves one task that never arrives (CPython: 13 of 30)
            assert_eq!((q.unfinished_tasks(), q.len()), (1, 0), "more than the window's value");
        }
        q.close();
        assert!(c.join_timeout(Duration::from_secs(5)).unwrap().is_some());
    }
    println!("  join stuck after {stuck} of {rounds} producer kills");
}

fn big_process_args() {
    for mb in [1usize, 64, 200] {
        let v: Vec<u8> = (0..mb << 20).map(|i| (i % 249) as u8).collect();
        let mut p = Process::spawn(
            |(v, mb): (Vec<u8>, usize)| {
                assert_eq!(v.len(), mb << 20);
                assert!(v.iter().enumerate().all(|(i, &x)| x == (i % 249) as u8));
            },
            (v, mb),
        )
        .unwrap();
        assert_eq!(p.join().unwrap(), Exit::Code(0), "{mb} MiB: {:?}", p.panic_message());
    }
    // a long name and a Run object
    let mut p =
        Process::new(|_: ()| assert_eq!(Process::current_name().unwrap().len(), 1 << 20), ())
            .name("n".repeat(1 << 20));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

fn proc_watchdog_port() {
    // docs/python-mapping.md, p.join row: Python's Timer(t, p.terminate) + p.join()
    let mut p = Process::spawn(
        |_: ()| loop {
            std::thread::park()
        },
        (),
    )
    .unwrap();
    let x = match p.join_timeout(MS * 100).unwrap() {
        Some(x) => x,
        None => {
            p.terminate();
            p.join().unwrap()
        }
    };
    assert_eq!(x.python_code(), -15);
}

fn namespace_corners() {
    let ns = zeroproc::Namespace::new().unwrap();
    ns.set("x", 1u64).unwrap();
    // Python's getattr of another type just returns the object; here typed: TypeMismatch
    assert!(ns.get::<String>("x").is_err());
    assert_eq!(ns.get::<u64>("missing").unwrap(), None);
    ns.set("", 2u64).unwrap();
    assert_eq!(ns.get::<u64>("").unwrap(), Some(2));
    let mut m = Process::spawn(
        |ns: zeroproc::NamespaceHandle| {
            let ns = ns.attach().unwrap();
            for r in 0..300u64 {
                for k in 0..20 {
                    let name = format!("k{k}");
                    if (k + r) % 2 == 0 {
                        ns.remove(&name).unwrap();
                    } else {
                        ns.set(&name, r).unwrap();
                    }
                }
            }
        },
        ns.handle(),
    )
    .unwrap();
    while m.is_alive() {
        let names = ns.names().unwrap();
        assert!(names.len() <= 22);
        for n in names {
            let _ = ns.get::<u64>(&n).unwrap();
        }
    }
    assert_eq!(m.join().unwrap(), Exit::Code(0));
}

fn wait_for_deadline_kept() {
    // notifications that never satisfy the predicate must not stretch wait_for's time-out
    let c = sync_cell();
    let mut p = Process::spawn(
        |c: CellHandle<Sync>| {
            let c = c.attach().unwrap();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(3) {
                sleep_ms(10);
                let _g = c.lock.lock().unwrap();
                c.cond.notify_all();
            }
        },
        c.handle(),
    )
    .unwrap();
    sleep_ms(100);
    for _ in 0..3 {
        let g = c.lock.lock().unwrap();
        let t = Instant::now();
        let mut calls = 0;
        let (_g, ok) = c
            .cond
            .wait_for_timeout(g, MS * 300, || {
                calls += 1;
                false
            })
            .unwrap_or_else(|_| panic!());
        let e = t.elapsed();
        assert!(!ok);
        assert!(e >= MS * 300 && e < MS * 1500, "wait_for_timeout(300 ms) took {e:?}");
        assert!(calls > 2, "predicate evaluated {calls} times under 10 ms notifications");
    }
    // Condition::wait_timeout under the same stream returns notified, early, as Python's
    let g = c.lock.lock().unwrap();
    let (_g, notified) =
        c.cond.wait_timeout(g, Duration::from_secs(2)).unwrap_or_else(|_| panic!());
    assert!(notified);
    drop(_g);
    assert_eq!(p.join().unwrap(), Exit::Code(0));
}

fn timeouts_under_contention() {
    // lock_timeout / acquire_timeout / event wait_timeout stay bounded while other
    // processes hammer the same object
    let c = sync_cell();
    let kids: Vec<Process> = (0..2)
        .map(|_| {
            Process::spawn(
                |c: CellHandle<Sync>| {
                    let c = c.attach().unwrap();
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_secs(4) {
                        drop(c.lock.lock().unwrap());
                        if c.bsem.try_acquire() {
                            c.bsem.release(1).unwrap();
                        }
                        c.ev.set();
                        c.ev.clear();
                    }
                },
                c.handle(),
            )
            .unwrap()
        })
        .collect();
    sleep_ms(200);
    let (mut locks, mut acq, mut evs) = (0, 0, 0);
    for _ in 0..5 {
        let t = Instant::now();
        if c.lock.lock_timeout(MS * 200).is_ok() {
            locks += 1;
        }
        assert!(t.elapsed() < MS * 1200, "lock_timeout(200 ms) took {:?}", t.elapsed());
        let t = Instant::now();
        if c.bsem.acquire_timeout(MS * 200) {
            acq += 1;
            c.bsem.release(1).unwrap();
        }
        assert!(t.elapsed() < MS * 1200, "acquire_timeout(200 ms) took {:?}", t.elapsed());
        let t = Instant::now();
        if c.ev.wait_timeout(MS * 200) {
            evs += 1;
        }
        assert!(t.elapsed() < MS * 1200, "event wait_timeout(200 ms) took {:?}", t.elapsed());
    }
    println!("  under contention, got: lock {locks}/5, semaphore {acq}/5, event {evs}/5");
    for mut k in kids {
        assert_eq!(k.join().unwrap(), Exit::Code(0));
    }
}

#[zeroproc::main]
fn main() {
    let name = std::env::args().nth(1).expect("scenario name");
    let f: fn() = match name.as_str() {
        "proc_lifecycle" => proc_lifecycle,
        "proc_terminate_ignored" => proc_terminate_ignored,
        "proc_join_threads" => proc_join_threads,
        "proc_drop_running" => proc_drop_running,
        "queue_closed" => queue_closed,
        "queue_sizes_concurrent" => queue_sizes_concurrent,
        "queue_consumer_killed" => queue_consumer_killed,
        "queue_producer_killed" => queue_producer_killed,
        "queue_large" => queue_large,
        "joinable" => joinable,
        "pipe_eof" => pipe_eof,
        "pipe_big_and_poll" => pipe_big_and_poll,
        "lock_holder_killed" => lock_holder_killed,
        "lock_contention" => lock_contention,
        "sems_and_events" => sems_and_events,
        "condition_corners" => condition_corners,
        "barrier_party_killed" => barrier_party_killed,
        "dict_writer_killed" => dict_writer_killed,
        "dict_iter_while_mutating" => dict_iter_while_mutating,
        "list_and_namespace_concurrent" => list_and_namespace_concurrent,
        "value_writer_killed" => value_writer_killed,
        "panic_in_main" => panic_in_main,
        "timeouts_under_contention" => timeouts_under_contention,
        "wait_for_deadline_kept" => wait_for_deadline_kept,
        "namespace_corners" => namespace_corners,
        "proc_watchdog_port" => proc_watchdog_port,
        "big_process_args" => big_process_args,
        "joinable_producer_killed" => joinable_producer_killed,
        "cond_kills" => cond_kills,
        "barrier_kills" => barrier_kills,
        "lock_kills_exclusion" => lock_kills_exclusion,
        "panic_in_main_daemon_and_job" => panic_in_main_daemon_and_job,
        "exit_in_main_with_daemon" => exit_in_main_with_daemon,
        "no_zombies" => no_zombies,
        "kill_right_after_start" => kill_right_after_start,
        "timeouts_not_early" => timeouts_not_early,
        "closures_panic" => closures_panic,
        "zst_and_units" => zst_and_units,
        "many_getters_close" => many_getters_close,
        "joinable_many_consumers" => joinable_many_consumers,
        "many_lockers" => many_lockers,
        "many_event_waiters" => many_event_waiters,
        "cond_waiter_killed" => cond_waiter_killed,
        "thread_spawned_process" => thread_spawned_process,
        "getref_holder_killed" => getref_holder_killed,
        "pipe_sender_killed_mid_big" => pipe_sender_killed_mid_big,
        "joinable_consumer_killed_in_get" => joinable_consumer_killed_in_get,
        "list_iter_while_mutating" => list_iter_while_mutating,
        "timeouts_edges" => timeouts_edges,
        _ => panic!("unknown scenario {name}"),
    };
    f();
    println!("PASS {name}");
}
