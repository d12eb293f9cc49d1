//! zeroproc's cluster mode used as an HPC user coming from `mpi4py.futures` would (public
//! API only, as documented): scenario regression tests for `zeroproc::cluster`.
//!
//! ```text
//! cargo build --release
//! mpirun --oversubscribe --bind-to none -n 3 target/release/zeroproc-clustercrate [FILTER]
//! target/release/zeroproc-clustercrate [FILTER]          # no launcher: a local pool
//! mpirun ... target/release/zeroproc-clustercrate panic-main   # main panics: run must end
//! mpirun ... target/release/zeroproc-clustercrate exit-main FILE  # process::exit(3): its job finishes first
//! ```
//!
//! Rank 0 runs every scenario whose name contains FILTER, each under a watchdog, printing
//! `ok NAME` / `FAILED NAME: reason`, then `N passed, N failed`; exits 1 if any failed.
//! Ranks 1.. are node agents: they never run `main`.

// The runner is usercrate's (one copy): each scenario under a watchdog of HANG_LIMIT.
#[path = "../../usercrate/src/harness.rs"]
mod harness;
mod jobs;
mod scenarios;

use harness::Scenario;
use scenarios::*;

/// A scenario still running after this long has hung (generous: oversubscribed mpirun on
/// a shared 2-vCPU machine is slow).
const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

macro_rules! scenarios {
    ($($f:ident),* $(,)?) => {
        &[$(Scenario { name: stringify!($f), run: $f }),*]
    };
}

const SCENARIOS: &[Scenario] = scenarios![
    submit_and_result,
    map_keeps_order_with_mixed_lengths,
    short_jobs_do_not_wait_behind_a_long_one,
    wait_and_as_completed_with_timeouts,
    callbacks,
    cancel_queued_and_running,
    terminate_jobs_and_pools,
    time_limits_on_remote_nodes,
    crashing_jobs_fail_alone_and_are_named,
    big_arguments_and_results,
    thousands_of_jobs_in_flight,
    dropping_a_busy_pool,
    pools_one_after_another,
    local_pool_beside_the_cluster,
    node_local_handles,
    map_timeout_cancels_unstarted_items,
    threads_submit_at_once_and_future_accessors,
    cancelled_jobs_never_run,
    limits_and_build_errors_are_named,
    callbacks_that_use_their_pool,
];

#[zeroproc::main] // under mpirun, ranks 1.. become node agents here and never run main
fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("panic-main") {
        main_panics();
    }
    if arg.as_deref() == Some("exit-main") {
        main_exits();
    }
    let code = harness::run_all(SCENARIOS, arg.as_deref());
    jobs::remove_gates();
    std::process::exit(code);
}
