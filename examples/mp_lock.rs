//! Python's `multiprocessing.Lock`: four processes each add 1,000 to a shared counter with
//! a read-modify-write that is only correct under the lock (the chapter's "deposit"
//! example). Then one process dies holding the lock: the next acquirer is told and goes on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use zeroproc::sync::{Event, Lock, LockTimeoutError};
use zeroproc::{CellHandle, SharedCell};
use zeroproc::{Exit, Process};

fn deposit((lock, balance): (CellHandle<Lock>, CellHandle<AtomicU64>)) {
    let (lock, balance) = (lock.attach().unwrap(), balance.attach().unwrap());
    for _ in 0..1000 {
        let _g = lock.lock().unwrap();
        // Deliberately not atomic as a whole: load, then store. The lock makes it safe.
        let v = balance.load(Ordering::Relaxed);
        std::hint::black_box(v);
        balance.store(v + 1, Ordering::Relaxed);
    }
}

#[zeroproc::main]
fn main() {
    let lock = SharedCell::new(Lock::new()).unwrap();
    let balance = SharedCell::new(AtomicU64::new(0)).unwrap();
    let mut ps: Vec<Process> = (0..4)
        .map(|_| Process::spawn(deposit, (lock.handle(), balance.handle())).unwrap())
        .collect();
    for p in ps.iter_mut() {
        assert_eq!(p.join().unwrap(), Exit::Code(0));
    }
    println!(
        "4 processes × 1000 deposits under a shared Lock: balance = {}",
        balance.load(Ordering::Relaxed)
    );
    assert_eq!(balance.load(Ordering::Relaxed), 4000);

    let held = SharedCell::new(Event::new()).unwrap();
    let mut victim = Process::spawn(
        |(l, e): (CellHandle<Lock>, CellHandle<Event>)| {
            let l = l.attach().unwrap();
            let _g = l.lock().unwrap();
            e.attach().unwrap().set();
            std::thread::sleep(Duration::from_secs(60));
        },
        (lock.handle(), held.handle()),
    )
    .unwrap();
    held.wait();
    victim.kill();
    println!("a process holding the lock was SIGKILLed: {:?}", victim.join().unwrap());
    match lock.lock_timeout(Duration::from_secs(5)) {
        Err(LockTimeoutError::OwnerDied(g)) => {
            println!("next lock(): OwnerDied — the lock is ours, no deadlock");
            drop(g);
        }
        Ok(_) => println!("next lock(): acquired"),
        Err(LockTimeoutError::Timeout) => panic!("deadlocked"),
    };
}
