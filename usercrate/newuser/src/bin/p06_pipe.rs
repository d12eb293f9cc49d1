//! Port of py/p06_pipe.py: the child sends records then closes its end; the parent
//! reads until EOF (Python's `EOFError`).
use zeroproc::{pipe, ConnectionHandle, Process};

#[zeroproc::data]
struct Rec {
    id: u64,
    square: u64,
}

fn child(conn: ConnectionHandle<Rec>) {
    let mut conn = conn.attach().unwrap();
    for i in 0..5 {
        conn.send(Rec { id: i, square: i * i }).unwrap();
    }
}

#[zeroproc::main]
fn main() {
    let (mut parent, child_end) = pipe::<Rec>().unwrap();
    let mut p = Process::spawn(child, child_end.handle()).unwrap();
    drop(child_end); // child_end.close()
    let mut got = Vec::new();
    while let Ok(r) = parent.recv() {
        got.push(r);
    }
    p.join().unwrap();
    for r in &got {
        println!("{} {}", r.id, r.square);
    }
    println!("EOF after {} messages", got.len());
}
