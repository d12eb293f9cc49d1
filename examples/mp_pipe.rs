//! Python's `multiprocessing.Pipe`: a duplex pipe between the parent and a child process —
//! the parent sends requests, the child answers on the same connection — plus raw bytes.

use std::time::Duration;
use zeroproc::{pipe, ConnectionHandle};
use zeroproc::{Exit, Process};

fn child(c: ConnectionHandle<String>) {
    let mut c = c.attach().unwrap();
    while let Ok(msg) = c.recv() {
        if msg == "bye" {
            break;
        }
        c.send(format!("child {} got {msg:?}", std::process::id())).unwrap();
    }
}

#[zeroproc::main]
fn main() {
    let (mut parent, child_end) = pipe::<String>().unwrap();
    let mut p = Process::spawn(child, child_end.handle()).unwrap();
    for w in ["hello", "world"] {
        parent.send(w.to_string()).unwrap();
        println!("parent <- {}", parent.recv().unwrap());
    }
    println!("poll(10 ms) with nothing sent: {}", parent.poll(Duration::from_millis(10)));
    parent.send("bye".into()).unwrap();
    assert_eq!(p.join().unwrap(), Exit::Code(0));
    drop(child_end);
    println!(
        "child exited; recv() now: {:?}",
        parent.recv_timeout(Duration::from_millis(200)).err()
    );
}
