#!/usr/bin/env bash
# Runs every scenario (or those named) under a timeout and prints PASS/FAIL for each,
# then whether any process of the binary or any /dev/shm entry outlived it.
# Usage: ./run.sh [NAME...]   (env: CARGO_TARGET_DIR as for cargo; TIMEOUT seconds, 60)
set -u
cd "$(dirname "$0")"
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q || exit 1
bin="$target/release/zeroproc-exec38"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=($("$bin" list))
fails=0
for n in "${names[@]}"; do
  shm_before=$(ls /dev/shm | sort)
  out=$(timeout -k 5 "${TIMEOUT:-60}" "$bin" "$n" 2>/tmp/exec38-$n.err)
  rc=$?
  sleep 0.3
  left=$(pgrep -f "$bin $n" | tr '\n' ' ')
  [ -n "$left" ] && kill -9 $left 2>/dev/null # by pid: only this scenario's leftovers
  shm_new=$(comm -13 <(echo "$shm_before") <(ls /dev/shm | sort) | tr '\n' ' ')
  if [ $rc -eq 0 ] && [ -z "$left" ] && [ -z "$shm_new" ]; then
    echo "$out"
  else
    [ $rc -eq 124 ] && out="FAIL $n: HANG (timeout ${TIMEOUT:-60} s)"
    [ -z "$out" ] && out="FAIL $n: exit $rc"
    echo "$out"
    [ -n "$left" ] && echo "      processes left: $left"
    [ -n "$shm_new" ] && echo "      /dev/shm left: $shm_new"
    fails=$((fails + 1))
  fi
done
echo "$((${#names[@]} - fails)) of ${#names[@]} passed"
[ $fails -eq 0 ]
