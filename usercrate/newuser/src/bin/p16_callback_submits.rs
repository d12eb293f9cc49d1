//! Port of py/p16_callback_submits.py: a done-callback that submits the next job.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroproc::{JobFuture, Pool};

fn step(n: u64) -> u64 {
    n * 2
}

type Seen = Arc<Mutex<Vec<u64>>>;

fn on_done(pool: Arc<Pool>, f: &JobFuture<u64>, seen: Seen, finished: mpsc::Sender<()>) {
    f.add_done_callback(move |r| {
        let v = *r.as_ref().unwrap();
        seen.lock().unwrap().push(v);
        if v < 1000 {
            let next = pool.submit(step, v);
            on_done(pool.clone(), &next, seen, finished);
        } else {
            finished.send(()).unwrap();
        }
    });
}

#[zeroproc::main]
fn main() {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let seen: Seen = Arc::default();
    let (tx, rx) = mpsc::channel();
    let first = pool.submit(step, 1);
    on_done(pool.clone(), &first, seen.clone(), tx);
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(pool); // ex.shutdown()
    println!("{:?}", seen.lock().unwrap());
}
