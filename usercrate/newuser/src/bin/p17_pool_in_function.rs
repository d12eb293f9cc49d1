//! Port of py/p17_pool_in_function.py: a function building its own pool, called twice.
use zeroproc::Pool;

fn cube(x: u64) -> u64 {
    x.pow(3)
}

fn total_cubes(n: u64) -> u64 {
    let pool = Pool::builder().workers(2).build().unwrap();
    pool.map(cube, 0..n).map(Result::unwrap).sum()
}

#[zeroproc::main]
fn main() {
    println!("{}", total_cubes(10));
    println!("{}", total_cubes(100));
}
