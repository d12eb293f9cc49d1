//! Queue producers and consumers of large (spilled) values SIGKILLed at arbitrary points,
//! round after round, on a small spill heap: no torn or duplicated value, no consumer
//! error, and the heap still holds as many large values afterwards as the queue has slots
//! (the blocks of the killed processes come back: `crates/mp/src/channel/holds.rs`).
//!
//! Prints one `RELIABILITY ...` line (`--nocapture`). `ZEROPROC_SPILL_KILL_ROUNDS` makes
//! the run longer (CI: 40 rounds of 4 kills).

use std::collections::HashSet;
use std::time::{Duration, Instant};
use zeroproc::queue::GetError;
use zeroproc::{Process, Queue, QueueHandle};

zeroproc::test_worker!();

/// u64s per value: 320 KB, spilled (one block class of a 2 MiB heap).
const WORDS: usize = 40_000;

fn value(id: u64) -> Vec<u64> {
    (0..WORDS as u64).map(|j| if j == 0 { id } else { id ^ j.wrapping_mul(0x9e37_79b9) }).collect()
}

fn produce((q, base): (QueueHandle<Vec<u64>>, u64)) {
    let q = q.attach().unwrap();
    for i in 0.. {
        if q.put(value(base + i)).is_err() {
            return;
        }
    }
}

/// Reports `(id, intact)` for every value taken, `(u64::MAX, 0)` for an error.
fn consume((q, out): (QueueHandle<Vec<u64>>, QueueHandle<(u64, bool)>)) {
    let (q, out) = (q.attach().unwrap(), out.attach().unwrap());
    loop {
        match q.get_ref() {
            Ok(r) => {
                let id = r[0].to_native();
                let intact = r.len() == WORDS
                    && r.iter()
                        .enumerate()
                        .skip(1)
                        .all(|(j, x)| x.to_native() == id ^ (j as u64).wrapping_mul(0x9e37_79b9));
                let _ = out.put((id, intact));
            }
            Err(GetError::Closed) => return,
            Err(e) => {
                eprintln!("consumer: {e}");
                let _ = out.put((u64::MAX, false));
                return;
            }
        }
    }
}

#[test]
fn killed_producers_and_consumers_of_spilled_values_leak_nothing() {
    let rounds: u64 =
        std::env::var("ZEROPROC_SPILL_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let q = Queue::<Vec<u64>>::builder(4).max_heap_size(2 << 20).build().unwrap();
    let out = Queue::<(u64, bool)>::new(4096).unwrap();
    let (mut seen, mut torn, mut dup, mut errors, mut kills) = (HashSet::new(), 0, 0, 0, 0);
    let t = Instant::now();
    for round in 0..rounds {
        let mut kids: Vec<Process> = (0..2)
            .map(|i| Process::spawn(produce, (q.handle(), (round * 2 + i) << 32)).unwrap())
            .chain((0..2).map(|_| Process::spawn(consume, (q.handle(), out.handle())).unwrap()))
            .collect();
        // A different point of their work each round (never asserted on).
        std::thread::sleep(Duration::from_millis(10 + round % 23));
        for k in &kids {
            k.kill();
            kills += 1;
        }
        for k in &mut kids {
            k.join().unwrap();
        }
        while let Ok((id, intact)) = out.try_get() {
            if id == u64::MAX {
                errors += 1;
            } else {
                torn += u64::from(!intact);
                dup += u64::from(!seen.insert(id));
            }
        }
    }
    while let Ok(v) = q.try_get() {
        dup += u64::from(!seen.insert(v[0]));
    }
    // As many large values as the queue has slots: the heap got every block back (a fresh
    // 2 MiB heap holds 5 of them; one block of slack for a kill in the few instructions
    // where a block is not in the holds table).
    let fit =
        (0..4).take_while(|i| q.put_timeout(value(*i), Duration::from_secs(5)).is_ok()).count();
    println!(
        "RELIABILITY spill_kills rounds={rounds} kills={kills} values={} torn={torn} \
         duplicated={dup} consumer_errors={errors} large_values_fitting_after={fit}/4 secs={:.1}",
        seen.len(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!((torn, dup, errors), (0, 0, 0));
    assert_eq!(fit, 4, "the killed processes' heap blocks leaked");
}
