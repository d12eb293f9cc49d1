//! Port of py/p11_scraper.py: fetch pages (sleep instead of network) with a time-out at
//! each `result`, then parse the pages that arrived with `map`.
use std::time::Duration;
use zeroproc::Pool;

const URLS: [(&str, u64); 4] =
    [("a.example", 50), ("b.example", 2000), ("c.example", 100), ("d.example", 80)];

fn fetch(url: String) -> String {
    let ms = URLS.iter().find(|(u, _)| *u == url).unwrap().1;
    std::thread::sleep(Duration::from_millis(ms));
    format!("<html>{url}</html>")
}

fn parse(page: String) -> usize {
    page.len()
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(4).build().unwrap();
    let futs: Vec<_> = URLS.iter().map(|(u, _)| (u, pool.submit(fetch, u.to_string()))).collect();
    let mut pages = Vec::new();
    for (u, f) in futs {
        match f.result_timeout(Duration::from_millis(500)) {
            Ok(page) => {
                pages.push(page.unwrap());
                println!("{u}: ok");
            }
            Err(f) => {
                println!("{u}: timed out");
                f.cancel();
            }
        }
    }
    let sizes: Vec<usize> = pool.map(parse, pages).map(Result::unwrap).collect();
    println!("sizes: {sizes:?}");
}
