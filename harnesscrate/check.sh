#!/usr/bin/env bash
# The harness crate's short check (.ci/run runs it): zeroproc inside `cargo test` (threads,
# --test-threads=1, doctests), `cargo nextest` (process per test; its time-out killing
# hung tests), criterion / divan / harness = false benches, and every forgotten setup
# step's error; after each step, no process of this crate's binaries may be left.
# Uses $CARGO_TARGET_DIR (default ../target, shared with the workspace).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}"
bins='/(deps|examples)/(zeroproc_harnesscrate|panic_abort|per_test_pool|static_pool|panics|leftovers|hang|forgot_test_worker|crit|custom|div|forgot_crit|forgot_custom|forgot_div)(-[0-9a-f]{16})?( |$)'

no_leftovers() {
  # Killed processes are gone at once; workers whose controller died, within milliseconds; a test binary waits for its
  # dropped Process children and its never-dropped pools' jobs (tests/leftovers.rs, 3 s) before it exits.
  for _ in $(seq 20); do
    pgrep -f -- "$bins" > /dev/null || return 0
    sleep 0.1
  done
  echo "FAILED: processes left after $1:"; pgrep -af -- "$bins"; exit 1
}
step() { printf -- '--- %s\n' "$1"; }

cargo build -q --release --all-targets
cargo build -q --release --bench forgot_crit --bench forgot_custom --bench forgot_div

step "cargo test (libtest threads, doctests)"
timeout 300 cargo test -q --release 2>&1 | grep -E '^test result' 
no_leftovers "cargo test"
step "cargo test -- --test-threads=1"
timeout 300 cargo test -q --release --tests -- --test-threads=1 2>&1 | grep -E '^test result'
no_leftovers "cargo test --test-threads=1"

if cargo nextest --version > /dev/null 2>&1; then
  step "cargo nextest run (a process per test)"
  timeout 300 cargo nextest run --release --no-fail-fast --status-level fail \
    --final-status-level fail 2>&1 | grep -E 'Summary|FAIL|LEAK'
  no_leftovers "cargo nextest run"
  step "nextest's time-out kills hung tests (tests/hang.rs, HARNESS_HANG=1)"
  out=$(HARNESS_HANG=1 timeout 120 cargo nextest run --release --profile hang --test hang \
    -j 8 --status-level none --final-status-level all 2>&1 || true)
  echo "$out" | grep -E 'Summary|TIMEOUT|LEAK'
  echo "$out" | grep -q '5 timed out' || { echo "FAILED: expected 5 time-outs"; exit 1; }
  no_leftovers "nextest killed the hung tests"
else
  step "cargo-nextest not installed: its steps skipped (cargo install cargo-nextest --locked)"
fi

step "benches: criterion (zeroproc::criterion_main!), harness = false, divan"
timeout 300 cargo bench -q --bench crit -- --warm-up-time 0.1 --measurement-time 0.2 2>&1 \
  | grep -E 'time:' | tee "$CARGO_TARGET_DIR/harnesscrate-crit.log"
[ "$(grep -c 'time:' "$CARGO_TARGET_DIR/harnesscrate-crit.log")" = 2 ] \
  || { echo "FAILED: criterion did not report both benches"; exit 1; }
timeout 120 cargo bench -q --bench custom
timeout 120 cargo bench -q --bench div -- --sample-count 10 2>&1 | tail -n 3
no_leftovers "the benches"

step "forgotten setup steps: the errors name the line and where it goes"
# Not anchored at the line's start: a worker's note on stderr (written in pieces) can
# land just before the `ok` line (seen once in CI: "zeroproc: process 8183ok forgot_custom").
for b in forgot_crit forgot_custom forgot_div; do
  out="$CARGO_TARGET_DIR/harnesscrate-$b.log"
  timeout 120 cargo bench -q --bench "$b" > "$out" 2>&1 || true
  grep -oE "ok $b: .*" "$out" | cut -c1-100 | grep . || { echo "FAILED: $b"; cat "$out"; exit 1; }
done
no_leftovers "the forgotten-setup benches"

step "panic = \"abort\": a job's panic message reaches stderr (examples/panic_abort.rs)"
timeout 600 cargo run -q --profile panic-abort --example panic_abort
no_leftovers "the panic = abort example"
echo "harnesscrate: ok"
