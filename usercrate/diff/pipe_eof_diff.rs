//! Differential pair with pipe_eof_diff.py: a child that ends (or fails) before it touches
//! its pipe end; the parent dropped its copy and waits in `recv` (with a 3 s limit here,
//! so that the difference shows as a line instead of a hang).
use std::time::{Duration, Instant};
use zeroproc::pipe::{pipe, RecvTimeoutError};
use zeroproc::{ConnectionHandle, Process};

fn never_attaches(_conn: ConnectionHandle<u64>) {
    panic!("failed before using the pipe");
}

fn attaches_then_fails(conn: ConnectionHandle<u64>) {
    conn.attach().unwrap().send(1).unwrap();
    panic!("failed after one message");
}

fn main() {
    zeroproc::init();
    // (A `fn` pointer chosen at run time is refused by `Process::spawn`: one call per body.)
    for name in ["fails before attach", "fails after one send"] {
        let (mut a, b) = pipe::<u64>().unwrap();
        let mut c = match name {
            "fails before attach" => Process::spawn(never_attaches, b.handle()),
            _ => Process::spawn(attaches_then_fails, b.handle()),
        }
        .unwrap();
        drop(b);
        let t = Instant::now();
        let mut got = vec![];
        loop {
            match a.recv_timeout(Duration::from_secs(3)) {
                Ok(v) => got.push(v),
                Err(RecvTimeoutError::Disconnected) => {
                    let fast = if t.elapsed() < Duration::from_secs(3) { "True" } else { "False" };
                    println!("{name} : EOFError after {got:?} within 3 s: {fast}");
                    break;
                }
                Err(_) => {
                    println!("{name} : no EOF within 3 s, received {got:?}");
                    break;
                }
            }
        }
        c.join().unwrap();
    }
}
