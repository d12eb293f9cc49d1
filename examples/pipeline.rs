//! A pipeline over queues, as in the chapter: a producer process → two worker processes
//! (square each number) → a consumer process that sums; the parent checks the total.

use zeroproc::{Exit, Process};
use zeroproc::{Queue, QueueHandle};

const N: u64 = 1000;
const STOP: u64 = u64::MAX;

fn producer((out, workers): (QueueHandle<u64>, u32)) {
    let out = out.attach().unwrap();
    for i in 1..=N {
        out.put(i).unwrap();
    }
    for _ in 0..workers {
        out.put(STOP).unwrap();
    }
}

fn worker((inp, out): (QueueHandle<u64>, QueueHandle<u64>)) {
    let (inp, out) = (inp.attach().unwrap(), out.attach().unwrap());
    while let Ok(v) = inp.get() {
        if v == STOP {
            break;
        }
        out.put(v * v).unwrap();
    }
    out.put(STOP).unwrap();
}

fn consumer((inp, result, workers): (QueueHandle<u64>, QueueHandle<u64>, u32)) {
    let (inp, result) = (inp.attach().unwrap(), result.attach().unwrap());
    let (mut sum, mut stops) = (0u64, 0);
    while stops < workers {
        match inp.get().unwrap() {
            STOP => stops += 1,
            v => sum += v,
        }
    }
    result.put(sum).unwrap();
}

#[zeroproc::main]
fn main() {
    let numbers = Queue::<u64>::new(128).unwrap();
    let squares = Queue::<u64>::new(128).unwrap();
    let result = Queue::<u64>::new(1).unwrap();
    let mut ps = vec![Process::spawn(producer, (numbers.handle(), 2)).unwrap()];
    for _ in 0..2 {
        ps.push(Process::spawn(worker, (numbers.handle(), squares.handle())).unwrap());
    }
    ps.push(Process::spawn(consumer, (squares.handle(), result.handle(), 2)).unwrap());
    let sum = result.get().unwrap();
    for p in ps.iter_mut() {
        assert_eq!(p.join().unwrap(), Exit::Code(0));
    }
    let want: u64 = (1..=N).map(|i| i * i).sum();
    println!("producer → 2 workers → consumer: sum of squares 1..={N} = {sum} (expected {want})");
    assert_eq!(sum, want);
}
