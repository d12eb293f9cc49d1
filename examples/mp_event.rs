//! Python's `multiprocessing.Event`: three worker processes wait for a start signal set by
//! the parent, then each reports in.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zeroproc::sync::Event;
use zeroproc::{CellHandle, Process, SharedCell};

fn worker((start, arrived): (CellHandle<Event>, CellHandle<AtomicU32>)) {
    let (start, arrived) = (start.attach().unwrap(), arrived.attach().unwrap());
    let name = Process::current_name().unwrap_or_default();
    println!("  {name}: waiting for the start event");
    start.wait();
    let n = arrived.fetch_add(1, Ordering::AcqRel) + 1;
    println!("  {name}: started (#{n})");
}

#[zeroproc::main]
fn main() {
    let start = SharedCell::new(Event::new()).unwrap();
    let arrived = SharedCell::new(AtomicU32::new(0)).unwrap();
    let mut ps: Vec<Process> = (1..=3)
        .map(|i| {
            let mut p = Process::new(worker, (start.handle(), arrived.handle()))
                .name(format!("worker-{i}"));
            p.start().unwrap();
            p
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "parent: after 200 ms, {} workers started (event not set)",
        arrived.load(Ordering::Acquire)
    );
    let t = Instant::now();
    start.set();
    for p in ps.iter_mut() {
        p.join().unwrap();
    }
    println!(
        "parent: event set; all {} workers started within {:?}",
        arrived.load(Ordering::Acquire),
        t.elapsed()
    );
    assert_eq!(arrived.load(Ordering::Acquire), 3);
}
