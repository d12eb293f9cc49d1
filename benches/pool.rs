//! `cargo bench --bench pool`: the executor's workloads (issue #3) — W1 tiny-job round
//! trip per wait strategy, W2 tiny-job throughput (unbatched and chunked, rayon in the
//! same run), W3 256 MiB array hand-off by `SharedArray` handle, W4 Mandelbrot on 1/2 workers vs rayon 1/2 threads (interleaved, paired
//! ratios), pool start to first result, W5 uneven jobs (zeroproc submit and map vs rayon,
//! makespans), W6 a service under faults (crashes and hangs, 8 in flight, 100 ms
//! time-out).
//!
//! Options (after `--`): `--quick`, `--only W1|W2|W3|W4|W5|W6|start`.

fn main() {
    // Workers are this bench binary re-executed: they stop here.
    zeroproc::init();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let want = |s: &str| only.as_deref().is_none_or(|o| s.contains(o));
    use zeroproc_bench::{report, workloads::pool};
    let mut rows = Vec::new();
    let mut values = Vec::new();
    if want("W1") {
        rows.extend(pool::w1(if quick { 20_000 } else { 200_000 }).expect("W1"));
    }
    if want("start") {
        rows.extend(pool::start(if quick { 10 } else { 50 }).expect("start"));
    }
    if want("W2") {
        rows.extend(pool::w2(if quick { 1_000_000 } else { 10_000_000 }).expect("W2"));
    }
    if want("W3") {
        for mib in [16, 256] {
            values.extend(zeroproc_bench::workloads::pool_array::w3(mib, 9).expect("W3"));
        }
    }
    if want("W4") {
        values.extend(pool::w4(if quick { 3 } else { 7 }).expect("W4"));
    }
    if want("W5") {
        let rounds = if quick { 3 } else { 5 };
        values.extend(zeroproc_bench::workloads::uneven::w5(2_000, rounds).expect("W5"));
    }
    if want("W6") {
        let n = if quick { 4_000 } else { 20_000 };
        values.extend(zeroproc_bench::workloads::faults_client::w6(n).expect("W6"));
    }
    println!("{}", report::markdown(&rows));
    if !values.is_empty() {
        println!("{}", report::markdown_values(&values));
    }
}
