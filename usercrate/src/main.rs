//! zeroproc used as a new user would (public API, default configuration unless a scenario
//! says otherwise): regression scenarios for the work-conserving executor (issue #10).
//!
//! `cargo run --release [-- FILTER]` runs every scenario whose name contains FILTER, each in
//! a fresh pool under a watchdog; prints `ok NAME` / `FAILED NAME: reason`, then
//! `N passed, N failed`; exits 1 if any failed.

mod api;
mod errors6;
mod harness;
mod hostile;
mod hpc;
mod jobs;
mod mp_scenarios;
mod scenarios;
mod semantics5;
mod service;
#[cfg(test)]
mod unit_tests;
mod user4;

use api::*;
use errors6::*;
use harness::Scenario;
use hostile::*;
use hpc::*;
use mp_scenarios::*;
use scenarios::*;
use semantics5::*;
use service::*;
use user4::*;

/// A scenario still running after this long has hung (`harness.rs`).
const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

macro_rules! scenarios {
    ($($(#[$m:meta])* $f:ident),* $(,)?) => {
        &[$($(#[$m])* Scenario { name: stringify!($f), run: $f }),*]
    };
}

const SCENARIOS: &[Scenario] = scenarios![
    short_behind_long,
    sigstop_idle_worker,
    sigstop_drop,
    sigstop_job_timeout,
    cancel_on_drop_frees_worker,
    cancel_on_drop_per_future,
    queued_cancel_on_drop,
    blocking_callback_does_not_delay_timeouts,
    callback_on_done_future_panics_contained,
    async_timeout_drop,
    default_pool_roundtrip,
    mixed_jobs_all_answered,
    drop_with_hung_job_bounded,
    data_attribute,
    submit_after_shutdown,
    exception_has_the_message,
    shared_model,
    initializer_with_args,
    big_items_backpressure,
    forgot_init_is_named,
    in_place_kernels,
    chunked_map_consumed_every_way,
    containers_and_queues_grow,
    job_that_forks,
    wait_over_two_pools,
    slow_initializer_is_waited_for,
    initializer_exit_is_named,
    fire_and_forget_processes,
    blocking_callback_does_not_hold_other_waiters,
    stack_overflow_is_named,
    jobs_that_exit_or_close_their_fds,
    unkillable_looking_job_is_terminated,
    out_of_memory_job_is_a_worker_death,
    callback_that_ends_its_pool,
    pools_in_a_loop_leak_nothing,
    pool_across_threads_and_empty_waits,
    cores_outside_the_mask_are_refused,
    ctrl_c_leaves_running_jobs_to_the_controller,
    static_pool_finishes_its_jobs_at_exit,
    pipe_closed_after_start_like_python,
    killed_consumers_give_heap_back,
    lock_of_a_killed_holder_is_recovered,
    condition_wakes_every_process,
    process_exit_codes_and_misuse,
    misuse_is_an_error_and_barriers_time_out,
    future_states_and_cancel,
    callbacks_order_thread_panics_and_submit,
    wait_return_when_and_timeouts,
    as_completed_timeout_after_some,
    map_timeout_and_failure_in_the_middle,
    default_map_of_tiny_items_keeps_per_item_outcomes,
    shutdown_without_wait_cancelling_futures,
    max_tasks_per_child,
    pool_from_many_threads,
    big_and_nested_results,
    process_life_cycle,
    queue_sizes_close_and_dead_producers,
    joinable_queue_join_wakes,
    pipes_poll_eof_and_broken,
    locks_semaphores_and_events,
    condition_notify_n_and_wait_for_timeout,
    barrier_abort_and_reset,
    containers_missing_keys_and_indices,
    cancel_runs_callbacks,
    map_input_that_panics,
    blocked_queue_ops_wake_on_close,
    process_big_argument_and_zero_timeouts,
    zero_timeouts_on_done_futures,
    dropped_futures_and_dropped_pools,
    pipe_mixed_bytes_and_values,
    more_exit_codes,
    recursive_types_travel,
    shutdown_racing_submitters,
    close_wakes_every_blocked_consumer,
    semaphore_counter_limit,
    one_future_many_waiters_and_fallible_jobs,
    huge_timeouts_are_forever,
    panicking_update_leaves_containers_usable,
    hpc_edge_sizes,
    hpc_panic_in_one_chunk,
    hpc_kernel_faults,
    hpc_handles_after_drop_and_two_pools,
    hpc_jacobi_bit_for_bit,
    hpc_chunked_reduction,
    hpc_mandelbrot_imbalance,
    hpc_shared_table,
    hpc_array_churn_leaks_nothing,
    hpc_readers_owner_and_shutdown,
    hpc_array_made_in_a_job_and_grouped_bands,
    hpc_arrays_past_memory_are_errors,
    hpc_terminate_and_process_writers,
    hpc_run_time_parameters_and_call_time_limit,
    errors6_executor,
    errors6_channels,
    errors6_sync,
    errors6_shared,
    errors6_process,
    service_endurance,
    async_service_awaits,
    cancel_from_another_thread_wakes_waiters,
    terminate_wakes_an_awaiting_task,
    controller_signalled_or_killed,
    graceful_sigterm_to_the_process_group,
    shutdown_nowait_then_exit,
    two_hundred_pools_in_a_loop,
    pools_built_from_many_threads_at_once,
    producer_outruns_workers,
    map_over_an_endless_input,
    big_arguments_under_pressure,
    dropped_endless_map_does_not_hold_shutdown,
    burst_of_a_big_argument_is_given_back,
    dropped_futures_under_load_never_cross_answers,
    time_limit_counts_from_the_start,
    queue_burst_memory_goes_with_the_queue,
];

#[zeroproc::main] // workers are this program re-executed: main never runs in them
fn main() {
    let filter = std::env::args().nth(1);
    std::process::exit(harness::run_all(SCENARIOS, filter.as_deref()));
}
