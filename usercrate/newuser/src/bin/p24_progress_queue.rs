//! Port of py/p24_progress_queue.py: pool jobs report progress on a queue the parent
//! drains while they run (Python's `Manager().Queue()`, as a plain `Queue` here).
use std::collections::BTreeMap;
use zeroproc::{wait, Pool, Queue, QueueHandle, ReturnWhen};

fn job((q, k): (QueueHandle<(u64, u64)>, u64)) -> u64 {
    let q = q.attach().unwrap();
    for step in 0..3 {
        q.put((k, step)).unwrap();
    }
    k * 100
}

#[zeroproc::main]
fn main() {
    let q = Queue::<(u64, u64)>::new(64).unwrap();
    let pool = Pool::builder().workers(2).build().unwrap();
    let fs: Vec<_> = (0..4).map(|k| pool.submit(job, (q.handle(), k))).collect();
    let events: Vec<(u64, u64)> = (0..12).map(|_| q.get().unwrap()).collect();
    let (done, _) = wait(fs, ReturnWhen::AllCompleted, None);
    let mut per: BTreeMap<u64, usize> = BTreeMap::new();
    events.iter().for_each(|e| *per.entry(e.0).or_default() += 1);
    println!("events: {} per job: {:?}", events.len(), per.into_iter().collect::<Vec<_>>());
    println!("results: {:?}", done.into_iter().map(|f| f.result().unwrap()).collect::<Vec<_>>());
}
