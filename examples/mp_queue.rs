//! Python's `multiprocessing.Queue`: two producer processes put numbers, two consumer
//! processes get them and put their squares on a result queue; the parent collects them.
//! Every value is delivered exactly once.

use zeroproc::{Exit, Process};
use zeroproc::{Queue, QueueHandle};

fn produce((q, from): (QueueHandle<u64>, u64)) {
    let q = q.attach().unwrap();
    for i in from..from + 50 {
        q.put(i).unwrap();
    }
    println!("  producer {} put {from}..{}", std::process::id(), from + 50);
}

fn consume((q, out): (QueueHandle<u64>, QueueHandle<(u32, u64)>)) {
    let (q, out) = (q.attach().unwrap(), out.attach().unwrap());
    let mut n = 0;
    // u64::MAX is the sentinel (Python's "None means stop").
    while let Ok(v) = q.get() {
        if v == u64::MAX {
            break;
        }
        out.put((std::process::id(), v * v)).unwrap();
        n += 1;
    }
    println!("  consumer {} squared {n} numbers", std::process::id());
}

#[zeroproc::main]
fn main() {
    let q = Queue::<u64>::new(64).unwrap();
    let out = Queue::<(u32, u64)>::new(256).unwrap();
    let mut producers: Vec<Process> =
        [0u64, 1000].iter().map(|&f| Process::spawn(produce, (q.handle(), f)).unwrap()).collect();
    let mut consumers: Vec<Process> =
        (0..2).map(|_| Process::spawn(consume, (q.handle(), out.handle())).unwrap()).collect();
    for p in producers.iter_mut() {
        assert_eq!(p.join().unwrap(), Exit::Code(0));
    }
    for _ in &consumers {
        q.put(u64::MAX).unwrap();
    }
    let mut got: Vec<u64> = (0..100).map(|_| out.get().unwrap().1).collect();
    for c in consumers.iter_mut() {
        assert_eq!(c.join().unwrap(), Exit::Code(0));
    }
    got.sort();
    let mut want: Vec<u64> = (0..50u64).chain(1000..1050).map(|i| i * i).collect();
    want.sort();
    assert_eq!(got, want);
    println!("parent: 100 squares received, each exactly once; queue empty: {}", q.is_empty());
}
