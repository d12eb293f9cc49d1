//! Port of py/p10_joinable_queue.py: daemon workers on a `JoinableQueue`, `task_done`
//! per item, `join` for all, results on a second queue.
use zeroproc::{JoinableQueue, JoinableQueueHandle, Process, Queue, QueueHandle};

fn worker((tasks, results): (JoinableQueueHandle<u64>, QueueHandle<(u64, u64)>)) {
    let (tasks, results) = (tasks.attach().unwrap(), results.attach().unwrap());
    loop {
        let n = tasks.get().unwrap();
        results.put((n, (0..n).sum())).unwrap();
        tasks.task_done().unwrap();
    }
}

#[zeroproc::main]
fn main() {
    let (tasks, results) =
        (JoinableQueue::<u64>::new(64).unwrap(), Queue::<(u64, u64)>::new(64).unwrap());
    // Python: `Process(target=worker, args=(tasks, results), daemon=True).start()` without
    // keeping the object: the same here (the program's exit kills the daemons).
    for _ in 0..3 {
        Process::new(worker, (tasks.handle(), results.handle())).daemon(true).start().unwrap();
    }
    for n in 1..=20 {
        tasks.put(n * 1000).unwrap();
    }
    tasks.join();
    let mut out: Vec<(u64, u64)> = (0..20).map(|_| results.get().unwrap()).collect();
    out.sort();
    println!("{:?} ... {:?}", &out[..3], out[19]);
    println!("results: {}", out.len());
}
