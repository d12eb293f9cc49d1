//! Port of py/p19_wordcount.py: count the words of a large file in parallel, chunks of
//! lines to workers, the counts merged.
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use zeroproc::Pool;

fn count(lines: Vec<String>) -> HashMap<String, u64> {
    let mut c = HashMap::new();
    for line in &lines {
        for w in line.split_whitespace() {
            *c.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    c
}

#[zeroproc::main]
fn main() {
    let path = std::env::args().nth(1).expect("usage: p19_wordcount FILE");
    let f = BufReader::new(std::fs::File::open(path).unwrap());
    let mut lines = f.lines().map(Result::unwrap).peekable();
    let chunks = std::iter::from_fn(move || {
        lines.peek()?;
        Some(lines.by_ref().take(5000).map(|l| l + "\n").collect::<Vec<String>>())
    });
    let pool = Pool::new().unwrap();
    let mut total: HashMap<String, u64> = HashMap::new();
    for c in pool.map(count, chunks) {
        for (w, n) in c.unwrap() {
            *total.entry(w).or_insert(0) += n;
        }
    }
    let mut items: Vec<_> = total.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (w, n) in items.iter().take(5) {
        println!("{w} {n}");
    }
    println!("distinct {} total {}", total.len(), total.values().sum::<u64>());
}
