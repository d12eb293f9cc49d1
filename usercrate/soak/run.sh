#!/usr/bin/env bash
# Runs the soak scenarios, each for SECONDS (default 300) under `nice -n 19`, sampling
# every 3 s, with an outer time-out of SECONDS + 300 (reported as a HANG).
# Usage: ./run.sh [SECONDS] [SCENARIO...]   (scenarios: service churn mp retire)
# Env: CARGO_TARGET_DIR as for cargo; OUT (default soak-out/) gets one log per scenario,
# whose `csv,` lines are the samples.
set -u
cd "$(dirname "$0")"
secs=${1:-300}
shift || true
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(service churn mp retire)
target=${CARGO_TARGET_DIR:-target}
out=${OUT:-soak-out}
mkdir -p "$out"
nice -n 19 cargo build --release -q || exit 1
fails=0
for n in "${names[@]}"; do
  log="$out/$n.log"
  timeout -k 10 $((secs + 300)) nice -n 19 "$target/release/zeroproc-soak" "$n" "$secs" 3 >"$log" 2>"$out/$n.err"
  rc=$?
  case $rc in
    0) echo "ok    $n" ;;
    124|137) echo "HANG  $n (outer time-out $((secs + 300)) s)"; fails=$((fails + 1)) ;;
    *) echo "FAIL  $n (exit $rc)"; grep -E "^ANOMALY" "$log" | head -20; fails=$((fails + 1)) ;;
  esac
  grep -vE "^csv," "$log" | grep -E "^(summary|  [a-z_]+ +-?[0-9]|  count|after|anomalies)" | sed 's/^/      /'
done
[ $fails -eq 0 ] && echo "all ${#names[@]} scenarios clean" || { echo "$fails failed"; exit 1; }
