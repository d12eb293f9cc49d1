//! Python's `multiprocessing.Condition`: a producer process adds items to a shared count and
//! notifies; a consumer process waits on the condition until items are there, takes them.

use std::sync::atomic::{AtomicU64, Ordering};
use zeroproc::sync::{Condition, Lock};
use zeroproc::{CellHandle, SharedCell};
use zeroproc::{Exit, Process};

type Shared = (CellHandle<Lock>, CellHandle<Condition>, CellHandle<AtomicU64>);

fn producer((l, c, n): Shared) {
    let (l, c, n) = (l.attach().unwrap(), c.attach().unwrap(), n.attach().unwrap());
    for i in 1..=5u64 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _g = l.lock().unwrap();
        n.fetch_add(1, Ordering::Relaxed);
        println!("  producer: made item {i}, notifying");
        c.notify_all();
    }
}

fn consumer((l, c, n): Shared) {
    let (l, c, n) = (l.attach().unwrap(), c.attach().unwrap(), n.attach().unwrap());
    let mut taken = 0;
    while taken < 5 {
        let mut g = l.lock().unwrap();
        while n.load(Ordering::Relaxed) == 0 {
            g = c.wait(g).unwrap();
        }
        let got = n.swap(0, Ordering::Relaxed);
        drop(g);
        taken += got;
        println!("  consumer: woke up, took {got} (total {taken})");
    }
}

#[zeroproc::main]
fn main() {
    let lock = SharedCell::new(Lock::new()).unwrap();
    let cond = SharedCell::new(Condition::new()).unwrap();
    let items = SharedCell::new(AtomicU64::new(0)).unwrap();
    let h = || (lock.handle(), cond.handle(), items.handle());
    let mut c = Process::spawn(consumer, h()).unwrap();
    let mut p = Process::spawn(producer, h()).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    assert_eq!(c.join().unwrap(), Exit::Code(0));
    println!("5 items produced and consumed across two processes through a shared Condition");
}
