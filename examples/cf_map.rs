//! Python's `executor.map(fn, it1, it2)`: a function over two argument lists, results in
//! input order (the chapter's `pow` example).

fn power((base, exp): (u64, u32)) -> u64 {
    base.pow(exp)
}

#[zeroproc::main]
fn main() {
    let pool = zeroproc::Pool::new().expect("pool");
    let bases = [2u64, 3, 4, 5];
    let exps = [5u32, 4, 3, 2];
    println!("map(pow, {bases:?}, {exps:?}) on {} worker processes:", pool.workers());
    for (i, r) in pool.map(power, bases.into_iter().zip(exps)).enumerate() {
        println!("  {}^{} = {}", bases[i], exps[i], r.expect("job failed"));
    }
    let big: u64 =
        pool.map(|x: u64| x * 2, 0..100_000u64).chunk_size(1000).map(Result::unwrap).sum();
    println!("sum of 2x over 0..100000 with chunk_size(1000) = {big}");
}
