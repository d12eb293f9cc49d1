//! `map` over a slow input (a stream: items arriving one at a time, e.g. from a queue or a
//! socket). Before, a refill read a whole window of items before placing any: the first
//! job waited for later items to arrive (a stream whose next item depends on an earlier
//! job's effect never progressed), and the first result came back only after a window
//! of slow items. Now the first chunk is placed before the next is read, and over a slow
//! input results are handed back before more items are read. Hangs are caught by generous
//! time-outs inside the input iterator, never by timing the map.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use zeroproc_sched::Pool;

zeroproc_sched::test_worker!();

/// A job that leaves a mark (a file) that the input iterator can wait for.
fn mark((dir, x): (String, u64)) -> u64 {
    std::fs::write(Path::new(&dir).join(format!("ran-{x}")), b"").unwrap();
    x * 10
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zp-map-stream-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits up to 20 s for `path`; false if it never appeared.
fn appears(path: &Path) -> bool {
    let t0 = Instant::now();
    while !path.exists() {
        if t0.elapsed() > Duration::from_secs(20) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn a_job_runs_before_later_items_of_a_slow_input_are_read() {
    let dir = scratch("dispatch");
    let d = dir.to_string_lossy().into_owned();
    let pool = Pool::builder().workers(2).build().unwrap();
    let missed = Rc::new(Cell::new(None));
    let m = missed.clone();
    // Item k arrives 2 ms after it is asked for, and only once job k-1 has run.
    let items = (0..6u64).map(|k| {
        std::thread::sleep(Duration::from_millis(2));
        if k > 0 && m.get().is_none() && !appears(&dir.join(format!("ran-{}", k - 1))) {
            m.set(Some(k - 1));
        }
        (d.clone(), k)
    });
    let out: Vec<u64> = pool.map(mark, items).map(Result::unwrap).collect();
    assert_eq!(out, vec![0, 10, 20, 30, 40, 50]);
    assert_eq!(
        missed.get(),
        None,
        "job {:?} had not run when the next item was read",
        missed.get()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn results_of_a_slow_input_come_back_before_more_items_are_read() {
    let dir = scratch("results");
    let d = dir.to_string_lossy().into_owned();
    let pool = Pool::builder().workers(2).build().unwrap();
    let handed = Rc::new(Cell::new(0usize));
    let seen_at_item_2 = Rc::new(Cell::new(None));
    let (h, s) = (handed.clone(), seen_at_item_2.clone());
    // A stream: an item every 100 ms.
    let items = (0..5u64).map(|k| {
        if k == 2 {
            s.set(Some(h.get()));
        }
        std::thread::sleep(Duration::from_millis(100));
        (d.clone(), k)
    });
    let mut out = Vec::new();
    for r in pool.map(mark, items) {
        out.push(r.unwrap());
        handed.set(handed.get() + 1);
    }
    assert_eq!(out, vec![0, 10, 20, 30, 40]);
    // Job 0 ran within the 100 ms item 1 took to arrive: its result is handed back before
    // the map asks for item 2 (before: after a window of 4 items, 400 ms).
    assert!(
        seen_at_item_2.get() >= Some(1),
        "results handed out before item 2: {:?}",
        seen_at_item_2.get()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Item 0 runs until the items behind it have run (or 10 s pass); the others mark.
fn head_waits_for_the_rest((dir, x, rest): (String, u64, u64)) -> bool {
    if x != 0 {
        std::fs::write(Path::new(&dir).join(format!("ran-{x}")), b"").unwrap();
        return true;
    }
    let t0 = Instant::now();
    while (1..=rest).any(|k| !Path::new(&dir).join(format!("ran-{k}")).exists()) {
        if t0.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// An ordered map whose oldest job is slow keeps the other worker busy with the items
/// behind it, as Python's `map` (which submits every item at once) does. Before, the
/// adaptive window (4 jobs on 2 workers) filled with finished jobs behind the slow head
/// and the other worker sat idle until the head finished: here the head waited its whole
/// 10 s for the 12 items behind it and returned false.
#[test]
fn an_ordered_map_feeds_idle_workers_past_a_slow_oldest_job() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch("head");
    let dir = d.to_string_lossy().into_owned();
    let rest = 12u64;
    let out: Vec<bool> = pool
        .map(head_waits_for_the_rest, (0..=rest).map(|x| (dir.clone(), x, rest)))
        .map(Result::unwrap)
        .collect();
    assert!(out[0], "the items behind the slow oldest job did not run while it ran");
    assert!(out.iter().all(|&b| b));
    let _ = std::fs::remove_dir_all(&d);
}

/// The oldest item waits for a gate file (at most 30 s); the others return at once.
fn gated_head((gate, x): (String, u64)) -> u64 {
    if x == 0 {
        let t0 = Instant::now();
        while !Path::new(&gate).exists() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    x
}

/// While the oldest item of an ordered map runs, the other worker goes on through the
/// thousands of items behind it, as with Python's `map` (every item submitted, every
/// result held). Before, an ordered map held at most 1,024 chunks per worker behind a slow
/// head, so the other worker stopped after ~2,000 items; with slow items 2,500 apart
/// among 10,000 tiny ones the map took 4.0 s against CPython's 2.6 s (user26 `mixed`).
/// Here a thread of this process opens the head's gate once 3,000 jobs are done, or
/// after 15 s — and says which.
#[test]
fn an_ordered_map_runs_thousands_of_items_past_a_slow_oldest_one() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch("held");
    let gate = d.join("go");
    let g = gate.to_string_lossy().into_owned();
    let (reached, out) = std::thread::scope(|s| {
        let opener = s.spawn(|| {
            let t0 = Instant::now();
            let mut reached = false;
            while t0.elapsed() < Duration::from_secs(15) {
                if pool.stats().jobs_done() >= 3000 {
                    reached = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::fs::write(&gate, b"").unwrap();
            reached
        });
        let out: Vec<u64> = pool
            .map(gated_head, (0..5000u64).map(|x| (g.clone(), x)))
            .map(Result::unwrap)
            .collect();
        (opener.join().unwrap(), out)
    });
    assert_eq!(out, (0..5000u64).collect::<Vec<_>>());
    assert!(reached, "fewer than 3,000 items behind the running oldest one ran in 15 s");
    let _ = std::fs::remove_dir_all(&d);
}

/// Items 7, 607, 1207, ... wait for a gate file (at most 30 s); the others return at once.
fn gated_every_600((gate, x): (String, u64)) -> u64 {
    if x % 600 == 7 {
        let t0 = Instant::now();
        while !Path::new(&gate).exists() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    x
}

/// `map(..).timeout(d)` strikes while the map waits for room to place the items behind
/// a slow head. Before, an ordered map feeding the idle worker past its slow oldest item
/// placed a batch larger than the room its workers had (256 jobs each) and waited for
/// room without its deadline; with that worker then on a slow item too, room came back
/// only when one finished (slow items 600 apart, 3 s each, a 500 ms time-out: the
/// `Timeout` came after 24 s; user26 `map_timeout_overshoot`. Python's `map` raises
/// `TimeoutError` at its deadline). Here the slow items wait for a gate that is opened
/// only once the map has ended, or after 10 s.
#[test]
fn a_map_time_out_strikes_while_it_waits_for_room_behind_slow_items() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let d = scratch("timeout");
    let gate = d.join("go");
    let g = gate.to_string_lossy().into_owned();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            let _ = rx.recv_timeout(Duration::from_secs(10));
            std::fs::write(&gate, b"").unwrap();
        })
    };
    let got: Vec<_> = pool
        .map(gated_every_600, (0..10_000u64).map(|x| (g.clone(), x)))
        // Items 0..7 are tiny and must all be back by then: 300 ms was tight for 7 jobs
        // on a loaded 2-CPU host; 3 s is still far below the 10 s the gate stays shut.
        .timeout(Duration::from_secs(3))
        .collect();
    let head_was_running = !gate.exists();
    let _ = tx.send(()); // the opener may have given up waiting
    opener.join().unwrap();
    assert!(head_was_running, "the time-out came only after the gate opened (10 s)");
    let want: Vec<_> = (0..7).map(Ok).chain([Err(zeroproc_sched::JobError::Timeout)]).collect();
    assert_eq!(got, want);
    drop(pool);
    let _ = std::fs::remove_dir_all(&d);
}

/// A stream whose first items are already there and whose next one takes long (a channel
/// with two items queued, then a pause: `rx.iter()`): every item read is placed (staged in
/// a ring, published by the supervisor's next tick) before the map reads on. Before, the
/// batch of 2 read item 1 at once and then waited in the read of item 2 with item 1
/// unplaced — workers idle, and a stream whose next item depends on that job's effect hung
/// (found by the hostile round: a job held back while the input blocked). An input that
/// says it has more (a range, a `Vec`: `size_hint`) is still read in batches.
#[test]
fn an_item_read_is_placed_before_a_read_that_blocks() {
    let dir = scratch("blocking");
    let d = dir.to_string_lossy().into_owned();
    let pool = Pool::builder().workers(2).build().unwrap();
    let missed = Rc::new(Cell::new(None));
    let m = missed.clone();
    let mut k = 0u64;
    // Items 0 and 1 come at once; item 2 comes once job 1 has run (or after 5 s).
    let items = std::iter::from_fn(move || {
        if k == 2 {
            let ran = dir.join("ran-1");
            let t0 = Instant::now();
            while !ran.exists() && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !ran.exists() {
                m.set(Some(t0.elapsed()));
            }
        }
        k += 1;
        (k <= 3).then(|| (d.clone(), k - 1))
    });
    let out: Vec<u64> = pool.map(mark, items).map(Result::unwrap).collect();
    assert_eq!(out, vec![0, 10, 20]);
    assert_eq!(missed.get(), None, "job 1 had not run while the map waited for item 2");
    let _ = std::fs::remove_dir_all(scratch("blocking"));
}

/// Fails for the last item only (a panic: the chunk holding it fails as a whole).
fn fails_at_six(x: u64) -> u64 {
    assert!(x != 6, "six");
    x
}

/// An input whose `size_hint` promises more items than it has (100 promised, 7 given).
struct Overpromising(std::ops::Range<u64>);

impl Iterator for Overpromising {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (100, None)
    }
}

/// A chunked map over an input whose `size_hint` promises more than it gives: the short
/// last chunk is read in the same batch as a full one before either is placed. The map
/// must still know which chunk is short, so a failed chunk yields one error per item it
/// held. On 884d25f the short chunk was recorded under the sequence number of the first
/// chunk of its batch (`read_chunk` ran before `next_seq` advanced): the failed last
/// chunk (1 item) yielded 3 errors, 9 outputs for 7 inputs. Repeated so that one run has
/// a batch of 2 (the batches stay at 1 if the first refill took over 1 ms).
#[test]
fn a_short_last_chunk_read_in_a_batch_yields_one_output_per_item() {
    let pool = Pool::builder().workers(2).build().unwrap();
    for _ in 0..10 {
        let out: Vec<_> = pool.map(fails_at_six, Overpromising(0..7)).chunk_size(3).collect();
        let oks: Vec<u64> = out.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(out.len(), 7, "one output per input: {out:?}");
        assert_eq!(oks, vec![0, 1, 2, 3, 4, 5]);
        assert!(out[6].is_err());
    }
}
