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
