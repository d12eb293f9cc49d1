//! zeroproc soak: minutes of a service's load per scenario, watching resources.
//!
//! `soak SCENARIO SECONDS` with SCENARIO one of `service`, `churn`, `mp`, `retire`.
//! Prints a CSV line per sample (`csv,...`), anomalies as they happen, then a summary.

mod alloc;
mod churn;
mod mpchurn;
mod retire;
mod sample;
mod service;
mod tally;

use std::time::Duration;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

#[zeroproc::main]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("service");
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let every = Duration::from_secs(args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3));
    if std::env::var_os("SOAK_ALLOC_TRACE").is_some() {
        alloc::TRACE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let sampler = sample::Sampler::start(every);
    // SOAK_ALLOC_SIZES=1: which allocation sizes grew between 30 s in and the end.
    let sizes = std::env::var_os("SOAK_ALLOC_SIZES").map(|_| {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(30));
            alloc::live()
        })
    });
    let tally = match name {
        "service" => service::run(secs),
        "churn" => churn::run(secs, u64::MAX, 3),
        "mp" => mpchurn::run(secs),
        "retire" => retire::run(secs),
        other => panic!("unknown scenario {other}"),
    };
    if let Some(h) = sizes {
        println!("allocation sizes grown since 30 s:");
        alloc::print_growth(&h.join().unwrap());
    }
    // Let the last workers and children go before the last sample.
    std::thread::sleep(Duration::from_secs(3));
    let samples = sampler.finish();
    let last = sample::take(std::time::Instant::now());
    println!(
        "after the scenario: children {} zombies {} fds {} threads {} memfd maps {}",
        last.children, last.zombies, last.fds, last.threads, last.memfd_maps
    );
    sample::report(name, &samples, secs as f64);
    tally.print();
    let bad = tally.anomalies();
    println!("anomalies: {bad}");
    std::process::exit(if bad == 0 { 0 } else { 2 });
}
