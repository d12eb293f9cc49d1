#!/bin/sh
# Runs every scenario under a timeout; PASS/FAIL each, plus leak checks after each one:
# new /dev/shm entries, and processes of this binary left (zombies or orphans).
# Usage: ./run.sh [scenario...]   (CARGO_TARGET_DIR is honoured)
cd "$(dirname "$0")"
T=${CARGO_TARGET_DIR:-target}
cargo build --release -q || exit 2
BIN=$T/release/zeroproc-mp38
ALL="proc_lifecycle proc_terminate_ignored proc_join_threads proc_drop_running
queue_closed queue_sizes_concurrent queue_consumer_killed queue_producer_killed queue_large
joinable pipe_eof pipe_big_and_poll lock_holder_killed lock_contention sems_and_events
condition_corners barrier_party_killed dict_writer_killed dict_iter_while_mutating
list_and_namespace_concurrent value_writer_killed cond_waiter_killed thread_spawned_process
getref_holder_killed pipe_sender_killed_mid_big joinable_consumer_killed_in_get
list_iter_while_mutating timeouts_edges many_getters_close joinable_many_consumers
many_lockers many_event_waiters closures_panic zst_and_units
kill_right_after_start timeouts_not_early no_zombies lock_kills_exclusion barrier_kills
cond_kills joinable_producer_killed big_process_args proc_watchdog_port
namespace_corners wait_for_deadline_kept timeouts_under_contention"
[ $# -gt 0 ] && ALL="$*"
fail=0
leftovers() { sleep 0.3; pgrep -f "$BIN" | grep -v "^$$\$" || true; }
EXITS="panic_in_main panic_in_main_daemon_and_job exit_in_main_with_daemon"
[ $# -gt 0 ] && EXITS=""
for s in $ALL $EXITS; do
    before=$(ls /dev/shm | sort)
    out=$(timeout 120 "$BIN" "$s" 2>&1); rc=$?
    after=$(ls /dev/shm | sort)
    new=$(printf '%s\n' "$after" | comm -13 - /dev/null 2>/dev/null; printf '%s\n%s\n' "$before" "$after" | sort | uniq -u)
    left=$(leftovers)
    ok=1
    if [ "$s" = panic_in_main ] || [ "$s" = panic_in_main_daemon_and_job ]; then
        [ $rc -eq 101 ] || ok=0
    elif [ "$s" = exit_in_main_with_daemon ]; then
        [ $rc -eq 3 ] || ok=0
    else
        echo "$out" | grep -q "^PASS $s" || ok=0
    fi
    [ $rc -eq 124 ] && { ok=0; echo "  HANG (timeout)"; }
    [ -n "$new" ] && { ok=0; echo "  /dev/shm leak: $new"; }
    [ -n "$left" ] && { ok=0; echo "  processes left: $left"; ps -o pid,ppid,stat,args -p $(echo $left | tr ' ' ,); pkill -9 -f "$BIN"; }
    echo "$out" | grep "^  [a-z]"
    if [ $ok -eq 1 ]; then echo "PASS $s"; else fail=$((fail+1)); echo "FAIL $s (rc $rc)"; echo "$out" | tail -8 | sed 's/^/    /'; fi
done
echo "failures: $fail"
[ $fail -eq 0 ]
