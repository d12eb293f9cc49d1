#!/usr/bin/env bash
# Fuzzes ring record parsing (SPSC records/pads/indices, MPMC slot words) for N seconds
# (default 60). Usage: crates/ring/fuzz/run.sh [SECONDS] [extra libFuzzer args...]
# Needs the nightly toolchain and cargo-fuzz (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."  # crates/ring: cargo-fuzz finds fuzz/ here
secs="${1:-60}"
shift || true
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi
exec cargo +nightly fuzz run ring_records -- \
    -max_total_time="$secs" -print_final_stats=1 "$@"
