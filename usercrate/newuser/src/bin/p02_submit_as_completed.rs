//! Port of py/p02_submit_as_completed.py: submit, then `as_completed` with a
//! future → argument map (Python's `{ex.submit(work, ms): ms}` dict).
use std::collections::HashMap;
use std::time::Duration;
use zeroproc::{as_completed, Pool};

fn work(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms * 2
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(4).build().unwrap();
    let mut arg = HashMap::new();
    let futs: Vec<_> = [600u64, 100, 400, 250]
        .into_iter()
        .map(|ms| {
            let f = pool.submit(work, ms);
            arg.insert(f.id(), ms);
            f
        })
        .collect();
    for f in as_completed(futs) {
        let ms = arg[&f.id()];
        println!("job {ms} -> {}", f.result().unwrap());
    }
}
