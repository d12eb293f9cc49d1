//! Port of py/p04_queue_sentinel.py: Process + Queue, `None` as the sentinel.
use zeroproc::{Process, Queue, QueueHandle};

fn producer((q, n, consumers): (QueueHandle<Option<u64>>, u64, u32)) {
    let q = q.attach().unwrap();
    for i in 0..n {
        q.put(Some(i)).unwrap();
    }
    for _ in 0..consumers {
        q.put(None).unwrap();
    }
}

fn consumer((q, out): (QueueHandle<Option<u64>>, QueueHandle<u64>)) {
    let (q, out) = (q.attach().unwrap(), out.attach().unwrap());
    let mut total = 0;
    while let Some(item) = q.get().unwrap() {
        total += item * item;
    }
    out.put(total).unwrap();
}

#[zeroproc::main]
fn main() {
    let (q, out) = (Queue::<Option<u64>>::new(64).unwrap(), Queue::<u64>::new(8).unwrap());
    let mut cs: Vec<Process> =
        (0..2).map(|_| Process::new(consumer, (q.handle(), out.handle()))).collect();
    let mut p = Process::new(producer, (q.handle(), 1000, cs.len() as u32));
    for c in cs.iter_mut() {
        c.start().unwrap();
    }
    p.start().unwrap();
    let totals: Vec<u64> = cs.iter().map(|_| out.get().unwrap()).collect();
    p.join().unwrap();
    for c in cs.iter_mut() {
        c.join().unwrap();
    }
    println!("sum of squares: {}", totals.iter().sum::<u64>());
    let code = |p: &Process| p.exit_code().unwrap().python_code();
    println!("exit codes: {} {:?}", code(&p), cs.iter().map(code).collect::<Vec<_>>());
}
