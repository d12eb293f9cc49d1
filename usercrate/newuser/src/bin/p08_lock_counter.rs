//! Port of py/p08_lock_counter.py: a counter (`Value('i', 0, lock=False)`) protected by a
//! separate `Lock`, incremented by 4 processes.
use std::sync::atomic::{AtomicI64, Ordering};
use zeroproc::sync::Lock;
use zeroproc::{CellHandle, Process, SharedCell};

fn bump((counter, lock, n): (CellHandle<AtomicI64>, CellHandle<Lock>, u32)) {
    let (counter, lock) = (counter.attach().unwrap(), lock.attach().unwrap());
    for _ in 0..n {
        let _g = lock.lock().unwrap();
        // counter.value += 1, as a read then a write, as Python does under the lock
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

#[zeroproc::main]
fn main() {
    let (counter, lock) =
        (SharedCell::new(AtomicI64::new(0)).unwrap(), SharedCell::new(Lock::new()).unwrap());
    let mut ps: Vec<Process> = (0..4)
        .map(|_| Process::spawn(bump, (counter.handle(), lock.handle(), 2500)).unwrap())
        .collect();
    for p in ps.iter_mut() {
        p.join().unwrap();
    }
    println!("counter = {}", counter.load(Ordering::Relaxed));
}
