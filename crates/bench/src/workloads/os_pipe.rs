//! A Linux pipe round trip between two processes (8-byte messages, blocking reads).

use crate::peer;
use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Peer side: read 8 bytes from stdin, write them back to stdout, until EOF.
pub fn peer(_arg: &str) -> Result<(), String> {
    let mut i = std::io::stdin().lock();
    let mut o = std::io::stdout().lock();
    let mut b = [0u8; 8];
    while i.read_exact(&mut b).is_ok() {
        o.write_all(&b).map_err(|e| e.to_string())?;
        o.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One round: `samples` 8-byte round trips through two pipes.
pub fn round(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    crate::affinity::pin_to(0);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = Command::new(exe);
    let (k, v) = crate::affinity::child_env();
    c.env("ZEROPROC_BENCH_PEER", "pipe|").env(k, v).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let mut tx = child.stdin.take().ok_or("no stdin")?;
    let mut rx = child.stdout.take().ok_or("no stdout")?;
    let warm = samples / 10;
    let mut b = [0u8; 8];
    for i in 0..(samples + warm) as u64 {
        let t = Instant::now();
        tx.write_all(&i.to_le_bytes()).map_err(|e| e.to_string())?;
        rx.read_exact(&mut b).map_err(|e| e.to_string())?;
        let ns = t.elapsed().as_nanos() as u64;
        if u64::from_le_bytes(b) != i {
            return Err("pipe echo out of order".into());
        }
        if i as usize >= warm {
            h.record(ns.max(1)).ok();
        }
    }
    drop(tx);
    peer::finish(child)
}
