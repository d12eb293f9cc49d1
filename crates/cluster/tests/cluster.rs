//! Cluster tests: run under `mpirun -n 3 --oversubscribe --bind-to none` (rank 0 runs the
//! checks, ranks 1 and 2 are node agents); without a launcher they run against a local
//! pool only. `cluster mismatch` expects ranks built differently (see `.ci/cluster.sh`).
//! A failed check panics: rank 0 exits non-zero and mpirun fails.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroproc_cluster::{as_completed, wait, ClusterError, ClusterPool, ReturnWhen};
use zeroproc_sched::{JobError, Shutdown, SubmitTimeoutError, TrySubmitError};

/// The MPI rank whose node pool runs this job (workers inherit their agent's environment).
fn rank() -> u32 {
    std::env::var("OMPI_COMM_WORLD_RANK")
        .or_else(|_| std::env::var("PMIX_RANK"))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The node agents' ranks: 1 .. the run's size (`mpirun -n N`; the suite runs under `-n 3`
/// in `.ci/cluster.sh`, and its checks hold for other sizes too).
fn agents() -> Vec<usize> {
    let size = std::env::var("OMPI_COMM_WORLD_SIZE").ok().and_then(|s| s.parse().ok());
    (1..size.unwrap_or(3)).collect()
}

/// [`agents`] as a set of `rank()`s.
fn agent_set() -> BTreeSet<u32> {
    agents().into_iter().map(|r| r as u32).collect()
}

fn where_am_i(x: u64) -> (u64, u32) {
    (x * 2, rank())
}

fn square(x: u64) -> u64 {
    x * x
}

/// A named check; its argument says whether the run is under an MPI launcher.
type Check = (&'static str, fn(bool));

fn main() {
    if std::env::args().nth(1).as_deref() == Some("mpi-first") {
        // A program that initializes MPI itself before zeroproc: `init` must end the run
        // naming the fix (before, cluster30, it returned, and the run hung).
        std::mem::forget(mpi::initialize());
    }
    zeroproc_cluster::init();
    let _finish = zeroproc_cluster::MainGuard::new();
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "mismatch" => return mismatch(),
        "panic" => main_panics(),
        "agent-dies" => agent_dies(),
        "agent-frozen" => return agent_frozen_at_exit(),
        "agent-frozen-open" => return agent_frozen_under_an_open_pool(false),
        "agent-frozen-drop" => return agent_frozen_under_an_open_pool(true),
        "mpi-first" => {
            let pool = pool();
            panic!("built {:?} after MPI was initialized first", pool.nodes());
        }
        "leaked" => return leaked_pool(std::env::args().nth(2).expect("dir"), false),
        "leaked-exit" => return leaked_pool(std::env::args().nth(2).expect("dir"), true),
        "idle" => return idle(),
        "finish-busy" => return finish_while_nodes_send_large_results(),
        // The last check alone (it ends MPI), e.g. under `mpirun -n 1` or `-n 2`.
        "finish-live" => {
            return finish_under_a_live_pool_fails_its_jobs(zeroproc_cluster::under_launcher())
        }
        "ship-bench" => return ship_bench(),
        "map-input-bench" => return map_input_bench(),
        _ => {}
    }
    // The checks' `launched`: there are node agents. Under `mpirun -n 1` there are none
    // (rank 0's own pool runs everything), as without a launcher.
    let launched = zeroproc_cluster::under_launcher() && !agents().is_empty();
    let t0 = Instant::now();
    let checks: [Check; 49] = [
        ("a_build_names_the_nodes_that_do_not_answer", a_build_names_the_nodes_that_do_not_answer),
        (
            "cancel_and_terminate_return_while_a_node_is_silent",
            cancel_and_terminate_return_while_a_node_is_silent,
        ),
        (
            "terminate_resolves_the_jobs_of_a_silent_node",
            terminate_resolves_the_jobs_of_a_silent_node,
        ),
        (
            "a_timed_shutdown_keeps_its_time_while_nodes_are_frozen",
            a_timed_shutdown_keeps_its_time_while_nodes_are_frozen,
        ),
        (
            "a_timed_shutdown_keeps_its_time_when_frozen_nodes_owe_nothing",
            a_timed_shutdown_keeps_its_time_when_frozen_nodes_owe_nothing,
        ),
        (
            "a_shutdown_without_wait_cancels_before_returning",
            a_shutdown_without_wait_cancels_before_returning,
        ),
        (
            "a_late_answer_is_not_taken_for_the_next_question",
            a_late_answer_is_not_taken_for_the_next_question,
        ),
        ("a_failed_node_copy_is_shipped_again", a_failed_node_copy_is_shipped_again),
        ("data_that_looks_like_a_handle_is_data", data_that_looks_like_a_handle_is_data),
        ("read_only_arrays_are_shipped", read_only_arrays_are_shipped),
        ("the_node_array_cache_is_bounded", the_node_array_cache_is_bounded),
        ("a_large_array_is_shipped_once", a_large_array_is_shipped_once),
        ("jobs_spread_over_every_node", jobs_spread_over_every_node),
        ("map_orders_chunks_and_unordered", map_orders_chunks_and_unordered),
        (
            "tiny_items_are_batched_each_keeping_its_panic",
            tiny_items_are_batched_each_keeping_its_panic,
        ),
        ("a_slow_burst_is_handed_back_and_spread", a_slow_burst_is_handed_back_and_spread),
        ("batches_of_items_that_fit_a_record_fit_one", batches_of_items_that_fit_a_record_fit_one),
        (
            "a_killed_worker_on_a_node_fails_only_its_job",
            a_killed_worker_on_a_node_fails_only_its_job,
        ),
        ("panics_and_timeouts_fail_only_their_job", panics_and_timeouts_fail_only_their_job),
        ("cancel_and_terminate", cancel_and_terminate),
        (
            "a_cancelled_future_is_done_when_cancel_returns",
            a_cancelled_future_is_done_when_cancel_returns,
        ),
        ("callbacks_wait_and_as_completed", callbacks_wait_and_as_completed),
        ("a_callback_can_end_its_pool", a_callback_can_end_its_pool),
        ("large_payloads_go_through_the_spill_heaps", large_payloads_go_through_the_spill_heaps),
        ("shutdown_then_submit_is_shutdown", shutdown_then_submit_is_shutdown),
        ("local_and_remote_workers_together", local_and_remote_workers_together),
        ("two_pools_at_once", two_pools_at_once),
        ("the_rest_of_the_pool_api", the_rest_of_the_pool_api),
        ("initializers_run_on_every_node", initializers_run_on_every_node),
        ("one_program_for_pool_and_cluster_pool", one_program_for_pool_and_cluster_pool),
        (
            "node_local_handles_run_on_rank_0_or_are_refused",
            node_local_handles_run_on_rank_0_or_are_refused,
        ),
        ("a_busy_node_gets_no_jobs_another_can_start", a_busy_node_gets_no_jobs_another_can_start),
        ("jobs_a_busy_node_holds_move_to_an_idle_one", jobs_a_busy_node_holds_move_to_an_idle_one),
        ("full_rings_make_jobs_wait_not_fail", full_rings_make_jobs_wait_not_fail),
        (
            "stats_backlog_counts_jobs_waiting_on_rank_0",
            stats_backlog_counts_jobs_waiting_on_rank_0,
        ),
        ("cancelling_a_large_queue_newest_first", cancelling_a_large_queue_newest_first),
        ("a_leaked_pool_runs_its_queued_jobs_at_exit", a_leaked_pool_runs_its_queued_jobs_at_exit),
        (
            "a_map_dropped_early_cancels_its_unstarted_jobs",
            a_map_dropped_early_cancels_its_unstarted_jobs,
        ),
        (
            "a_timed_out_map_runs_none_of_its_unstarted_jobs",
            a_timed_out_map_runs_none_of_its_unstarted_jobs,
        ),
        ("stats_after_shutdown_keep_the_last_counts", stats_after_shutdown_keep_the_last_counts),
        ("a_map_over_a_slow_input_runs_as_it_reads", a_map_over_a_slow_input_runs_as_it_reads),
        (
            "an_item_read_is_sent_before_a_read_that_blocks",
            an_item_read_is_sent_before_a_read_that_blocks,
        ),
        ("an_endless_map_ends_after_shutdown", an_endless_map_ends_after_shutdown),
        (
            "a_blocking_callback_does_not_hold_another_wait",
            a_blocking_callback_does_not_hold_another_wait,
        ),
        ("a_pool_built_in_a_job_names_its_rank", a_pool_built_in_a_job_names_its_rank),
        ("a_local_pool_built_in_a_job_runs", a_local_pool_built_in_a_job_runs),
        (
            "a_future_used_in_its_own_callback_does_not_hang",
            a_future_used_in_its_own_callback_does_not_hang,
        ),
        ("a_panicking_waker_does_not_stop_the_pool", a_panicking_waker_does_not_stop_the_pool),
        ("an_awaited_future_keeps_its_outcome_kind", an_awaited_future_keeps_its_outcome_kind),
    ];
    // `cluster NAME` runs that check alone (while working on it).
    if let Some((name, check)) = checks.iter().find(|c| c.0 == mode) {
        check(launched);
        println!("cluster test {name} ... ok (alone)");
        return;
    }
    for (name, check) in checks {
        let t = Instant::now();
        check(launched);
        println!("cluster test {name} ... ok ({:.0} ms)", t.elapsed().as_secs_f64() * 1e3);
    }
    // Last: it ends MPI.
    let t = Instant::now();
    finish_under_a_live_pool_fails_its_jobs(zeroproc_cluster::under_launcher());
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!("cluster test finish_under_a_live_pool_fails_its_jobs ... ok ({ms:.0} ms)");
    println!(
        "cluster tests: {} passed in {:.1} s (launched: {}, node agents: {:?})",
        checks.len() + 1,
        t0.elapsed().as_secs_f64(),
        zeroproc_cluster::under_launcher(),
        if launched { agents() } else { Vec::new() },
    );
}

fn pool() -> ClusterPool {
    ClusterPool::builder().workers_per_node(2).build().expect("cluster pool")
}

fn jobs_spread_over_every_node(launched: bool) {
    let pool = pool();
    if launched {
        let nodes = pool.nodes();
        assert_eq!(nodes.iter().map(|n| n.0).collect::<Vec<_>>(), agents(), "{nodes:?}");
        assert_eq!(pool.workers(), 2 * agents().len());
    }
    assert_eq!(pool.submit(square, 7).result(), Ok(49));
    let fs: Vec<_> = (0..200u64).map(|x| pool.submit(where_am_i, x)).collect();
    let mut ranks = BTreeSet::new();
    for (x, f) in fs.into_iter().enumerate() {
        let (v, r) = f.result().expect("job");
        assert_eq!(v, 2 * x as u64);
        ranks.insert(r);
    }
    if launched {
        assert_eq!(ranks, agent_set(), "jobs ran on ranks {ranks:?}");
    }
}

fn map_orders_chunks_and_unordered(_: bool) {
    let pool = pool();
    let v: Vec<u64> = pool.map(square, 0..1000u64).map(Result::unwrap).collect();
    assert_eq!(v, (0..1000u64).map(square).collect::<Vec<_>>());
    let v: Vec<u64> = pool.map(square, 0..10_001u64).chunk_size(97).map(Result::unwrap).collect();
    assert_eq!(v, (0..10_001u64).map(square).collect::<Vec<_>>());
    let mut u: Vec<u64> =
        pool.map_unordered(square, 0..3000u64).chunk_size(10).map(Result::unwrap).collect();
    u.sort_unstable();
    assert_eq!(u, (0..3000u64).map(square).collect::<Vec<_>>());
    let empty: Vec<Result<u64, _>> = pool.map(square, Vec::<u64>::new()).collect();
    assert!(empty.is_empty());
    // Strings and vectors travel too.
    let s: Vec<String> = pool
        .map(|s: String| s.repeat(2), ["a", "bc"].map(String::from))
        .map(Result::unwrap)
        .collect();
    assert_eq!(s, ["aa", "bcbc"]);
}

/// Panics for every 10,000th item.
fn picky(x: u64) -> u64 {
    if x % 10_000 == 9_999 {
        panic!("no {x}");
    }
    x + 1
}

/// As `Pool::map`, a cluster map batches items measured tiny (up to 64 a job), each item
/// keeping its own result and panic; `chunk_size(1)` keeps one job per item. Before, one
/// job per item: 200,000 jobs.
fn tiny_items_are_batched_each_keeping_its_panic(_: bool) {
    let pool = pool();
    let jobs = |p: &ClusterPool| p.stats().workers.iter().map(|w| w.jobs_done).sum::<u64>();
    let before = jobs(&pool);
    let n = 200_000u64;
    for (x, r) in pool.map(picky, 0..n).enumerate() {
        let x = x as u64;
        match r {
            Err(JobError::Panicked { message }) if x % 10_000 == 9_999 => {
                assert!(message.contains(&format!("no {x}")), "{message}")
            }
            r => assert_eq!(r, Ok(x + 1), "item {x}"),
        }
    }
    let batched = jobs(&pool) - before;
    assert!(batched < n / 8, "{batched} jobs for {n} tiny items");
    let before = jobs(&pool);
    let s: u64 = pool.map(square, 0..2000u64).chunk_size(1).map(Result::unwrap).sum();
    assert_eq!(s, (0..2000u64).map(square).sum::<u64>());
    assert_eq!(jobs(&pool) - before, 2000);
}

/// Items 20,000 and on sleep 10 ms: where each ran (pid).
fn tiny_then_slow(x: u64) -> (u64, u32) {
    if x >= 20_000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    (x, std::process::id())
}

/// As `Pool::map`'s (`map_batches.rs`, `slow_burst_spreads_over_both_workers`): a burst of
/// slow items after tiny ones lands in batches sized for the tiny ones; a batch its
/// node's supervisor finds running at two ticks hands its unstarted items back and the map
/// places them again, one a job, in order. Before: a batch ran the whole burst on one
/// worker while the others idled.
fn a_slow_burst_is_handed_back_and_spread(_: bool) {
    let pool = pool();
    for round in 0..5 {
        let out: Vec<(u64, u32)> =
            pool.map(tiny_then_slow, 0..20_048u64).map(Result::unwrap).collect();
        assert!(out.iter().enumerate().all(|(i, &(x, _))| x == i as u64), "in order");
        let mut by_pid = std::collections::HashMap::<u32, u64>::new();
        for &(_, pid) in &out[20_000..] {
            *by_pid.entry(pid).or_default() += 1;
        }
        let most = by_pid.values().copied().max().unwrap_or(0);
        assert!(most <= 32, "round {round}: the 48 slow items by worker {by_pid:?}");
    }
}

/// 20 KiB of result per item.
fn twenty_kib(x: u64) -> Vec<u8> {
    vec![x as u8; 20 << 10]
}

/// An automatic batch stays within half a record every target takes (as `Map`'s): items
/// whose results each fit a record are not batched past one, so a small spill heap never
/// sees a batch larger than itself. Batched 64 a job, 20 KiB results were 1.3 MB a batch:
/// `TooLarge` under a 1 MiB heap.
fn batches_of_items_that_fit_a_record_fit_one(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(2).spill_heap(1 << 20).build().unwrap();
    for (x, r) in pool.map(twenty_kib, 0..5_000u64).enumerate() {
        if x % 250 == 1 {
            // Results pile up meanwhile, then many batches are read at once: each batch's
            // small argument record once halved the large results' measured bytes (a
            // 56-item batch of 20 KiB results failed `TooLarge` under CI's load).
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        match r {
            Ok(v) => assert!(v.len() == 20 << 10 && v[0] == x as u8, "item {x}"),
            Err(e) => panic!("item {x}: {e}"),
        }
    }
}

/// Item 13's worker SIGKILLs itself when it runs on a node agent (rank ≠ 0).
fn die_on_13(x: u64) -> u64 {
    if x == 13 && rank() != 0 {
        // SAFETY: kill(2) on our own pid; it does not return.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x + 1
}

fn a_killed_worker_on_a_node_fails_only_its_job(launched: bool) {
    let pool = pool();
    // One job per item: an automatic batch would fail with the item that died.
    let out: Vec<_> = pool.map(die_on_13, 0..200u64).chunk_size(1).collect();
    for (x, r) in out.iter().enumerate() {
        if x == 13 && launched {
            assert_eq!(
                *r,
                Err(JobError::WorkerDied { signal: Some(libc::SIGKILL), exit_code: None })
            );
        } else {
            assert_eq!(*r, Ok(x as u64 + 1), "item {x}");
        }
    }
    // The node respawned the worker and serves on.
    let v: Vec<u64> = pool.map(square, 0..100u64).map(Result::unwrap).collect();
    assert_eq!(v.len(), 100);
    let f = pool.submit(|_: ()| -> u32 { std::process::abort() }, ());
    assert!(matches!(f.result(), Err(JobError::WorkerDied { signal: Some(6), .. })));
}

/// `Err` for odd inputs: a job's own error.
fn even_only(x: u64) -> Result<u64, String> {
    if x % 2 == 1 {
        Err(format!("{x} is odd"))
    } else {
        Ok(x / 2)
    }
}

fn panics_and_timeouts_fail_only_their_job(_: bool) {
    let pool = pool();
    // A job's own error (Python: the task raised) is JobError::Job, from any node.
    let fs: Vec<_> = (0..10u64).map(|x| pool.submit_fallible(even_only, x)).collect();
    for (x, f) in fs.into_iter().enumerate() {
        let x = x as u64;
        if x % 2 == 1 {
            assert!(f.wait_timeout(Duration::from_secs(30)));
            assert_eq!(f.exception(), Some(JobError::Job(format!("{x} is odd"))));
            assert_eq!(f.result(), Err(JobError::Job(format!("{x} is odd"))));
        } else {
            assert_eq!(f.result(), Ok(x / 2));
        }
    }
    let p = pool.submit(|x: u64| -> u64 { panic!("no {x}") }, 5);
    match p.result() {
        Err(JobError::Panicked { message }) => assert!(message.contains("no 5"), "{message}"),
        other => panic!("{other:?}"),
    }
    let slow = pool.submit_with_time_limit(
        |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        },
        10_000,
        Duration::from_millis(200),
    );
    let ok = pool.submit(square, 3);
    let t = Instant::now();
    assert_eq!(slow.result(), Err(JobError::TimeLimit));
    assert!(t.elapsed() < Duration::from_secs(8), "timed out after {:?}", t.elapsed());
    assert_eq!(ok.result(), Ok(9));
    assert_eq!(pool.submit(square, 4).result(), Ok(16));
    drop(pool);
    // The builder's time-out applies to every job, on every node.
    let timed = ClusterPool::builder().job_time_limit(Duration::from_millis(300)).build().unwrap();
    let fs: Vec<_> =
        (0..4).map(|i| timed.submit(sleep_ms, if i % 2 == 0 { 10_000 } else { 1 })).collect();
    let got: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    assert_eq!(got, [Err(JobError::TimeLimit), Ok(1), Err(JobError::TimeLimit), Ok(1)]);
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Sleeps `ms` after creating the file `path` (the test sees the job has started; all
/// ranks share the machine's temporary directory in these tests).
fn sleep_marked((ms, path): (u64, String)) -> u64 {
    std::fs::write(&path, b"").expect("marker");
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// As `Map`'s drop on one machine (and closing Python's `map` iterator): the jobs no worker
/// started never run. Before, `ClusterMap` had no drop: its whole window ran (40 jobs here)
/// and the pool's shutdown waited for them.
fn a_map_dropped_early_cancels_its_unstarted_jobs(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let n = pool.workers();
    let dir = std::env::temp_dir();
    let marker = |i: usize| {
        dir.join(format!("zeroproc-cluster-mapdrop-{}-{i}", std::process::id()))
            .display()
            .to_string()
    };
    let items: Vec<(u64, String)> = (0..200).map(|i| (100, marker(i))).collect();
    let mut m = pool.map(sleep_marked, items).window(40);
    assert_eq!(m.next(), Some(Ok(100)));
    drop(m);
    pool.shutdown(); // waits for every job the pool still owes
    let started = (0..200).filter(|&i| std::path::Path::new(&marker(i)).exists()).count();
    for i in 0..200 {
        let _ = std::fs::remove_file(marker(i));
    }
    // The first, what ran meanwhile or when the map was dropped (each worker: one, and one
    // it may have started before the cancel reached its node).
    assert!(started <= 1 + 3 * n, "{started} of the map's 40 jobs in flight ran ({n} workers)");
}

/// Waits until the file `gate` exists (if named; at most 60 s), then creates `mark`.
fn gate_then_mark((gate, mark): (String, String)) {
    let until = Instant::now() + Duration::from_secs(60);
    while !gate.is_empty() && !std::path::Path::new(&gate).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::write(&mark, b"").expect("marker");
}

/// Exactly: a map that timed out (every worker blocked) and is dropped runs none of the
/// jobs no worker had started, even when the workers are freed right after the drop: the
/// drop returns once every node has answered its cancels, as Python's `cancel()` is final.
/// Before, the drop returned with the cancels on their way, and the jobs queued on the
/// nodes ran when the gate opened (12 of 12 in the first run of clustercrate/).
fn a_timed_out_map_runs_none_of_its_unstarted_jobs(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let n = pool.workers();
    let tmp = std::env::temp_dir();
    let name = |what: &str| {
        tmp.join(format!("zeroproc-cluster-maptimeout-{}-{what}", std::process::id()))
            .display()
            .to_string()
    };
    let gate = name("gate");
    let items: Vec<(String, String)> = (0..n + 12)
        .map(|i| (if i < n { gate.clone() } else { String::new() }, name(&i.to_string())))
        .collect();
    let mut m = pool.map(gate_then_mark, items).timeout(Duration::from_millis(300));
    assert_eq!(m.next(), Some(Err(JobError::Timeout)));
    drop(m);
    std::fs::write(&gate, b"").unwrap();
    pool.shutdown();
    let ran = (0..n + 12).filter(|i| std::path::Path::new(&name(&i.to_string())).exists()).count();
    for i in 0..n + 12 {
        let _ = std::fs::remove_file(name(&i.to_string()));
    }
    let _ = std::fs::remove_file(&gate);
    assert_eq!(ran, n, "only the {n} jobs running at the drop may run");
}

/// As `Map` on one machine (`crates/sched/tests/map_stream.rs`): over a stream, each job
/// is sent before the next item is read, and a finished result comes back before more
/// items are read. Before, a refill read a whole window of items first: item k here waits
/// for job k-1's mark, so the map waited 20 s for each of them.
fn a_map_over_a_slow_input_runs_as_it_reads(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let dir = std::env::temp_dir();
    let marker = |i: u64| {
        dir.join(format!("zeroproc-cluster-stream-{}-{i}", std::process::id()))
            .display()
            .to_string()
    };
    let missed = std::cell::Cell::new(None);
    let handed = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let at_item_3 = std::cell::Cell::new(None);
    let h = handed.clone();
    let items = (0..6u64).map(|k| {
        if k == 3 {
            at_item_3.set(Some(h.get()));
        }
        std::thread::sleep(Duration::from_millis(2));
        if k > 0 && missed.get().is_none() {
            let t0 = Instant::now();
            while !std::path::Path::new(&marker(k - 1)).exists() {
                if t0.elapsed() > Duration::from_secs(20) {
                    missed.set(Some(k - 1));
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            // Time for the job's result to travel back before the next item is read.
            std::thread::sleep(Duration::from_millis(100));
        }
        (0, marker(k))
    });
    let mut out = Vec::new();
    for r in pool.map(sleep_marked, items) {
        out.push(r.unwrap());
        handed.set(handed.get() + 1);
    }
    for k in 0..6 {
        let _ = std::fs::remove_file(marker(k));
    }
    assert_eq!(out, vec![0; 6]);
    assert_eq!(
        missed.get(),
        None,
        "job {:?} had not run when the next item was read",
        missed.get()
    );
    assert!(at_item_3.get() >= Some(1), "results handed back before item 3: {:?}", at_item_3.get());
}

/// Creates the file `path` (the test sees the job has run) and returns `x`.
fn mark_and_return((x, path): (u64, String)) -> u64 {
    std::fs::write(&path, b"").expect("marker");
    x
}

/// As `Map` on one machine (`crates/sched/tests/map_stream.rs`): a stream whose first items
/// are there at once and whose next one waits for the *effect* of a job it already gave (a
/// job feeding the map's own channel). Each item read is placed before the map reads on;
/// the pool's progress thread sends what a blocked read left staged. Before, the refill's
/// batch of 4 read item 1 and then waited in the read of item 2 with job 1 unsent: a
/// stream like this hung (here: until the 5 s fallback).
fn an_item_read_is_sent_before_a_read_that_blocks(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let dir = std::env::temp_dir();
    let marker = |i: u64| {
        dir.join(format!("zeroproc-cluster-blocking-{}-{i}", std::process::id()))
            .display()
            .to_string()
    };
    let missed = std::cell::Cell::new(None);
    let mut k = 0u64;
    // Items 0 and 1 come at once; item 2 comes once job 1 has run (or after 5 s).
    let items = std::iter::from_fn(|| {
        if k == 2 {
            let t0 = Instant::now();
            while !std::path::Path::new(&marker(1)).exists()
                && t0.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !std::path::Path::new(&marker(1)).exists() {
                missed.set(Some(t0.elapsed()));
            }
        }
        k += 1;
        (k <= 3).then(|| (k - 1, marker(k - 1)))
    });
    let out: Vec<u64> = pool.map(mark_and_return, items).map(Result::unwrap).collect();
    for i in 0..3 {
        let _ = std::fs::remove_file(marker(i));
    }
    assert_eq!(out, vec![0, 1, 2]);
    assert_eq!(missed.get(), None, "job 1 had not run while the map waited for item 2");
}

/// As `Map` on one machine and Python (whose `map` raises `RuntimeError` once after
/// `shutdown`): a map over an endless input ends once the pool is shut down — the items
/// read already yield `Err(Shutdown)`, no more are read. Before, every further item was
/// read and yielded `Err(Shutdown)`: `map(f, 0..)` after `shutdown`, or while another
/// thread shut the pool down, never ended.
fn an_endless_map_ends_after_shutdown(_: bool) {
    const CAP: usize = 1_000_000;
    for input in ["range", "stream"] {
        let pool = pool();
        pool.shutdown();
        let items: Box<dyn Iterator<Item = u64>> = match input {
            "range" => Box::new(0u64..),
            _ => Box::new(std::iter::repeat(3u64)),
        };
        let out: Vec<_> = pool.map(square, items).take(CAP).collect();
        assert!(out.len() < CAP, "{input}: the map over an endless input did not end");
        assert!(out.iter().all(|r| *r == Err(JobError::Shutdown)), "{input}");
    }
    // Shut down by another thread while the map runs: it ends, after the jobs placed.
    let pool = pool();
    let (ok, shut, n) = std::thread::scope(|s| {
        let p = &pool;
        let h = s.spawn(move || {
            let (mut ok, mut shut, mut n) = (0, 0, 0);
            for r in p.map(sleep_ms, std::iter::repeat(5u64)).take(CAP) {
                match r {
                    Ok(5) => ok += 1,
                    Err(JobError::Shutdown) => shut += 1,
                    other => panic!("{other:?}"),
                }
                n += 1;
            }
            (ok, shut, n)
        });
        std::thread::sleep(Duration::from_millis(300));
        pool.shutdown();
        h.join().unwrap()
    });
    assert!(n < CAP, "the map did not end after shutdown ({ok} done, {shut} Shutdown)");
    assert!(ok > 0, "no job ran before the shutdown");
}

/// As `Pool::stats` after `shutdown`: the summary a program prints at its end. Before, the
/// nodes' pools were gone and `stats()` listed no worker at all.
fn stats_after_shutdown_keep_the_last_counts(_: bool) {
    for terminate in [false, true] {
        let pool = pool();
        let workers = pool.workers();
        // One job per item (tiny items are batched by default).
        let ok = pool.map(square, 0..500u64).chunk_size(1).filter(Result::is_ok).count();
        assert_eq!(ok, 500);
        if terminate {
            pool.terminate();
        } else {
            pool.shutdown();
        }
        let s = pool.stats();
        assert_eq!(s.workers.len(), workers, "terminate {terminate}: {s}");
        assert_eq!(s.jobs_done(), 500, "terminate {terminate}: {s}");
    }
}

fn cancel_and_terminate(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).window_per_worker(2).build().unwrap();
    let n = pool.workers();
    let dir = std::env::temp_dir();
    let marker = |i: usize| {
        dir.join(format!("zeroproc-cluster-cancel-{}-{i}", std::process::id()))
            .display()
            .to_string()
    };
    // Each worker starts a long job and holds a short one queued behind it (the node's
    // ring); the next job waits on rank 0 (every window is full).
    let running: Vec<_> = (0..n).map(|i| pool.submit(sleep_marked, (3000, marker(i)))).collect();
    let on_node: Vec<_> = (0..n).map(|i| pool.submit(sleep_marked, (10, marker(n + i)))).collect();
    let on_rank0 = pool.submit(sleep_ms, 1);
    assert!(on_rank0.cancel(), "a job queued on rank 0 is cancellable");
    assert!(on_rank0.cancelled());
    assert!(on_rank0.cancel(), "cancelling a cancelled future is true again, as in Python");
    assert_eq!(on_rank0.result(), Err(JobError::Cancelled));
    let until = Instant::now() + Duration::from_secs(60);
    while (0..n).any(|i| !std::path::Path::new(&marker(i)).exists()) {
        assert!(Instant::now() < until, "the long jobs did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(on_node[0].cancel(), "a job queued on a node, not started, is cancellable");
    assert_eq!(on_node[0].exception(), Some(JobError::Cancelled));
    assert!(!running[0].cancel(), "a running job is not cancellable");
    assert!(running[0].terminate());
    let mut rest = running.into_iter();
    assert_eq!(rest.next().unwrap().result(), Err(JobError::Cancelled));
    for f in rest {
        assert_eq!(f.result(), Ok(3000));
    }
    for f in on_node.into_iter().skip(1) {
        assert_eq!(f.result(), Ok(10));
    }
    assert!(!std::path::Path::new(&marker(n)).exists(), "the cancelled job never ran");
    for i in 0..2 * n {
        let _ = std::fs::remove_file(marker(i));
    }
    assert_eq!(pool.submit(square, 5).result(), Ok(25), "serves after a terminate");
}

/// Python: once `cancel()` returned True, `cancelled()` and `done()` are True. Jobs queued
/// in rank 0's own pool are revoked there and their outcome arrives through the pool's
/// outbox: before, `cancel()` returned true before the future had it, and `done()` was
/// false while the pool's progress thread held the state (no-launcher CI run of
/// clustercrate/: "cancelled()/done() after cancel").
fn a_cancelled_future_is_done_when_cancel_returns(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).local_workers(1).build().unwrap();
    let gate = std::env::temp_dir()
        .join(format!("zeroproc-cluster-cancel-done-{}", std::process::id()))
        .display()
        .to_string();
    let mark = format!("{gate}-mark");
    let blockers: Vec<_> = (0..pool.workers())
        .map(|_| pool.submit(gate_then_mark, (gate.clone(), mark.clone())))
        .collect();
    for round in 0..200 {
        let f = pool.submit(sleep_ms, 1);
        if f.cancel() {
            assert!(
                f.done() && f.cancelled(),
                "round {round}: cancel() was true, the future not done"
            );
        }
        let g = pool.submit(sleep_ms, 1);
        assert!(g.terminate());
        assert!(g.done(), "round {round}: terminate() returned, the future not done");
    }
    std::fs::write(&gate, b"").unwrap();
    for b in blockers {
        assert_eq!(b.result(), Ok(()));
    }
    let _ = std::fs::remove_file(&gate);
    let _ = std::fs::remove_file(&mark);
}

fn callbacks_wait_and_as_completed(_: bool) {
    let pool = pool();
    let hits = Arc::new(AtomicUsize::new(0));
    let fs: Vec<_> = (0..50u64).map(|x| pool.submit(square, x)).collect();
    for f in &fs {
        let h = hits.clone();
        f.add_done_callback(move |r| {
            assert!(r.is_ok());
            h.fetch_add(1, Ordering::Relaxed);
        });
    }
    // Nobody waits: the progress thread delivers them.
    let until = Instant::now() + Duration::from_secs(20);
    while hits.load(Ordering::Relaxed) < 50 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hits.load(Ordering::Relaxed), 50);
    let total: u64 = as_completed(fs).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, (0..50u64).map(square).sum::<u64>());
    // `.await`, polled by a minimal executor: the progress thread wakes the task.
    let futs: Vec<_> = (0..20u64).map(|x| pool.submit(square, x)).collect();
    for (x, f) in futs.into_iter().enumerate() {
        assert_eq!(block_on(f), Ok(square(x as u64)));
    }
    let fast = pool.submit(square, 2);
    let slow = pool.submit(sleep_ms, 3000);
    let (done, not_done) =
        wait(vec![fast, slow], ReturnWhen::FirstCompleted, Some(Duration::from_secs(2)));
    assert_eq!((done.len(), not_done.len()), (1, 1));
    for f in not_done {
        assert!(f.terminate());
    }
}

/// As on one machine (`add_done_callback` in docs/python-mapping.md) and in Python (the
/// executor's thread runs the callbacks): a callback runs on the pool's progress thread,
/// never on a thread waiting for another future, whose wait (and `result_timeout`) it
/// would overrun. Before, the thread that received the outcome ran it: here the main
/// thread, waiting for `other`, ran `slow`'s 3 s callback before it could return (and a thread waiting with a time-out for a future ran that future's own callback: `result_timeout` overran).
fn a_blocking_callback_does_not_hold_another_wait(_: bool) {
    let pool = pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let slow = pool.submit(sleep_ms, 100);
    let r = ran.clone();
    slow.add_done_callback(move |o| {
        assert_eq!(*o, Ok(100));
        std::thread::sleep(Duration::from_secs(3));
        r.fetch_add(1, Ordering::SeqCst);
    });
    // Done while the main thread waits for this one (which nobody else polls for).
    let other = pool.submit(sleep_ms, 400);
    let t = Instant::now();
    let got = other.result_timeout(Duration::from_secs(2));
    let waited = t.elapsed();
    assert!(matches!(got, Ok(Ok(400))), "{got:?} after {waited:?}");
    assert!(waited < Duration::from_millis(2500), "the wait ran another's callback: {waited:?}");
    // The callback's future is done once its callback has run.
    assert_eq!(slow.result(), Ok(100));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Nor does a future's own slow callback overrun a wait for it with a time-out: that
    // future is not done until its callback has run, so the wait times out on time.
    let own = pool.submit(sleep_ms, 50);
    own.add_done_callback(|_| std::thread::sleep(Duration::from_millis(1500)));
    let t = Instant::now();
    let own = own.result_timeout(Duration::from_millis(300)).expect_err("its callback runs");
    assert!(t.elapsed() < Duration::from_millis(1200), "ran its callback: {:?}", t.elapsed());
    assert_eq!(own.result(), Ok(50));
    // A callback that waits for another future whose own callback is still to run (both
    // received by the waiting main thread): the progress thread runs that one meanwhile.
    let (b_ran, r) = (Arc::new(AtomicUsize::new(0)), ran.clone());
    let b = pool.submit(sleep_ms, 300);
    let rb = b_ran.clone();
    b.add_done_callback(move |_| {
        rb.fetch_add(1, Ordering::SeqCst);
    });
    let a = pool.submit(sleep_ms, 100);
    a.add_done_callback(move |_| {
        assert_eq!(b.result(), Ok(300));
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(pool.submit(sleep_ms, 600).result(), Ok(600));
    assert_eq!(a.result(), Ok(100));
    assert_eq!((ran.load(Ordering::SeqCst), b_ran.load(Ordering::SeqCst)), (2, 1));
}

/// As `JobFuture` on one machine: inside one of its own done-callbacks a future is not done
/// yet (it is once they have run), so waiting for it there panics, naming why, instead of
/// waiting for ever; a callback added there runs next; `cancel` and `terminate` say the
/// job is finished. Before, each of them waited for ever (the progress thread hung, and
/// the pool's drop with it).
fn a_future_used_in_its_own_callback_does_not_hang(_: bool) {
    let pool = pool();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let f = Arc::new(pool.submit(sleep_ms, 50));
    let me = f.clone();
    f.add_done_callback(move |_| {
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            me.wait_timeout(Duration::from_secs(2))
        }));
        let said = match waited {
            Err(p) => p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
            Ok(done) => format!("wait_timeout returned {done}"),
        };
        tx.send(said).unwrap();
        tx.send(format!("cancel {} terminate {}", me.cancel(), me.terminate())).unwrap();
        let tx2 = tx.clone();
        me.add_done_callback(move |o| tx2.send(format!("nested {o:?}")).unwrap());
        tx.send("added".into()).unwrap();
    });
    let mut got = Vec::new();
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(10)) {
        got.push(m);
        if got.len() == 4 {
            break;
        }
    }
    if got.len() < 4 {
        std::mem::forget(pool); // its progress thread hangs in the callback
        panic!("the callback hung: {got:?}");
    }
    assert!(got[0].contains("inside one of its own done-callbacks"), "{got:?}");
    assert_eq!(got[1..], ["cancel false terminate false", "added", "nested Ok(50)"], "{got:?}");
    assert!(f.wait_timeout(Duration::from_secs(10)));
}

struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics");
    }
}

/// A future's async waker is the user's code, woken by the thread that drains the
/// completion — rank 0's progress thread when no one waits. Before, a panicking waker
/// unwound through that thread, which died: with no thread waiting on the pool, nothing
/// drained completions any more (the next job's callback never ran).
fn a_panicking_waker_does_not_stop_the_pool(_: bool) {
    use std::future::Future;
    let pool = pool();
    let mut f = pool.submit(sleep_ms, 50);
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    drop(waker);
    // No thread waits on the pool: the progress thread stores the outcome and wakes.
    std::thread::sleep(Duration::from_millis(500));
    // Nobody waits on the pool: only the progress thread can deliver this callback.
    let (tx, rx) = std::sync::mpsc::channel();
    let g = pool.submit(square, 7);
    g.add_done_callback(move |r| {
        let _ = tx.send(r.clone());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => assert_eq!(r, Ok(49)),
        Err(_) => {
            std::mem::forget(pool); // its progress thread is gone
            panic!("the pool stopped making progress after a waker panicked");
        }
    }
    assert_eq!(f.result(), Ok(50));
}

/// A job that builds a cluster pool: refused (workers never touch MPI; a local `Pool` may
/// be built there, as in CPython's executor), by the error of the
/// rank whose worker tried, with the reason.
fn build_in_a_job(_: u64) -> (String, u32) {
    let e = ClusterPool::new().map(|_| ()).expect_err("a pool built inside a worker");
    (e.to_string(), rank())
}

/// Before, the error said "rank 0: pools cannot be created inside a worker" for a job that
/// ran on rank 1 or 2: the wrong place.
fn a_pool_built_in_a_job_names_its_rank(_: bool) {
    let pool = pool();
    for f in (0..4).map(|x| pool.submit(build_in_a_job, x)).collect::<Vec<_>>() {
        let (msg, r) = f.result().unwrap();
        assert!(msg.starts_with(&format!("rank {r}: ")), "ran on rank {r}: {msg}");
        assert!(msg.contains("inside a worker"), "{msg}");
    }
}

/// A job that builds a local pool of its own on the node that runs it (as in CPython's
/// executor, whose workers are not daemonic; api31): its workers start from the node's
/// executable as the node's own workers do, and never touch MPI.
fn map_in_a_local_pool(n: u64) -> (u64, u32) {
    let inner = zeroproc_sched::Pool::builder().workers(1).build().expect("a local pool in a job");
    let sum = inner.map(|x: u64| x * 2, 0..n).map(Result::unwrap).sum();
    (sum, rank())
}

fn a_local_pool_built_in_a_job_runs(_: bool) {
    let pool = pool();
    let fs: Vec<_> = (0..4).map(|_| pool.submit(map_in_a_local_pool, 100)).collect();
    for f in fs {
        let (sum, r) = f.result().unwrap();
        assert_eq!(sum, 9900, "on rank {r}");
    }
}

/// Sums bytes (so a corrupted large payload would not go unnoticed).
/// A done-callback that shuts down, terminates or drops the last handle of its own pool
/// (run by the pool's progress thread: nobody waits on that future) returns, and the
/// other job's future completes. Before, the pool's end joined the progress thread from
/// itself: "failed to join thread: Resource deadlock avoided" panicked in the callback,
/// which never got past the call.
fn a_callback_can_end_its_pool(_: bool) {
    for how in ["shutdown", "terminate", "last drop"] {
        let pool = Arc::new(pool());
        let f = pool.submit(sleep_ms, 1);
        let other = pool.submit(sleep_ms, 100);
        let (tx, rx) = std::sync::mpsc::channel();
        let mine = Arc::clone(&pool);
        f.add_done_callback(move |_| {
            match how {
                "shutdown" => mine.shutdown(),
                "terminate" => mine.terminate(),
                _ => drop(mine),
            }
            tx.send(()).unwrap();
        });
        if how == "last drop" {
            drop(pool);
        }
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("a callback calling {how} did not return"));
        let r = other.result_timeout(Duration::from_secs(60)).ok();
        assert!(matches!(r, Some(Ok(100) | Err(JobError::Cancelled))), "{how}: {r:?}");
    }
}

fn byte_sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| b as u64).sum()
}

/// `n` bytes counting up (mod 251), for checking large payloads both ways.
fn counting(n: u64) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn large_payloads_go_through_the_spill_heaps(_: bool) {
    // Nodes' spill heaps held at their first size (64 MiB) to test the limit below; by
    // default they grow to 1 GiB.
    let pool = ClusterPool::builder()
        .workers_per_node(2)
        .spill_heap(64 << 20)
        .build()
        .expect("cluster pool");
    // Larger than a ring record (128 KiB): through the node's spill heap, both ways.
    let big: Vec<u8> = counting(6 << 20);
    let want: u64 = big.iter().map(|&b| b as u64).sum();
    assert_eq!(pool.submit(byte_sum, big).result(), Ok(want));
    let back = pool.submit(counting, 3 << 20).result().unwrap();
    assert_eq!(back, counting(3 << 20));
    // Many at once, mixed with small ones (map, chunks of large items).
    let sums: Vec<u64> =
        pool.map(byte_sum, (0..12).map(|i| counting(300_000 + i))).map(Result::unwrap).collect();
    for (i, s) in sums.iter().enumerate() {
        assert_eq!(*s, counting(300_000 + i as u64).iter().map(|&b| b as u64).sum::<u64>());
    }
    assert_eq!(pool.submit(|v: Vec<u8>| v.len() as u64, vec![7u8; 60_000]).result(), Ok(60_000));
    // Larger than a node's spill heap (64 MiB): refused at submission, the payload never sent.
    let t = Instant::now();
    match pool.submit(|v: Vec<u8>| v.len(), vec![1u8; 80 << 20]).result() {
        // Naming the fix, as `Pool`'s message does (before, clu33, only the limit).
        Err(JobError::TooLarge { message }) => assert!(
            message.contains("at most") && message.contains("ClusterBuilder::spill_heap"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(30));
    // A result larger than the node's heap fails alone.
    match pool.submit(|n: u64| vec![1u8; n as usize], 80 << 20).result() {
        Err(JobError::Decode { .. } | JobError::TooLarge { .. }) => {}
        other => panic!("{:?}", other.map(|v| v.len())),
    }
    assert_eq!(pool.submit(square, 9).result(), Ok(81));
}

fn shutdown_then_submit_is_shutdown(_: bool) {
    let pool = pool();
    let f = pool.submit(sleep_ms, 100);
    pool.shutdown();
    assert_eq!(f.result(), Ok(100));
    assert_eq!(pool.submit(square, 1).result(), Err(JobError::Shutdown));
    drop(pool);
    // A new pool can be built after the previous one is gone.
    assert_eq!(self::pool().submit(square, 6).result(), Ok(36));
    // shutdown(cancel_futures): what has not started is cancelled, what runs finishes.
    let pool = ClusterPool::builder().workers_per_node(1).window_per_worker(2).build().unwrap();
    let n = pool.workers();
    let marker = |i: usize| {
        let name = format!("zeroproc-cluster-shutdown-{}-{i}", std::process::id());
        std::env::temp_dir().join(name).display().to_string()
    };
    // The first job of each worker runs; the next waits on its node; the rest on rank 0.
    let fs: Vec<_> = (0..4 * n).map(|i| pool.submit(sleep_marked, (2000, marker(i)))).collect();
    let until = Instant::now() + Duration::from_secs(60);
    while (0..n).any(|i| !std::path::Path::new(&marker(i)).exists()) {
        assert!(Instant::now() < until, "the first jobs did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    pool.shutdown_with(Shutdown::new().cancel_futures(true));
    let (ok, cancelled) = fs.into_iter().map(|f| f.result()).fold((0, 0), |(o, c), r| match r {
        Ok(2000) => (o + 1, c),
        Err(JobError::Cancelled) => (o, c + 1),
        other => panic!("{other:?}"),
    });
    assert_eq!((ok, cancelled), (n, 3 * n), "the running job of each worker finishes");
    for i in 0..4 * n {
        let started = std::path::Path::new(&marker(i)).exists();
        assert_eq!(started, i < n, "job {i}: only the running ones ever started");
        let _ = std::fs::remove_file(marker(i));
    }
    drop(pool);
    // shutdown_with(timeout): what still runs after it is terminated.
    let pool = self::pool();
    let hung = pool.submit(sleep_ms, 60_000);
    let t = Instant::now();
    assert!(!pool.shutdown_with(Shutdown::new().timeout(Duration::from_millis(300))));
    assert_eq!(hung.result(), Err(JobError::Cancelled));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    drop(pool);
    // terminate(): running jobs are killed on their nodes, queued ones cancelled, at once.
    let pool = self::pool();
    let fs: Vec<_> = (0..20).map(|_| pool.submit(sleep_ms, 60_000)).collect();
    std::thread::sleep(Duration::from_millis(150));
    let t = Instant::now();
    pool.terminate();
    for f in fs {
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

fn local_and_remote_workers_together(launched: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).local_workers(1).build().unwrap();
    if launched {
        let want: Vec<_> = [0].into_iter().chain(agents()).map(|r| (r, 1)).collect();
        assert_eq!(pool.nodes(), want);
    }
    let ranks: BTreeSet<u32> = pool.map(where_am_i, 0..300u64).map(|r| r.unwrap().1).collect();
    if launched {
        let mut want = agent_set();
        want.insert(0);
        assert_eq!(ranks, want);
    }
}

/// Two cluster pools open at once, used from two threads: each agent keeps a node pool per
/// cluster pool, and rank 0 routes every outcome to its pool.
fn two_pools_at_once(launched: bool) {
    let a = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let b = ClusterPool::builder().workers_per_node(1).window_per_worker(1).build().unwrap();
    if launched {
        let want: Vec<_> = agents().into_iter().map(|r| (r, 1)).collect();
        assert_eq!(a.nodes(), want);
        assert_eq!(b.nodes(), want);
    }
    let slow = b.submit(sleep_ms, 300);
    std::thread::scope(|s| {
        let ta = s.spawn(|| a.map(square, 0..3000u64).map(Result::unwrap).sum::<u64>());
        let tb = s.spawn(|| {
            let fs: Vec<_> = (0..500u64).map(|x| b.submit(where_am_i, x)).collect();
            fs.into_iter().map(|f| f.result().unwrap().0).sum::<u64>()
        });
        assert_eq!(ta.join().unwrap(), (0..3000u64).map(square).sum::<u64>());
        assert_eq!(tb.join().unwrap(), (0..500u64).map(|x| 2 * x).sum::<u64>());
    });
    // Shutting one down leaves the other serving; a third can open meanwhile.
    a.terminate();
    assert_eq!(a.submit(square, 3).result(), Err(JobError::Shutdown));
    assert_eq!(slow.result(), Ok(300));
    let c = ClusterPool::builder().workers_per_node(1).build().unwrap();
    assert_eq!(b.submit(square, 5).result(), Ok(25));
    assert_eq!(c.submit(square, 6).result(), Ok(36));
    drop(b);
    assert_eq!(c.map(square, 0..100u64).map(Result::unwrap).sum::<u64>(), 328_350);
}

/// Run as `mpirun -n 1 cluster mismatch : -n 2 -x ZEROPROC_CLUSTER_FINGERPRINT_SALT=other cluster mismatch`.
fn mismatch() {
    match ClusterPool::builder().build() {
        Err(ClusterError::BuildMismatch { ranks, .. }) => {
            let r: Vec<usize> = ranks.iter().map(|r| r.0).collect();
            assert_eq!(r, [1, 2]);
            let e = ClusterPool::builder().build().unwrap_err().to_string();
            assert!(e.contains("rank 1") && e.contains("rank 2"), "{e}");
            println!("cluster test build_mismatch_names_the_ranks ... ok: {e}");
        }
        other => panic!("expected a build mismatch, got {other:?}"),
    }
}

/// `main` panics with a pool open: the guard stops the agents, MPI is finalized, rank 0
/// exits 101 and mpirun ends (no hang: the CI script runs this under `timeout`).
fn main_panics() {
    let pool = pool();
    assert_eq!(pool.submit(square, 2).result(), Ok(4));
    let _running = pool.submit(sleep_ms, 60_000);
    panic!("main panics on purpose");
}

/// A job kills its node agent (the worker's parent): with Open MPI 4.1 the whole run is
/// aborted by mpirun (documented in docs/cluster.md); this mode shows what rank 0 sees.
fn agent_dies() {
    let pool = pool();
    let f = pool.submit(
        |_: ()| {
            if rank() != 0 {
                // SAFETY: kill(2) of our parent (the node agent).
                unsafe { libc::kill(libc::getppid(), libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_secs(1));
        },
        (),
    );
    let r = f.result_timeout(Duration::from_secs(30));
    panic!("rank 0 was not aborted after its agent died: {r:?}");
}

/// Every node agent frozen for good (SIGSTOP) when `main` returns: the run must end with
/// an abort naming them, not hang in `MPI_Finalize` (it did, cluster30: rank 0 waited
/// there for ever after "agents [1, 2] did not confirm STOP"). `.ci/cluster.sh` expects
/// the abort.
fn agent_frozen_at_exit() {
    let pool = pool();
    let agents = agents_of(&pool);
    assert!(!agents.is_empty(), "the agent-frozen mode needs node agents (mpirun -n 3)");
    drop(pool);
    freeze(&agents, Duration::from_secs(2));
}

/// Every node agent frozen for good while a pool still open at exit (leaked here), or one
/// being dropped (`drop`), has jobs on them: the exit or the drop, which wait for such jobs
/// as Python's do, must end with an abort naming the nodes, not wait for ever (both did,
/// cluster30, as mpi4py.futures' exit does).
fn agent_frozen_under_an_open_pool(drop_it: bool) {
    let pool = pool();
    let agents = agents_of(&pool);
    assert!(!agents.is_empty(), "the agent-frozen-open mode needs node agents (mpirun -n 3)");
    let fs: Vec<_> = (0..4).map(|_| pool.submit(sleep_ms, 600_000)).collect();
    std::thread::sleep(Duration::from_millis(200)); // every job is on its node
    freeze(&agents, Duration::from_secs(1));
    std::mem::forget(fs);
    if drop_it {
        drop(pool);
        panic!("the drop returned with the nodes frozen");
    }
    std::mem::forget(pool);
}

/// A pool with nothing to do for `ZEROPROC_IDLE_SECS` seconds (default 3), for measuring
/// the CPU time idle node agents use (`.ci/cluster.sh` samples /proc).
fn idle() {
    let pool = pool();
    assert_eq!(pool.submit(square, 3).result(), Ok(9));
    let secs = std::env::var("ZEROPROC_IDLE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    std::thread::sleep(Duration::from_secs(secs));
    println!("cluster idle: done");
}

/// Sums a shared array through its handle; reports the rank that ran it.
fn sum_shared(h: zeroproc_mp::shared::ArrayHandle<f64>) -> (f64, u32) {
    (h.read().expect("attach").iter().sum(), rank())
}

/// Puts the rank that runs it into the queue.
fn put_rank(h: zeroproc_mp::queue::QueueHandle<u64>) {
    h.attach().expect("attach").put(u64::from(rank())).expect("put");
}

/// Writes `x` into every element of its chunk; reports the rank that ran it.
fn fill_chunk((c, x): (zeroproc_mp::shared::ChunkMut<f64>, f64)) -> u32 {
    c.write().expect("claim").fill(x);
    rank()
}

fn node_local_handles_run_on_rank_0_or_are_refused(launched: bool) {
    let arr = zeroproc_mp::SharedArray::from_slice(&[1.0, 2.0, 3.5]).unwrap();
    // Shipping off (a read-only array is shipped otherwise: `read_only_arrays_are_shipped`):
    // only node agents, a job holding a handle to rank 0's memory is refused at submission.
    zeroproc_cluster::set_array_cache_limit(0);
    let remote = pool();
    let r = remote.submit(sum_shared, arr.handle()).result();
    if launched {
        match r {
            Err(JobError::Decode { message }) => {
                assert!(message.contains("node-local handle (memfd:"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    } else {
        assert_eq!(r, Ok((6.5, 0)), "without a launcher the local pool runs it");
    }
    // With workers on rank 0, such jobs run there; the others still spread.
    let both = ClusterPool::builder().workers_per_node(1).local_workers(1).build().unwrap();
    let fs: Vec<_> = (0..20).map(|_| both.submit(sum_shared, arr.handle())).collect();
    for f in fs {
        assert_eq!(f.result(), Ok((6.5, 0)));
    }
    zeroproc_cluster::set_array_cache_limit(zeroproc_cluster::DEFAULT_ARRAY_CACHE);
    // Shipping on: a writable chunk handle is never shipped (its array is not readable
    // while the split is open): refused without workers on rank 0 (naming why), run there
    // with them, where the writes land in rank 0's array.
    let mut out = zeroproc_mp::SharedArray::<f64>::zeroed(100).unwrap();
    read_everywhere(&remote, &out.handle(), 20, Ok(0.0)); // the nodes hold copies of zeros
    let chunks = out.chunks_mut(50).unwrap();
    if launched {
        match remote.submit(fill_chunk, (chunks[0].clone(), 1.0)).result() {
            Err(JobError::Decode { message }) => assert!(
                message.contains("node-local handle (memfd:")
                    && message.contains("chunks are not finished"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }
    let ran: Vec<u32> = chunks
        .into_iter()
        .map(|c| both.submit(fill_chunk, (c, 2.0)))
        .map(|f| f.result().unwrap())
        .collect();
    assert_eq!(ran, [0, 0], "chunk jobs run on rank 0");
    // Nor is any other object: a queue handle is refused (twice: the second time from the
    // record of segments known not to be arrays) and runs on rank 0's workers.
    let q = zeroproc_mp::Queue::<u64>::new(8).unwrap();
    if launched {
        for _ in 0..2 {
            match remote.submit(put_rank, q.handle()).result() {
                Err(JobError::Decode { message }) => assert!(
                    message.contains("node-local handle (memfd:")
                        && message.contains("not a shared array")
                            | message.contains("not a whole SharedArray"),
                    "{message}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(both.submit(put_rank, q.handle()).result(), Ok(()));
    assert_eq!(q.get_timeout(Duration::from_secs(5)).ok(), Some(0));
    out.wait_chunks(Duration::from_secs(10)).unwrap();
    assert_eq!(out.as_slice().unwrap().iter().sum::<f64>(), 200.0);
    // Written in place by a split: the nodes' copies are of an older version, replaced.
    read_everywhere(&remote, &out.handle(), 20, Ok(200.0));
    drop(remote);
    let plain: BTreeSet<u32> = both.map(where_am_i, 0..200u64).map(|r| r.unwrap().1).collect();
    if launched {
        assert!(plain.len() > 1, "plain jobs still go to the agents: {plain:?}");
    }
    drop(both);
    // An initializer runs on every node's workers: a read-only array in its arguments is
    // shipped to every node before its pool starts (before, `build` refused it); any
    // other handle is refused at build, naming it, why, and what to do instead.
    for local in [0, 1] {
        let p = ClusterPool::builder()
            .workers_per_node(1)
            .local_workers(local)
            .initializer_with(init_shared, arr.handle())
            .build();
        let p = match (launched, p) {
            (_, Ok(p)) => p,
            // Without a launcher there are no nodes: the local pool runs it (or has none).
            (false, Err(ClusterError::NoTargets)) => continue,
            (_, Err(e)) => panic!("local_workers({local}): {e}"),
        };
        let read: Vec<(f64, u32, u32)> = p.map(init_read, 0..40u64).map(Result::unwrap).collect();
        let me = std::process::id();
        for &(sum, rank, pid) in &read {
            assert_eq!(sum, 6.5, "rank {rank}");
            assert_eq!(rank == 0, pid == me, "rank {rank} read the array of process {pid}");
        }
        if launched {
            let ranks: BTreeSet<u32> = read.iter().map(|r| r.1).collect();
            assert!(agent_set().is_subset(&ranks), "{ranks:?}");
        }
    }
    if launched {
        let r = ClusterPool::builder()
            .workers_per_node(1)
            .initializer_with(init_queue, q.handle())
            .build();
        match r {
            Err(ClusterError::Config(m)) => assert!(
                m.contains("node-local handle (memfd:")
                    && m.contains("not a whole SharedArray")
                    && m.contains("send the data itself"),
                "{m}"
            ),
            other => panic!("{:?}", other.map(|p| p.nodes())),
        }
    }
}

/// Its arguments back, as they arrived, with the rank that ran it.
fn echo_data((s, b): (String, Vec<u8>)) -> (String, Vec<u8>, u32) {
    (s, b, rank())
}

/// A job's `String` or bytes that spell a segment id are the user's data: never taken for
/// a handle (before, the record's bytes were scanned for id shapes: a made-up id was
/// refused as "a node-local handle", a live array's id shipped that array, a live queue's
/// id was refused — without a handle anywhere in the arguments).
fn data_that_looks_like_a_handle_is_data(launched: bool) {
    let pool = pool();
    let arr = zeroproc_mp::SharedArray::from_slice(&[1.0, 2.0, 3.5]).unwrap();
    let q = zeroproc_mp::Queue::<u64>::new(8).unwrap();
    let queue_id = format!("{:?}", q.handle());
    let queue_id = queue_id.split('"').nth(1).expect("the queue handle names its segment");
    let texts = [
        "memfd:4242:17:00000000deadbeef".to_string(),
        "see shm:/dev/shm/zp-1:0123456789abcdef and memfd:1:2:00000000000000aa".to_string(),
        arr.segment_id().to_string(),
        queue_id.to_string(),
    ];
    assert!(texts[2].starts_with("memfd:") && texts[3].starts_with("memfd:"), "{texts:?}");
    let s0 = zeroproc_cluster::arrays_shipped();
    let fs: Vec<_> = (0..8)
        .flat_map(|_| texts.iter())
        .map(|t| (t.clone(), t.as_bytes().to_vec()))
        .map(|a| (a.clone(), pool.submit(echo_data, a)))
        .collect();
    let mut ranks = BTreeSet::new();
    for ((s, b), f) in fs {
        let (s2, b2, r) = f.result().unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!((s2, b2), (s, b));
        ranks.insert(r);
    }
    if launched {
        assert_eq!(ranks, agent_set(), "ran on the nodes");
    }
    assert_eq!(zeroproc_cluster::arrays_shipped(), s0, "no array was shipped for a string");
    // A real handle next to a string naming another live array: only the handle's array
    // travels (once per node).
    let other = zeroproc_mp::SharedArray::from_slice(&[9.0; 4]).unwrap();
    let nodes = if launched { pool.nodes().len() as u64 } else { 0 };
    let fs: Vec<_> = (0..20)
        .map(|i| pool.submit(sum_named, (arr.handle(), other.segment_id().to_string(), i)))
        .collect();
    for f in fs {
        assert_eq!(f.result().unwrap().0, (6.5, other.segment_id().to_string()));
    }
    assert_eq!(zeroproc_cluster::arrays_shipped() - s0, nodes, "only the handle's array");
}

/// Sums the array and hands the text back.
fn sum_named(
    (h, s, _): (zeroproc_mp::shared::ArrayHandle<f64>, String, u64),
) -> ((f64, String), u32) {
    ((h.read().expect("read").iter().sum(), s), rank())
}

/// The file the page at `addr` is mapped from in this process (`/proc/self/maps`).
fn mapped_from(addr: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let range = f.next().unwrap_or_default();
        let (a, b) = range.split_once('-').unwrap_or_default();
        let (a, b) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16));
        if let (Ok(a), Ok(b)) = (a, b) {
            if (a..b).contains(&addr) {
                return f.nth(4).unwrap_or_default().to_string();
            }
        }
    }
    String::new()
}

/// The process whose memfd (`zeroproc-PID`) the memory at `addr` is mapped from.
fn mapped_from_pid(addr: usize) -> u32 {
    let from = mapped_from(addr);
    from.strip_prefix("/memfd:zeroproc-")
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("elements mapped from {from:?}"))
}

/// Sums an array through its handle (the read's error as text), with the rank that ran
/// it and the process whose memfd the elements are mapped from (`zeroproc-PID`).
fn sum_from(
    (h, _pad): (zeroproc_mp::shared::ArrayHandle<f64>, u64),
) -> (Result<f64, String>, u32, u32) {
    let g = match h.read() {
        Ok(g) => g,
        Err(e) => return (Err(e.to_string()), rank(), 0),
    };
    let pid = mapped_from_pid(g.as_ptr() as usize);
    (Ok(g.iter().sum()), rank(), pid)
}

/// Submits `n` reads of `h` and checks every result: `sum` (or the error text holds
/// `err`); on the nodes, read from a copy of the node's own. Returns the ranks that ran them.
fn read_everywhere(
    pool: &ClusterPool,
    h: &zeroproc_mp::shared::ArrayHandle<f64>,
    n: u64,
    want: Result<f64, &str>,
) -> BTreeSet<u32> {
    let fs: Vec<_> = (0..n).map(|i| pool.submit(sum_from, (h.clone(), i))).collect();
    let me = std::process::id();
    let mut ranks = BTreeSet::new();
    for f in fs {
        let (sum, rank, pid) = f.result().unwrap();
        match (&sum, want) {
            (Ok(s), Ok(w)) => assert_eq!(*s, w, "rank {rank}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "rank {rank}: {e}"),
            _ => panic!("rank {rank}: {sum:?}, wanted {want:?}"),
        }
        if rank != 0 && sum.is_ok() {
            // The alias must win: on this one machine rank 0's memfd is attachable from the
            // nodes through /proc, which would read rank 0's memory, not the node's copy.
            assert_ne!(pid, me, "rank {rank} read rank 0's segment, not its copy");
        }
        ranks.insert(rank);
    }
    ranks
}

/// Read-only arrays go to every node once per version and are read there from the
/// node's own copy; a write on rank 0, or a dropped array whose segment holds a new one,
/// is shipped again before the next job reads it.
fn read_only_arrays_are_shipped(launched: bool) {
    use zeroproc_cluster::arrays_shipped;
    let pool = pool();
    let nodes = if launched { pool.nodes().len() as u64 } else { 0 };
    let mut arr =
        zeroproc_mp::SharedArray::from_slice(&(0..1000).map(f64::from).collect::<Vec<_>>())
            .unwrap();
    let sum0 = 499_500.0;
    let s0 = arrays_shipped();
    let ranks = read_everywhere(&pool, &arr.handle(), 60, Ok(sum0));
    if launched {
        assert_eq!(ranks, (1..=nodes as u32).collect(), "every node ran some");
    }
    assert_eq!(arrays_shipped() - s0, nodes, "once per node");
    read_everywhere(&pool, &arr.handle(), 60, Ok(sum0));
    assert_eq!(arrays_shipped() - s0, nodes, "cached: not shipped again");
    // Rank 0 writes: every node sees the new contents from the next job on.
    arr.write().unwrap()[0] = 1e6;
    let ranks = read_everywhere(&pool, &arr.handle(), 60, Ok(sum0 + 1e6));
    if launched {
        assert_eq!(ranks.len() as u64, nodes);
    }
    assert_eq!(arrays_shipped() - s0, 2 * nodes, "the new version, once per node");
    // Dropped, and a new array of the same shape in its segment (same id, next generation).
    let (old_id, old) = (arr.segment_id().clone(), arr.handle());
    drop(arr);
    let arr = zeroproc_mp::SharedArray::from_slice(&[2.0; 1000]).unwrap();
    assert_eq!(arr.segment_id(), &old_id, "the segment was reused");
    read_everywhere(&pool, &arr.handle(), 60, Ok(2000.0));
    assert_eq!(arrays_shipped() - s0, 3 * nodes);
    // The old handle is refused everywhere, as on one machine.
    read_everywhere(&pool, &old, 20, Err("dropped"));
    drop(pool);
}

/// Each node keeps at most `set_array_cache_limit` bytes of copies: the least recently used
/// go first, and come back when a job needs them again.
fn the_node_array_cache_is_bounded(launched: bool) {
    use zeroproc_cluster::{arrays_shipped, set_array_cache_limit, DEFAULT_ARRAY_CACHE};
    if !launched {
        return;
    }
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let nodes = pool.nodes().len() as u64;
    let len = 1 << 17; // 1 MiB of f64
    let arrays: Vec<_> = (0..4)
        .map(|i| zeroproc_mp::SharedArray::from_slice(&vec![f64::from(i); len]).unwrap())
        .collect();
    // Room for two copies (and their headers) per node.
    set_array_cache_limit(2 * (8 * len + (64 << 10)));
    let s0 = arrays_shipped();
    for (i, a) in arrays.iter().enumerate() {
        read_everywhere(&pool, &a.handle(), 4 * nodes, Ok(i as f64 * len as f64));
    }
    assert_eq!(arrays_shipped() - s0, 4 * nodes);
    // Arrays 2 and 3 are cached; 0 was evicted and is shipped again.
    read_everywhere(&pool, &arrays[3].handle(), 4 * nodes, Ok(3.0 * len as f64));
    assert_eq!(arrays_shipped() - s0, 4 * nodes);
    read_everywhere(&pool, &arrays[0].handle(), 4 * nodes, Ok(0.0));
    assert_eq!(arrays_shipped() - s0, 5 * nodes, "evicted, shipped again");
    // The evicted copies are gone from the agents (their memfds closed), two are left.
    // A copy's memfd: the elements, the headers (8.7 KiB: the array header holds 1,024
    // reader slots since num31) and the 4096-entry claim table (32 KiB).
    let sizes = (8 * len as u64 + (32 << 10), 8 * len as u64 + (48 << 10));
    let held: Vec<(usize, u32)> =
        pool.map(agent_copies, vec![sizes; 8 * nodes as usize]).map(Result::unwrap).collect();
    assert!(held.iter().all(|&(n, _)| n == 2), "copies per agent: {held:?}");
    set_array_cache_limit(DEFAULT_ARRAY_CACHE);
}

/// The memfds the worker's agent (its parent) holds open whose size is within `(lo, hi)`,
/// and the rank.
fn agent_copies((lo, hi): (u64, u64)) -> (usize, u32) {
    let agent = std::os::unix::process::parent_id();
    let dir = std::fs::read_dir(format!("/proc/{agent}/fd")).expect("agent's fds");
    let n = dir
        .filter_map(|e| {
            let path = e.ok()?.path();
            let target = std::fs::read_link(&path).ok()?;
            let size = std::fs::metadata(&path).ok()?.len();
            let memfd = target.to_string_lossy().starts_with(&format!("/memfd:zeroproc-{agent}"));
            (memfd && (lo..=hi).contains(&size)).then_some(())
        })
        .count();
    (n, rank())
}

/// Creates `mark`, then waits until the file `gate` exists (at most 60 s).
fn mark_then_gate((mark, gate): (String, String)) {
    std::fs::write(&mark, b"").expect("marker");
    let until = Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&gate).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends `sig` to every process in `pids`.
fn signal_all(pids: &BTreeSet<u32>, sig: i32) {
    for &p in pids {
        // SAFETY: kill has no memory preconditions; the pids are this run's node agents.
        assert_eq!(unsafe { libc::kill(p as i32, sig) }, 0, "kill({p}, {sig})");
    }
}

/// A pool of one worker per node and its node agents' pids; `None` without node agents
/// (not launched, or `mpirun -n 1`).
fn pool_and_agents(launched: bool) -> Option<(ClusterPool, BTreeSet<u32>)> {
    if !launched {
        return None;
    }
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let agents = agents_of(&pool);
    (!agents.is_empty()).then_some((pool, agents))
}

/// Stops the node agents (SIGSTOP), rank 0 waiting `answer_wait` for their answers.
fn freeze(agents: &BTreeSet<u32>, answer_wait: Duration) {
    zeroproc_cluster::set_answer_wait(Some(answer_wait));
    signal_all(agents, libc::SIGSTOP);
}

/// Resumes the node agents (SIGCONT) and the default answer wait.
fn thaw(agents: &BTreeSet<u32>) {
    signal_all(agents, libc::SIGCONT);
    zeroproc_cluster::set_answer_wait(None);
}

/// The pids of `pool`'s node agents (the parents of their workers); empty without agents
/// (`mpirun -n 1`: the jobs run on rank 0's own pool, whose workers' parent is this process).
fn agents_of(pool: &ClusterPool) -> BTreeSet<u32> {
    let mut agents = BTreeSet::new();
    if pool.nodes().iter().any(|n| n.0 == 0) {
        return agents;
    }
    while agents.len() < pool.nodes().len() {
        let fs: Vec<_> = (0..8).map(|i| pool.submit(agent_pid, i)).collect();
        agents.extend(fs.into_iter().map(|f| f.result().unwrap().0));
    }
    agents
}

/// `build` while the nodes are frozen (SIGSTOP past the wait for their answers) fails
/// naming them, not rank 0 (before, cluster30: "rank 0: node agents did not answer within
/// 120 s"); resumed, they serve the next pool.
fn a_build_names_the_nodes_that_do_not_answer(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    drop(pool);
    freeze(&agents, Duration::from_millis(500));
    let r = ClusterPool::builder().workers_per_node(1).build();
    thaw(&agents);
    match r {
        Err(ClusterError::Node { rank: 1, message }) => {
            assert!(
                message.contains(&format!("ranks {:?}", self::agents()))
                    && message.contains("did not answer"),
                "{message}"
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("frozen nodes built a pool"),
    }
    let next = ClusterPool::builder().workers_per_node(1).build().unwrap();
    assert_eq!(next.submit(square, 4).result(), Ok(16));
}

/// Runs `f` on a thread; panics naming `what` if it has not returned within 20 s.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what} hangs"))
}

/// `cancel()` and `terminate()` of a job whose node is frozen (SIGSTOP past the answer
/// wait): they return (Python's never block); `terminate()`'s future is then done
/// (`Cancelled`, as it promises), `cancel()` says false (the job's fate is unknown). Before
/// (cluster30) both waited for the node's answer for ever, and so did dropping a
/// `cancel_on_drop` future.
fn cancel_and_terminate_return_while_a_node_is_silent(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 600_000)).collect();
    let dropped = pool.submit(sleep_ms, 600_000).cancel_on_drop();
    std::thread::sleep(Duration::from_millis(200)); // every job is on its node
    freeze(&agents, Duration::from_millis(300));
    let fs = Arc::new(fs);
    let f2 = fs.clone();
    let cancelled = returns("cancel()", move || f2[0].cancel());
    let f2 = fs.clone();
    let terminated = returns("terminate()", move || f2[1].terminate());
    returns("dropping a cancel_on_drop future", move || drop(dropped));
    thaw(&agents);
    assert!(!cancelled, "cancel() promised a job whose node did not answer");
    assert!(terminated && fs[1].done(), "terminate() left its future pending");
    assert_eq!(fs[1].exception_kind(), Some(zeroproc_sched::JobErrorKind::Cancelled));
    pool.terminate();
    assert!(fs.iter().all(|f| f.done()));
}

/// `terminate` while every node is frozen (SIGSTOP past the wait for their answers): when
/// it returns every future is done (`Cancelled`, as `terminate` promises), none waits for
/// ever; resumed, the nodes kill those jobs and serve the next pool. Before (cluster30),
/// `terminate` returned with the silent nodes' futures pending, and `result()` on them
/// never returned.
fn terminate_resolves_the_jobs_of_a_silent_node(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 600_000)).collect();
    std::thread::sleep(Duration::from_millis(200)); // every job is on its node
    freeze(&agents, Duration::from_millis(300));
    pool.terminate();
    thaw(&agents);
    for f in fs {
        assert!(f.done(), "terminate returned with a silent node's future pending");
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
    drop(pool);
    let next = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let ranks: BTreeSet<u32> =
        next.map(where_am_i, 0..40).map(|r| r.unwrap().1).collect::<BTreeSet<_>>();
    assert_eq!(ranks.len(), next.nodes().len(), "the resumed nodes serve: {ranks:?}");
}

/// `shutdown_with(cancel_futures(true).timeout(1 s))` while every node is frozen (SIGSTOP,
/// the default answer waits — no test hook): it returns within about its time-out + 2 s,
/// false, with every future done (`Cancelled`); resumed, the nodes serve the next pool.
/// Before, it took the cancels' 30 s, then 1 s, then the terminate's 60 s and 5 s: 96 s.
fn a_timed_shutdown_keeps_its_time_while_nodes_are_frozen(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 600_000)).collect();
    std::thread::sleep(Duration::from_millis(200)); // every job is on its node
    zeroproc_cluster::set_answer_wait(None);
    signal_all(&agents, libc::SIGSTOP);
    let t = Instant::now();
    let how = Shutdown::new().cancel_futures(true).timeout(Duration::from_secs(1));
    let (finished, pool) =
        returns("shutdown_with(timeout(1 s))", move || (pool.shutdown_with(how), pool));
    let took = t.elapsed();
    signal_all(&agents, libc::SIGCONT);
    assert!(!finished, "a timed shutdown said its frozen nodes' jobs finished");
    // Generous for a loaded host; the defect took 96 s (and `returns` gives up at 20 s).
    assert!(took < Duration::from_secs(15), "a timed shutdown of 1 s took {took:?}");
    for f in fs {
        assert!(f.done(), "a timed shutdown returned with a frozen node's future pending");
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
    drop(pool);
    let next = ClusterPool::builder().workers_per_node(1).build().unwrap();
    assert_eq!(next.submit(square, 5).result(), Ok(25));
}

/// `shutdown_with(timeout(1 s))` while every node is frozen (SIGSTOP, the default answer
/// waits) but owes no job: it returns within about its time-out + 2 s too, true (every job
/// finished), as its documentation promises; resumed, the nodes serve the next pool.
/// Before, the jobs being done, it waited the full 60 s for the nodes' answers to the
/// pools' end (`end(SHUTDOWN, END_WAIT)`), whatever the time-out (measured: 60.0 s).
fn a_timed_shutdown_keeps_its_time_when_frozen_nodes_owe_nothing(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    assert_eq!(pool.map(square, 0..8).map(Result::unwrap).sum::<u64>(), 140);
    zeroproc_cluster::set_answer_wait(None);
    signal_all(&agents, libc::SIGSTOP);
    let t = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let how = Shutdown::new().timeout(Duration::from_secs(1));
        let _ = tx.send((pool.shutdown_with(how), t.elapsed()));
        pool
    });
    // Generous for a loaded host; the defect took 60 s.
    let r = rx.recv_timeout(Duration::from_secs(20));
    signal_all(&agents, libc::SIGCONT);
    let (finished, took) = r.expect("shutdown_with(timeout(1 s)) took over 20 s");
    assert!(finished, "every job had finished, yet the timed shutdown said not");
    assert!(took < Duration::from_secs(15), "a timed shutdown of 1 s took {took:?}");
    let next = ClusterPool::builder().workers_per_node(1).build().unwrap();
    assert_eq!(next.submit(square, 6).result(), Ok(36));
}

/// `shutdown_with(cancel_futures(true).timeout(d).wait(false))` (a `wait(false)` after the
/// `timeout`, which it overrides: nothing is waited for) cancels as Python's
/// `shutdown(wait=False, cancel_futures=True)` does: every future it cancels is cancelled
/// when it returns — the jobs the nodes hold included, as without the time-out. Before,
/// the time-out (meant for the jobs) also cut the wait for the nodes' answers to the
/// cancels: with `d` = 0 it returned with those futures pending (cancelled a moment later).
fn a_shutdown_without_wait_cancels_before_returning(launched: bool) {
    let Some((pool, _agents)) = pool_and_agents(launched) else { return };
    let fs: Vec<_> = (0..40).map(|_| pool.submit(sleep_ms, 300)).collect();
    std::thread::sleep(Duration::from_millis(200)); // the nodes hold their windows
    let how = Shutdown::new().cancel_futures(true).timeout(Duration::ZERO).wait(false);
    assert!(!pool.shutdown_with(how), "running jobs were left to finish");
    let at_return: Vec<bool> = fs.iter().map(|f| f.cancelled()).collect();
    drop(pool); // waits for the rest
    let in_the_end: Vec<bool> = fs.iter().map(|f| f.cancelled()).collect();
    let late: Vec<usize> = (0..fs.len()).filter(|&i| in_the_end[i] && !at_return[i]).collect();
    assert!(late.is_empty(), "futures cancelled only after shutdown_with returned: {late:?}");
    assert!(in_the_end.iter().any(|&c| c), "nothing was cancelled");
}

/// A node that answers a question (`stats`, `running`) after rank 0 stopped waiting (the
/// agents frozen with SIGSTOP past the answer wait, then resumed): its late answer must not
/// be taken for the next question's. Before (cluster30), the next `node_stats` took the
/// late reply as well as the new ones (rank 1 listed twice, or rank 2 missing) and the next
/// `running()` took the late "queued" answer for a job that had started.
fn a_late_answer_is_not_taken_for_the_next_question(launched: bool) {
    let Some((pool, agents)) = pool_and_agents(launched) else { return };
    let ranks: Vec<usize> = pool.nodes().iter().map(|n| n.0).collect();
    let dir = std::env::temp_dir();
    let name = |what: &str| {
        dir.join(format!("zeroproc-late-{what}-{}", std::process::id()))
            .to_string_lossy()
            .into_owned()
    };
    let (gate1, gate2, mark, unused) = (name("gate1"), name("gate2"), name("mark"), name("unused"));
    // One blocked job per worker, then `x`, queued behind one of them.
    let hold: Vec<_> = ranks
        .iter()
        .map(|_| pool.submit(gate_then_mark, (gate1.clone(), unused.clone())))
        .collect();
    let x = pool.submit(mark_then_gate, (mark.clone(), gate2.clone()));
    std::thread::sleep(Duration::from_millis(200)); // everything is on its node
    freeze(&agents, Duration::from_millis(300));
    let frozen = pool.node_stats();
    let was_running = x.running();
    signal_all(&agents, libc::SIGCONT);
    assert!(frozen.is_empty(), "frozen nodes answered: {:?}", frozen.len());
    assert!(!was_running, "a frozen node answered that x runs");
    std::thread::sleep(Duration::from_millis(300)); // the late answers arrive
    std::fs::write(&gate1, b"").unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&mark).exists() {
        assert!(Instant::now() < until, "x never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(x.running(), "x runs (it made its mark), but running() took a late answer");
    let after: Vec<usize> = pool.node_stats().iter().map(|s| s.0).collect();
    zeroproc_cluster::set_answer_wait(None);
    assert_eq!(after, ranks, "each node's statistics once, its current ones");
    std::fs::write(&gate2, b"").unwrap();
    assert_eq!(x.result(), Ok(()));
    hold.into_iter().for_each(|f| assert_eq!(f.result(), Ok(())));
    for f in [gate1, gate2, mark, unused] {
        let _ = std::fs::remove_file(f);
    }
}

/// The node agent running this job (its worker's parent), and the rank.
fn agent_pid(_: u64) -> (u32, u32) {
    (std::os::unix::process::parent_id(), rank())
}

/// Sets process `pid`'s soft limit of open files (`None`: to the lowest free descriptor
/// number, so its next open fails with EMFILE); returns the limit it had.
fn set_nofile(pid: u32, soft: Option<u64>) -> u64 {
    let lowest_free = || {
        let open: BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("the agent's fds")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        (0..).find(|n| !open.contains(n)).expect("a free number")
    };
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `old` is a valid rlimit to write; a null new limit only reads.
    let rc = unsafe {
        libc::prlimit(pid as libc::pid_t, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old)
    };
    assert_eq!(rc, 0, "prlimit({pid}): {}", std::io::Error::last_os_error());
    let new = libc::rlimit { rlim_cur: soft.unwrap_or_else(lowest_free), rlim_max: old.rlim_max };
    // SAFETY: `new` is a valid rlimit; the old one is not asked for.
    let rc = unsafe {
        libc::prlimit(pid as libc::pid_t, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut())
    };
    assert_eq!(rc, 0, "prlimit({pid}): {}", std::io::Error::last_os_error());
    old.rlim_cur
}

/// A node that fails to make its copy of an array (here: its agent may open no file, so
/// the copy's memfd cannot be created) fails the jobs that read it, naming the cause; once
/// the cause is gone, the next jobs there ship the array again and read it. Before, rank 0
/// counted the failed copy as held: every later job reading that array on that node failed
/// with the old error until the array was written.
fn a_failed_node_copy_is_shipped_again(launched: bool) {
    if !launched {
        return;
    }
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let nodes = pool.nodes().len();
    let agents: BTreeSet<(u32, u32)> =
        pool.map(agent_pid, 0..20 * nodes as u64).map(Result::unwrap).collect();
    assert_eq!(agents.len(), nodes, "one agent per node: {agents:?}");
    // A size no segment of the run had: no reusable segment spares the agent an open.
    let arr = zeroproc_mp::SharedArray::from_slice(&[1.5; 12_345]).unwrap();
    let sum = 1.5 * 12_345.0;
    let old: Vec<(u32, u64)> =
        agents.iter().map(|&(pid, _)| (pid, set_nofile(pid, None))).collect();
    let fs: Vec<_> =
        (0..8 * nodes as u64).map(|i| pool.submit(sum_from, (arr.handle(), i))).collect();
    let outcomes: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    for (pid, soft) in old {
        set_nofile(pid, Some(soft));
    }
    for r in &outcomes {
        match r {
            Err(JobError::Decode { message }) => assert!(
                message.contains("could not make its copy of array")
                    && message.contains("os error 24"),
                "{message}"
            ),
            other => panic!("the copy cannot be made, yet: {other:?}"),
        }
    }
    // The cause is gone: every node reads the array now.
    let ranks = read_everywhere(&pool, &arr.handle(), 8 * nodes as u64, Ok(sum));
    assert_eq!(ranks.len(), nodes, "{ranks:?}");
    // The same for an initializer's array: a node without its copy refuses to build its
    // pool, naming why; the next build ships it again.
    let init = zeroproc_mp::SharedArray::from_slice(&[0.5; 23_456]).unwrap();
    let build = || {
        ClusterPool::builder()
            .workers_per_node(1)
            .initializer_with(init_shared, init.handle())
            .build()
    };
    let old: Vec<(u32, u64)> =
        agents.iter().map(|&(pid, _)| (pid, set_nofile(pid, None))).collect();
    let r = build();
    for (pid, soft) in old {
        set_nofile(pid, Some(soft));
    }
    match r {
        Err(ClusterError::Node { message, .. }) => assert!(
            message.contains("could not make its copy of array") && message.contains("os error 24"),
            "{message}"
        ),
        other => panic!("{:?}", other.map(|p| p.nodes())),
    }
    let p = build().expect("shipped again");
    let read: Vec<(f64, u32, u32)> = p.map(init_read, 0..40u64).map(Result::unwrap).collect();
    assert!(read.iter().all(|r| r.0 == 0.5 * 23_456.0), "{read:?}");
}

/// Element `i` of an array, and the rank that read it.
fn pick((h, i): (zeroproc_mp::shared::ArrayHandle<f64>, usize)) -> (f64, u32) {
    (h.read().expect("read")[i], rank())
}

/// 64 MiB of f64: `i as f64` at `i`.
fn large_array() -> zeroproc_mp::SharedArray<f64> {
    let len = 8 << 20;
    let mut a = zeroproc_mp::SharedArray::<f64>::zeroed(len).unwrap();
    a.write().unwrap().iter_mut().enumerate().for_each(|(i, x)| *x = i as f64);
    a
}

/// A 64 MiB array goes to each node once, and many jobs read it there.
fn a_large_array_is_shipped_once(launched: bool) {
    let pool = pool();
    let nodes = if launched { pool.nodes().len() as u64 } else { 0 };
    let arr = large_array();
    let s0 = zeroproc_cluster::arrays_shipped();
    let fs: Vec<_> = (0..300).map(|i| pool.submit(pick, (arr.handle(), i * 27_961))).collect();
    let mut ranks = BTreeSet::new();
    for (i, f) in fs.into_iter().enumerate() {
        let (x, r) = f.result().unwrap();
        assert_eq!(x, (i * 27_961) as f64);
        ranks.insert(r);
    }
    assert_eq!(zeroproc_cluster::arrays_shipped() - s0, nodes, "once per node");
    if launched {
        assert_eq!(ranks.len() as u64, nodes, "{ranks:?}");
    }
    // The last open pool gone, the nodes free their copies; a later pool ships again.
    drop(pool);
    let pool = self::pool();
    let size = 8 * (8u64 << 20);
    // The copy's memfd: elements, headers (8.7 KiB) and claim table (32 KiB).
    let sizes = vec![(size + (32 << 10), size + (48 << 10)); 4 * nodes.max(1) as usize];
    let held: Vec<(usize, u32)> = pool.map(agent_copies, sizes).map(Result::unwrap).collect();
    // (Without a launcher the workers' parent is this process, which holds the array.)
    assert!(!launched || held.iter().all(|&(n, _)| n == 0), "copies left on the agents: {held:?}");
    let fs: Vec<_> = (0..20).map(|i| pool.submit(pick, (arr.handle(), i))).collect();
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.result().unwrap().0, i as f64);
    }
    assert_eq!(zeroproc_cluster::arrays_shipped() - s0, 2 * nodes, "shipped again");
}

/// Mode `ship-bench`: the cost of shipping a 64 MiB array to every node (one worker each):
/// time to the results of the first job on each node (which wait for the copy) against a
/// job once the copy is cached, and a job holding no array. Prints; asserts nothing timed.
fn ship_bench() {
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let nodes = pool.nodes().len();
    let mut arr = large_array();
    let p50 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let us = |t: Instant| t.elapsed().as_secs_f64() * 1e6;
    for round in 0..5 {
        arr.write().unwrap()[0] = f64::from(round); // a new version: shipped again
        let t = Instant::now();
        let fs: Vec<_> = (0..nodes).map(|i| pool.submit(pick, (arr.handle(), i))).collect();
        let mut firsts = Vec::new();
        for f in fs {
            let (_, r) = f.result().unwrap();
            firsts.push((r, us(t) / 1e3));
        }
        let cached: Vec<f64> = (0..500)
            .map(|i| {
                let t = Instant::now();
                pool.submit(pick, (arr.handle(), i)).result().unwrap();
                us(t)
            })
            .collect();
        let plain: Vec<f64> = (0..500)
            .map(|i| {
                let t = Instant::now();
                pool.submit(square, i as u64).result().unwrap();
                us(t)
            })
            .collect();
        println!(
            "ship-bench round {round}: 64 MiB to {nodes} nodes, first results (rank, ms) {firsts:.1?}; \
             then p50 {:.1} us per job reading the cached copy, {:.1} us per job without an array",
            p50(cached),
            p50(plain)
        );
    }
    println!("ship-bench: {} arrays shipped", zeroproc_cluster::arrays_shipped());
}

/// Mode `map-input-bench [N] [ROUNDS]`: tiny jobs (`x * 2`) through `map` over `0..N`, a
/// filled `std::sync::mpsc` receiver and a filled `crossbeam_channel` one (inputs whose
/// `size_hint` promises nothing), alternated, default pool. Prints jobs/s; asserts only
/// the results.
fn map_input_bench() {
    let arg = |i: usize, d: u64| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (n, rounds) = (arg(2, 200_000), arg(3, 3));
    let pool = ClusterPool::new().unwrap();
    let expect: u64 = (0..n).map(|x| 2 * x).sum();
    // CPU time of this process (rank 0: the map's thread and the progress thread; the
    // workers are other processes), less sensitive to a loaded machine than the rate.
    let cpu = || {
        // SAFETY: getrusage(2) writes the zeroed struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_SELF is always valid.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        s(u.ru_utime) + s(u.ru_stime)
    };
    let run = |name: &str, items: &mut dyn Iterator<Item = u64>| {
        let (t, c) = (Instant::now(), cpu());
        let sum: u64 = pool.map(|x: u64| 2 * x, items).map(Result::unwrap).sum();
        let rate = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        let ns = (cpu() - c) / n as f64 * 1e9;
        assert_eq!(sum, expect, "{name}");
        format!("{rate:.3} M/s ({ns:.0} ns CPU/job)")
    };
    for round in 0..rounds {
        let range = run("range", &mut (0..n));
        let (tx, rx) = std::sync::mpsc::channel();
        (0..n).for_each(|x| tx.send(x).unwrap());
        drop(tx);
        let mpsc = run("mpsc", &mut rx.into_iter());
        let (tx, rx) = crossbeam_channel::unbounded();
        (0..n).for_each(|x| tx.send(x).unwrap());
        drop(tx);
        let cb = run("crossbeam", &mut rx.into_iter());
        println!(
            "map-input-bench round {round}: {n} tiny jobs, {} workers: range {range}, mpsc {mpsc}, \
             crossbeam {cb}",
            pool.workers()
        );
    }
}

/// What the initializer read: the sum and the process whose memfd the elements are in.
static INIT_READ: std::sync::OnceLock<(f64, u32)> = std::sync::OnceLock::new();

fn init_shared(h: zeroproc_mp::shared::ArrayHandle<f64>) {
    let g = h.read().expect("attach");
    let pid = mapped_from_pid(g.as_ptr() as usize);
    INIT_READ.set((g.iter().sum(), pid)).expect("once per worker");
}

/// What this worker's initializer read, and the rank.
fn init_read(_: u64) -> (f64, u32, u32) {
    let (sum, pid) = *INIT_READ.get().expect("initialized");
    (sum, rank(), pid)
}

fn init_queue(_: zeroproc_mp::queue::QueueHandle<u64>) {}

fn slow_where(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    rank()
}

/// Work conservation across nodes: with one job per worker in flight per node, a node busy
/// with a long job is sent nothing more; the short jobs all run on the other node, and
/// finish while the long one still runs.
fn a_busy_node_gets_no_jobs_another_can_start(launched: bool) {
    if !launched || agents().len() < 2 {
        return;
    }
    let pool = ClusterPool::builder().workers_per_node(1).window_per_worker(1).build().unwrap();
    let long = pool.submit(slow_where, 2000);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let short: Vec<u32> =
        (0..30).map(|_| pool.submit(slow_where, 5)).map(|f| f.result().unwrap()).collect();
    let took = t.elapsed();
    assert!(!long.done(), "the long job is still running after the short ones ({took:?})");
    let long_rank = long.result().unwrap();
    assert!(
        short.iter().all(|&r| r != long_rank),
        "short jobs ran on the busy node {long_rank}: {short:?}"
    );
}

/// The same with the default window (4 jobs per worker): the jobs sent to a node before
/// its one worker took a 10-minute job have not started; they move to the idle node (before,
/// they waited behind the long job while the other node idled: the short jobs' results
/// timed out).
fn jobs_a_busy_node_holds_move_to_an_idle_one(launched: bool) {
    if !launched || agents().len() < 2 {
        return;
    }
    let pool = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let long = pool.submit(sleep_ms, 600_000);
    let short: Vec<_> = (0..30).map(|_| pool.submit(slow_where, 1)).collect();
    let ranks: BTreeSet<u32> = short
        .into_iter()
        .map(|f| match f.result_timeout(Duration::from_secs(60)) {
            Ok(r) => r.unwrap(),
            Err(_) => panic!("a short job waits behind the long one while a node idles"),
        })
        .collect();
    assert!(!long.done(), "the long job is done");
    assert!(long.terminate());
    assert_eq!(long.result(), Err(JobError::Cancelled));
    // On the idle nodes only (one under `-n 3`).
    assert!(ranks.len() < agents().len(), "short jobs ran on the busy node too: {ranks:?}");
    // With a worker on rank 0 too, wherever the long job lands (rank 0's own pool holds a
    // window as well: before, its queued jobs waited there while the nodes idled).
    let mixed = ClusterPool::builder().workers_per_node(1).local_workers(1).build().unwrap();
    for _ in 0..2 {
        let long = mixed.submit(sleep_ms, 600_000);
        let short: Vec<_> = (0..30).map(|_| mixed.submit(slow_where, 1)).collect();
        for f in short {
            match f.result_timeout(Duration::from_secs(60)) {
                Ok(r) => assert!(r.is_ok()),
                Err(_) => panic!("a short job waits behind the long one while a worker idles"),
            }
        }
        assert!(long.terminate());
    }
    drop(mixed);
    // A job being moved and cancelled by its user at the same time is cancelled, exactly
    // once; every other job still runs.
    let long = pool.submit(sleep_ms, 600_000);
    let fs: Vec<_> = (0..20).map(|_| pool.submit(sleep_ms, 20)).collect();
    let cancelled = fs.iter().filter(|f| f.cancel()).count();
    let outcomes: Vec<_> = fs.into_iter().map(|f| f.result()).collect();
    let n_cancelled = outcomes.iter().filter(|r| **r == Err(JobError::Cancelled)).count();
    assert_eq!(n_cancelled, cancelled, "{outcomes:?}");
    assert!(outcomes.iter().all(|r| *r == Ok(20) || *r == Err(JobError::Cancelled)));
    long.terminate();
    // Futures terminated by their drop while rank 0 moves jobs (each node's terminated
    // job frees its worker): none is moved and run again (before, a job whose terminate
    // was under way was taken back and placed again, and the pool's drop waited 10 min).
    drop(pool);
    let pool = ClusterPool::builder().workers_per_node(2).build().unwrap();
    for _ in 0..3 {
        let fs: Vec<_> = (0..pool.workers() + 5)
            .map(|_| pool.submit(sleep_ms, 600_000).cancel_on_drop())
            .collect();
        // Some job runs, not necessarily the first: waiting for the first one failed now
        // and then, on main too (baa74ab: 1 of 6 runs), with 4 of the 9 running (every
        // worker busy) and the first not among them — probably a node pool moving the
        // unstarted jobs of a worker still respawning from the last round's terminate
        // into a busy worker's ring, behind a 10-minute job (not confirmed).
        let until = Instant::now() + Duration::from_secs(60);
        while !fs.iter().any(|f| f.running()) {
            let done: Vec<_> = fs.iter().filter(|f| f.done()).map(|f| f.exception()).collect();
            assert!(Instant::now() < until, "no job started in 60 s (ended: {done:?})");
        }
        drop(fs);
        let f = pool.submit(square, 3);
        assert_eq!(
            f.result_timeout(Duration::from_secs(30)).ok(),
            Some(Ok(9)),
            "a terminated job ran again"
        );
    }
    assert!(
        pool.shutdown_with(Shutdown::new().timeout(Duration::from_secs(1))),
        "a terminated job ran again"
    );
}

/// `finish()` (what `main`'s end does) while a pool still has jobs on the nodes: they fail
/// with `Shutdown` at once instead of waiting forever, and the pool drops without hanging.
fn finish_under_a_live_pool_fails_its_jobs(launched: bool) {
    let pool = pool();
    // With workers on rank 0 too: after `finish` its new jobs fail as well (before, clu33,
    // those placed on rank 0's pool ran and those placed on a stopped node failed).
    let with_local = ClusterPool::builder().workers_per_node(1).local_workers(1).build().unwrap();
    let running = pool.submit(sleep_ms, 60_000);
    let queued: Vec<_> = (0..100).map(|_| pool.submit(sleep_ms, 60_000)).collect();
    std::thread::sleep(Duration::from_millis(200));
    zeroproc_cluster::finish();
    if launched {
        for _ in 0..10 {
            assert_eq!(with_local.submit(square, 3).result(), Err(JobError::Shutdown));
        }
        let after: Vec<_> = with_local.map(square, 0..6u64).collect();
        assert!(after.iter().all(|r| *r == Err(JobError::Shutdown)), "{after:?}");
        assert!(matches!(with_local.try_submit(square, 3), Err(TrySubmitError::Shutdown(3))));
    }
    drop(with_local);
    // Jobs on the nodes fail with `Shutdown`; with no nodes (no launcher, `mpirun -n 1`)
    // they are in rank 0's own pool, which `finish` leaves running: terminated here.
    let on_nodes = pool.nodes().iter().all(|n| n.0 != 0);
    if !on_nodes {
        pool.terminate();
    }
    let t = Instant::now();
    let want = if on_nodes { JobError::Shutdown } else { JobError::Cancelled };
    // Questions to the nodes do not wait for answers that cannot come.
    assert!(!running.running());
    assert!(pool.stats().workers.len() <= pool.workers());
    assert_eq!(running.result(), Err(want.clone()));
    for f in queued {
        match f.result() {
            // Under `mpirun -n 1`, those waiting on rank 0 for room fail at `finish` too.
            Err(JobError::Shutdown) if !on_nodes && launched => {}
            r => assert_eq!(r, Err(want.clone())),
        }
    }
    drop(pool);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(matches!(ClusterPool::builder().build(), Err(ClusterError::Unavailable(_)) | Ok(_)));
}

/// A large result (rendezvous-sized for MPI: its send completes only once rank 0 receives it).
fn quarter_mib(x: u64) -> Vec<u8> {
    vec![x as u8; 256 << 10]
}

/// Mode `finish-busy` (its own mpirun run, as it ends MPI): the cluster is finished while
/// the nodes stream large results back. Each agent's sends still in flight at `STOP` must be
/// received by rank 0 before MPI is finalized; before, an agent waited for them forever
/// (rank 0 had stopped receiving) and every rank hung in `MPI_Finalize`. A result that
/// arrived resolves its future; the rest fail with `Shutdown`.
fn finish_while_nodes_send_large_results() {
    let pool = pool();
    let fs: Vec<_> = (0..2000u64).map(|x| pool.submit(quarter_mib, x)).collect();
    // Results are flowing (rank 0's progress thread receives them meanwhile).
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    zeroproc_cluster::finish();
    let (mut ok, mut shut) = (0, 0);
    for (x, f) in fs.into_iter().enumerate() {
        match f.result() {
            Ok(v) => {
                assert!(v.len() == 256 << 10 && v.iter().all(|&b| b == x as u8), "job {x}");
                ok += 1;
            }
            Err(JobError::Shutdown) => shut += 1,
            Err(e) => panic!("job {x}: {e:?}"),
        }
    }
    drop(pool);
    let ms = t.elapsed().as_millis();
    println!("cluster test finish_while_nodes_send_large_results ... ok ({ok} results, {shut} Shutdown, {ms} ms)");
}

/// Polls `f` to completion, parking between polls (woken by the future's waker).
fn fails(x: u64) -> u64 {
    panic!("job {x} failed")
}

/// A future awaited by reference (`(&mut f).await`) hands its outcome over, but stays done
/// with the outcome's kind, as a pool's `JobFuture` (`crates/sched/tests/await_taken.rs`):
/// before, `exception_kind()` said `None` for a job that had panicked, `cancelled()` said
/// false for a cancelled one, `exception()` said `None`, a callback added was never run,
/// and `wait(FirstException)` waited on past the failure.
fn an_awaited_future_keeps_its_outcome_kind(_: bool) {
    let pool = ClusterPool::builder().workers_per_node(1).local_workers(2).build().unwrap();
    let mut failed = pool.submit(fails, 7);
    assert!(matches!(block_on(&mut failed), Err(JobError::Panicked { .. })));
    assert!(failed.done());
    assert_eq!(failed.exception_kind(), Some(zeroproc_sched::JobErrorKind::Panicked));
    assert!(!failed.cancelled());
    let panic_of = |f: &dyn Fn()| {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("panics");
        let text = e.downcast_ref::<&str>().map(|s| s.to_string());
        e.downcast_ref::<String>().cloned().or(text).unwrap_or_default()
    };
    let m = panic_of(&|| drop(failed.exception()));
    assert!(m.contains("already taken") && m.contains(".await"), "{m}");
    let m = panic_of(&|| failed.add_done_callback(|_| {}));
    assert!(m.contains("already taken") && m.contains(".await"), "{m}");
    // `result()` likewise (it was `Err(Decode)`, naming a decoding failure).
    let mut again = pool.submit(fails, 8);
    let _ = block_on(&mut again);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || again.result()));
    assert!(r.is_err(), "result() after the await: {r:?}");
    let long = pool.submit(sleep_ms, 30_000);
    let t = Instant::now();
    let (done, not_done) =
        wait(vec![failed, long], ReturnWhen::FirstException, Some(Duration::from_secs(60)));
    assert_eq!((done.len(), not_done.len()), (1, 1), "waited {:?}", t.elapsed());
    assert!(not_done[0].terminate());
    // A cancelled job stays cancelled once awaited.
    let blockers: Vec<_> = (0..pool.workers()).map(|_| pool.submit(sleep_ms, 300)).collect();
    let mut queued = pool.submit(sleep_ms, 1);
    assert!(queued.cancel(), "queued behind the blockers");
    assert_eq!(block_on(&mut queued), Err(JobError::Cancelled));
    assert!(queued.cancelled() && queued.cancel());
    assert_eq!(queued.exception_kind(), Some(zeroproc_sched::JobErrorKind::Cancelled));
    for b in blockers {
        assert_eq!(b.result(), Ok(300));
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark()
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Rings that hold only a few records (64 KiB rings, 20 KB arguments, windows of 8 per
/// worker): jobs wait for room on rank 0 or in the agent, none fails.
fn full_rings_make_jobs_wait_not_fail(_: bool) {
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .local_workers(1)
        .window_per_worker(8)
        .ring_capacity(1 << 16)
        .build()
        .unwrap();
    let fs: Vec<_> = (0..40u64)
        .map(|i| {
            pool.submit(
                |(ms, v): (u64, Vec<u8>)| {
                    std::thread::sleep(Duration::from_millis(ms));
                    v.len() as u64
                },
                (10, vec![i as u8; 20_000]),
            )
        })
        .collect();
    for f in fs {
        assert_eq!(f.result(), Ok(20_000));
    }
}

/// `stats().backlog` counts the jobs waiting on rank 0 for a node with room, as a `Pool`'s
/// counts its `submit` backlog. Before, it summed only rank 0's own pool's backlog, which a
/// cluster pool never fills: 0 with 4,992 of 5,000 jobs waiting (user28 `c_many`).
fn stats_backlog_counts_jobs_waiting_on_rank_0(_: bool) {
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .local_workers(1)
        .window_per_worker(1)
        .build()
        .unwrap();
    let hold = (0..pool.workers()).map(|_| pool.submit(slow_where, 300)).collect::<Vec<_>>();
    let fs: Vec<_> = (0..20u64).map(|i| pool.submit(square, i)).collect();
    let backlog = pool.stats().backlog;
    assert_eq!(backlog, 20, "{} worker(s), window 1: the 20 later jobs wait", pool.workers());
    hold.into_iter().for_each(|f| assert!(f.result().is_ok()));
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u64 * i as u64));
    }
    assert_eq!(pool.stats().backlog, 0);
}

fn touch((dir, i): (String, u64)) {
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(format!("{dir}/{i}"), b"done").unwrap();
}

/// `leaked DIR` (`leaked-exit DIR`): 50 jobs of 20 ms given to a cluster pool that is never
/// dropped, then `main` returns (calls `exit(0)`).
fn leaked_pool(dir: String, exit: bool) {
    let pool = ClusterPool::builder().local_workers(2).build().unwrap();
    for i in 0..50 {
        drop(pool.submit(touch, (dir.clone(), i)));
    }
    std::mem::forget(pool);
    if exit {
        std::process::exit(0);
    }
}

/// A cluster pool never dropped (leaked, in a `static`) runs its queued jobs before the
/// program ends, as a `Pool` does at the end of `#[zeroproc::main]` and Python's executors
/// do at exit. Before, the jobs waiting on rank 0 for room were lost without a word: 8 of
/// 50 ran (user28 `c_leak_exit`). Run without a launcher (a child of this test).
fn a_leaked_pool_runs_its_queued_jobs_at_exit(_: bool) {
    for mode in ["leaked", "leaked-exit"] {
        let dir = std::env::temp_dir().join(format!("zp-leaked-{}-{mode}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.arg(mode).arg(&dir);
        for v in zeroproc_cluster::LAUNCHER_VARS {
            cmd.env_remove(v);
        }
        let st = cmd.status().unwrap();
        let ran = std::fs::read_dir(&dir).unwrap().count();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(st.success(), "{mode}: {st}");
        assert_eq!(ran, 50, "{mode}: jobs that ran before the program ended");
    }
}

fn sleep_long(_: ()) {
    std::thread::sleep(Duration::from_secs(600));
}

/// Cancelling jobs that wait on rank 0, one at a time newest first, costs O(log n) each
/// (Python's `cancel` is O(1)). Before, each cancel searched the queue from its oldest
/// job: 200,000 took 8.9 s (0.13 s after; user28 `c_cancel_rev`), and of the 250,000
/// here 59,819 were cancelled when the bound struck at 10 s (the whole check: 0.7 s after).
fn cancelling_a_large_queue_newest_first(_: bool) {
    const JOBS: u64 = 250_000;
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .local_workers(1)
        .window_per_worker(1)
        .build()
        .unwrap();
    let hold: Vec<_> = (0..pool.workers()).map(|_| pool.submit(sleep_long, ())).collect();
    let fs: Vec<_> = (0..JOBS).map(|i| pool.submit(square, i)).collect();
    assert_eq!(pool.stats().backlog as u64, JOBS);
    let t = Instant::now();
    for (k, f) in fs.iter().rev().enumerate() {
        assert!(f.cancel(), "job {} of {JOBS} (newest first) was not cancelled", k + 1);
        let bound = Duration::from_secs(10);
        assert!(t.elapsed() < bound, "{k} of {JOBS} cancelled in {:?}", t.elapsed());
    }
    assert_eq!(pool.stats().backlog, 0);
    hold.iter().for_each(|h| assert!(h.terminate()));
    for f in fs {
        assert_eq!(f.result(), Err(JobError::Cancelled));
    }
}

fn panic_on(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(100));
    panic!("job {x} fails on purpose")
}

/// What `Pool` has besides submit/map/futures: `try_submit`, `submit_timeout`/`_deadline`,
/// `stats`, `running`, `cancel_on_drop`, `map(..).timeout/progress`, waiting `exception`.
fn the_rest_of_the_pool_api(launched: bool) {
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .window_per_worker(1)
        .name("api-test")
        .build()
        .unwrap();
    assert_eq!(pool.name(), "api-test");
    let n = pool.workers();
    // Every node's window full: try_submit and a short submit_timeout hand the args back.
    let busy: Vec<_> = (0..n).map(|_| pool.try_submit(sleep_ms, 400).expect("room")).collect();
    assert!(matches!(pool.try_submit(square, 3), Err(TrySubmitError::Full(3))));
    let t = Instant::now();
    assert!(matches!(
        pool.submit_timeout(square, 4, Duration::from_millis(30)),
        Err(SubmitTimeoutError::Timeout(4))
    ));
    assert!(t.elapsed() >= Duration::from_millis(30));
    // running(): the busy jobs run on their nodes (asked there).
    let until = Instant::now() + Duration::from_secs(10);
    while !busy.iter().all(|f| f.running()) {
        assert!(Instant::now() < until, "the busy jobs never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    let later = pool.submit_deadline(square, 5, Instant::now() + Duration::from_secs(30));
    assert_eq!(later.expect("room before the deadline").result(), Ok(25));
    for f in busy {
        assert!(f.wait_deadline(Instant::now() + Duration::from_secs(30)));
        assert!(!f.running());
        assert_eq!(f.result_deadline(Instant::now()).expect("done"), Ok(400));
    }
    // exception() waits for the outcome, as JobFuture's does.
    let f = pool.submit(panic_on, 7);
    assert!(
        matches!(f.exception(), Some(JobError::Panicked { message }) if message.contains("job 7"))
    );
    // stats(): every worker of every node, jobs counted (one job per item: tiny items are
    // batched by default).
    let fresh = ClusterPool::builder().workers_per_node(1).build().unwrap();
    let sum: u64 = fresh.map(square, 0..200u64).chunk_size(1).progress().map(Result::unwrap).sum();
    assert_eq!(sum, (0..200u64).map(square).sum::<u64>());
    let stats = fresh.stats();
    assert_eq!(stats.workers.len(), fresh.workers(), "{stats}");
    assert_eq!(stats.jobs_done(), 200, "{stats}");
    if launched {
        let ranks: Vec<usize> = fresh.node_stats().iter().map(|s| s.0).collect();
        assert_eq!(ranks, agents());
    }
    // max_jobs_per_worker and wait_strategy reach the nodes' pools.
    let recycled = ClusterPool::builder()
        .workers_per_node(1)
        .max_jobs_per_worker(2)
        .wait_strategy(zeroproc_sched::WaitStrategy::Sleep)
        .build()
        .unwrap();
    let pids: BTreeSet<u32> =
        recycled.map(|_: u64| std::process::id(), 0..40u64).map(Result::unwrap).collect();
    assert!(pids.len() >= 40 / 2, "{} worker processes ran 40 jobs", pids.len());
    drop(recycled);
    // spill_heap(0) reaches the nodes: arguments larger than a ring record are TooLarge at
    // submission, handed back.
    let no_heap = ClusterPool::builder().workers_per_node(1).spill_heap(0).build().unwrap();
    match no_heap.try_submit(byte_sum, vec![1u8; 300_000]) {
        Err(TrySubmitError::TooLarge(v, _)) => assert_eq!(v.len(), 300_000),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(no_heap.submit(byte_sum, vec![1u8; 1000]).result(), Ok(1000));
    drop(no_heap);
    // map(..).timeout: one Timeout, then the end.
    let mut m = fresh.map(sleep_ms, [3000u64, 3000]).timeout(Duration::from_millis(50));
    assert_eq!(m.next(), Some(Err(JobError::Timeout)));
    assert_eq!(m.next(), None);
    drop(m);
    fresh.terminate();
    // cancel_on_drop: a dropped unfinished future frees its node's worker at once.
    let pool2 = ClusterPool::builder().workers_per_node(1).cancel_on_drop(true).build().unwrap();
    let hung: Vec<_> = (0..pool2.workers()).map(|_| pool2.submit(sleep_ms, 60_000)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(hung);
    let v: Vec<u64> = (0..pool2.workers() as u64)
        .map(|x| pool2.submit(square, x))
        .map(|f| f.result().unwrap())
        .collect();
    assert_eq!(v.len(), pool2.workers());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    drop(pool2);
    // ... and per future.
    let f = pool.submit(sleep_ms, 60_000).cancel_on_drop();
    std::thread::sleep(Duration::from_millis(50));
    drop(f);
    let t = Instant::now();
    assert_eq!(pool.submit(square, 9).result(), Ok(81));
    pool.shutdown();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(matches!(pool.try_submit(square, 2), Err(TrySubmitError::Shutdown(2))));
    assert!(matches!(
        pool.submit_timeout(square, 2, Duration::ZERO),
        Err(SubmitTimeoutError::Shutdown(2))
    ));
}

/// A program written for `Pool`, used unchanged but for the line that builds the pool: it
/// must compile (and give the same answers) against `ClusterPool`. Every method the two
/// share is called here, so a signature that drifts breaks this build.
macro_rules! program_for_a_pool {
    ($build:expr) => {{
        let pool = $build;
        let n = pool.workers();
        assert!(n > 0 && !pool.name().is_empty());
        assert_eq!(pool.submit(square, 3).result(), Ok(9));
        let f = pool.submit_fallible(even_only, 3);
        assert_eq!(f.exception_kind(), Some(zeroproc_sched::JobErrorKind::Job));
        assert!(matches!(f.exception(), Some(JobError::Job(_))));
        let f = pool.try_submit(square, 4).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.result_timeout(Duration::from_secs(30)).ok(), Some(Ok(16)));
        let f = pool.submit_timeout(square, 5, Duration::from_secs(30)).expect("room");
        assert!(f.wait_timeout(Duration::from_secs(30)));
        assert!(f.done() && !f.running() && !f.cancelled() && !f.cancel() && !f.terminate());
        assert_eq!(f.result(), Ok(25));
        let f = pool.submit_deadline(square, 6, Instant::now() + Duration::from_secs(30)).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = seen.clone();
        f.add_done_callback(move |r| {
            assert_eq!(r, &Ok(36));
            s2.fetch_add(1, Ordering::SeqCst);
        });
        assert!(f.wait_deadline(Instant::now() + Duration::from_secs(30)));
        let _ = f.id();
        assert_eq!(f.result_deadline(Instant::now()).ok(), Some(Ok(36)));
        let f = pool.submit_with_time_limit(sleep_ms, 5_000, Duration::from_millis(100));
        assert_eq!(f.result(), Err(JobError::TimeLimit));
        let g = pool.submit(sleep_ms, 60_000).cancel_on_drop();
        drop(g);
        let fs: Vec<_> = (0..8u64).map(|x| pool.submit(square, x)).collect();
        let (done, _) = zeroproc_sched::wait(fs, ReturnWhen::AllCompleted, None);
        assert_eq!(done.len(), 8);
        assert_eq!(zeroproc_sched::as_completed(done).count(), 8);
        let v: Vec<u64> = pool
            .map(square, 0..100u64)
            .chunk_size(7)
            .window(4)
            .timeout(Duration::from_secs(60))
            .progress()
            .map(Result::unwrap)
            .collect();
        assert_eq!(v, (0..100u64).map(square).collect::<Vec<_>>());
        let mut u: Vec<u64> = pool.map_unordered(square, 0..50u64).map(Result::unwrap).collect();
        u.sort_unstable();
        assert_eq!(u, (0..50u64).map(square).collect::<Vec<_>>());
        assert!(pool.stats().jobs_done() >= 100 / 7);
        assert!(pool.shutdown_with(Shutdown::new().timeout(Duration::from_secs(30))));
        pool.terminate();
        pool.shutdown();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }};
}

fn one_program_for_pool_and_cluster_pool(_: bool) {
    program_for_a_pool!(zeroproc_sched::Pool::builder().workers(2).build().unwrap());
    program_for_a_pool!(ClusterPool::builder().workers_per_node(1).build().unwrap());
}

static UNIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn set_unit(unit: String) {
    UNIT.set(unit).expect("once per worker");
}

fn with_unit(x: u64) -> (String, u32) {
    (format!("{x}{}", UNIT.get().expect("initialized")), rank())
}

fn failing_init() {
    panic!("initializer fails on purpose")
}

/// `initializer_with` runs in every worker of every node; a panicking initializer fails
/// `build` naming the rank and the panic, and the next pool builds.
fn initializers_run_on_every_node(launched: bool) {
    let pool = ClusterPool::builder()
        .workers_per_node(1)
        .initializer_with(set_unit, "cm".to_string())
        .build()
        .unwrap();
    let out: Vec<(String, u32)> = pool.map(with_unit, 0..200u64).map(Result::unwrap).collect();
    assert!(out.iter().enumerate().all(|(i, o)| o.0 == format!("{i}cm")), "{out:?}");
    if launched {
        let ranks: BTreeSet<u32> = out.iter().map(|o| o.1).collect();
        assert_eq!(ranks, agent_set());
    }
    drop(pool);
    match ClusterPool::builder().workers_per_node(1).initializer(failing_init).build() {
        Err(ClusterError::Node { message, .. }) => {
            assert!(message.contains("initializer fails on purpose"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool_after_failure().submit(square, 4).result(), Ok(16));
}

fn pool_after_failure() -> ClusterPool {
    ClusterPool::builder().workers_per_node(1).build().expect("a pool after a failed build")
}
