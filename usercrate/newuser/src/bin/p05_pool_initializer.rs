//! Port of py/p05_pool_initializer.py: `Pool(initializer=init, initargs=(100,))`
//! setting a per-worker global, then `map` and `apply`.
use std::sync::OnceLock;
use zeroproc::Pool;

static OFFSET: OnceLock<u64> = OnceLock::new();

fn init(offset: u64) {
    OFFSET.set(offset).unwrap();
}

fn shift(x: u64) -> u64 {
    x + OFFSET.get().unwrap()
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(2).initializer_with(init, 100u64).build().unwrap();
    let v: Vec<u64> = pool.map(shift, 0..10).map(Result::unwrap).collect();
    println!("{v:?}");
    println!("{}", pool.submit(shift, 5).result().unwrap()); // pool.apply(shift, (5,))
}
