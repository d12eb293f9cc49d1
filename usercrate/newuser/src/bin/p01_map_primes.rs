//! Port of py/p01_map_primes.py: `ProcessPoolExecutor().map(is_prime, PRIMES)`.
use zeroproc::Pool;

const PRIMES: [u64; 6] = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419,
];

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    (3..=n.isqrt()).step_by(2).all(|i| !n.is_multiple_of(i))
}

#[zeroproc::main]
fn main() {
    let pool = Pool::new().unwrap();
    for (n, p) in PRIMES.iter().zip(pool.map(is_prime, PRIMES)) {
        let p = if p.unwrap() { "True" } else { "False" };
        println!("{n} is prime: {p}");
    }
}
