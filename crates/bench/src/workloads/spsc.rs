//! zeroproc SPSC ring workloads: a two-process ping-pong over two rings (round-trip
//! latency) and a one-way stream into a sink process (throughput).

use crate::peer;
use crate::report::Row;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use zeroproc_ring::spsc::{Consumer, Descriptor, Producer, RecvError, Ring, TryRecvError};
use zeroproc_shm::wait::WaitStrategy;

const RING_BYTES: usize = 1 << 16;
/// Record kind that tells a peer to stop.
const STOP: u32 = 1;

fn strategy(name: &str) -> Result<WaitStrategy, String> {
    match name {
        "spin" => Ok(WaitStrategy::Spin),
        "sleep" => Ok(WaitStrategy::Sleep),
        "default" => Ok(WaitStrategy::default()),
        _ => Err(format!("unknown strategy {name:?}")),
    }
}

fn attach(text: &str) -> Result<Ring, String> {
    let d: Descriptor = text.parse().map_err(|e| format!("{e}"))?;
    Ring::open(&d).map_err(|e| e.to_string())
}

fn send_kind(p: &mut Producer, payload: &[u8], kind: u32) -> Result<(), String> {
    let mut r = p.reserve(payload.len()).map_err(|e| e.to_string())?;
    r.copy_from_slice(payload);
    r.set_kind(kind);
    r.commit();
    Ok(())
}

/// Peer: `ping@..|pong@..|strategy` — receive on ping, send the same bytes on pong.
pub fn echo_peer(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (ping, pong, strat) = (it.next(), it.next(), it.next());
    let (Some(ping), Some(pong), Some(strat)) = (ping, pong, strat) else {
        return Err(format!("bad echo arg {arg:?}"));
    };
    let s = strategy(strat)?;
    let ping = attach(ping)?;
    let pong = attach(pong)?;
    let mut rx = ping.consumer().map_err(|e| e.to_string())?.with_wait_strategy(s);
    let mut tx = pong.producer().map_err(|e| e.to_string())?.with_wait_strategy(s);
    let mut buf = [0u8; 64];
    loop {
        let (n, kind) = match rx.recv() {
            Ok(rec) => {
                let n = rec.len().min(buf.len());
                buf[..n].copy_from_slice(&rec[..n]);
                (n, rec.kind())
            }
            Err(RecvError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if kind == STOP {
            return Ok(());
        }
        send_kind(&mut tx, &buf[..n], 0)?;
    }
}

/// A running two-process ping-pong over two SPSC rings: this process sends 8-byte records
/// on one ring, an echo peer (this executable, re-executed, pinned to the second core)
/// sends them back on the other. For harnesses that time single round trips (criterion).
pub struct Echo {
    tx: Producer,
    rx: Consumer,
    child: Option<std::process::Child>,
    // The rings' segments stay mapped while the endpoints live.
    _rings: (Ring, Ring),
}

impl Echo {
    /// Creates the rings and starts the peer; `strat` is "spin", "default" or "sleep"
    /// and applies to both sides. The calling thread is not pinned.
    pub fn start(strat: &str) -> Result<Echo, String> {
        let s = strategy(strat)?;
        let ping = Ring::new(RING_BYTES).map_err(|e| e.to_string())?;
        let pong = Ring::new(RING_BYTES).map_err(|e| e.to_string())?;
        let arg = format!(
            "{}|{}|{strat}",
            ping.descriptor().ok_or("no descriptor")?,
            pong.descriptor().ok_or("no descriptor")?
        );
        let tx = ping.producer().map_err(|e| e.to_string())?.with_wait_strategy(s);
        let rx = pong.consumer().map_err(|e| e.to_string())?.with_wait_strategy(s);
        let child = peer::spawn("spsc-echo", &arg).map_err(|e| e.to_string())?;
        Ok(Echo { tx, rx, child: Some(child), _rings: (ping, pong) })
    }

    /// One round trip of `i` (checked).
    #[inline]
    pub fn round_trip(&mut self, i: u64) -> Result<(), String> {
        self.tx.send(&i.to_le_bytes()).map_err(|e| e.to_string())?;
        let rec = self.rx.recv().map_err(|e| e.to_string())?;
        let got = u64::from_le_bytes(rec[..8].try_into().map_err(|_| "short echo")?);
        drop(rec);
        if got != i {
            return Err(format!("echo out of order: sent {i}, got {got}"));
        }
        Ok(())
    }

    /// Stops the peer and waits for it.
    pub fn stop(mut self) -> Result<(), String> {
        send_kind(&mut self.tx, &[], STOP)?;
        match self.child.take() {
            Some(c) => peer::finish(c),
            None => Ok(()),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = send_kind(&mut self.tx, &[], STOP);
            let _ = c.wait();
        }
    }
}

fn round(samples: usize, h: &mut Histogram<u64>, strat: &str) -> Result<(), String> {
    crate::affinity::pin_to(0);
    let mut echo = Echo::start(strat)?;
    let warm = samples / 10;
    for i in 0..(samples + warm) as u64 {
        let t = Instant::now();
        echo.round_trip(i)?;
        let ns = t.elapsed().as_nanos() as u64;
        if i as usize >= warm {
            h.record(ns.max(1)).ok();
        }
    }
    echo.stop()
}

/// Round trips with both sides busy-polling.
pub fn round_spin(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    round(samples, h, "spin")
}

/// Round trips with the default strategy (spin 50 µs, then sleep).
pub fn round_default(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    round(samples, h, "default")
}

/// Round trips with both sides sleeping on the futex whenever the ring is empty.
pub fn round_sleep(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    round(samples, h, "sleep")
}

/// Peer: `data@..|ack@..` — consume everything, verifying each record's sequence number;
/// on the STOP record, send back the count.
pub fn sink_peer(arg: &str) -> Result<(), String> {
    let (data, ack) = arg.split_once('|').ok_or("bad sink arg")?;
    let data = attach(data)?;
    let ack = attach(ack)?;
    let mut rx: Consumer = data.consumer().map_err(|e| e.to_string())?;
    let mut tx = ack.producer().map_err(|e| e.to_string())?;
    let mut count: u64 = 0;
    let mut bad: u64 = 0;
    let mut stop = false;
    while !stop {
        // Busy-poll: drain whatever is there and release it with one index store.
        match rx.drain(usize::MAX, |rec| {
            if rec.kind() == STOP {
                stop = true;
                return;
            }
            let seq = rec.data().get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
            if seq != Some(count) {
                bad += 1;
            }
            count += 1;
        }) {
            Ok(_) => {}
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
            Err(e) => return Err(e.to_string()),
        }
    }
    if bad != 0 {
        return Err(format!("{bad} records out of sequence"));
    }
    send_kind(&mut tx, &count.to_le_bytes(), 0)
}

/// Streams `n` records of `size` bytes (size ≥ 8) into a sink process; `batch` records are
/// staged before each publish (1 = publish every record). Returns (records/s, bytes/s).
pub fn throughput(n: u64, size: usize, batch: usize) -> Result<(f64, f64), String> {
    crate::affinity::pin_to(0);
    let data = Ring::new(1 << 20).map_err(|e| e.to_string())?;
    let ack = Ring::new(4096).map_err(|e| e.to_string())?;
    let arg = format!(
        "{}|{}",
        data.descriptor().ok_or("no descriptor")?,
        ack.descriptor().ok_or("no descriptor")?
    );
    let mut tx = data.producer().map_err(|e| e.to_string())?.with_wait_strategy(WaitStrategy::Spin);
    let mut rx = ack.consumer().map_err(|e| e.to_string())?;
    let child = peer::spawn("spsc-sink", &arg).map_err(|e| e.to_string())?;
    let size = size.max(8);
    let t = Instant::now();
    for i in 0..n {
        let mut r = tx.reserve(size).map_err(|e| e.to_string())?;
        r[..8].copy_from_slice(&i.to_le_bytes());
        if batch <= 1 || (i + 1) % batch as u64 == 0 {
            r.commit();
        } else {
            r.stage();
        }
    }
    tx.publish();
    send_kind(&mut tx, &[], STOP)?;
    let rec = rx.recv_timeout(Duration::from_secs(120)).map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    let got = u64::from_le_bytes(rec[..8].try_into().map_err(|_| "short ack")?);
    drop(rec);
    peer::finish(child)?;
    if got != n {
        return Err(format!("sink counted {got} of {n} records"));
    }
    Ok((n as f64 / secs, (n as f64 * size as f64) / secs))
}

/// The one-way throughput rows: 8-byte and 256-byte records, per-record and batched
/// publish. Each configuration is run `reps` times interleaved; the median is reported.
pub fn throughput_rows(quick: bool) -> Result<Vec<Row>, String> {
    let (n, reps) = if quick { (2_000_000, 3) } else { (10_000_000, 5) };
    let configs = [(8, 1), (8, 64), (256, 1), (256, 64)];
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); configs.len()];
    for _ in 0..reps {
        for (i, &(size, batch)) in configs.iter().enumerate() {
            results[i].push(throughput(n, size, batch)?);
        }
    }
    Ok(configs
        .iter()
        .zip(results.iter_mut())
        .map(|(&(size, batch), r)| {
            r.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (per_s, bytes_per_s) = r[r.len() / 2];
            let mode = if batch == 1 {
                "publish per record".to_string()
            } else {
                format!("publish per {batch} records")
            };
            Row::Throughput {
                name: format!("zeroproc SPSC ring, {size} B records"),
                mode: format!("{mode}, busy-poll, median of {}", r.len()),
                per_s,
                bytes_per_s,
            }
        })
        .collect())
}
