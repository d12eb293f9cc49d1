//! Python's `multiprocessing.Semaphore`: six processes want the "disk"; a semaphore of 2
//! lets at most two in at once. Each records the concurrency it saw.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use zeroproc::sync::Semaphore;
use zeroproc::{CellHandle, Process, SharedCell};

type Shared = (CellHandle<Semaphore>, CellHandle<AtomicU32>, CellHandle<AtomicU32>);

fn use_disk((sem, inside, peak): Shared) {
    let (sem, inside, peak) =
        (sem.attach().unwrap(), inside.attach().unwrap(), peak.attach().unwrap());
    let name = Process::current_name().unwrap_or_default();
    sem.acquire();
    let now = inside.fetch_add(1, Ordering::AcqRel) + 1;
    peak.fetch_max(now, Ordering::AcqRel);
    println!("  {name}: writing to disk ({now} inside)");
    std::thread::sleep(Duration::from_millis(100));
    inside.fetch_sub(1, Ordering::AcqRel);
    sem.release(1);
}

#[zeroproc::main]
fn main() {
    let sem = SharedCell::new(Semaphore::new(2)).unwrap();
    let inside = SharedCell::new(AtomicU32::new(0)).unwrap();
    let peak = SharedCell::new(AtomicU32::new(0)).unwrap();
    let mut ps: Vec<Process> = (1..=6)
        .map(|i| {
            let mut p = Process::new(use_disk, (sem.handle(), inside.handle(), peak.handle()))
                .name(format!("writer-{i}"));
            p.start().unwrap();
            p
        })
        .collect();
    for p in ps.iter_mut() {
        p.join().unwrap();
    }
    println!(
        "6 processes, Semaphore(2): at most {} were inside at once",
        peak.load(Ordering::Acquire)
    );
    assert!(peak.load(Ordering::Acquire) <= 2);
}
