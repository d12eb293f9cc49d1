#!/bin/sh
# Runs each pair and diffs Python's output against the Rust program's.
# Usage: usercrate/diff/run.sh   (needs python3 3.11 and cargo)
set -u
cd "$(dirname "$0")"
cargo build --release -q || exit 1
bin="${CARGO_TARGET_DIR:-target}/release"
for p in futures_diff mp_diff misuse_diff pipe_eof_diff; do
    echo "=== $p (< python   > zeroproc)"
    timeout 120 python3 "$p.py" > "/tmp/$p.py.out" 2>/dev/null
    timeout 120 "$bin/$p" > "/tmp/$p.rs.out" 2>/dev/null
    diff "/tmp/$p.py.out" "/tmp/$p.rs.out"
done
echo "=== timeouts (Duration::MAX / ZERO / 1e10 s everywhere: no panic, no hang)"
timeout 120 "$bin/timeouts" 2>&1 | grep -i panic || echo "no panic"
