//! In-process peer: crossbeam-channel between two threads (the thread baseline).

use hdrhistogram::Histogram;
use std::time::Instant;

/// One round: `samples` round trips through two `bounded(1)` channels.
pub fn round_crossbeam(samples: usize, h: &mut Histogram<u64>) -> Result<(), String> {
    crate::affinity::pin_to(0);
    let (tx, rx_peer) = crossbeam_channel::bounded::<u64>(1);
    let (tx_peer, rx) = crossbeam_channel::bounded::<u64>(1);
    let t = std::thread::spawn(move || {
        crate::affinity::pin_to(1);
        while let Ok(v) = rx_peer.recv() {
            if tx_peer.send(v).is_err() {
                break;
            }
        }
    });
    let warm = samples / 10;
    for i in 0..(samples + warm) as u64 {
        let t0 = Instant::now();
        tx.send(i).map_err(|e| e.to_string())?;
        let v = rx.recv().map_err(|e| e.to_string())?;
        let ns = t0.elapsed().as_nanos() as u64;
        if v != i {
            return Err("crossbeam echo out of order".into());
        }
        if i as usize >= warm {
            h.record(ns.max(1)).ok();
        }
    }
    drop(tx);
    t.join().map_err(|_| "echo thread panicked".to_string())?;
    Ok(())
}

/// W2's thread peer: x → 2x over `items` items on 2 worker threads, one channel message
/// per item each way (unbatched, like one job per item), at most `window` items in
/// flight. Results are summed and checked. Returns items per second.
pub fn w2_crossbeam(items: u64, window: usize) -> Result<f64, String> {
    let window = window.max(1) as u64;
    let (job_tx, job_rx) = crossbeam_channel::bounded::<u64>(window as usize);
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<u64>();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (rx, tx) = (job_rx.clone(), res_tx.clone());
            std::thread::spawn(move || {
                while let Ok(x) = rx.recv() {
                    if tx.send(2 * x).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop((job_rx, res_tx));
    let expect: u64 = (0..items).map(|x| 2 * x).sum();
    let t = Instant::now();
    let (mut sent, mut got, mut sum) = (0u64, 0u64, 0u64);
    while got < items {
        if sent < items && sent - got < window {
            job_tx.send(sent).map_err(|e| e.to_string())?;
            sent += 1;
        } else {
            sum += res_rx.recv().map_err(|e| e.to_string())?;
            got += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    drop(job_tx);
    for w in workers {
        w.join().map_err(|_| "W2 crossbeam worker panicked".to_string())?;
    }
    if sum != expect {
        return Err(format!("W2 crossbeam wrong sum {sum} != {expect}"));
    }
    Ok(items as f64 / secs)
}
