//! Port of py/p09_event_start.py: workers wait on an `Event`, the parent sets it.
use std::time::Duration;
use zeroproc::sync::Event;
use zeroproc::{CellHandle, Process, Queue, QueueHandle, SharedCell};

fn worker((i, start, out): (u64, CellHandle<Event>, QueueHandle<u64>)) {
    start.attach().unwrap().wait();
    out.attach().unwrap().put(i).unwrap();
}

#[zeroproc::main]
fn main() {
    let (start, out) = (SharedCell::new(Event::new()).unwrap(), Queue::<u64>::new(8).unwrap());
    let mut ps: Vec<Process> = (0..3)
        .map(|i| Process::spawn(worker, (i, start.handle(), out.handle())).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    println!("before set: queue empty = {}", if out.is_empty() { "True" } else { "False" });
    start.set();
    let mut got: Vec<u64> = ps.iter().map(|_| out.get().unwrap()).collect();
    got.sort();
    for p in ps.iter_mut() {
        p.join().unwrap();
    }
    println!("after set: {got:?}");
}
