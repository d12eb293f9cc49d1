//! Python's `multiprocessing.JoinableQueue`: worker processes call `task_done` for every
//! item; the parent's `join` returns once all 20 tasks are done.

use std::time::Instant;
use zeroproc::{JoinableQueue, JoinableQueueHandle, Process};

fn worker(q: JoinableQueueHandle<u64>) {
    let q = q.attach().unwrap();
    while let Ok(ms) = q.get() {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        q.task_done().unwrap();
    }
}

#[zeroproc::main]
fn main() {
    let q = JoinableQueue::<u64>::new(32).unwrap();
    let workers: Vec<Process> =
        (0..3).map(|_| Process::new(worker, q.handle()).daemon(true)).collect();
    let mut workers = workers;
    for w in workers.iter_mut() {
        w.start().unwrap();
    }
    let t = Instant::now();
    for _ in 0..20 {
        q.put(30).unwrap();
    }
    println!("parent: 20 tasks of 30 ms queued for 3 workers; join() ...");
    q.join();
    println!(
        "parent: join() returned after {:?}, unfinished tasks: {}",
        t.elapsed(),
        q.unfinished_tasks()
    );
    assert_eq!(q.unfinished_tasks(), 0);
    q.close();
    for w in workers.iter_mut() {
        w.join().unwrap();
    }
}
