//! Port of py/p14_map_zip.py: `executor.map(f, xs, ys)` over several iterables, zipped.
use zeroproc::Pool;

fn power((base, exp): (u64, u32)) -> u64 {
    base.pow(exp)
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let v: Vec<u64> =
        pool.map(power, [2, 3, 4, 5].into_iter().zip([10, 3, 2])).map(Result::unwrap).collect();
    println!("{v:?}");
    // pow(base, exp, mod), three iterables
    let three = [2u64, 3].into_iter().zip([5u32, 2]).zip([7u64, 7]);
    let v: Vec<u64> = pool
        .map(|((b, e), m): ((u64, u32), u64)| b.pow(e) % m, three)
        .map(Result::unwrap)
        .collect();
    println!("{v:?}");
}
