//! Port of py/p23_pipe_between_children.py: a pipe between two children; the parent
//! drops its copies (Python's `a.close(); b.close()`).
use zeroproc::{pipe, ConnectionHandle, Process, Queue, QueueHandle};

fn produce(conn: ConnectionHandle<u64>) {
    let mut conn = conn.attach().unwrap();
    for i in 0..100 {
        conn.send(i).unwrap();
    }
}

fn consume((conn, out): (ConnectionHandle<u64>, QueueHandle<(u64, u64)>)) {
    let mut conn = conn.attach().unwrap();
    let (mut n, mut s) = (0, 0);
    while let Ok(v) = conn.recv() {
        (n, s) = (n + 1, s + v);
    }
    out.attach().unwrap().put((n, s)).unwrap();
}

#[zeroproc::main]
fn main() {
    let (a, b) = pipe::<u64>().unwrap();
    let out = Queue::<(u64, u64)>::new(4).unwrap();
    let mut c = Process::new(consume, (b.handle(), out.handle()));
    let mut p = Process::new(produce, a.handle());
    c.start().unwrap();
    p.start().unwrap();
    drop((a, b));
    println!("consumer got (count, sum): {:?}", out.get().unwrap());
    p.join().unwrap();
    c.join().unwrap();
}
