#!/usr/bin/env bash
# Fuzzes envelope decoding (inline and spilled) for N seconds (default 60).
# Usage: crates/codec/fuzz/run.sh [SECONDS] [extra libFuzzer args...]
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz if
# it is missing. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."  # crates/codec: cargo-fuzz finds fuzz/ here
secs="${1:-60}"
shift || true
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi
exec cargo +nightly fuzz run decode_envelope -- \
    -max_total_time="$secs" -print_final_stats=1 "$@"
